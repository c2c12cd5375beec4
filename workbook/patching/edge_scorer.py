"""Edge scores of the EAP family (EAP, EAP-IG, EAP-GP) from fused passes, in head space.

Every method of the family scores an edge ``u -> v`` (noising) as::

    score(u->v) = sum_{p,d} delta_u[p,d] * gbar_v[p,d]          delta_u = z_u(corrupt) - z_u(clean)

where ``gbar_v`` is the metric's gradient at ``v``'s input summed over one pass (EAP: the clean
run) or several (EAP-IG, EAP-GP: the path points; the caller divides by their number). The
textbook way stacks every destination's input gradient, ``[n_dst, B, P, d_model]`` per pass:
gigabytes on GPT-2 small, and ``n_dst`` per-head norm backward passes each time. This module
never builds that stack.

For a q/k/v destination (head ``h`` of layer ``l``, projection ``W_h``, ``g = dM/dq_h`` at
``hook_q``/``hook_k``/``hook_v``) the input gradient is the pre-attention norm's backward
``J^T W_h g``. For LayerNorm ``y = xhat * w + b`` (RMSNorm: no mean term and ``b = 0``)::

    <delta, J^T W_h g> = <delta, W~_h g/s> - S(delta) <u_h, g/s> - <delta, xhat> <g/s, y_h> / D

with ``s`` the norm's scale (sigma or rms) at that position, ``W~_h = diag(w) W_h``,
``u_h = W~_h^T 1 / D``, ``S(delta) = sum_d delta_d`` and ``y_h = (xhat * w) W_h = q_h - b_q - b W_h``
(read off the cached ``hook_q`` activation, so no extra matmul). The first two terms are linear
in ``g/s``: passes are summed in head space (``d_head`` numbers per head and position) and
expanded to ``d_model`` once at the end. The third keeps one number per head and position per
pass, plus that pass's ``xhat``. MLP and logits destinations read their input gradient directly
(``hook_mlp_in``, the last ``hook_resid_post``). The final contraction runs one destination
layer at a time over the sources upstream of it (sources are ordered by layer, so those are a
prefix). Exact: the same sums in another order (checked against autograd on TransformerLens'
split per-head hooks, every family, in ``tests/test_graph_io.py`` and ``tests/test_families.py``).

Weights and norms come from the model's adapter (:mod:`workbook.arch`); everything is computed
in float32 (float64 for a float64 model) on the model's device.
"""

from __future__ import annotations

import torch

from workbook.arch import adapter_for
from workbook.arch.graph import Graph
from workbook.core.budget import memory_budget
from workbook.core.runs import LEAF_HOOK, compute_dtype, model_device

__all__ = ["EdgeScorer"]


class EdgeScorer:
    """Accumulate the edge scores of one task over fused forward+backward passes.

    Use::

        sc = EdgeScorer(model)
        # corrupt run caching sc.source_names(); each attribution pass caching sc.act_names()
        # (+ sources on the clean pass) and gradients at sc.grad_names()
        sc.set_deltas(corr_acts, clean_acts)
        sc.add_pass(acts, grads, copies)        # once per pass (copies stacked copies of the batch)
        per_example = sc.finish()               # [B, n_sources, n_destinations], summed over passes
    """

    def __init__(self, model, graph: Graph | None = None):
        self.model = model
        ad = self.adapter = adapter_for(model)
        self.graph = graph or Graph.from_model(model)
        self.L, self.H, self.G = self.graph.n_layers, self.graph.n_heads, self.graph.n_kv_heads
        self.dh, self.D = ad.d_head, ad.d_model
        self.dtype = compute_dtype(model)
        self.device = model_device(model)
        self.layernorm = ad.norm == "layernorm"
        self._consts = [self._layer_consts(l) for l in range(self.L)]
        mask = self.graph.edge_mask
        # sources upstream of each destination: a prefix of the source list (its length per column)
        n_up = torch.where(mask.any(0), mask.shape[0] - mask.flip(0).to(torch.int8).argmax(0), 0)
        prefix = torch.arange(mask.shape[0], device=mask.device)[:, None] < n_up[None]
        assert bool((prefix == mask).all()), "sources upstream of a destination must be a prefix"
        self.n_up = n_up.tolist()
        self._deltas: torch.Tensor | None = None
        self._sources: tuple[dict, dict] | None = None
        self._sum_delta: torch.Tensor | None = None
        self._zero_state()

    # ------------------------------------------------------------------ layout
    def _layer_consts(self, l: int) -> dict:
        """Per kind: ``W~_h`` as ``[n, dh, D]``, ``u_h`` ``[n, dh]``, the offset ``b_q + b W`` ``[n, dh]``
        and the same offset as a block-diagonal ``[n*dh, n]`` (one matmul gives every head's ``<g, off>``);
        ``Wt`` and ``ubar``: the first two for the layer's q, k and v heads together."""
        ad, cd, D, dh = self.adapter, self.dtype, self.D, self.dh
        w, b_norm, eps = ad.norm_terms(l)
        w = w.detach().to(self.device, cd)
        b_norm = None if b_norm is None else b_norm.detach().to(self.device, cd)
        out = {"eps": eps}
        for kind in "qkv":
            W, b = ad.projection(l, kind)
            W = W.detach().to(self.device, cd)  # [D, n * dh]
            n = W.shape[1] // dh
            Wt = w[:, None] * W
            off = torch.zeros(n * dh, dtype=cd, device=self.device)
            if b is not None:
                off = off + b.detach().to(self.device, cd)
            if b_norm is not None:
                off = off + b_norm @ W
            off = off.reshape(n, dh)
            blocks = torch.zeros(n, dh, n, dtype=cd, device=self.device)
            idx = torch.arange(n, device=self.device)
            blocks[idx, :, idx] = off
            out[kind] = (
                Wt.T.reshape(n, dh, D).contiguous(),
                Wt.sum(0).reshape(n, dh) / D,
                off,
                blocks.reshape(n * dh, n),
            )
        out["Wt"] = torch.cat([out[k][0] for k in "qkv"])  # [q|k|v heads, dh, D]
        out["ubar"] = torch.cat([out[k][1] for k in "qkv"])  # [q|k|v heads, dh]
        return out

    def columns(self, l: int, kind: str) -> slice:
        """Destination columns of layer ``l``'s ``kind`` (``q``/``k``/``v``/``mlp``) in graph order."""
        base = l * (self.H + 2 * self.G + 1)
        return {
            "q": slice(base, base + self.H),
            "k": slice(base + self.H, base + self.H + self.G),
            "v": slice(base + self.H + self.G, base + self.H + 2 * self.G),
            "mlp": slice(base + self.H + 2 * self.G, base + self.H + 2 * self.G + 1),
        }[kind]

    def source_names(self) -> list[str]:
        """Hooks whose activations give the source writes: the embedding, ``hook_z`` (times W_O), ``hook_mlp_out``."""
        names = [LEAF_HOOK]
        for l in range(self.L):
            names += [f"blocks.{l}.attn.hook_z", f"blocks.{l}.hook_mlp_out"]
        return names

    def act_names(self) -> list[str]:
        """Activations each attribution pass must cache: each layer's norm input and q/k/v."""
        names = []
        for l in range(self.L):
            names += [f"blocks.{l}.hook_resid_pre"] + [f"blocks.{l}.attn.hook_{x}" for x in "qkv"]
        return names

    def grad_names(self) -> list[str]:
        names = []
        for l in range(self.L):
            names += [f"blocks.{l}.attn.hook_{x}" for x in "qkv"] + [f"blocks.{l}.hook_mlp_in"]
        return names + [f"blocks.{self.L - 1}.hook_resid_post"]

    # ------------------------------------------------------------------ state
    def _zero_state(self) -> None:
        self.B = self.P = None
        self.passes = 0
        self._G: list[torch.Tensor | None] = [None] * self.L  # per layer: sum of g / scale, [B, P, q|k|v heads, dh]
        self._mlp: list[torch.Tensor | None] = [None] * self.L
        self._logits: torch.Tensor | None = None
        # per stored pass k and layer l: xhat [K, L, B, P, D] and <g/s, y>/D [K, L, B, P, q|k|v heads];
        # reused across flushes, self._k of them filled
        self._X: torch.Tensor | None = None
        self._Rb: torch.Tensor | None = None
        self._k = 0
        self._hint = 1
        self._out: torch.Tensor | None = None

    def expect(self, passes: int) -> None:
        """Say how many passes (copies) will be added, so that their per-pass terms are contracted
        in one go when they fit in an eighth of the memory budget (fewer, larger matmuls)."""
        self._hint = max(1, int(passes))

    def nbytes(self) -> int:
        """Bytes held now (deltas, accumulators, stored per-pass terms)."""
        t = [self._deltas, self._sum_delta, self._logits, self._out, self._X, self._Rb] + self._mlp
        if self._sources is not None:
            t += [x for d in self._sources for x in d.values()]
        t += self._G
        return sum(x.numel() * x.element_size() for x in t if x is not None)

    def _out_tensor(self) -> torch.Tensor:
        if self._out is None:
            n_src, n_dst = self.graph.edge_mask.shape
            self._out = torch.zeros(self.B, n_src, n_dst, dtype=self.dtype, device=self.device)
        return self._out

    # ------------------------------------------------------------------ sources
    def set_deltas(self, corr: dict[str, torch.Tensor], clean: dict[str, torch.Tensor]) -> None:
        """Give the source activations (:meth:`source_names`) of the corrupt and the clean run.

        ``delta = source(corrupt) - source(clean)`` (:attr:`deltas`, ``[n_src, B, P*D]``; a head's
        write is its ``hook_z`` difference times its W_O slice) is built when first needed, which
        is after the passes, so that it does not add to their peak memory."""
        names = self.source_names()
        self._sources = ({n: corr[n] for n in names}, {n: clean[n] for n in names})
        B, P = corr[LEAF_HOOK].shape[:2]
        self._check_shape(B, P)

    @property
    def has_deltas(self) -> bool:
        return self._sources is not None or self._deltas is not None

    @property
    @torch.no_grad()
    def deltas(self) -> torch.Tensor:
        if self._deltas is None:
            if self._sources is None:
                raise RuntimeError("EdgeScorer: set_deltas first")
            self._deltas = self._build_deltas(*self._sources)
            self._sources = None
        return self._deltas

    def _build_deltas(self, corr: dict[str, torch.Tensor], clean: dict[str, torch.Tensor]) -> torch.Tensor:
        cd, H, dh, D, B, P = self.dtype, self.H, self.dh, self.D, self.B, self.P
        out = torch.empty(len(self.graph.sources), B, P * D, dtype=cd, device=self.device)
        out[0] = (corr[LEAF_HOOK].to(cd) - clean[LEAF_HOOK].to(cd)).reshape(B, P * D)
        row = 1
        for l in range(self.L):
            W_O = self.adapter.projection(l, "o")[0].detach().to(self.device, cd).reshape(H, dh, D)
            z = f"blocks.{l}.attn.hook_z"
            dz = corr[z].to(cd) - clean[z].to(cd)  # [B, P, H, dh]
            torch.bmm(dz.permute(2, 0, 1, 3).reshape(H, B * P, dh), W_O, out=out[row : row + H].view(H, B * P, D))
            row += H
            m = f"blocks.{l}.hook_mlp_out"
            out[row] = (corr[m].to(cd) - clean[m].to(cd)).reshape(B, P * D)
            row += 1
        if self.layernorm:
            self._sum_delta = out.view(-1, B, P, D).sum(-1)  # [n_src, B, P]
        return out

    def _check_shape(self, B: int, P: int) -> None:
        if self.B is None:
            self.B, self.P = B, P
        elif (self.B, self.P) != (B, P):
            raise ValueError(f"pass of batch {B} x {P} after passes of {self.B} x {self.P}")

    # ------------------------------------------------------------------ passes
    def _slots(self, copies: int) -> int:
        """Room for ``copies`` more stored passes (flushing or growing the buffers); returns the first slot."""
        cap = 0 if self._X is None else self._X.shape[0]
        if self._k + copies <= cap:
            return self._k
        self.flush()
        if copies > cap:
            B, P, D, L = self.B, self.P, self.D, self.L
            nh = self.columns(0, "v").stop
            per = L * B * P * (D + nh) * torch.finfo(self.dtype).bits // 8
            cap = max(copies, min(self._hint - self.passes, memory_budget() // 8 // per))
            self._X = self._Rb = None
            self._X = torch.empty(cap, L, B, P, D, dtype=self.dtype, device=self.device)
            self._Rb = torch.empty(cap, L, B, P, nh, dtype=self.dtype, device=self.device)
        return 0

    @torch.no_grad()
    def add_pass(self, acts: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], copies: int = 1) -> None:
        """Add one batched pass (``copies`` stacked copies of the batch) to the running sums."""
        cd, D, dh = self.dtype, self.D, self.dh
        x0 = acts["blocks.0.hook_resid_pre"]
        rows, P = x0.shape[:2]
        self._check_shape(rows // copies, P)
        B = self.B
        k = self._slots(copies)
        ks = slice(k, k + copies)
        for l in range(self.L):
            c = self._consts[l]
            x = acts[f"blocks.{l}.hook_resid_pre"].to(cd)
            if self.layernorm:
                x = x - x.mean(-1, keepdim=True)
            inv = (_rowdot(x, x)[..., None] / D + c["eps"]).rsqrt()  # [rows, P, 1]: 1 / sigma (or 1 / rms)
            torch.mul(x.view(copies, B, P, D), inv.view(copies, B, P, 1), out=self._X[ks, l])  # xhat
            for kind in "qkv":
                Wt, ubar, off, off_blocks = c[kind]
                n = Wt.shape[0]
                cols = self.columns(l, kind)
                cols = slice(cols.start - self.columns(l, "q").start, cols.stop - self.columns(l, "q").start)
                g = grads.get(f"blocks.{l}.attn.hook_{kind}")
                if g is None:
                    self._Rb[ks, l, ..., cols] = 0
                    continue
                g = g.to(cd).reshape(rows, P, n, dh).contiguous()
                # R = <g/s, y - off> / D with y the cached q/k/v: <g, y> - <g, off> per head, times 1/(s D)
                y = acts[f"blocks.{l}.attn.hook_{kind}"].to(cd).reshape(rows, P, n, dh).contiguous()
                r = _rowdot(g, y) - (g.reshape(rows * P, n * dh) @ off_blocks).view(rows, P, n)
                torch.mul(r.view(copies, B, P, n), inv.view(copies, B, P, 1), out=self._Rb[ks, l, ..., cols])
                self._Rb[ks, l, ..., cols] /= D
                if self._G[l] is None:
                    self._G[l] = torch.zeros(B, P, self._Rb.shape[-1], dh, dtype=cd, device=self.device)
                acc = self._G[l][:, :, cols]
                for i in range(copies):  # sum over copies of g / scale
                    acc.addcmul_(g[i * B : (i + 1) * B], inv[i * B : (i + 1) * B, :, :, None])
            g = grads.get(f"blocks.{l}.hook_mlp_in")
            if g is not None:
                self._mlp[l] = _sum_copies(g.to(cd).reshape(copies, B, P * D), self._mlp[l])
        g = grads.get(f"blocks.{self.L - 1}.hook_resid_post")
        if g is not None:
            self._logits = _sum_copies(g.to(cd).reshape(copies, B, P * D), self._logits)
        self._k += copies
        self.passes += copies

    @torch.no_grad()
    def flush(self) -> None:
        """Contract the stored per-pass terms (``<delta, xhat> <g/s, y>``) into the scores."""
        K = self._k
        if not K:
            return
        out = self._out_tensor()
        B, P, D, L = self.B, self.P, self.D, self.L
        X = self._X[:K].view(K * L, B, P, D)  # pass-major: column k * L + l
        n_up_max = max(self.n_up[self.columns(l, "q").start] for l in range(L))
        # <delta_u, xhat> at every position for every stored pass of every layer, in one batched
        # matmul over (batch, position): [n_up, D] @ [D, K*L] (delta is read once)
        d4 = self.deltas[:n_up_max].view(n_up_max, B, P, D)
        C = torch.matmul(d4.permute(1, 2, 0, 3), X.permute(1, 2, 3, 0))  # [B, P, n_up_max, K*L]
        for l in range(L):
            heads = slice(self.columns(l, "q").start, self.columns(l, "v").stop)
            n_up = self.n_up[heads.start]
            if n_up:
                Cl = C[:, :, :n_up, l::L].permute(0, 2, 1, 3).reshape(B, n_up, P * K)
                R = self._Rb[:K, l].permute(1, 2, 0, 3).reshape(B, P * K, -1)
                out[:, :n_up, heads] -= torch.bmm(Cl, R)
        self._k = 0

    @torch.no_grad()
    def finish(self) -> torch.Tensor:
        """Per-example edge scores ``[B, n_sources, n_destinations]``, summed over the passes (0 off the edge mask)."""
        self.flush()
        out = self._out_tensor()
        B, P, D, dh, L = self.B, self.P, self.D, self.dh, self.L
        lhs = self.deltas.transpose(0, 1)  # [B, n_src, P*D], a strided view (no copy)
        n_heads = self.columns(0, "v").stop
        # one buffer for a layer's destination-input gradients (first term), reused: rows are the
        # layer's q/k/v heads, its MLP and, for the last layer, the logits
        buf = torch.empty(n_heads + 2, B * P, D, dtype=self.dtype, device=self.device)
        for l in range(L):
            q, v, mlp = self.columns(l, "q"), self.columns(l, "v"), self.columns(l, "mlp").start
            last = l == L - 1
            n_rows = n_heads + (2 if last else 1)
            n_up, n_up_rhs = self.n_up[q.start], self.n_up[-1] if last else self.n_up[mlp]
            A = buf[:n_rows]
            Gs, M1 = self._G[l], None
            if Gs is None:
                A[:n_heads] = 0
            else:  # the first term of every q/k/v head of the layer in one batched matmul
                Wt = self._consts[l]["Wt"]
                torch.bmm(Gs.permute(2, 0, 1, 3).reshape(n_heads, B * P, dh), Wt, out=A[:n_heads])
                if self.layernorm:
                    M1 = _rowdot(Gs, self._consts[l]["ubar"].expand_as(Gs))  # [B, P, n_heads]
            extra = [self._mlp[l]] + ([self._logits] if last else [])
            for i, g in enumerate(extra):
                if g is None:
                    A[n_heads + i] = 0
                else:
                    A[n_heads + i] = g.view(B * P, D)
            res = torch.bmm(lhs[:, :n_up_rhs], A.view(n_rows, B, P * D).permute(1, 2, 0))  # [B, n_up_rhs, n_rows]
            out[:, :n_up, q.start : v.stop] += res[:, :n_up, :n_heads]
            out[:, : self.n_up[mlp], mlp] += res[:, : self.n_up[mlp], n_heads]
            if last:
                out[:, : self.n_up[-1], -1] += res[:, :, n_heads + 1]
            if M1 is not None and n_up:
                out[:, :n_up, q.start : v.stop] -= torch.bmm(self._sum_delta[:n_up].permute(1, 0, 2), M1)
        return out


def _rowdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum(a * b, -1)`` as a batched matmul (faster than an elementwise product and a sum on CPU)."""
    shape = a.shape[:-1]
    return torch.bmm(a.reshape(-1, 1, a.shape[-1]), b.reshape(-1, b.shape[-1], 1)).view(shape)


def _sum_copies(g: torch.Tensor, acc: torch.Tensor | None) -> torch.Tensor:
    """``acc + g.sum(0)`` (``g``: ``[copies, ...]``), in place when ``acc`` exists."""
    if acc is None:
        return g.sum(0) if g.shape[0] > 1 else g[0].clone()
    for x in g:
        acc += x
    return acc
