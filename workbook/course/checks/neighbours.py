"""Neighbouring definitions: what a node-level exercise gives when computed on the right method but the
wrong object, for the checks to recognise.

A learner who has the method right but applies it to another node of the head (the queries, keys,
values or the attention pattern instead of the head's output ``hook_z``) or reads another metric
(the answer's logit alone, its log-probability, the probability difference instead of the task's
logit difference) gets numbers with no simple relation to the reference. :func:`neighbour_variants`
computes them with the reference implementation, and :data:`NEIGHBOUR_HINTS` says each in words;
:func:`zero_ablation` is patching's other neighbour (each head set to 0 instead of its corrupt value).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import torch

from workbook.core.runs import cache_activations
from workbook.core.task import Task
from workbook.course.checks.atp_variants import z_parts

__all__ = ["neighbour_variants", "zero_ablation", "patch_head_positions", "atp_position_variants", "ATP_POSITION_HINTS",
           "other_metrics", "NEIGHBOUR_HINTS", "OTHER_KINDS", "METRIC_WORDS"]

OTHER_KINDS = {"q": "hook_q (the queries)", "k": "hook_k (the keys)", "v": "hook_v (the values)",
               "pattern": "hook_pattern (the attention pattern)"}
METRIC_WORDS = {"answer_logit": "the answer's logit alone", "answer_logprob": "the answer's log-probability",
                "prob_diff": "the probability difference p(answer) - p(wrong)"}
NEIGHBOUR_HINTS = [(f"kind_{k}", f"these are the numbers of {where}, not of the head's output: the exercise works on "
                                 "z = pattern @ v, the hook blocks.{l}.attn.hook_z.") for k, where in
                   OTHER_KINDS.items()]
NEIGHBOUR_HINTS += [("all_but_last_pos", "you patched every position except the last one (a slice such as "
                                          "[:, :-1]): a head's output at EVERY position matters, including the last; "
                                          "patch act[:, :, h] at all positions.")]
NEIGHBOUR_HINTS += [("complement", "you patched every head of the layer EXCEPT head h (the complement): patch "
                                    "head h alone, act[:, :, h] = corrupt[:, :, h], and leave the others clean.")]
NEIGHBOUR_HINTS += [(f"metric_{k}", f"these numbers measure {w}, not the task's metric: use task.metric_value(logits) "
                                    "(the logit difference logit(answer) - logit(wrong), averaged over the batch).")
                    for k, w in METRIC_WORDS.items()]


def _answer_logit(logits, answer, wrong, pos):
    """Per-example logit of the answer alone at ``pos`` (a metric learners use by mistake)."""
    return logits[torch.arange(logits.shape[0]), pos, answer]


_answer_logit.reads_only_pos = True


def other_metrics(task: Task) -> dict[str, Task]:
    """The task read with the metrics of :data:`METRIC_WORDS` instead of the logit difference (empty when
    the task's metric is not the logit difference)."""
    if task.metric != "logit_diff":
        return {}
    return {"answer_logit": replace(task, metric=_answer_logit),
            "answer_logprob": replace(task, metric="answer_logprob"), "prob_diff": replace(task, metric="prob_diff")}


def neighbour_variants(method: Callable, model, task: Task) -> dict[str, torch.Tensor]:
    """``{key of NEIGHBOUR_HINTS: [n_layers, n_heads]}`` from ``method(model, task, kind) -> Scores``
    (``wb.patch_nodes`` or ``wb.atp``): every other node kind of a head, and every other metric on heads."""
    L, H = model.cfg.n_layers, model.cfg.n_heads
    out = {f"kind_{k}": method(model, task, k).values.reshape(L, H) for k in OTHER_KINDS}
    out.update({f"metric_{k}": method(model, t, "head").values.reshape(L, H) for k, t in other_metrics(task).items()})
    return out


def zero_ablation(model, task, complement: bool = False) -> torch.Tensor:
    """Wrong variant: each head's output set to 0 (ablated) instead of its corrupt value: ``[L, H]``.
    ``complement=True``: instead, every OTHER head of the layer gets its corrupt value (head ``h`` stays clean)."""
    L, H = model.cfg.n_layers, model.cfg.n_heads
    out = torch.zeros(L, H)
    corr = cache_activations(model, task.corrupt, [f"blocks.{l}.attn.hook_z" for l in range(L)])[1] if complement \
        else {}
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
        for l in range(L):
            for h in range(H):
                def put(act, hook, h=h, l=l):
                    act = act.clone()
                    if complement:
                        others = [g for g in range(H) if g != h]
                        act[:, :, others] = corr[f"blocks.{l}.attn.hook_z"][:, :, others]
                    else:
                        act[:, :, h] = 0.0
                    return act

                with model.hooks(fwd_hooks=[(f"blocks.{l}.attn.hook_z", put)]):
                    out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def patch_head_positions(model, task, positions: slice) -> torch.Tensor:
    """Wrong variant: each head patched with its corrupt output at ``positions`` only (the rest clean): ``[L, H]``."""
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    out = torch.zeros(L, H)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
        for l in range(L):
            for h in range(H):
                def put(act, hook, h=h, n=names[l]):
                    act = act.clone()
                    act[:, positions, h] = corr[n][:, positions, h]
                    return act

                with model.hooks(fwd_hooks=[(names[l], put)]):
                    out[l, h] = task.metric_value(model(task.clean)) - base
    return out


ATP_POSITION_HINTS = [
    ("sum_then_product", "you summed the delta and the gradient over positions BEFORE multiplying them: AtP sums the "
                         "products, sum over p of delta_p . grad_p (each position's delta meets its own gradient)."),
    ("last_grad", "you used the last position's gradient at every position: each position's delta is multiplied by "
                  "the gradient at that SAME position (the einsum keeps p on both sides)."),
    ("max_over_positions", "you took the MAX over positions of delta . grad where AtP sums over them: every "
                           "position's contribution adds up (sum over p, keep the sign)."),
    ("delta_prev_layer", "your delta and your gradient come from different layers: layer l's gradient is multiplied by "
                         "the delta of layer l - 1 (a cache key or list index one layer off); take both from the same "
                         "layer, hook blocks.{l}.attn.hook_z."),
    ("grad_prev_layer", "your delta and your gradient come from different layers: layer l's delta is multiplied by "
                        "the gradient of layer l - 1 (a cache key or list index one layer off); take both from the "
                        "same layer, hook blocks.{l}.attn.hook_z."),
    ("heads_dhead_swapped", "the head axis and the d_head axis are mixed up: the product was reshaped as [..., d_head, "
                            "n_heads] where hook_z is [batch, pos, n_heads, d_head] (a view/reshape, not a transpose), "
                            "so each 'head' sums pieces of every head; sum over the LAST axis (d_head) of hook_z as "
                            "it comes."),
]


def atp_position_variants(model, task: Task, parts: tuple | None = None) -> dict[str, torch.Tensor]:
    """AtP of each head's output with the positions or layers handled wrongly (keys of :data:`ATP_POSITION_HINTS`),
    ``[n_layers, n_heads]``, batch means of per-example products (noising: delta = corrupt - clean);
    ``parts``: :func:`~workbook.course.checks.atp_variants.z_parts` of this model and task, when the caller has them."""
    names, corr, clean, grads = parts or z_parts(model, task)
    deltas = [(corr[n] - clean[n]).double() for n in names]  # [B, P, H, d_head] each
    gs = [grads[n].double() for n in names]
    out: dict[str, list] = {k: [] for k, _ in ATP_POSITION_HINTS}
    for l, (d, g) in enumerate(zip(deltas, gs)):
        out["sum_then_product"].append((d.sum(1) * g.sum(1)).sum(-1).mean(0))
        out["last_grad"].append((d * g[:, -1:]).sum((1, 3)).mean(0))
        out["max_over_positions"].append((d * g).sum(3).max(1).values.mean(0))
        out["delta_prev_layer"].append((deltas[l - 1] * g).sum((1, 3)).mean(0))  # l - 1 = -1 wraps, as in Python
        out["grad_prev_layer"].append((d * gs[l - 1]).sum((1, 3)).mean(0))
        B, P, H, dh = d.shape
        out["heads_dhead_swapped"].append((d * g).reshape(B, P, dh, H).sum(2).sum(1).mean(0))
    return {k: torch.stack(v) for k, v in out.items()}
