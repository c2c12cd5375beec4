"""AtP* QK fix: attribution for query and key nodes without linearising the softmax.

Plain AtP on a query or key vector multiplies its change by the gradient, and that gradient
passes through the softmax Jacobian ``p(1-p)``. When a head attends with probability near 0 or 1
(saturation) the Jacobian vanishes while the real change of the pattern does not. The fix
(Kramár et al. 2024) recomputes the attention pattern *exactly* with the patched query or key
and linearises only after the softmax::

    QKfix(node) = sum_{t,s} (A'_ts - A_ts) * dM/dA_ts |clean

where ``A`` is the clean pattern ``[B, H, T, S]``, ``A'`` the pattern with the node patched
and ``dM/dA`` the clean-run gradient at ``attn.hook_pattern``.

Sign convention: noising (``A'`` uses the corrupt query/key in the clean run), as everywhere in
the package; ``direction="denoising"`` swaps the runs.

Node semantics match :func:`workbook.patching.patch_nodes`:

* ``L{l}H{h}.q@t`` — query at position ``t`` patched: only row ``t`` changes (corrupt query,
  clean keys). ``L{l}H{h}.q`` (all positions) changes every row; each row is independent, so
  it is the sum over ``t``.
* ``L{l}H{h}.k@s`` — key at position ``s`` patched *alone*: column ``s`` of every row ``t >= s``
  changes; closed form with the log-odds (:func:`key_fix_per_position`).
* ``L{l}H{h}.k`` (all positions) — every key patched at once: every row is re-softmaxed with
  the corrupt keys (this is *not* the sum over ``s``).

The pure tensor functions (:func:`query_fix`, :func:`key_fix_per_position`,
:func:`key_fix_all_positions`) are reused by GradDrop, which feeds them one gradient per pass.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import torch

from workbook.hooks import cache_activations, cache_activations_and_grads
from workbook.patching import _orient, node_kinds, node_specs
from workbook.scores import Scores
from workbook.tasks import Task
from workbook.validate import ModelError, WorkbookError, check_model, check_tokens

__all__ = [
    "atp_qk_fix",
    "attn_scale",
    "causal_mask",
    "query_fix",
    "key_fix_per_position",
    "key_fix_all_positions",
    "qk_fix_from_caches",
    "qk_hooks",
]

QK_KINDS = ("q", "k")


def attn_scale(model, layer: int) -> float:
    """The number attention scores are divided by in ``layer``: ``sqrt(d_head)`` for GPT-2,
    times ``layer + 1`` when the config sets ``scale_attn_by_inverse_layer_idx``."""
    cfg = model.cfg
    scale = math.sqrt(cfg.d_head) if getattr(cfg, "use_attn_scale", True) else 1.0
    if getattr(cfg, "scale_attn_by_inverse_layer_idx", False):
        scale *= layer + 1
    return scale


def causal_mask(T: int, device=None) -> torch.Tensor:
    """``BoolTensor[T, T]``: ``True`` where query ``t`` may attend to key ``s`` (``s <= t``)."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def _scores(q: torch.Tensor, k: torch.Tensor, scale: float, mask: torch.Tensor) -> torch.Tensor:
    """``q [B,T,H,d] , k [B,S,H,d] -> [B,H,T,S]`` scaled scores, ``-inf`` where masked."""
    s = torch.einsum("bthd,bshd->bhts", q, k) / scale
    return s.masked_fill(~mask, float("-inf"))


def query_fix(q_clean, q_corr, k_clean, grad_pattern, scale: float) -> torch.Tensor:
    """Exact-softmax estimate for every query node, per position: ``[B, H, T]``.

    Row ``t`` is re-softmaxed with the corrupt query ``q_corr[:, t]`` and the clean keys;
    the change of the pattern is multiplied by ``grad_pattern`` (``dM/dA`` at the clean run,
    ``[B, H, T, S]``) and summed over keys. Inputs ``q_*, k_*`` are ``[B, T, H, d_head]``.
    Computed in float64.
    """
    q_clean, q_corr, k_clean, g = (x.double() for x in (q_clean, q_corr, k_clean, grad_pattern))
    mask = causal_mask(q_clean.shape[1], q_clean.device)
    A = _scores(q_clean, k_clean, scale, mask).softmax(-1)
    A_new = _scores(q_corr, k_clean, scale, mask).softmax(-1)
    return ((A_new - A) * g).sum(-1)


def key_fix_all_positions(q_clean, k_clean, k_corr, grad_pattern, scale: float) -> torch.Tensor:
    """Exact-softmax estimate for patching *all* keys of each head at once: ``[B, H]``."""
    q_clean, k_clean, k_corr, g = (x.double() for x in (q_clean, k_clean, k_corr, grad_pattern))
    mask = causal_mask(q_clean.shape[1], q_clean.device)
    A = _scores(q_clean, k_clean, scale, mask).softmax(-1)
    A_new = _scores(q_clean, k_corr, scale, mask).softmax(-1)
    return ((A_new - A) * g).sum((-1, -2))


def key_fix_per_position(q_clean, k_clean, k_corr, grad_pattern, scale: float) -> torch.Tensor:
    """Exact-softmax estimate for each key position patched *separately*: ``[B, H, S]``.

    Patching key ``s`` adds ``D_ts = q_t . (k'_s - k_s) / scale`` to one score per row.
    With ``p = A_ts`` and log-odds ``ell = S_ts - logsumexp_{s' != s} S_ts'`` the new entry is
    ``p' = sigmoid(ell + D_ts)`` and the other entries of the row are rescaled by
    ``(1-p')/(1-p)``, so row ``t`` contributes ``(p' - p) * (g_ts - H_ts)``, where ``H_ts`` is
    the gradient averaged with the row's weights *excluding* ``s``. Summed over rows ``t``.

    ``H_ts = (G_t - p g_ts)/(1-p)`` is computed that way where ``p`` is not the row maximum
    (then ``1-p >= 1/2``); for the row's argmax it is recomputed with an exclusive softmax, so
    saturated rows (``p`` within 1e-12 of 1) stay accurate. Float64 throughout.
    """
    q_clean, k_clean, k_corr, g = (x.double() for x in (q_clean, k_clean, k_corr, grad_pattern))
    T = q_clean.shape[1]
    mask = causal_mask(T, q_clean.device)
    S = _scores(q_clean, k_clean, scale, mask)  # [B,H,T,S]
    D = torch.einsum("bthd,bshd->bhts", q_clean, k_corr - k_clean) / scale
    D = D.masked_fill(~mask, 0.0)
    lse = S.logsumexp(-1, keepdim=True)
    logp = S - lse
    p = logp.exp()
    G = (p * g).sum(-1, keepdim=True)
    # log-odds and the exclusive average H for every entry that is not its row's argmax
    ell = logp - torch.log1p(-p)
    H = (G - p * g) / (1 - p)
    # the argmax entry of each row: exclusive softmax over the other keys
    top = S.argmax(-1, keepdim=True)  # [B,H,T,1]
    S_ex = S.scatter(-1, top, float("-inf"))
    lse_ex = S_ex.logsumexp(-1, keepdim=True)  # -inf for a row with a single visible key
    w_ex = (S_ex - lse_ex).exp().nan_to_num(0.0)
    H_top = (w_ex * g).sum(-1, keepdim=True)
    ell_top = S.gather(-1, top) - lse_ex
    is_top = torch.zeros_like(S, dtype=torch.bool).scatter(-1, top, True)
    ell = torch.where(is_top, ell_top.expand_as(S), ell)
    H = torch.where(is_top, H_top.expand_as(S), H)
    dp = torch.sigmoid(ell + D) - torch.sigmoid(ell)  # exactly 0 when the key did not change
    contrib = dp * (g - H)
    valid = mask.expand_as(S) & torch.isfinite(contrib) & (dp != 0)
    contrib = torch.where(valid, contrib, torch.zeros_like(contrib))
    return contrib.sum(-2)  # sum over query rows t -> [B,H,S]


def qk_hooks(model) -> tuple[list[str], list[str]]:
    """``(activation hooks, gradient hooks)`` the QK fix needs in every layer."""
    L = model.cfg.n_layers
    acts = [f"blocks.{l}.attn.{h}" for l in range(L) for h in ("hook_q", "hook_k")]
    grads = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    return acts, grads


def qk_fix_from_caches(
    model,
    kind: str,
    per_position: bool,
    clean: dict[str, torch.Tensor],
    corr: dict[str, torch.Tensor],
    grads: dict[str, torch.Tensor],
) -> torch.Tensor:
    """QK-fix estimates ``[B, n_nodes]`` for ``kind`` (``"q"`` or ``"k"``) in :func:`node_specs` order.

    ``clean``/``corr`` hold ``blocks.l.attn.hook_q``/``hook_k`` (``[B, T, H, d_head]``),
    ``grads`` holds the per-example ``dM/dA`` at ``blocks.l.attn.hook_pattern``.
    """
    if kind not in QK_KINDS:
        raise WorkbookError(f"the QK fix applies to query and key nodes only (kind 'q' or 'k'), got {kind!r}.")
    cols = []
    for l in range(model.cfg.n_layers):
        qn, kn = f"blocks.{l}.attn.hook_q", f"blocks.{l}.attn.hook_k"
        g = grads[f"blocks.{l}.attn.hook_pattern"]
        sc = attn_scale(model, l)
        B = g.shape[0]
        if kind == "q":
            x = query_fix(clean[qn], corr[qn], clean[kn], g, sc)  # [B,H,T]
            cols.append(x.reshape(B, -1) if per_position else x.sum(-1))
        elif per_position:
            cols.append(key_fix_per_position(clean[qn], clean[kn], corr[kn], g, sc).reshape(B, -1))
        else:
            cols.append(key_fix_all_positions(clean[qn], clean[kn], corr[kn], g, sc))
    return torch.cat(cols, 1)


def _check_scale(model, clean: dict[str, torch.Tensor]) -> None:
    """Our recomputed scores must equal the model's own ``hook_attn_scores`` (catches unsupported
    attention variants: rotary, soft-capping, other scales)."""
    for l in range(model.cfg.n_layers):
        q, k = clean[f"blocks.{l}.attn.hook_q"].double(), clean[f"blocks.{l}.attn.hook_k"].double()
        mask = causal_mask(q.shape[1], q.device)
        ours = torch.einsum("bthd,bshd->bhts", q, k) / attn_scale(model, l)
        theirs = clean[f"blocks.{l}.attn.hook_attn_scores"].double()
        err = (ours - theirs)[..., mask].abs().max().item()
        tol = 1e-3 * (1 + theirs[..., mask].abs().max().item())
        if err > tol:
            raise ModelError(
                f"layer {l}: q.k/scale differs from hook_attn_scores by {err:.3g}; this attention variant "
                "(rotary, soft-capping or another score scale) is not supported by the QK fix."
            )


def atp_qk_fix(
    model,
    task: Task,
    what: str | Sequence[str] = ("q", "k"),
    per_position: bool = False,
    direction: str = "noising",
) -> Scores:
    """AtP* QK-fix estimates for query and/or key nodes (method ``"AtP* QK fix"``).

    Args:
        model: a prepared GPT-2 TransformerBridge (eval mode).
        task: clean/corrupt pairs and the metric.
        what: ``"q"``, ``"k"`` or both.
        per_position: one node per (layer, head, position), names ``L{l}H{h}.q@t``.
        direction: ``"noising"`` (default) or ``"denoising"``.

    Returns:
        :class:`Scores` named as :func:`workbook.patching.patch_nodes`, values = batch mean,
        ``per_example`` ``[B, n]``. Cost: one corrupt forward, one clean forward + backward,
        plus one attention-score recomputation per layer and kind.
    """
    kinds = node_kinds(what, QK_KINDS, hint=" atp_qk_fix handles 'q' and 'k' nodes only; use workbook.atp for the rest.")
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    t0 = time.perf_counter()
    run = _orient(task, direction)
    acts, grad_names = qk_hooks(model)
    scores_hooks = [f"blocks.{l}.attn.hook_attn_scores" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, run.corrupt, acts)
    _, clean, grads = cache_activations_and_grads(model, run, acts + scores_hooks, grad_names)
    _check_scale(model, clean)
    names, cols = [], []
    for k in kinds:
        names += [s.name for s in node_specs(model, k, per_position, task.seq_len)]
        cols.append(qk_fix_from_caches(model, k, per_position, clean, corr, grads))
    per_ex = torch.cat(cols, 1).float()
    return Scores(
        names,
        per_ex.mean(0),
        method="AtP* QK fix",
        kind="node",
        per_example=per_ex,
        info={"direction": direction, "seconds": time.perf_counter() - t0,
              "passes": "2 fwd + 1 bwd + attention recompute", "forward_passes": 2, "backward_passes": 1},
    )
