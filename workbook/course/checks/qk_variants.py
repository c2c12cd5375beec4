"""The QK fix computed directly, right and with planted options, for the QK-fix checks (chapter 01).

:func:`qk_fix_variant` recomputes each patched attention pattern from the cached clean and corrupt
queries and keys (float64) and multiplies its exact change by ``dM/dpattern`` (noising: the
corrupt query or key patched into the clean run, minus the clean pattern); with its defaults it is
the reference, its options are the mistakes the checks recognise. :func:`qk_reference` builds the
reference and every named variant for :mod:`workbook.course.checks.node_methods`.
"""

from __future__ import annotations

from typing import Callable

import torch

from workbook.attribution.atp import atp
from workbook.attribution.qk_fix import atp_qk_fix, attn_scale, causal_mask
from workbook.core.runs import cache_activations, cache_activations_and_grads

__all__ = ["pattern_grads", "keys_all_at_once", "masked_scores", "softmax_pattern", "qk_fix_variant", "qk_reference",
           "recipe_hints", "RECIPE_VARIANTS",
           "MASK_KINDS"]


def pattern_grads(model, task, at: str = "pattern"):
    L = model.cfg.n_layers
    names = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k", "v")]
    pats = [f"blocks.{l}.attn.hook_{at}" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, pats)
    if at != "pattern":  # stored under the pattern's name, so the variants read it the same way
        grads = {k.replace(f"hook_{at}", "hook_pattern"): torch.nan_to_num(v) for k, v in grads.items()}
    return clean, corr, grads


def keys_all_at_once(model, task) -> torch.Tensor:
    """Wrong variant: every key patched together, then each column's change credited to its key."""
    clean, corr, grads = pattern_grads(model, task)
    out = []
    for l in range(model.cfg.n_layers):
        q, k = clean[f"blocks.{l}.attn.hook_q"].double(), clean[f"blocks.{l}.attn.hook_k"].double()
        kn = corr[f"blocks.{l}.attn.hook_k"].double()
        g = grads[f"blocks.{l}.attn.hook_pattern"].double()
        mask = causal_mask(q.shape[1])
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A2 = (torch.einsum("bthd,bshd->bhts", q, kn) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A2 - A) * g).sum(-2).mean(0))  # [H, S]
    return torch.stack(out).float()


MASK_KINDS = ("causal", "none", "triu", "zero", "after", "strict")


def masked_scores(q: torch.Tensor, k: torch.Tensor, factor: float, mask_kind: str = "causal", scores_T: bool = False,
                  heads_summed: bool = False) -> torch.Tensor:
    """Attention scores ``[B, H, query t, key s]`` from ``q, k: [B, T, H, d_head]``, times ``factor``, masked.

    The model's recipe is the default (``factor = 1/attn_scale``, the causal mask filled with
    -inf). The options are recipes learners write by mistake: ``mask_kind`` (one of
    :data:`MASK_KINDS`: none, transposed, filled with 0, strict so that a query cannot see itself;
    "after" leaves the scores unmasked for :func:`softmax_pattern`), the score einsum transposed
    (``bshd,bthd``), the scores summed over heads.
    """
    scores = torch.einsum("bshd,bthd->bhts" if scores_T else "bthd,bshd->bhts", q, k) * factor
    if heads_summed:
        scores = scores.sum(1, keepdim=True).expand_as(scores)
    tril = causal_mask(q.shape[1])
    keep = {"causal": tril, "triu": tril.T.contiguous(), "strict": tril.tril(-1), "after": None,
            "none": None, "zero": tril}[mask_kind]
    if keep is not None:
        scores = scores.masked_fill(~keep, 0.0 if mask_kind == "zero" else float("-inf"))
    return scores


def softmax_pattern(q: torch.Tensor, k: torch.Tensor, factor: float, mask_kind: str = "causal", softmax_dim: int = -1,
                    scores_T: bool = False, heads_summed: bool = False,
                    denominator: torch.Tensor | None = None) -> torch.Tensor:
    """The pattern of :func:`masked_scores` (same options), softmaxed over ``softmax_dim``; "after"
    zeroes the future after the softmax without renormalising; ``denominator``: the softmax's
    log-normaliser per row (``[B, H, T, 1]``) taken from another pattern instead of recomputed."""
    scores = masked_scores(q, k, factor, mask_kind, scores_T, heads_summed)
    if denominator is not None:
        return (scores - denominator).exp()
    pattern = scores.softmax(softmax_dim)
    if mask_kind == "after":
        pattern = pattern * causal_mask(q.shape[1])
    return torch.nan_to_num(pattern) if mask_kind == "strict" else pattern


def qk_fix_variant(model, task, kind: str, scaled: bool = True, masked: bool = True, parts=None,
                   mask_kind: str | None = None, softmax_dim: int = -1, per_row: bool = False,
                   diagonal: bool = False, corrupt_pattern: bool = False, added: bool = False,
                   scale: str = "sqrt", mask_new_only: bool = False, clean_denominator: bool = False,
                   times_pattern: bool = False, grad_T: bool = False, scores_T: bool = False,
                   heads_summed: bool = False, score_change: bool = False, keys_are_queries: bool = False,
                   diagonal_only: bool = False, grad_layer_shift: int = 0, new_from: str | None = None) -> torch.Tensor:
    """The QK fix computed directly (one query / one key patched at a time): ``[L, H, T]``.

    With the defaults this is the reference (in float64): (pattern with the corrupt q/k patched in
    - clean pattern) * dM/dpattern, summed over the keys of the query (queries) or over every
    entry (key ``s``), averaged over the batch. The options plant mistakes:
    ``scaled=False`` (or ``scale="none"``) forgets the ``1/sqrt(d_head)`` of the scores,
    ``scale="mult"`` multiplies by it, ``scale="dhead"`` divides by ``d_head``;
    ``masked=False`` drops the causal mask, ``mask_kind`` picks another (:data:`MASK_KINDS`) and
    ``mask_new_only`` applies it to the patched pattern only (the clean one is the model's);
    ``softmax_dim=-2`` normalises over the queries, ``scores_T`` transposes the score einsum,
    ``heads_summed`` sums the scores over heads, ``clean_denominator`` keeps the clean softmax's
    normaliser for the patched pattern; ``per_row=True`` (queries) sums the change over query rows
    per key, ``diagonal=True`` (keys) keeps only row ``t = s`` of key ``s``'s change;
    ``times_pattern`` multiplies the change by the clean pattern too, ``grad_T`` uses dM/dpattern
    transposed, ``score_change`` multiplies the change of the scores (before the softmax) by it,
    ``keys_are_queries`` uses the clean queries as the keys, ``diagonal_only`` keeps entry ``t = s``;
    ``scale="dmodel"`` divides by ``sqrt(d_model)``; ``grad_layer_shift=-1`` reads the pattern gradient of
    the previous layer; ``new_from`` takes the patched vector from another corrupt hook (``"k"``, ``"v"``);
    ``corrupt_pattern=True`` uses the corrupt run's whole pattern (every query and key corrupt),
    ``added=True`` adds the corrupt query/key to the clean one instead of replacing it.
    ``parts``: the cached ``(clean, corrupt, grads)`` to reuse.
    """
    clean, corr, grads = parts or pattern_grads(model, task)
    T = task.seq_len
    mask_kind = mask_kind or ("causal" if masked else "none")
    scale = scale if scaled else "none"
    recipe = {"softmax_dim": softmax_dim, "scores_T": scores_T, "heads_summed": heads_summed}
    out = []
    for l in range(model.cfg.n_layers):
        q, k = clean[f"blocks.{l}.attn.hook_q"].double(), clean[f"blocks.{l}.attn.hook_k"].double()
        new = corr[f"blocks.{l}.attn.hook_{new_from or kind}"].double()
        k = q if keys_are_queries else k
        if added:  # the corrupt q/k added onto the clean one instead of replacing it
            new = new + (q if kind == "q" else k)
        g = grads[f"blocks.{(l + grad_layer_shift) % model.cfg.n_layers}.attn.hook_pattern"].double()
        g = g.transpose(-1, -2) if grad_T else g
        sc = attn_scale(model, l)
        factor = {"sqrt": 1 / sc, "none": 1.0, "mult": sc, "dhead": 1 / sc ** 2,
                  "dmodel": 1 / model.cfg.d_model ** 0.5}[scale]
        A = softmax_pattern(q, k, factor, "causal" if mask_new_only else mask_kind, **recipe)
        den = None
        if clean_denominator:  # the clean rows' log-normaliser, kept for the patched pattern
            den = masked_scores(q, k, factor, mask_kind, scores_T, heads_summed).logsumexp(-1, keepdim=True)

        def patched(qq, kk):
            if score_change:  # the scores themselves, future entries 0 on both sides
                return masked_scores(qq, kk, factor, "zero", scores_T, heads_summed)
            return softmax_pattern(qq, kk, factor, mask_kind, **recipe, denominator=den)

        A = patched(q, k) if score_change else A

        weight = g * A if times_pattern else g
        weight = weight * torch.eye(T, dtype=weight.dtype) if diagonal_only else weight
        if corrupt_pattern:
            change = (patched(corr[f"blocks.{l}.attn.hook_q"].double(), corr[f"blocks.{l}.attn.hook_k"].double())
                      - A) * weight
            out.append(change.sum(-1 if kind == "q" else -2).mean(0))
            continue
        if kind == "q":
            out.append(((patched(new, k) - A) * weight).sum(-2 if per_row else -1).mean(0))  # [H, T]
            continue
        per_key = []
        for s_ in range(T):
            k2 = k.clone()
            k2[:, s_] = new[:, s_]
            change = (patched(q, k2) - A) * weight
            per_key.append((change[:, :, s_].sum(-1) if diagonal else change.sum((-1, -2))).mean(0))  # [H]
        out.append(torch.stack(per_key, -1))
    return torch.stack(out).float()


#: variant key -> options of :func:`qk_fix_variant`: one wrong step in the pattern's recipe
RECIPE_VARIANTS = {
    "clean_den": {"clean_denominator": True}, "times_pattern": {"times_pattern": True}, "grad_T": {"grad_T": True},
    "scores_T": {"scores_T": True}, "scale_mult": {"scale": "mult"}, "scale_dhead": {"scale": "dhead"},
    "heads_summed": {"heads_summed": True}, "score_change": {"score_change": True},
    "keys_are_queries": {"keys_are_queries": True}, "diagonal_only": {"diagonal_only": True},
    "scale_dmodel": {"scale": "dmodel"}, "grad_prev_layer": {"grad_layer_shift": -1},
    "new_from_k": {"new_from": "k"}, "new_from_v": {"new_from": "v"},
    **{f"mask_{m}{'_new' if new else ''}": {"mask_kind": m, "mask_new_only": new}
       for m in ("none", "zero", "after", "strict") for new in (False, True) if (m, new) != ("none", False)},
}
_BOTH = "fill the scores with -inf where s > t BEFORE .softmax(-1), in both patterns"
_NEW = " (on your patched pattern only: the clean one is the model's)"


def recipe_hints(noun: str) -> list[tuple[str, str]]:
    """``(key of RECIPE_VARIANTS, message)`` for the QK-fix check of the ``noun`` ("query"/"key")."""
    masks = {"none": "no causal mask", "zero": "the causal mask fills the future scores with 0, not -inf (exp(0) "
             "still gives those keys weight)", "after": "the causal mask is applied after the softmax (the future "
             "weights are zeroed but the rows are not renormalised, so they no longer sum to 1)", "strict":
             "the causal mask is strict (tril(-1)): a query may attend to its own position, s <= t"}
    out = [(f"mask_{m}{'_new' if new else ''}", f"{text}{_NEW if new else ''}: {_BOTH}.")
           for m, text in masks.items() for new in (False, True) if (m, new) != ("none", False)]
    return out + [
        ("clean_den", f"your patched pattern keeps the CLEAN softmax's denominator: after changing the {noun}, "
                      "recompute the whole softmax (exp(scores') / sum over keys of exp(scores')), so the row "
                      "sums to 1 again."),
        ("times_pattern", "you multiplied the pattern change by the clean pattern as well: the estimate is "
                          "(A' - A) * dM/dA, summed; no extra factor A."),
        ("grad_T", "you used dM/dpattern transposed ([.., key, query]): the gradient at hook_pattern is [batch, head, "
                   "query t, key s], the same layout as the pattern; multiply entry by entry without transposing."),
        ("scores_T", "your score einsum is transposed: scores[b, h, t, s] = q_t . k_s ('bthd,bshd->bhts', query "
                     "first), you computed k_t . q_s."),
        ("scale_mult", "you multiplied the scores by attn_scale (sqrt(d_head)): the model DIVIDES q.k by it."),
        ("scale_dhead", "you divided the scores by d_head: the model divides by attn_scale = sqrt(d_head)."),
        ("score_change", "you multiplied the change of the SCORES (q.k before the softmax) by dM/dpattern: recompute "
                         "the PATTERN with the patched {noun} (softmax of the new scores) and multiply the change of "
                         "the pattern by dM/dpattern.".replace("{noun}", noun)),
        ("grad_prev_layer", "you multiplied layer l's pattern change by the pattern gradient of layer l - 1 (a layer "
                            "index off by one): use the gradient at the same layer's hook_pattern."),
        ("new_from_k", f"your patched {noun} is the corrupt KEY (hook_k): patch in the corrupt {noun} itself, from "
                       f"hook_{noun[0]} of the corrupt run."),
        ("new_from_v", f"your patched {noun} is the corrupt VALUE (hook_v): patch in the corrupt {noun} itself, from "
                       f"hook_{noun[0]} of the corrupt run."),
        ("keys_are_queries", "your scores use the queries where the keys belong (q . q): the scores are q_t . k_s, "
                             "queries from hook_q against keys from hook_k."),
        ("diagonal_only", "you kept only the diagonal entry A[t, t] of the pattern change: patching changes every "
                          "entry the query or key touches; multiply the whole change by dM/dpattern and sum it."),
        ("scale_dmodel", "you divided the scores by sqrt(d_model): the model divides q.k by attn_scale = "
                         "sqrt(d_head), the head's width."),
        ("heads_summed", "your score einsum sums over heads (h missing from its output): each head has its own "
                         "scores, 'bthd,bshd->bhts'."),
    ]


def qk_reference(kind: str) -> Callable:
    def build_ref(model, task):
        L, H, T = model.cfg.n_layers, model.cfg.n_heads, task.seq_len
        ref = atp_qk_fix(model, task, kind, per_position=True).values.reshape(L, H, T)
        parts = pattern_grads(model, task)
        variants = {"plain": atp(model, task, kind, per_position=True).values.reshape(L, H, T),
                    "noscale": qk_fix_variant(model, task, kind, scaled=False, parts=parts),
                    "nomask": qk_fix_variant(model, task, kind, masked=False, parts=parts),
                    "triu": qk_fix_variant(model, task, kind, mask_kind="triu", parts=parts),
                    "softmax_dim": qk_fix_variant(model, task, kind, softmax_dim=-2, parts=parts),
                    "other": atp_qk_fix(model, task, "k" if kind == "q" else "q",
                                        per_position=True).values.reshape(L, H, T),
                    "swapped": -atp_qk_fix(model, task.swapped(), kind, per_position=True).values.reshape(L, H, T)}
        variants["corrupt_pattern"] = qk_fix_variant(model, task, kind, parts=parts, corrupt_pattern=True)
        variants["added"] = qk_fix_variant(model, task, kind, parts=parts, added=True)
        at_scores = pattern_grads(model, task, "attn_scores")
        variants["grad_scores"] = qk_fix_variant(model, task, kind, parts=at_scores)
        variants.update({key: qk_fix_variant(model, task, kind, parts=parts, **options)
                         for key, options in RECIPE_VARIANTS.items()})
        if kind == "k":
            variants["at_once"] = keys_all_at_once(model, task)
            variants["diagonal"] = qk_fix_variant(model, task, kind, diagonal=True, parts=parts)
        else:
            variants["per_row"] = qk_fix_variant(model, task, kind, per_row=True, parts=parts)
        return ref, variants, {}
    return build_ref
