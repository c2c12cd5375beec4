"""Attribution patching (AtP): every node's patching effect from one gradient.

First-order Taylor expansion of the patching effect around the clean run (noising, as in
AtP*, Kramár et al. 2024)::

    AtP(n) = (n(corrupt) - n(clean)) . dM/dn |clean

summed over the node's feature dimensions (and over positions unless ``per_position``).
Cost: one corrupt forward, one clean forward, one backward — for every node at once.
``direction="denoising"`` gives ``(n(clean) - n(corrupt)) . dM/dn |corrupt`` (Nanda's demo,
TransformerLens' ``attribution_patch``).

Node kinds and names are those of :mod:`workbook.patching.nodes`, so ``Scores`` line up with the
ground truth name for name.
"""

from __future__ import annotations

import time
from typing import Sequence

import torch

from workbook.arch import adapter_for, check_model
from workbook.core.errors import WorkbookError, check_tokens
from workbook.core.runs import cache_activations, cache_activations_and_grads, compute_dtype, fused_attention
from workbook.core.scores import Scores
from workbook.core.task import Task, oriented
from workbook.patching.nodes import NODE_KINDS, node_kinds, node_specs

__all__ = ["atp", "reduce_node_products", "node_hooks", "node_products"]


def node_hooks(model, kinds: Sequence[str]) -> list[str]:
    """Hook names holding the nodes of ``kinds`` in every layer (from the model's adapter)."""
    ad = adapter_for(model)
    return [ad.node_hook(k, l) for k in kinds for l in range(ad.n_layers)]


def node_products(model, kind: str, per_position: bool, corr: dict, clean: dict, grads: dict) -> list[torch.Tensor]:
    """Per layer, ``[B, n_nodes_in_layer]`` of ``(corrupt - clean) . grad`` for ``kind``, accumulated
    in float32 (float64 for a float64 model) whatever the model's dtype."""
    ad = adapter_for(model)
    cd = compute_dtype(model)
    out = []
    for l in range(ad.n_layers):
        h = ad.node_hook(kind, l)
        prod = (corr[h].to(cd) - clean[h].to(cd)) * grads[h].to(cd)
        out.append(reduce_node_products(kind, prod, per_position))
    return out


def reduce_node_products(kind: str, prod: torch.Tensor, per_position: bool) -> torch.Tensor:
    """Sum ``delta * grad`` (one layer, ``[B, ...]``) over feature dims, in :func:`node_specs` order.

    Returns ``[B, n_nodes_in_layer]``.
    """
    B = prod.shape[0]
    if kind in ("head", "q", "k", "v"):  # [B, P, H, d]
        x = prod.sum(-1)  # [B, P, H]
        return x.sum(1) if not per_position else x.transpose(1, 2).reshape(B, -1)
    if kind == "pattern":  # [B, H, Q, K]
        x = prod.sum(-1)  # [B, H, Q]
        return x.sum(-1) if not per_position else x.reshape(B, -1)
    if kind == "mlp":  # [B, P, D]
        x = prod.sum(-1)  # [B, P]
        return x.sum(1, keepdim=True) if not per_position else x
    if kind == "neuron":  # [B, P, N]
        return prod.sum(1) if not per_position else prod.transpose(1, 2).reshape(B, -1)
    raise WorkbookError(f"unknown node kind {kind!r}; choose from {NODE_KINDS}.")


def atp(
    model,
    task: Task,
    what: str | Sequence[str] = "head",
    per_position: bool = False,
    direction: str = "noising",
) -> Scores:
    """Attribution-patching estimates for every node of the kind(s) in ``what``.

    Args:
        model: a prepared TransformerBridge (:func:`workbook.prepare`), eval mode.
        task: the clean/corrupt pairs and metric.
        what: one node kind or several (``"head"``, ``"q"``, ``"k"``, ``"v"``, ``"pattern"``,
            ``"mlp"``, ``"neuron"``); several kinds share one backward pass.
        per_position: score each position separately (names get ``@pos``).
        direction: ``"noising"`` (default; gradient on the clean run) or ``"denoising"``.

    Returns:
        :class:`Scores` with the batch-mean estimate and ``per_example`` ``[B, n]``, names as in
        :func:`workbook.patching.nodes.patch_nodes`.
    """
    kinds = node_kinds(what)
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    t0 = time.perf_counter()
    run = oriented(task, direction)
    hooks = node_hooks(model, kinds)
    with fused_attention(model):  # node hooks need no per-head flags; plain passes are faster
        _, corr = cache_activations(model, run.corrupt, hooks, attention_mask=run.attention_mask)
        _, clean, grads = cache_activations_and_grads(model, run, hooks, hooks)
    cols, names = [], []
    for k in kinds:
        specs = node_specs(model, k, per_position, task.seq_len)
        names += [s.name for s in specs]
        cols += node_products(model, k, per_position, corr, clean, grads)
    per_ex = torch.cat(cols, 1)
    return Scores(
        names,
        per_ex.mean(0),
        method="AtP",
        kind="node",
        per_example=per_ex,
        info={"direction": direction, "seconds": time.perf_counter() - t0, "passes": "2 fwd + 1 bwd",
              "forward_passes": 2, "backward_passes": 1},
    )
