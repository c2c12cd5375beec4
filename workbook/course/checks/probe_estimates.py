"""The made-up estimates that :func:`~workbook.course.checks.workflow.check_verify_top` hands a learner's
``verify_top_k``: one whose top ``K`` mixes kinds, signs and storage orders (:func:`probe_scores`), and one whose
scores are all tied (:func:`tied_scores`), as a shortlist of equal weights is."""

from __future__ import annotations

import torch

from workbook.arch.graph import Graph
from workbook.core.scores import Scores

__all__ = ["probe_scores", "tied_scores", "K", "SCALE"]

K = 5  # the k of the first case; the others use K - 1 and K - 2, so a k that is never read fails
SCALE = 0.0113  # the made-up estimates' size: below 0.06, and no round number


def probe_scores(model, kind: str, batch: int = 8) -> Scores:
    """A made-up estimate whose top ``K`` by |score| mixes kinds and signs (``kind``: node/edge/mixed), with
    ``per_example`` values for ``batch`` prompt pairs whose mean is the estimate.

    Top ``K`` (by |score|, in this order): a key, a head, an edge, an MLP and a query
    (``mixed``), a head, an MLP, another head, a key and a query (``node``), or five edges, one out of
    the embedding and one into the logits among them (``edge``); the signed order, the alphabetical
    order and the order in which the names are stored all differ from it.
    """
    L, H = model.cfg.n_layers, model.cfg.n_heads
    graph = Graph.from_model(model)
    edges = [e for e in graph.edges if not e.startswith("embed") and not e.endswith("logits")]
    ends = [e for e in graph.edges if e.startswith("embed->") and not e.endswith("logits")][-1:] + \
        [e for e in graph.edges if e.endswith("->logits") and not e.startswith("embed")][:1]
    top_nodes = [f"L{L - 1}H{H - 1}.k", f"L{L - 2}H0", f"MLP{L - 2}", f"L{L - 1}H0.q"]
    if kind == "edge":  # an edge out of the embedding and one into the logits: a filter on either is seen
        top = edges[-1:] + ends[:1] + edges[:1] + ends[1:] + edges[1:2]
        rest = [e for e in edges if e not in top][:6]
    else:
        # mixed: the edge sits in the middle of the top k, so a result without edges is not just "one short"
        # node: two heads around an MLP, so results grouped by kind (heads, then MLPs) come out of order
        top = top_nodes[:2] + [edges[len(edges) // 2]] + top_nodes[2:] if kind == "mixed" else \
            [top_nodes[1], top_nodes[2], f"L0H{H - 1}", top_nodes[0], top_nodes[3]]
        rest = [f"L0H{h}" for h in range(H - 1)] + [f"MLP{L - 1}", "MLP0", f"L{L - 1}H{H - 1}"]
        rest = [r for r in rest if r not in top]
    # small and uneven, as real estimates are (a ranking on values rounded to a decimal or two is all ties)
    values = dict(zip(top + rest, [SCALE * v for v in [-5.0, 4.0, -3.0, 2.5, -2.0] +
                                   [0.1 * (i + 1) * (-1) ** i for i in range(len(rest))]]))
    # stored in neither the |score| order nor its reverse, so "the first k as stored" is not the top k
    stored = rest[:2] + [top[3], top[0]] + rest[2:4] + [top[4], top[1], top[2]] + rest[4:]
    mean = torch.tensor([values[n] for n in stored])
    # the pairs spread the top names widely, the first of the rest very widely and the others hardly, and most pairs
    # sit above the mean: a ranking by anything but |mean| (a ratio to the spread, the largest or the mean |value|
    # of the pairs, their median) comes out in another order
    z = torch.ones(batch)
    z[::4] = -(batch - len(range(0, batch, 4))) / len(range(0, batch, 4))
    spread = torch.tensor([3.0 * abs(values[n]) if n in top else SCALE * (10.0 if n == rest[0] else 0.01)
                           for n in stored])
    per_example = mean + z[:, None] * spread
    return Scores(stored, mean, method="a made-up estimate", kind="edge" if kind == "edge" else "node",
                  per_example=per_example)


def tied_scores(model, n: int = 6) -> Scores:
    """``n`` heads with one and the same score, stored in name order (ties are listed in name order, so a stable
    sort and :meth:`Scores.order` agree): looking a name up by its value finds the first one every time."""
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = sorted(f"L{l}H{h}" for l in range(L) for h in range(H))[:n]
    return Scores(names, torch.full((len(names),), SCALE), method="a shortlist of equal weights", kind="node")
