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
(read off the cached ``hook_q`` activation, so no extra matmul). The first two terms are one,
``<delta, (W~_h - 1 u_h^T) g/s>`` (``W~_h`` centred over ``d_model``), linear in ``g/s``: passes
are summed in head space (``d_head`` numbers per head and position) and expanded to ``d_model``
at the end. The third keeps one number ``R`` per head and position per pass, plus that pass's
``xhat``; at the end each head's expanded gradient gets ``- sum_k R_k xhat_k`` added (passes
flushed early, when their store is full, are contracted with the deltas instead). MLP and
logits destinations read their input gradient directly (``hook_mlp_in``, the last
``hook_resid_post``). Gradients may come as the batch mean's: ``add_pass``'s ``scale`` (the
number of rows) is folded into the products above, with no pass of its own. The final
contraction runs one example at a time (its deltas rebuilt into one reused buffer, so the
``[n_src, B, P, d_model]`` deltas are never stored), over blocks of destination columns, each
against the sources upstream of its last column (a prefix of the source list; the rest is
masked to 0), blocked by :func:`~workbook.patching.edge_blocks.contraction_blocks` (a cost
model of those matmuls: masked rows and padded columns against the speed of larger products).
Exact: the same sums in another order (checked against autograd on TransformerLens'
split per-head hooks, every family, in ``tests/test_graph_io.py`` and ``tests/test_families.py``).

Non-finite inputs: :meth:`EdgeScorer.add_pass` sums a few small products that NaN and inf
propagate into (``1/sigma`` per position, the ``R`` terms, the MLP and logits accumulators);
only when one of those is not finite does it search that pass's activations and gradients
(:func:`~workbook.core.errors.check_finite`), so the error names the hook as a full check would.

Weights and norms come from the model's adapter (:mod:`workbook.arch`); everything is computed
in float32 (float64 for a float64 model) on the model's device.
"""

from __future__ import annotations

import torch

from workbook.arch import adapter_for
from workbook.arch.graph import Graph
from workbook.core.budget import memory_budget
from workbook.core.errors import check_finite
from workbook.core.runs import LEAF_HOOK, compute_dtype, model_device
from workbook.patching.edge_blocks import contraction_blocks, pad16, rowdot, sum_copies

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
        self.n_up, self._n_src = n_up.tolist(), mask.shape[0]
        self._deltas: torch.Tensor | None = None
        self._sources: tuple[dict, dict] | None = None
        self._zero_state()

    # ------------------------------------------------------------------ layout
    def _layer_consts(self, l: int) -> dict:
        """Per kind: the number of heads and the offset ``b_q + b W`` ``[n, dh]``; ``W_O`` ``[H, dh, D]``;
        ``Wt``: ``W~_h`` of the layer's q, k and v heads, ``[q|k|v heads, dh, D]``, centred over
        ``D`` for LayerNorm (``W~_h - 1 u_h^T``: the mean term folded in)."""
        ad, cd, D, dh = self.adapter, self.dtype, self.D, self.dh
        w, b_norm, eps = ad.norm_terms(l)
        w = w.detach().to(self.device, cd)
        b_norm = None if b_norm is None else b_norm.detach().to(self.device, cd)
        out, Wts = {"eps": eps}, []
        for kind in "qkv":
            W, b = ad.projection(l, kind)
            W = W.detach().to(self.device, cd)  # [D, n * dh]
            n = W.shape[1] // dh
            Wts.append((w[:, None] * W).T.reshape(n, dh, D))
            off = torch.zeros(n * dh, dtype=cd, device=self.device) if b is None else b.detach().to(self.device, cd)
            if b_norm is not None:
                off = off + b_norm @ W
            out[kind] = (n, off.reshape(n, dh))
        Wt = torch.cat(Wts)
        out["W_O"] = ad.projection(l, "o")[0].detach().to(self.device, cd).reshape(self.H, dh, D)
        out["Wt"] = (Wt - Wt.mean(-1, keepdim=True) if self.layernorm else Wt).contiguous()
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
        # per layer l and stored pass k: xhat [K, B, P, D] and scale * <g/s, y>/D [K, B, P, q|k|v heads];
        # reused across flushes, self._k of them filled
        self._X: list[torch.Tensor] | None = None
        self._Rb: list[torch.Tensor] | None = None
        self._k = 0
        self._hint = 1
        self._out: torch.Tensor | None = None

    def expect(self, passes: int) -> None:
        """Say how many passes (copies) will be added, so that their per-pass terms are all kept, when
        they fit in an eighth of the memory budget, and folded in by :meth:`finish` (no flush)."""
        self._hint = max(1, int(passes))

    def nbytes(self) -> int:
        """Bytes held now (deltas, accumulators, stored per-pass terms)."""
        t = [self._deltas, self._logits, self._out] + self._mlp + (self._X or []) + (self._Rb or [])
        if self._sources is not None:
            t += [x for d in self._sources for x in d.values()]
        t += self._G
        return sum(x.numel() * x.element_size() for x in t if x is not None)

    def _out_tensor(self) -> torch.Tensor:
        if self._out is None:
            self._out = torch.zeros(self.B, *self.graph.edge_mask.shape, dtype=self.dtype, device=self.device)
        return self._out

    # ------------------------------------------------------------------ sources
    def set_deltas(self, corr: dict[str, torch.Tensor], clean: dict[str, torch.Tensor]) -> None:
        """Give the source activations (:meth:`source_names`) of the corrupt and the clean run.

        ``delta = source(corrupt) - source(clean)`` (a head's write is its ``hook_z`` difference
        times its W_O slice): :meth:`finish` builds each example's in turn; :attr:`deltas`, all of
        them ``[n_src, B, P*D]``, only when read (an early flush, edge patching). The clean ones are
        checked for NaN/inf (the corrupt ones come from a checked caching run)."""
        names = self.source_names()
        for n in names:
            check_finite(clean[n], f"activation {n}")
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

    def _build_deltas(self, corr: dict, clean: dict, b: int | None = None, out=None) -> torch.Tensor:
        """The deltas ``[n_src, B, P*D]``, or example ``b``'s ``[n_src, P*D]`` (written into ``out``)."""
        cd, H, dh, D, P = self.dtype, self.H, self.dh, self.D, self.P
        sel = slice(None) if b is None else b
        if out is None:
            out = torch.empty(len(self.graph.sources), self.B, P * D, dtype=cd, device=self.device)

        def diff(name: str) -> torch.Tensor:
            return corr[name][sel].to(cd) - clean[name][sel].to(cd)

        out[0] = diff(LEAF_HOOK).reshape(out.shape[1:])
        for l in range(self.L):
            row = 1 + l * (H + 1)
            dz = diff(f"blocks.{l}.attn.hook_z").reshape(-1, H, dh).transpose(0, 1)  # [H, (B)P, dh]
            torch.bmm(dz, self._consts[l]["W_O"], out=out[row : row + H].view(H, -1, D))
            out[row + H] = diff(f"blocks.{l}.hook_mlp_out").reshape(out.shape[1:])
        return out

    def _check_shape(self, B: int, P: int) -> None:
        if self.B is None:
            self.B, self.P = B, P
        elif (self.B, self.P) != (B, P):
            raise ValueError(f"pass of batch {B} x {P} after passes of {self.B} x {self.P}")

    # ------------------------------------------------------------------ passes
    def _slots(self, copies: int) -> int:
        """Room for ``copies`` more stored passes (flushing or growing the buffers); returns the first slot."""
        cap = 0 if self._X is None else self._X[0].shape[0]
        if self._k + copies <= cap:
            return self._k
        self.flush()
        if copies > cap:
            B, P, D, L = self.B, self.P, self.D, self.L
            nh = self.columns(0, "v").stop
            per = L * B * P * (D + nh) * torch.finfo(self.dtype).bits // 8
            cap = max(copies, min(self._hint - self.passes, memory_budget() // 8 // per))
            self._X = self._Rb = None
            self._X = [torch.empty(cap, B, P, D, dtype=self.dtype, device=self.device) for _ in range(L)]
            self._Rb = [torch.empty(cap, B, P, nh, dtype=self.dtype, device=self.device) for _ in range(L)]
        return 0

    @torch.no_grad()
    def add_pass(
        self, acts: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], copies: int = 1, scale: float = 1.0
    ) -> None:
        """Add one batched pass (``copies`` stacked copies of the batch) to the running sums, every
        gradient times ``scale`` (the number of rows when ``grads`` are the batch mean's, to make
        them per example). Raises :class:`~workbook.core.errors.NonFiniteError` naming the first
        activation (:meth:`act_names` order), else gradient, holding a NaN or inf."""
        cd, D, dh = self.dtype, self.D, self.dh
        x0 = acts["blocks.0.hook_resid_pre"]
        rows, P = x0.shape[:2]
        self._check_shape(rows // copies, P)
        B = self.B
        k = self._slots(copies)
        ks = slice(k, k + copies)
        witness = []  # small sums that every NaN or inf of this pass's inputs reaches
        for l in range(self.L):
            c = self._consts[l]
            x, xs = acts[f"blocks.{l}.hook_resid_pre"].to(cd).reshape(copies, B, P, D), self._X[l][ks]
            if self.layernorm:
                torch.sub(x, x.mean(-1, keepdim=True), out=xs)
            else:
                xs.copy_(x)
            inv = torch.linalg.vector_norm(xs, dim=-1, keepdim=True).square_().div_(D).add_(c["eps"]).rsqrt_()
            xs.mul_(inv)  # xhat; inv: 1 / sigma (or 1 / rms), [copies, B, P, 1]
            witness.append(inv.sum())
            g_inv = inv * scale  # gradients are summed as scale * g / sigma
            for kind in "qkv":
                n, off = c[kind]
                cols = self.columns(l, kind)
                cols = slice(cols.start - self.columns(l, "q").start, cols.stop - self.columns(l, "q").start)
                g = grads.get(f"blocks.{l}.attn.hook_{kind}")
                if g is None:
                    self._Rb[l][ks, ..., cols] = 0
                    continue
                g = g.to(cd).reshape(rows, P, n, dh).contiguous()
                # R = scale * <g/s, y - off> / D with y the cached q/k/v
                r = rowdot(g, acts[f"blocks.{l}.attn.hook_{kind}"].to(cd).reshape(rows, P, n, dh) - off)
                torch.mul(r.view(copies, B, P, n), g_inv / D, out=self._Rb[l][ks, ..., cols])
                if self._G[l] is None:
                    self._G[l] = torch.zeros(B, P, self._Rb[l].shape[-1], dh, dtype=cd, device=self.device)
                acc = self._G[l][:, :, cols]
                for i in range(copies):  # sum over copies of scale * g / sigma
                    acc.addcmul_(g[i * B : (i + 1) * B], g_inv[i, ..., None])
            witness.append(self._Rb[l][ks].sum())
            g = grads.get(f"blocks.{l}.hook_mlp_in")
            if g is not None:
                self._mlp[l] = sum_copies(g.to(cd).reshape(copies, B, P * D), self._mlp[l], scale)
                witness.append(self._mlp[l].sum())
        g = grads.get(f"blocks.{self.L - 1}.hook_resid_post")
        if g is not None:
            self._logits = sum_copies(g.to(cd).reshape(copies, B, P * D), self._logits, scale)
            witness.append(self._logits.sum())
        if not bool(torch.isfinite(torch.stack(witness).sum())):
            self._name_non_finite(acts, grads)
        self._k += copies
        self.passes += copies

    def _name_non_finite(self, acts: dict, grads: dict) -> None:
        """Raise naming the first non-finite activation, else gradient, of one pass (none: a sum overflowed)."""
        for n in self.act_names():
            if n in acts:
                check_finite(acts[n], f"activation {n}")
        for n in self.grad_names():
            if grads.get(n) is not None:
                check_finite(grads[n], f"the gradient at {n}")

    @torch.no_grad()
    def flush(self) -> None:
        """Contract the stored per-pass terms (``<delta, xhat> <g/s, y>``) into the scores."""
        K = self._k
        if not K:
            return
        out = self._out_tensor()
        B, P, D = self.B, self.P, self.D
        for l in range(self.L):
            heads = slice(self.columns(l, "q").start, self.columns(l, "v").stop)
            n_up = self.n_up[heads.start]
            if n_up:
                # <delta_u, xhat_k> at every position, one batched matmul over (batch, position):
                # [n_up, D] @ [D, K] -> [B, P, n_up, K]; then summed against R over (position, pass)
                d4 = self.deltas[:n_up].view(n_up, B, P, D).permute(1, 2, 0, 3)
                C = torch.matmul(d4, self._X[l][:K].permute(1, 2, 3, 0)).permute(0, 2, 1, 3).reshape(B, n_up, P * K)
                R = self._Rb[l][:K].permute(1, 2, 0, 3).reshape(B, P * K, -1)
                out[:, :n_up, heads] -= torch.bmm(C, R)
        self._k = 0

    def _blocks(self) -> list[tuple[int, int, list]]:
        """Blocks of destination units (a layer's q/k/v heads, its MLP, the logits: ``(kind, layer,
        first column, stop)``) for the final contraction, one matmul each
        (:func:`~workbook.patching.edge_blocks.contraction_blocks`), every block's buffer within an
        eighth of the memory budget."""
        units = []
        for l in range(self.L):
            q, v, m = self.columns(l, "q"), self.columns(l, "v"), self.columns(l, "mlp")
            units += [("heads", l, q.start, v.stop), ("mlp", l, m.start, m.stop)]
        units.append(("logits", self.L - 1, m.stop, self.graph.edge_mask.shape[1]))
        max_cols = max(16, memory_budget() // 8 // (self.P * self.D * torch.finfo(self.dtype).bits // 8))
        return contraction_blocks(units, self.n_up, max_cols)

    def _fill(self, A: torch.Tensor, kind: str, l: int, b: int, tmp: torch.Tensor) -> None:
        """Example ``b``'s destination-input gradients summed over the passes, ``[rows, P, D]``: an MLP's or
        the logits' as accumulated; a head's first and second terms, ``(W~_h - 1 u_h^T) gbar_h``,
        minus the third of the passes still stored, ``sum_k R_k[h] xhat_k`` (through ``tmp``)."""
        K = self._k
        if kind != "heads":
            g = self._logits if kind == "logits" else self._mlp[l]
            A[0] = 0 if g is None else g[b].view(self.P, self.D)
            return
        if self._G[l] is None:
            A.zero_()
        else:  # every q/k/v head of the layer in one batched matmul
            torch.bmm(self._G[l][b].transpose(0, 1), self._consts[l]["Wt"], out=A)
        if K:  # per position: [heads, K] @ [K, D] (into a buffer: faster than baddbmm_ on A)
            X = self._X[l][:K, b].transpose(0, 1)  # [P, K, D]
            R = self._Rb[l][:K, b].permute(1, 2, 0)  # [P, heads, K]
            A.transpose(0, 1).sub_(torch.bmm(R, X, out=tmp[: A.numel()].view(A.shape[1], A.shape[0], A.shape[2])))

    @torch.no_grad()
    def finish(self) -> torch.Tensor:
        """Per-example edge scores ``[B, n_sources, n_destinations]``, summed over the passes (0 off the edge mask)."""
        if not self.has_deltas:
            raise RuntimeError("EdgeScorer: set_deltas first")
        out, P, D, cd, dev = self._out_tensor(), self.P, self.D, self.dtype, self.device
        # example b's deltas: a row of the stored ones, else built into one reused buffer
        rows = None if self._deltas is not None else torch.empty(self._n_src, P * D, dtype=cd, device=dev)
        off_edges = ~self.graph.edge_mask.to(self.device)
        blocks = [(c0, c1, units, max(self.n_up[c0:c1])) for c0, c1, units in self._blocks()]
        # one example at a time: the buffer (and that example's deltas) stay in cache between the
        # products that fill it and the matmul that reads it; padding columns are dropped
        buf = torch.zeros(max(pad16(c1 - c0) for c0, c1, _, _ in blocks), P, D, dtype=cd, device=dev)
        tmp = torch.empty((self.H + 2 * self.G) * P * D, dtype=cd, device=dev)  # one layer's heads
        for b in range(self.B):
            lhs = self._deltas[:, b] if rows is None else self._build_deltas(*self._sources, b, rows)
            for c0, c1, units, n_up in blocks:
                if not n_up:
                    continue
                for kind, l, u0, u1 in units:
                    self._fill(buf[u0 - c0 : u1 - c0], kind, l, b, tmp)
                res = torch.mm(lhs[:n_up], buf[: pad16(c1 - c0)].view(-1, P * D).T)[:, : c1 - c0]
                out[b, :n_up, c0:c1] += res.masked_fill_(off_edges[:n_up, c0:c1], 0)
        self._k = 0
        return out
