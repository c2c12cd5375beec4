"""Edge attribution patching (EAP, Syed, Rager & Conmy 2023): every edge from one gradient.

For an edge ``u -> v`` of the :class:`~workbook.graph.Graph` (noising, as in Hanna et al.'s
reference code)::

    EAP(u->v) = sum_{pos, d} (z_u(corrupt) - z_u(clean)) . dM/d in_v |clean

``z_u`` is the source's write into the residual stream, ``in_v`` the destination's input
before its LayerNorm. Scores are batch means of per-example scores. One corrupt forward, one
clean forward and one backward score every edge. With the same gradient, the edges out of a
source sum to its node AtP score (``sum_v EAP(u->v) = AtP(u)``).

:func:`edge_scores_from_grads` is the bookkeeping shared with EAP-IG and EAP-GP: give it the
source deltas and a destination-gradient stack and it returns the edge matrix.
"""

from __future__ import annotations

import time

import torch

from workbook.graph import Graph
from workbook.hooks import cache_activations, cache_activations_and_grads
from workbook.patching import _orient
from workbook.scores import Scores
from workbook.tasks import Task
from workbook.validate import check_model, check_tokens

__all__ = ["eap", "edge_scores_from_grads", "source_deltas", "edge_scores_to_scores"]


@torch.no_grad()
def source_deltas(model, task: Task, graph: Graph | None = None) -> torch.Tensor:
    """``z_u(corrupt) - z_u(clean)`` for every source: ``[n_sources, B, P, d_model]``."""
    graph = graph or Graph.from_model(model)
    _, clean = cache_activations(model, task.clean, list(graph.source_hooks))
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    return graph.stack_sources(corr) - graph.stack_sources(clean)


def edge_scores_from_grads(deltas: torch.Tensor, dest_grads: torch.Tensor, graph: Graph) -> torch.Tensor:
    """Per-example edge matrix ``[B, n_sources, n_destinations]`` (zero off the edge mask).

    ``deltas``: ``[n_sources, B, P, D]``; ``dest_grads``: ``[n_destinations, B, P, D]``.
    """
    scores = torch.einsum("sbpd,tbpd->bst", deltas, dest_grads)
    return scores * graph.edge_mask[None].to(scores.dtype)


def edge_scores_to_scores(per_example: torch.Tensor, graph: Graph, method: str, info: dict) -> Scores:
    """Flatten a ``[B, n_src, n_dst]`` edge tensor into edge :class:`Scores` (graph edge order)."""
    mask = graph.edge_mask
    flat = per_example[:, mask]  # [B, n_edges], row-major order == graph.edges
    return Scores(list(graph.edges), flat.mean(0), method=method, kind="edge", per_example=flat, info=info)


def eap(model, task: Task, direction: str = "noising") -> Scores:
    """EAP scores for every edge of the model's graph (names ``"src->dst"``).

    ``direction="denoising"`` takes the gradient on the corrupt run and the delta
    ``z_u(clean) - z_u(corrupt)`` (TransformerLens' convention).
    """
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    t0 = time.perf_counter()
    run = _orient(task, direction)
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, run.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, run, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    per_ex = edge_scores_from_grads(deltas, graph.stack_dest_grads(grads), graph)
    return edge_scores_to_scores(
        per_ex, graph, "EAP",
        {"direction": direction, "seconds": time.perf_counter() - t0, "passes": "2 fwd + 1 bwd",
         "forward_passes": 2, "backward_passes": 1},
    )
