"""verify_top's edges patched together instead of alone, for :mod:`.workflow`'s check.

An edge's exact effect is ``M(clean with that one edge corrupted) - M(clean)``. Two realistic slips patch the top
edges jointly: a running set that grows down the ranking (edge ``i`` patched with every edge ranked above it), and
a leave-one-out within the whole top k (``M(all k) - M(all k but edge i)``). :func:`joint_edges_message` computes
both with :func:`workbook.patching.edges.edge_patched_metric` (exact joint patching) and names the one the
learner's effects equal.
"""

from __future__ import annotations

from workbook.core.scores import Scores
from workbook.core.task import Task
from workbook.patching.edges import edge_patched_metric

__all__ = ["joint_edges_message"]


def joint_edges_message(got: Scores, model, task: Task, scale: float) -> str | None:
    """Words when the learner's edge effects, in their ranking order, are joint-patching effects; else None."""
    edges = [n for n in got.names if "->" in n]
    if len(edges) < 2:
        return None
    clean = task.baselines(model)[0]
    mine = [float(got[n]) for n in edges]

    def same(values: list[float]) -> bool:
        return all(abs(a - b) <= 2e-3 * scale for a, b in zip(mine, values))

    prefix = [edge_patched_metric(model, task, edges[:i + 1]) - clean for i in range(len(edges))]
    if same(prefix):
        return ("your effect for each edge is that of patching it TOGETHER with every edge ranked above it (a set of "
                "patched edges that grows down the ranking and is never reset): verification patches each edge ALONE "
                "on the clean run, M(clean with that edge corrupted) - M(clean).")
    everything = edge_patched_metric(model, task, edges)
    left_out = [everything - edge_patched_metric(model, task, edges[:i] + edges[i + 1:]) for i in range(len(edges))]
    if same(left_out):
        return ("your effect for each edge is M(all top edges patched together) - M(all of them but this one): a "
                "leave-one-out effect inside a joint patch. Verification patches each edge ALONE on the clean run, "
                "M(clean with that edge corrupted) - M(clean).")
    return None
