"""Edge attribution patching (EAP, Syed, Rager & Conmy 2023): every edge from one gradient.

For an edge ``u -> v`` of the :class:`~workbook.arch.graph.Graph` (noising, as in Hanna et al.'s
reference code)::

    EAP(u->v) = sum_{pos, d} (z_u(corrupt) - z_u(clean)) . dM/d in_v |clean

``z_u`` is the source's write into the residual stream, ``in_v`` the destination's input
before its norm. Scores are batch means of per-example scores. One corrupt forward, one
clean forward and one backward score every edge. With the same gradient, the edges out of a
source sum to its node AtP score (``sum_v EAP(u->v) = AtP(u)``).

The scoring itself is :class:`~workbook.patching.edge_scorer.EdgeScorer`, shared with EAP-IG,
EAP-GP and exact edge patching. :func:`edge_scores_from_grads` (source deltas times a stacked
destination-gradient tensor) and :class:`GraphIO` are the textbook form of the same sum; the
learner checks and the tests use them as an independent reference.
"""

from __future__ import annotations

import time

import torch

from workbook.arch import adapter_for, check_model
from workbook.arch.graph import Graph
from workbook.core.errors import check_tokens
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
from workbook.patching.edge_scorer import EdgeScorer

__all__ = ["eap", "edge_scores_from_grads", "source_deltas", "edge_scores_to_scores", "GraphIO"]


class GraphIO:
    """Source writes and destination-input gradients of the edge graph, from fused-attention runs.

    With TransformerLens' per-head flags (split q/k/v inputs, per-head results) every forward
    and backward applies the norm and the projections once per head, which costs 2-3x a plain
    pass. This class gets the same quantities from a plain (fused) run instead:

    * a head's write ``L{l}H{h}`` is ``z_h @ W_O[h]`` (``hook_z`` times its slice of W_O, no b_O);
    * the gradient at head h's query input is the pre-attention norm's backward of
      ``W_Q[h] . dM/dq_h`` (``dM/dq`` at ``hook_q``, before any rotary embedding), evaluated at the
      clean ``resid_pre`` — exactly what autograd would give at ``hook_q_input[:, :, h]``; the
      same for keys and values (one per k/v head under grouped-query attention);
    * MLP inputs and the logits reader use ``hook_mlp_in`` / the last ``hook_resid_post``.

    Weights and the norm backward (LayerNorm, RMSNorm, Gemma's ``1 + w``) come from the model's
    adapter (:mod:`workbook.arch`). Results are in float32, or float64 for a float64 model.
    Use :meth:`fwd_names` / :meth:`grad_names` as hook lists inside :func:`fused`, then
    :meth:`sources` and :meth:`dest_grads` to stack them in graph order.
    """

    def __init__(self, model, graph: Graph | None = None):
        self.model = model
        self.adapter = adapter_for(model)
        self.graph = graph or Graph.from_model(model)
        self.L, self.H, self.dh = self.graph.n_layers, self.graph.n_heads, self.adapter.d_head
        self.G = self.graph.n_kv_heads
        self.dtype = compute_dtype(model)

    fused = staticmethod(fused_attention)

    def source_names(self) -> list[str]:
        names = ["hook_embed"]
        for l in range(self.L):
            names += [f"blocks.{l}.attn.hook_z", f"blocks.{l}.hook_mlp_out"]
        return names

    def fwd_names(self) -> list[str]:
        """Activations needed: source writes plus each layer's ``resid_pre`` (for the norm backward)."""
        return self.source_names() + [f"blocks.{l}.hook_resid_pre" for l in range(self.L)]

    def grad_names(self) -> list[str]:
        names = []
        for l in range(self.L):
            names += [f"blocks.{l}.attn.hook_{x}" for x in "qkv"] + [f"blocks.{l}.hook_mlp_in"]
        return names + [f"blocks.{self.L - 1}.hook_resid_post"]

    def _weight(self, layer: int, kind: str) -> torch.Tensor:
        """The ``kind`` (q/k/v/o) projection as ``[d_in, d_out]`` (``y = x @ W + b``), in the compute dtype."""
        return self.adapter.projection(layer, kind)[0].to(self.dtype)

    @torch.no_grad()
    def sources(self, acts: dict[str, torch.Tensor]) -> torch.Tensor:
        """Stack source writes ``[n_sources, B, P, D]`` from fused-run activations."""
        dt = self.dtype
        parts = [acts["hook_embed"][None].to(dt)]
        for l in range(self.L):
            W_O = self._weight(l, "o").reshape(self.H, self.dh, -1)  # [H, dh, D]
            z = acts[f"blocks.{l}.attn.hook_z"].to(dt)  # [B, P, H, dh]
            parts.append(
                torch.bmm(z.permute(2, 0, 1, 3).reshape(self.H, -1, self.dh), W_O).reshape(self.H, *z.shape[:2], -1)
            )
            parts.append(acts[f"blocks.{l}.hook_mlp_out"][None].to(dt))
        return torch.cat(parts, 0)

    @torch.no_grad()
    def dest_grads(self, acts: dict[str, torch.Tensor], grads: dict[str, torch.Tensor]) -> torch.Tensor:
        """Stack destination-input gradients ``[n_destinations, B, P, D]`` in graph order."""
        dt = self.dtype
        first = grads[f"blocks.{self.L - 1}.hook_resid_post"]
        out = first.new_empty((len(self.graph.destinations),) + tuple(first.shape), dtype=dt)
        row = 0
        for l in range(self.L):
            x = acts[f"blocks.{l}.hook_resid_pre"].to(dt)
            for kind in "qkv":
                n = self.H if kind == "q" else self.G
                W = self._weight(l, kind).T.reshape(n, self.dh, -1)  # [n, dh, D]
                g = grads[f"blocks.{l}.attn.hook_{kind}"].to(dt)  # [B, P, n, dh]
                g_ln = torch.bmm(g.permute(2, 0, 1, 3).reshape(n, -1, self.dh), W)  # [n, B*P, D]
                self.adapter.norm_input_grad(l, x, g_ln.reshape(n, *g.shape[:2], -1), out[row : row + n])
                row += n
            out[row] = grads[f"blocks.{l}.hook_mlp_in"]
            row += 1
        out[row] = first
        return out


@torch.no_grad()
def source_deltas(model, task: Task, graph: Graph | None = None) -> torch.Tensor:
    """``z_u(corrupt) - z_u(clean)`` for every source: ``[n_sources, B, P, d_model]``."""
    io = GraphIO(model, graph)
    with io.fused(model):
        _, clean = cache_activations(model, task.clean, io.source_names(), attention_mask=task.attention_mask)
        _, corr = cache_activations(model, task.corrupt, io.source_names(), attention_mask=task.attention_mask)
    return io.sources(corr) - io.sources(clean)


def edge_scores_from_grads(deltas: torch.Tensor, dest_grads: torch.Tensor, graph: Graph) -> torch.Tensor:
    """Per-example edge matrix ``[B, n_sources, n_destinations]`` (zero off the edge mask).

    ``deltas``: ``[n_sources, B, P, D]``; ``dest_grads``: ``[n_destinations, B, P, D]``.
    """
    n_src, B = deltas.shape[:2]
    n_dst = dest_grads.shape[0]
    dt = compute_dtype(torch.promote_types(deltas.dtype, dest_grads.dtype))  # float32 or float64
    deltas, dest_grads = deltas.to(dt), dest_grads.to(dt)
    # a batched matmul over (pos, d_model); several times faster than the equivalent einsum on CPU
    lhs = deltas.permute(1, 0, 2, 3).reshape(B, n_src, -1)
    rhs = dest_grads.permute(1, 2, 3, 0).reshape(B, -1, n_dst)
    scores = torch.bmm(lhs, rhs)
    return scores * graph.edge_mask[None].to(scores.device, scores.dtype)


def edge_scores_to_scores(per_example: torch.Tensor, graph: Graph, method: str, info: dict) -> Scores:
    """Flatten a ``[B, n_src, n_dst]`` edge tensor into edge :class:`Scores` (graph edge order)."""
    mask = graph.edge_mask.to(per_example.device)
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
    run = oriented(task, direction).to(model_device(model))
    sc = EdgeScorer(model)
    graph = sc.graph
    with fused_attention(model):
        _, corr = cache_activations(
            model, run.corrupt, sc.source_names(), attention_mask=run.attention_mask, positions=NO_LOGITS
        )
        # the scorer checks what it reads (set_deltas, add_pass) and multiplies the batch mean's
        # gradients by B in its own products
        _, clean, grads = cache_activations_and_grads(
            model, run, sc.source_names() + sc.act_names(), sc.grad_names(), check="logits", per_example=False
        )
    sc.set_deltas(corr, clean)
    del corr
    sc.add_pass(clean, grads, scale=run.batch_size)
    del clean, grads
    per_ex = sc.finish()
    return edge_scores_to_scores(
        per_ex,
        graph,
        "EAP",
        {
            "direction": direction,
            "seconds": time.perf_counter() - t0,
            "passes": "2 fwd + 1 bwd",
            "forward_passes": 2,
            "backward_passes": 1,
        },
    )
