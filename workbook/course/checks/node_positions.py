"""verify_top's node effects summed over single-position patches, for :mod:`.workflow`'s check.

A node's exact effect patches it at every position at once: ``M(clean with node := corrupt at all positions) -
M(clean)``. Patching one position at a time and adding the effects up is not the same: attention mixes positions,
so the effects of single positions do not add up (they agree only where the model is near linear in that node).
:func:`positions_summed_message` computes the per-position effects with
:func:`workbook.patching.nodes.patch_nodes` (``per_position=True``, exact) and names the slip when the learner's
wrong node effects are their sums.
"""

from __future__ import annotations

from workbook.core.scores import Scores
from workbook.core.task import Task
from workbook.patching.nodes import node_kind_of, patch_nodes

__all__ = ["positions_summed_message"]


def positions_summed_message(got: Scores, wrong: list[str], model, task: Task, scale: float) -> str | None:
    """Words when every wrong node effect of ``got`` is the sum of that node's single-position patches (to 2e-3 of
    ``scale``, the largest exact effect); None otherwise, or when no wrong name is a node."""
    nodes = [n for n in wrong if node_kind_of(n) not in ("edge", "unknown")]
    if not nodes:
        return None
    positions = range(task.seq_len)
    for kind in sorted({node_kind_of(n) for n in nodes}):
        names = [n for n in nodes if node_kind_of(n) == kind]
        single = patch_nodes(model, task, kind, per_position=True, progress_bar=False,
                             nodes=[f"{n}@{p}" for n in names for p in positions])
        for n in names:
            if abs(sum(float(single[f"{n}@{p}"]) for p in positions) - float(got[n])) > 2e-3 * scale:
                return None
    return (f"the effects of {nodes} are the sums of patching each one position at a time: a node's effect patches "
            "it at every position at once (one patch per node). Single-position effects do not add up, because "
            "attention mixes the positions.")
