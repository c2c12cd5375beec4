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

Node semantics match :func:`workbook.patching.nodes.patch_nodes`:

* ``L{l}H{h}.q@t`` — query at position ``t`` patched: only row ``t`` changes (corrupt query,
  clean keys). ``L{l}H{h}.q`` (all positions) changes every row; each row is independent, so
  it is the sum over ``t``.
* ``L{l}H{h}.k@s`` — key at position ``s`` patched *alone*: column ``s`` of every row ``t >= s``
  changes; closed form with the log-odds (:func:`key_fix_per_position`).
* ``L{l}H{h}.k`` (all positions) — every key patched at once: every row is re-softmaxed with
  the corrupt keys (this is *not* the sum over ``s``).

Architectures (:mod:`workbook.arch`): the pattern is recomputed from the q/k the scores really
use — after rotary embeddings (``hook_rot_q``/``hook_rot_k``, or rotated here from
``hook_cos``/``hook_sin``) — with the model's own scale, soft-cap (Gemma 2) and mask (causal,
padding, sliding window: read from the model's ``hook_attn_scores``). Before any estimate the
recomputed scores are compared with ``hook_attn_scores``; a mismatch is a named
:class:`~workbook.core.errors.UnsupportedArchitectureError`, so the QK fix is exact or refused.
Under grouped-query attention a key node is one k/v head (``L{l}KV{g}.k``): patching it changes
the pattern of every query head in its group, and the estimate sums over them.

The pure tensor functions (:func:`query_fix`, :func:`key_fix_per_position`,
:func:`key_fix_all_positions`) are reused by GradDrop, which feeds them one gradient per pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import torch

from workbook.arch import adapter_for, check_model
from workbook.core.errors import UnsupportedArchitectureError, WorkbookError, check_tokens
from workbook.core.runs import (
    NO_LOGITS,
    cache_activations,
    cache_activations_and_grads,
    compute_dtype,
    fused_attention,
    model_device,
)
from workbook.core.scores import Scores
from workbook.core.task import Task, oriented
from workbook.patching.nodes import node_kinds, node_specs

__all__ = [
    "atp_qk_fix",
    "attn_scale",
    "causal_mask",
    "query_fix",
    "key_fix_per_position",
    "key_fix_all_positions",
    "qk_fix_from_caches",
    "qk_fix_inputs",
    "qk_fix_from_inputs",
    "qk_hooks",
    "QKLayer",
]

QK_KINDS = ("q", "k")


def attn_scale(model, layer: int) -> float:
    """The number attention scores are divided by in ``layer`` (from the model's adapter):
    ``sqrt(d_head)`` for GPT-2 (times ``layer + 1`` with ``scale_attn_by_inverse_layer_idx``),
    ``1 / scaling`` of the attention module for Llama-style models."""
    return adapter_for(model).attn_divisor(layer)


def causal_mask(T: int, device=None) -> torch.Tensor:
    """``BoolTensor[T, T]``: ``True`` where query ``t`` may attend to key ``s`` (``s <= t``)."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def _raw_scores(q: torch.Tensor, k: torch.Tensor, scale: float, softcap: float | None = None) -> torch.Tensor:
    s = torch.einsum("bthd,bshd->bhts", q, k) / scale
    return s if softcap is None else softcap * torch.tanh(s / softcap)


def attention_scores(
    q: torch.Tensor, k: torch.Tensor, scale: float, mask: torch.Tensor, softcap: float | None = None
) -> torch.Tensor:
    """``q [B,T,H,d] , k [B,S,H,d] -> [B,H,T,S]`` scaled (and soft-capped) scores, ``-inf`` where
    ``mask`` (``[T, S]`` or ``[B, H, T, S]``) is False."""
    return _raw_scores(q, k, scale, softcap).masked_fill(~mask, float("-inf"))


def _softmax(s: torch.Tensor, visible: torch.Tensor | None) -> torch.Tensor:
    p = s.softmax(-1)
    if visible is None or bool(visible.any(-1).all()):
        return p
    return p.nan_to_num(0.0)  # a row with no visible key (a left-padding query) has no pattern to change


def query_fix(q_clean, q_corr, k_clean, grad_pattern, scale: float, visible=None, softcap=None) -> torch.Tensor:
    """Exact-softmax estimate for every query node, per position: ``[B, H, T]``.

    Row ``t`` is re-softmaxed with the corrupt query ``q_corr[:, t]`` and the clean keys;
    the change of the pattern is multiplied by ``grad_pattern`` (``dM/dA`` at the clean run,
    ``[B, H, T, S]``) and summed over keys. Inputs ``q_*, k_*`` are ``[B, T, H, d_head]`` (keys
    already one per query head). ``visible``: the mask (default causal); ``softcap``: Gemma 2's
    score cap. Computed in float64.
    """
    q_clean, q_corr, k_clean, g = (x.double() for x in (q_clean, q_corr, k_clean, grad_pattern))
    mask = causal_mask(q_clean.shape[1], q_clean.device) if visible is None else visible
    A = _softmax(attention_scores(q_clean, k_clean, scale, mask, softcap), visible)
    A_new = _softmax(attention_scores(q_corr, k_clean, scale, mask, softcap), visible)
    return ((A_new - A) * g).sum(-1)


def key_fix_all_positions(
    q_clean, k_clean, k_corr, grad_pattern, scale: float, visible=None, softcap=None
) -> torch.Tensor:
    """Exact-softmax estimate for patching *all* keys of each head at once: ``[B, H]``."""
    q_clean, k_clean, k_corr, g = (x.double() for x in (q_clean, k_clean, k_corr, grad_pattern))
    mask = causal_mask(q_clean.shape[1], q_clean.device) if visible is None else visible
    A = _softmax(attention_scores(q_clean, k_clean, scale, mask, softcap), visible)
    A_new = _softmax(attention_scores(q_clean, k_corr, scale, mask, softcap), visible)
    return ((A_new - A) * g).sum((-1, -2))


def key_fix_per_position(
    q_clean, k_clean, k_corr, grad_pattern, scale: float, visible=None, softcap=None
) -> torch.Tensor:
    """Exact-softmax estimate for each key position patched *separately*: ``[B, H, S]``.

    Patching key ``s`` adds ``D_ts = q_t . (k'_s - k_s) / scale`` to one score per row (with a
    soft-cap, the change of the capped score). With ``p = A_ts`` and log-odds
    ``ell = S_ts - logsumexp_{s' != s} S_ts'`` the new entry is
    ``p' = sigmoid(ell + D_ts)`` and the other entries of the row are rescaled by
    ``(1-p')/(1-p)``, so row ``t`` contributes ``(p' - p) * (g_ts - H_ts)``, where ``H_ts`` is
    the gradient averaged with the row's weights *excluding* ``s``. Summed over rows ``t``.

    ``H_ts = (G_t - p g_ts)/(1-p)`` is computed that way where ``p`` is not the row maximum
    (then ``1-p >= 1/2``); for the row's argmax it is recomputed with an exclusive softmax, so
    saturated rows (``p`` within 1e-12 of 1) stay accurate. Float64 throughout.
    """
    q_clean, k_clean, k_corr, g = (x.double() for x in (q_clean, k_clean, k_corr, grad_pattern))
    T = q_clean.shape[1]
    mask = causal_mask(T, q_clean.device) if visible is None else visible
    S = attention_scores(q_clean, k_clean, scale, mask, softcap)  # [B,H,T,S]
    if softcap is None:
        D = torch.einsum("bthd,bshd->bhts", q_clean, k_corr - k_clean) / scale
    else:
        D = _raw_scores(q_clean, k_corr, scale, softcap) - _raw_scores(q_clean, k_clean, scale, softcap)
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


def qk_hooks(model, scores: bool = True) -> tuple[list[str], list[str]]:
    """``(activation hooks, gradient hooks)`` the QK fix needs in every layer: the q/k the scores
    use (post-rotary), the model's ``hook_attn_scores`` (mask and check; clean run only, so
    ``scores=False`` for the corrupt run) and ``dM/dA``."""
    ad = adapter_for(model)
    acts, grads = [], []
    for l in range(ad.n_layers):
        acts += ad.qk_hook_names(l) + ([f"blocks.{l}.attn.hook_attn_scores"] if scores else [])
        grads.append(f"blocks.{l}.attn.hook_pattern")
    return acts, grads


@dataclass
class QKLayer:
    """One layer's QK-fix inputs (float64): q ``[B,T,H,d]``, k ``[B,S,n_kv,d]`` on the clean and
    corrupt runs, the visible mask (broadcastable to ``[B,H,T,S]``), the score divisor and soft-cap."""

    q: torch.Tensor
    q_corr: torch.Tensor
    k: torch.Tensor
    k_corr: torch.Tensor
    visible: torch.Tensor
    scale: float
    softcap: float | None


# recomputed vs the model's hook_attn_scores, relative to the largest visible score
_SCORE_TOL = {torch.float64: 1e-8, torch.float32: 1e-3, torch.bfloat16: 2e-2, torch.float16: 5e-3}


def _visible(scores: torch.Tensor) -> torch.Tensor:
    """``[B or 1, 1, T, S]``: entries the model's own mask leaves visible (masked ones sit at the
    dtype's minimum or -inf). The mask is the same for every head (causal, padding, sliding
    window), and for every example when nothing is padded."""
    floor = max(torch.finfo(scores.dtype).min, torch.finfo(torch.float32).min) / 2
    v = scores[:, :1] > floor
    return v[:1] if bool((v == v[:1]).all()) else v


def qk_fix_inputs(model, clean: dict[str, torch.Tensor], corr: dict[str, torch.Tensor]) -> list[QKLayer]:
    """Per layer :class:`QKLayer` from caches holding :func:`qk_hooks`' activations; refuses (named
    :class:`~workbook.core.errors.UnsupportedArchitectureError`) when the recomputed clean scores do
    not match the model's ``hook_attn_scores``."""
    ad = adapter_for(model)
    ad.require("qk_fix")
    out = []
    for l in range(ad.n_layers):
        q, k = ad.rotated_qk(clean, l)
        qc, kc = ad.rotated_qk(corr, l)
        theirs = clean[f"blocks.{l}.attn.hook_attn_scores"]
        visible = _visible(theirs)
        layer = QKLayer(q, qc, k, kc, visible, ad.attn_divisor(l), ad.attn_softcap(l))
        ours = _raw_scores(q, ad.expand_kv(k), layer.scale, layer.softcap)
        dtype, theirs = theirs.dtype, theirs.double()
        zero = ours.new_zeros(())
        err = torch.where(visible, (ours - theirs).abs(), zero).max().item()
        tol = _SCORE_TOL.get(dtype, 1e-3) * (1 + torch.where(visible, theirs.abs(), zero).max().item())
        if not err <= tol:
            raise UnsupportedArchitectureError(
                f"the AtP* QK fix cannot reproduce the attention scores of layer {l} of this {ad.arch} model "
                f"(recomputed q.k/scale differs from hook_attn_scores by {err:.3g}): this attention variant "
                "(its positional scheme, score scale or soft-capping) is not supported by the QK fix."
            )
        out.append(layer)
    return out


def qk_fix_from_inputs(
    model, layers: Sequence[QKLayer], kind: str, per_position: bool, grads: dict[str, torch.Tensor]
) -> torch.Tensor:
    """QK-fix estimates ``[B, n_nodes]`` (float64) for ``kind`` (``"q"`` or ``"k"``) in
    :func:`node_specs` order; ``grads`` holds the per-example ``dM/dA`` at ``hook_pattern``."""
    if kind not in QK_KINDS:
        raise WorkbookError(f"the QK fix applies to query and key nodes only (kind 'q' or 'k'), got {kind!r}.")
    ad = adapter_for(model)
    G, rep = ad.n_kv_heads, ad.n_heads // ad.n_kv_heads
    cols = []
    for l, x in enumerate(layers):
        g = grads[f"blocks.{l}.attn.hook_pattern"]
        B = g.shape[0]
        k, kc = ad.expand_kv(x.k), ad.expand_kv(x.k_corr)
        if kind == "q":
            est = query_fix(x.q, x.q_corr, k, g, x.scale, x.visible, x.softcap)  # [B,H,T]
            cols.append(est.reshape(B, -1) if per_position else est.sum(-1))
            continue
        if per_position:
            est = key_fix_per_position(x.q, k, kc, g, x.scale, x.visible, x.softcap)  # [B,H,S]
        else:
            est = key_fix_all_positions(x.q, k, kc, g, x.scale, x.visible, x.softcap)  # [B,H]
        est = est.reshape((B, G, rep) + tuple(est.shape[2:])).sum(2)  # a k/v head feeds its whole group
        cols.append(est.reshape(B, -1))
    return torch.cat(cols, 1)


def qk_fix_from_caches(
    model,
    kind: str,
    per_position: bool,
    clean: dict[str, torch.Tensor],
    corr: dict[str, torch.Tensor],
    grads: dict[str, torch.Tensor],
) -> torch.Tensor:
    """QK-fix estimates ``[B, n_nodes]`` for ``kind`` (``"q"`` or ``"k"``) in :func:`node_specs` order.

    ``clean``/``corr`` hold :func:`qk_hooks`' activations, ``grads`` the per-example ``dM/dA``
    at ``blocks.l.attn.hook_pattern``. (Checks the scores first; see :func:`qk_fix_inputs`.)
    """
    if kind not in QK_KINDS:
        raise WorkbookError(f"the QK fix applies to query and key nodes only (kind 'q' or 'k'), got {kind!r}.")
    return qk_fix_from_inputs(model, qk_fix_inputs(model, clean, corr), kind, per_position, grads)


def atp_qk_fix(
    model,
    task: Task,
    what: str | Sequence[str] = ("q", "k"),
    per_position: bool = False,
    direction: str = "noising",
) -> Scores:
    """AtP* QK-fix estimates for query and/or key nodes (method ``"AtP* QK fix"``).

    Args:
        model: a prepared TransformerBridge (eval mode) of a supported family.
        task: clean/corrupt pairs and the metric.
        what: ``"q"``, ``"k"`` or both.
        per_position: one node per (layer, head, position), names ``L{l}H{h}.q@t``.
        direction: ``"noising"`` (default) or ``"denoising"``.

    Returns:
        :class:`Scores` named as :func:`workbook.patching.nodes.patch_nodes`, values = batch mean,
        ``per_example`` ``[B, n]``. Cost: one corrupt forward, one clean forward + backward,
        plus one attention-score recomputation per layer and kind.
    """
    kinds = node_kinds(
        what, QK_KINDS, hint=" atp_qk_fix handles 'q' and 'k' nodes only; use workbook.attribution.atp for the rest."
    )
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    adapter_for(model).require("qk_fix")
    t0 = time.perf_counter()
    run = oriented(task, direction).to(model_device(model))
    acts, grad_names = qk_hooks(model)
    with fused_attention(model):  # q/k, scores and pattern need no per-head flags; plain passes are faster
        _, corr = cache_activations(
            model, run.corrupt, qk_hooks(model, scores=False)[0], attention_mask=run.attention_mask, positions=NO_LOGITS
        )
        _, clean, grads = cache_activations_and_grads(model, run, acts, grad_names)
    layers = qk_fix_inputs(model, clean, corr)
    names, cols = [], []
    for k in kinds:
        names += [s.name for s in node_specs(model, k, per_position, task.seq_len)]
        cols.append(qk_fix_from_inputs(model, layers, k, per_position, grads))
    per_ex = torch.cat(cols, 1).to(compute_dtype(model))
    return Scores(
        names,
        per_ex.mean(0),
        method="AtP* QK fix",
        kind="node",
        per_example=per_ex,
        info={
            "direction": direction,
            "seconds": time.perf_counter() - t0,
            "passes": "2 fwd + 1 bwd + attention recompute",
            "forward_passes": 2,
            "backward_passes": 1,
        },
    )
