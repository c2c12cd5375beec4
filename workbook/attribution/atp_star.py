"""AtP*: attribution patching with both fixes of Kramár et al. (2024).

* query and key nodes: the QK fix (exact softmax, :mod:`workbook.attribution.qk_fix`);
* every node: GradDrop (:mod:`workbook.attribution.graddrop`), ``L`` backward passes, each dropping one
  layer's residual-stream writes, ``sum_l |estimate_l| / (L-1)`` per prompt pair (pass ``l`` is
  back-propagated through layers ``< l`` only, and the QK fix's inputs are built once).

Combination used here — *the natural reading* of the paper, not verified against its text
(see the course's algorithms notes, section 3.3): in every GradDrop pass, q/k nodes use the
QK-fix formula fed with that pass's ``dM/dA``; the other nodes use plain AtP with that
pass's gradient. ``use_graddrop=False`` gives "AtP + QK fix" (signed; one backward pass).

Sign convention: noising. With GradDrop the scores are magnitudes (non-negative); without,
they are signed estimates of ``M(clean with node := corrupt) - M(clean)``.
"""

from __future__ import annotations

import time
from typing import Sequence

import torch

from workbook.arch import adapter_for, check_model
from workbook.attribution.atp import node_hooks, node_products
from workbook.attribution.graddrop import graddrop
from workbook.attribution.qk_fix import atp_qk_fix, qk_fix_from_inputs, qk_fix_inputs, qk_hooks
from workbook.core.errors import check_tokens
from workbook.core.runs import NO_LOGITS, cache_activations, cache_activations_and_grads, compute_dtype, fused_attention
from workbook.core.scores import Scores
from workbook.core.task import Task, oriented
from workbook.patching.nodes import node_kinds, node_specs

__all__ = ["atp_star", "atp_qk_fix", "graddrop"]


def atp_star(
    model,
    task: Task,
    what: str | Sequence[str] = ("q", "k", "v", "head", "mlp"),
    per_position: bool = False,
    use_graddrop: bool = True,
    direction: str = "noising",
) -> Scores:
    """AtP* scores for the node kinds in ``what`` (method ``"AtP*"``, or ``"AtP+QK fix"``).

    Returns :class:`Scores` named as :func:`workbook.patching.nodes.patch_nodes`;
    ``per_example`` ``[B, n]``.
    """
    kinds = node_kinds(what)
    if use_graddrop:
        return graddrop(model, task, kinds, per_position=per_position, qk_fix=True, direction=direction, method="AtP*")
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    t0 = time.perf_counter()
    run = oriented(task, direction)
    qk = [k for k in kinds if k in ("q", "k")]
    if qk:
        adapter_for(model).require("qk_fix")
    plain_hooks = node_hooks(model, [k for k in kinds if k not in qk])
    qk_acts, qk_grads = qk_hooks(model) if qk else ([], [])
    # one corrupt forward (no logits) and one clean forward + backward serve both plain AtP and the
    # QK fix; node, q/k, score and pattern hooks need no per-head flags, so attention runs fused
    corr_qk = qk_hooks(model, scores=False)[0] if qk else []
    with fused_attention(model):
        _, corr = cache_activations(model, run.corrupt, plain_hooks + corr_qk, attention_mask=run.attention_mask,
                                    positions=NO_LOGITS)
        _, clean, grads = cache_activations_and_grads(model, run, plain_hooks + qk_acts, plain_hooks + qk_grads)
    layers = qk_fix_inputs(model, clean, corr) if qk else None
    cd = compute_dtype(model)
    cols, names = [], []
    for k in kinds:
        names += [s.name for s in node_specs(model, k, per_position, task.seq_len)]
        if k in qk:
            cols.append(qk_fix_from_inputs(model, layers, k, per_position, grads).to(cd))
            continue
        cols += node_products(model, k, per_position, corr, clean, grads)
    per_ex = torch.cat(cols, 1)
    return Scores(names, per_ex.mean(0), method="AtP+QK fix", kind="node", per_example=per_ex,
                  info={"direction": direction, "seconds": time.perf_counter() - t0,
                        "passes": "2 fwd + 1 bwd + attention recompute", "forward_passes": 2, "backward_passes": 1})
