"""How a learner's verify_top effects were measured wrongly, for :mod:`.workflow`'s check.

Three slips that patching itself can tell apart: node effects summed over single-position patches
(:func:`positions_summed_message`), effects measured with the logit difference where the task has its own metric,
and names grouped by kind with each group rebuilt for every name, so one name per kind is patched
(:func:`metric_or_groups_message`).

Single positions: a node's exact effect patches it at every position at once, ``M(clean with node := corrupt at all
positions) - M(clean)``. Patching one position at a time and adding the effects up is not the same: attention mixes
positions, so the effects of single positions do not add up (they agree only where the model is near linear).
:func:`positions_summed_message` computes the per-position effects with
:func:`workbook.patching.nodes.patch_nodes` (``per_position=True``, exact) and names the slip when the learner's
wrong node effects are their sums.
"""

from __future__ import annotations

import dataclasses

import torch

from workbook.core.scores import Scores
from workbook.core.task import Task
from workbook.patching.nodes import node_kind_of, patch_nodes
from workbook.patching.verify import verify_top

__all__ = ["metric_or_groups_message", "positions_summed_message"]


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


def metric_or_groups_message(got: Scores, want: Scores, est: Scores, model, task: Task, wrong: list[str],
                             close) -> str | None:
    """Words when the effects are measured with the logit difference instead of ``task``'s own metric (checked by
    patching with it: ``close`` compares a tensor of effects in ``want``'s order with the learner's), or when the wrong
    names are 0 and one name of each kind keeps its effect; else None."""
    if task.metric != "logit_diff":
        plain = verify_top(model, dataclasses.replace(task, metric="logit_diff"), est, len(want))
        if close(torch.tensor([float(plain[n]) for n in want.names])):
            return ("your effects are measured with the logit difference, not this task's own metric (here "
                    f"{getattr(task.metric, '__name__', task.metric)}): the task was rebuilt or scored without its "
                    "metric (wb.make_task falls back to the logit difference); patch with the task you were given.")
    size = {n: sum(node_kind_of(m) == node_kind_of(n) for m in want.names) for n in want.names}
    if any(v > 1 for v in size.values()) and close(torch.tensor([float(want[n]) * size[n] for n in want.names])):
        return ("each of your effects is its kind's group size times the expected one: each group is patched once "
                "per name of its kind and the effects added up (a loop over the names' kinds that visits a kind "
                "again for each of its names); patch each group once.")
    kinds = {node_kind_of(n) for n in wrong}
    if wrong and all(float(got[n]) == 0 for n in wrong) and all(
            sum(node_kind_of(n) == kind and float(got[n]) != 0 for n in want.names) == 1 for kind in kinds):
        return (f"the effects of {wrong} are 0 and one name of each kind keeps its effect: the names are grouped by "
                "kind, but each group is rebuilt for every name (groups[kind] = [name]) where the name is added to "
                "it (.append), so only the last name of each kind is patched.")
    return None
