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
from workbook.patching import _fused_attention, _orient, weight_in_out
from workbook.scores import Scores
from workbook.tasks import Task
from workbook.validate import check_model, check_tokens

__all__ = ["eap", "edge_scores_from_grads", "source_deltas", "edge_scores_to_scores", "GraphIO"]


class GraphIO:
    """Source writes and destination-input gradients of the edge graph, from fused-attention runs.

    With TransformerLens' per-head flags (split q/k/v inputs, per-head results) every forward
    and backward applies LayerNorm and the projections once per head, which costs 2-3x a plain
    pass. This class gets the same quantities from a plain (fused) run instead:

    * a head's write ``L{l}H{h}`` is ``z_h @ W_O[h]`` (``hook_z`` times its slice of W_O, no b_O);
    * the gradient at head h's query input is the LayerNorm backward of ``W_Q[h] . dM/dq_h``
      (``dM/dq`` at ``hook_q``), evaluated at the clean ``resid_pre`` — exactly what autograd
      would give at ``hook_q_input[:, :, h]``; the same for keys and values;
    * MLP inputs and the logits reader use ``hook_mlp_in`` / the last ``hook_resid_post``.

    Use :meth:`fwd_names` / :meth:`grad_names` as hook lists inside :func:`fused`, then
    :meth:`sources` and :meth:`dest_grads` to stack them in graph order.
    """

    def __init__(self, model, graph: Graph | None = None):
        self.model = model
        self.graph = graph or Graph.from_model(model)
        self.L, self.H, self.dh = self.graph.n_layers, self.graph.n_heads, model.cfg.d_head

    fused = staticmethod(_fused_attention)

    def source_names(self) -> list[str]:
        names = ["hook_embed"]
        for l in range(self.L):
            names += [f"blocks.{l}.attn.hook_z", f"blocks.{l}.hook_mlp_out"]
        return names

    def fwd_names(self) -> list[str]:
        """Activations needed: source writes plus each layer's ``resid_pre`` (for the LN backward)."""
        return self.source_names() + [f"blocks.{l}.hook_resid_pre" for l in range(self.L)]

    def grad_names(self) -> list[str]:
        names = []
        for l in range(self.L):
            names += [f"blocks.{l}.attn.hook_{x}" for x in "qkv"] + [f"blocks.{l}.hook_mlp_in"]
        return names + [f"blocks.{self.L - 1}.hook_resid_post"]

    def _weight(self, layer: int, kind: str) -> torch.Tensor:
        """The ``kind`` (q/k/v/o) projection as ``[d_in, d_out]`` (``y = x @ W + b``)."""
        return weight_in_out(getattr(self.model.blocks[layer].attn, kind)._original_component)

    @torch.no_grad()
    def sources(self, acts: dict[str, torch.Tensor]) -> torch.Tensor:
        """Stack source writes ``[n_sources, B, P, D]`` from fused-run activations."""
        parts = [acts["hook_embed"][None]]
        for l in range(self.L):
            W_O = self._weight(l, "o").reshape(self.H, self.dh, -1)  # [H, dh, D]
            z = acts[f"blocks.{l}.attn.hook_z"]  # [B, P, H, dh]
            parts.append(torch.bmm(z.permute(2, 0, 1, 3).reshape(self.H, -1, self.dh), W_O).reshape(self.H, *z.shape[:2], -1))
            parts.append(acts[f"blocks.{l}.hook_mlp_out"][None])
        return torch.cat(parts, 0)

    def _ln_backward(self, layer: int, x: torch.Tensor, g_out: torch.Tensor, out: torch.Tensor) -> None:
        """Write into ``out [H, B, P, D]`` the gradient at ``ln1``'s input ``x [B,P,D]`` for each head's
        output gradient ``g_out [H, B, P, D]``: ``(g - mean(g) - xhat * mean(g * xhat)) / sigma``, g = w * g_out."""
        ln = self.model.blocks[layer].ln1._original_component
        inv_sigma = (x.var(-1, unbiased=False, keepdim=True) + ln.eps).rsqrt()  # [B,P,1]
        xhat = (x - x.mean(-1, keepdim=True)) * inv_sigma  # [B,P,D]
        g = g_out * ln.weight
        m1 = g.mean(-1, keepdim=True)
        m2 = torch.matmul(g[..., None, :], xhat[..., None])[..., 0] / x.shape[-1]  # [H,B,P,1]
        torch.mul(torch.addcmul(g - m1, xhat, m2, value=-1), inv_sigma, out=out)

    @torch.no_grad()
    def dest_grads(self, acts: dict[str, torch.Tensor], grads: dict[str, torch.Tensor]) -> torch.Tensor:
        """Stack destination-input gradients ``[n_destinations, B, P, D]`` in graph order."""
        first = grads[f"blocks.{self.L - 1}.hook_resid_post"]
        out = first.new_empty((len(self.graph.destinations),) + tuple(first.shape))
        row = 0
        for l in range(self.L):
            x = acts[f"blocks.{l}.hook_resid_pre"]
            for kind in "qkv":
                W = self._weight(l, kind).T.reshape(self.H, self.dh, -1)  # [H, dh, D]
                g = grads[f"blocks.{l}.attn.hook_{kind}"]  # [B, P, H, dh]
                g_ln = torch.bmm(g.permute(2, 0, 1, 3).reshape(self.H, -1, self.dh), W)  # [H, B*P, D]
                self._ln_backward(l, x, g_ln.reshape(self.H, *g.shape[:2], -1), out[row : row + self.H])
                row += self.H
            out[row] = grads[f"blocks.{l}.hook_mlp_in"]
            row += 1
        out[row] = first
        return out


@torch.no_grad()
def source_deltas(model, task: Task, graph: Graph | None = None) -> torch.Tensor:
    """``z_u(corrupt) - z_u(clean)`` for every source: ``[n_sources, B, P, d_model]``."""
    io = GraphIO(model, graph)
    with io.fused(model):
        _, clean = cache_activations(model, task.clean, io.source_names())
        _, corr = cache_activations(model, task.corrupt, io.source_names())
    return io.sources(corr) - io.sources(clean)


def edge_scores_from_grads(deltas: torch.Tensor, dest_grads: torch.Tensor, graph: Graph) -> torch.Tensor:
    """Per-example edge matrix ``[B, n_sources, n_destinations]`` (zero off the edge mask).

    ``deltas``: ``[n_sources, B, P, D]``; ``dest_grads``: ``[n_destinations, B, P, D]``.
    """
    n_src, B = deltas.shape[:2]
    n_dst = dest_grads.shape[0]
    # a batched matmul over (pos, d_model); several times faster than the equivalent einsum on CPU
    lhs = deltas.permute(1, 0, 2, 3).reshape(B, n_src, -1)
    rhs = dest_grads.permute(1, 2, 3, 0).reshape(B, -1, n_dst)
    scores = torch.bmm(lhs, rhs)
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
    io = GraphIO(model)
    graph = io.graph
    with io.fused(model):
        _, corr = cache_activations(model, run.corrupt, io.source_names())
        _, clean, grads = cache_activations_and_grads(model, run, io.fwd_names(), io.grad_names())
    deltas = io.sources(corr) - io.sources(clean)
    per_ex = edge_scores_from_grads(deltas, io.dest_grads(clean, grads), graph)
    return edge_scores_to_scores(
        per_ex, graph, "EAP",
        {"direction": direction, "seconds": time.perf_counter() - t0, "passes": "2 fwd + 1 bwd",
         "forward_passes": 2, "backward_passes": 1},
    )
