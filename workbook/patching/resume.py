"""Resume the clean run from any layer: the fast, exact core of edge and node patching.

A patch at layer ``l`` changes nothing upstream of ``l``, so every patched run shares the clean
run up to there. :class:`CleanRun` caches that run once (fused attention) and, for a stack of
patched copies of the batch, recomputes only what a patch changes:

* at the patched layer, one head's attention (a q/k/v, head or pattern patch: that head's new
  output minus its clean output, times its slice of ``W_O``, is added to the cached residual
  stream) or one MLP; the rest of the layer is read from the cache;
* every later layer in full, with the model's own norm and MLP modules, its projection weights,
  and attention recomputed from q/k/v with the model's mask (causal, padding, sliding window:
  read off its ``hook_attn_scores``), score scale and rotary embedding (from ``hook_cos`` /
  ``hook_sin``), all from the architecture adapter (:mod:`workbook.arch`);
* the last layer only at the positions the metric reads (keys and values at every position),
  and the final norm and unembedding only there.

TransformerLens' ``start_at_layer`` would still run the earlier blocks; this runs none of them.
Exact or not used: at construction the clean run is resumed from every layer and compared with
the model's own activations and logits (:attr:`CleanRun.exact`); when that fails (a model whose
blocks do something the adapter does not describe, a metric that reads every position is fine)
callers fall back to full forwards with hooks. Float32 and float64 models only (half-precision
models use the fallback). Noising orientation: pass the oriented task.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbook.arch import adapter_for
from workbook.arch.base import rotate_half
from workbook.core.runs import cache_activations, fused_attention, model_device, model_dtype

__all__ = ["CleanRun", "Patch"]

# recomputed vs the model's own activations, relative to the largest entry
_TOL = {torch.float64: 1e-9, torch.float32: 2e-4}
# the score of a masked key: finite in float32 too, so a query that sees no key (left padding)
# gets a finite (uniform) pattern instead of NaN, as in the model
_MASKED = torch.finfo(torch.float32).min


@dataclass
class Patch:
    """One patched copy of the batch at layer ``layer``. Exactly one of the fields is set:

    * ``z``: ``{head: new z [B, P, d_head]}`` (a head's output changed);
    * ``qkv``: ``(kind, index, value [B, P, d_head])`` (head ``index``'s query, or k/v head
      ``index``'s key/value, pre-rotary, changed);
    * ``qkv_input``: ``(kind, index, delta [B, P, D])`` (that head's q/k/v *input* changed by delta:
      an edge into ``L{l}H{h}.q``);
    * ``pattern``: ``{head: new pattern [B, Q, K]}``;
    * ``mlp_input``: ``delta [B, P, D]`` added to the MLP's input only (an edge into ``MLP{l}``);
    * ``resid``: ``delta [B, P, D]`` added to the residual stream after layer ``layer`` (an MLP
      output patch; an edge into ``logits`` with ``layer = L - 1``).
    """

    layer: int
    z: dict | None = None
    qkv: tuple | None = None
    qkv_input: tuple | None = None
    pattern: dict | None = None
    mlp_input: torch.Tensor | None = None
    resid: torch.Tensor | None = None


class CleanRun:
    """The cached clean run of ``task`` (already oriented) on ``model``; see the module docstring."""

    def __init__(self, model, task):
        self.model, self.task = model, task
        ad = self.ad = adapter_for(model)
        self.L, self.H, self.G, self.dh = ad.n_layers, ad.n_heads, ad.n_kv_heads, ad.d_head
        self.B, self.P = task.batch_size, task.seq_len
        self.device, self.dtype = model_device(model), model_dtype(model)
        self.U = task.logit_positions()  # positions the metric reads (None: all)
        self._refs: dict[tuple, torch.Tensor] = {}
        self.exact = False
        self.reason = ""
        if self.dtype not in _TOL:
            self.reason = f"{self.dtype} model"
            return
        if not ad.supports("edges"):
            self.reason = "the adapter refuses the per-head graph"
            return
        self._cache()
        self._check()

    # ------------------------------------------------------------------ cache
    def _cache(self) -> None:

        L, t = self.L, self.task
        names = ["ln_final.hook_in", "hook_embed"]
        for l in range(L):
            a = f"blocks.{l}.attn."
            names += [
                f"blocks.{l}.hook_resid_pre",
                f"blocks.{l}.hook_mlp_in",
                f"blocks.{l}.hook_mlp_out",
                a + "hook_q",
                a + "hook_k",
                a + "hook_v",
                a + "hook_z",
                a + "hook_pattern",
                a + "hook_attn_scores",
            ]
            if self.ad.rotary:
                names += [a + "hook_cos", a + "hook_sin"]
        with fused_attention(self.model):
            logits, c = cache_activations(self.model, t.clean, names, attention_mask=t.attention_mask, positions=self.U)
        self.clean_logits = logits
        self.base = t.per_example(logits, self.U)
        self.c = c
        self.layers = [self._layer(l) for l in range(L)]
        U = torch.arange(self.P, device=self.device) if self.U is None else self.U.to(self.device)
        self.read = U

    def _layer(self, l: int) -> dict:
        ad, c, a = self.ad, self.c, f"blocks.{l}.attn."
        Ws, bs = [], []
        for kind in "qkv":
            W, b = ad.projection(l, kind)
            Ws.append(W)
            bs.append(torch.zeros(W.shape[1], dtype=W.dtype, device=W.device) if b is None else b)
        W_O, b_O = ad.projection(l, "o")
        scores = c[a + "hook_attn_scores"]
        floor = max(torch.finfo(scores.dtype).min, torch.finfo(torch.float32).min) / 2
        visible = scores[:, :1] > floor  # [B, 1, Q, K]: the mask is shared by the heads
        out = {
            "W_qkv": torch.cat(Ws, 1).detach(),
            "b_qkv": torch.cat(bs).detach(),
            "W_O": W_O.detach().reshape(self.H, self.dh, -1),
            "b_O": None if b_O is None else b_O.detach(),
            "mask": torch.zeros(visible.shape, dtype=self.dtype, device=self.device).masked_fill(~visible, _MASKED),
            "div": ad.attn_divisor(l),
            "softcap": ad.attn_softcap(l),
        }
        if self.ad.rotary:
            out["cos"], out["sin"] = c[a + "hook_cos"], c[a + "hook_sin"]
        out["k_rot"] = self._rotate(out, c[a + "hook_k"])
        out["q_rot"] = self._rotate(out, c[a + "hook_q"])
        return out

    # ------------------------------------------------------------------ pieces
    def _rows(self, t: torch.Tensor, n: int) -> torch.Tensor:
        """``t`` ([B or 1, ...]) for ``n`` stacked rows (copies of the batch)."""
        return t if t.shape[0] == 1 or t.shape[0] == n else t.repeat((n // t.shape[0],) + (1,) * (t.ndim - 1))

    def _rotate(self, lay: dict, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Rotary embedding of ``x [N, P', n, d_head]`` at ``positions`` (default all), as the model applies it."""
        if not self.ad.rotary:
            return x
        cos, sin = lay["cos"], lay["sin"]
        if positions is not None:
            cos, sin = cos[:, positions], sin[:, positions]
        cos = self._rows(cos, x.shape[0])[:, :, None, :]
        sin = self._rows(sin, x.shape[0])[:, :, None, :]
        r = cos.shape[-1]
        return torch.cat([x[..., :r] * cos + rotate_half(x[..., :r]) * sin, x[..., r:]], -1)

    def _attend(
        self, lay: dict, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, qpos: torch.Tensor | None
    ) -> torch.Tensor:
        """``z [N, Q, h, d_head]`` from rotated ``q [N, Q, h, d]``, ``k, v [N, P, h, d]`` (one k/v per query head)."""
        mask = lay["mask"] if qpos is None else lay["mask"][:, :, qpos]
        mask = self._rows(mask, q.shape[0])
        qt, kt, vt = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        sm = self.ad.softmax_dtype
        if lay["softcap"] is None and (sm is None or sm == q.dtype):
            z = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, attn_mask=mask, scale=1.0 / lay["div"])
        else:
            s = qt @ kt.transpose(-1, -2) / lay["div"]
            if lay["softcap"] is not None:
                s = lay["softcap"] * torch.tanh(s / lay["softcap"])
            z = (s + mask).softmax(-1, dtype=sm).to(vt.dtype) @ vt
        return z.transpose(1, 2)

    def _block(self, l: int, x: torch.Tensor, qpos: torch.Tensor | None = None) -> torch.Tensor:
        """Layer ``l`` on residual ``x [N, P, D]``.

        Only at positions ``qpos`` (output ``[N, len(qpos), D]``) if given.
        """
        lay, blk, H, G, dh = self.layers[l], self.model.blocks[l], self.H, self.G, self.dh
        N, P, _ = x.shape
        h = blk.ln1(x)
        kv = h @ lay["W_qkv"][:, H * dh :] + lay["b_qkv"][H * dh :]
        k, v = kv.view(N, P, 2 * G, dh).split(G, 2)
        hq = h if qpos is None else h[:, qpos]
        q = (hq @ lay["W_qkv"][:, : H * dh] + lay["b_qkv"][: H * dh]).view(N, hq.shape[1], H, dh)
        q, k = self._rotate(lay, q, qpos), self._rotate(lay, k)
        z = self._attend(lay, q, self.ad.expand_kv(k), self.ad.expand_kv(v), qpos)
        attn = z.reshape(N, -1, H * dh) @ lay["W_O"].reshape(H * dh, -1)
        if lay["b_O"] is not None:
            attn = attn + lay["b_O"]
        xq = x if qpos is None else x[:, qpos]
        if self.ad.parallel:
            return xq + attn + self._mlp(l, xq)
        mid = xq + attn
        return mid + self._mlp(l, mid)

    def _mlp(self, l: int, x: torch.Tensor) -> torch.Tensor:
        blk = self.model.blocks[l]
        out = blk.mlp(blk.ln2(x))
        return out[0] if isinstance(out, tuple) else out

    def _final(self, x: torch.Tensor) -> torch.Tensor:
        """Per-example metric from the last residual at the read positions ``x [N, len(read), D]``."""
        logits = self.model.unembed(self.model.ln_final(x))
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        return self.task.per_example(logits, self.U)

    @torch.no_grad()
    def resume(self, layer: int, resid: torch.Tensor) -> torch.Tensor:
        """Per-example metric ``[N]`` when the residual stream after layer ``layer`` is ``resid``
        (``[N, P, D]``, or ``[N, len(read), D]`` when ``layer`` is the last one)."""
        x = resid
        for j in range(layer + 1, self.L):
            x = self._block(j, x, self.read if j == self.L - 1 else None)
        if layer == self.L - 1 and x.shape[1] != len(self.read):
            x = x[:, self.read]
        return self._final(x)

    # ------------------------------------------------------------------ check
    @torch.no_grad()
    def _check(self) -> None:
        c, L = self.c, self.L

        real = None if self.task.attention_mask is None else self.task.attention_mask.to(self.device).bool()

        def close(got, want, what, positions=None):
            diff = (got - want).abs()
            if real is not None and positions is not None:  # padded positions never reach a real one
                diff = diff * real[:, positions, None]
            err = diff.max().item()
            tol = _TOL[self.dtype] * (1 + want.abs().max().item())
            if not err <= tol:
                self.reason = f"{what} differs from the model's by {err:.3g}"
                return False
            return True

        for l in range(L):
            x = c[f"blocks.{l}.hook_resid_pre"]
            last = l == L - 1
            got = self._block(l, x, self.read if last else None)
            want = c["ln_final.hook_in"] if last else c[f"blocks.{l + 1}.hook_resid_pre"]
            if last:
                want = want[:, self.read]
            if not close(got, want, f"layer {l} resumed from its input", self.read if last else slice(None)):
                return
        if not close(
            self._final(c["ln_final.hook_in"][:, self.read]), self.base, "the metric resumed from the last layer"
        ):
            return
        self.exact = True

    # ------------------------------------------------------------------ patches
    @torch.no_grad()
    def run(self, patches: list[Patch]) -> torch.Tensor:
        """Per-example metric ``[K, B]`` of K patched copies, all at the same layer.

        An example whose patch changes nothing at the patched layer keeps the clean metric
        exactly (the recomputation would only add rounding noise)."""
        l = patches[0].layer
        assert all(p.layer == l for p in patches)
        last = l == self.L - 1
        K, B, c = len(patches), self.B, self.c
        pos = self.read if last else slice(None)
        post_clean = (c["ln_final.hook_in"] if last else c[f"blocks.{l + 1}.hook_resid_pre"])[:, pos]
        post = post_clean.repeat(K, 1, 1)
        mid_clean = c[f"blocks.{l}.hook_mlp_in"][:, pos]
        mlp_clean = c[f"blocks.{l}.hook_mlp_out"][:, pos]
        changed = torch.zeros(K, B, dtype=torch.bool, device=self.device)
        mlp_rows, mlp_in, mlp_mid = [], [], []
        for i, p in enumerate(patches):
            rows = slice(i * B, (i + 1) * B)
            if p.resid is not None:
                post[rows] += p.resid[:, pos]
                changed[i] = p.resid[:, pos].flatten(1).any(1)
                continue
            if p.mlp_input is not None:
                d_attn = None
                changed[i] = p.mlp_input[:, pos].flatten(1).any(1)
            else:
                d_attn = self._attn_change(l, p, None if not last else self.read)
                changed[i] = d_attn.flatten(1).any(1)
            if self.ad.parallel:
                if d_attn is not None:
                    post[rows] += d_attn
                    continue
                x_mlp = c[f"blocks.{l}.hook_resid_pre"][:, pos] + p.mlp_input[:, pos]
                mid = None
            else:
                mid = mid_clean if d_attn is None else mid_clean + d_attn
                x_mlp = mid if p.mlp_input is None else mid + p.mlp_input[:, pos]
            mlp_rows.append(rows)
            mlp_in.append(x_mlp)
            mlp_mid.append(mid)
        if mlp_rows:
            new = self._mlp(l, torch.cat(mlp_in, 0))
            for i, rows in enumerate(mlp_rows):
                out = new[i * B : (i + 1) * B]
                post[rows] = (post_clean - mlp_clean + out) if mlp_mid[i] is None else mlp_mid[i] + out
        vals = self.resume(l, post).view(K, B)
        return torch.where(changed, vals, self.base.to(vals.dtype)[None])

    def _head_z(self, l: int, kind: str, idx: int, value: torch.Tensor | None, qpos) -> tuple[list[int], torch.Tensor]:
        """``(heads, z [B, P', len(heads), d_head])`` of the heads reading q/k/v head ``idx`` of kind
        ``kind`` when that head's (pre-rotary) vector is ``value`` (``None``: the clean one)."""
        lay, c, a = self.layers[l], self.c, f"blocks.{l}.attn."
        rep = self.H // self.G
        heads = [idx] if kind == "q" else list(range(idx * rep, (idx + 1) * rep))
        kv = idx if kind != "q" else idx // rep
        if kind == "v":
            v = c[a + "hook_v"][:, :, [kv]] if value is None else value[:, :, None]
            pat = c[a + "hook_pattern"][:, heads]
            pat = pat if qpos is None else pat[:, :, qpos]
            return heads, (pat.to(v.dtype) @ v.transpose(1, 2)).transpose(1, 2)
        if kind == "q":
            qh = lay["q_rot"][:, :, heads] if value is None else self._rotate(lay, value[:, :, None])
            kh = lay["k_rot"][:, :, [kv]]
        else:
            qh = lay["q_rot"][:, :, heads]
            kh = lay["k_rot"][:, :, [kv]] if value is None else self._rotate(lay, value[:, :, None])
        vh = c[a + "hook_v"][:, :, [kv]].expand(-1, -1, len(heads), -1)
        if qpos is not None:
            qh = qh[:, qpos]
        return heads, self._attend(lay, qh, kh.expand(-1, -1, len(heads), -1), vh, qpos)

    def _attn_change(self, l: int, p: Patch, qpos) -> torch.Tensor:
        """The change of layer ``l``'s attention output ``[B, P', D]`` caused by patch ``p``.

        A recomputed head output is compared with the same computation on the clean input (cached),
        not with the model's own, so that a patch that changes nothing changes exactly nothing."""
        lay, c, a, dh = self.layers[l], self.c, f"blocks.{l}.attn.", self.dh
        z_clean = c[a + "hook_z"]
        if p.z is not None:
            new = {h: (z if qpos is None else z[:, qpos]) for h, z in p.z.items()}
            ref = {h: (z_clean[:, :, h] if qpos is None else z_clean[:, qpos, h]) for h in p.z}
        elif p.pattern is not None:
            v = self.ad.expand_kv(c[a + "hook_v"])
            new, ref = {}, {}
            for h, pat in p.pattern.items():
                rows = slice(None) if qpos is None else qpos
                new[h] = pat[:, rows].to(v.dtype) @ v[:, :, h]
                ref[h] = c[a + "hook_pattern"][:, h][:, rows].to(v.dtype) @ v[:, :, h]
        else:
            if p.qkv is not None:
                kind, idx, value = p.qkv
            else:
                kind, idx, delta = p.qkv_input
                x = c[f"blocks.{l}.hook_resid_pre"] + delta
                h_in = self.model.blocks[l].ln1(x)
                n0 = {"q": 0, "k": self.H, "v": self.H + self.G}[kind]
                cols = slice((n0 + idx) * dh, (n0 + idx + 1) * dh)
                value = h_in @ lay["W_qkv"][:, cols] + lay["b_qkv"][cols]
            heads, z = self._head_z(l, kind, idx, value, qpos)
            key = (l, kind, idx, qpos is None)
            if key not in self._refs:
                self._refs[key] = self._head_z(l, kind, idx, None, qpos)[1]
            new = {h: z[:, :, i] for i, h in enumerate(heads)}
            ref = {h: self._refs[key][:, :, i] for i, h in enumerate(heads)}
        d = None
        for h, zh in new.items():
            term = (zh - ref[h]) @ lay["W_O"][h]
            d = term if d is None else d + term
        return d
