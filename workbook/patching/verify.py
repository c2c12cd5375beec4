"""Screen, then verify: activation-patch the top ``k`` components of an estimate.

:func:`verify_top` is the last step of the AtP* workflow (an estimate nominates, patching
judges), also exported as ``workbook.verify_top``. Chapter 5's learner check of the same
function lives in :mod:`workbook.course.checks.workflow`.
"""

from __future__ import annotations

import torch

from workbook.core.errors import WorkbookError
from workbook.core.scores import Scores
from workbook.core.task import Task
from workbook.patching.edges import patch_edges
from workbook.patching.nodes import patch_nodes

__all__ = ["verify_top", "patch_each"]


def verify_top(model, task: Task, scores: Scores, k: int = 5) -> Scores:
    """Activation-patch the ``k`` components an estimate ranks highest by ``|score|``.

    Works for node names (``L0H1``, ``MLP0``, ``L0H1.q``/``.k``/``.v``, ``L0N3``) and edge names
    (``src->dst``). Returns :class:`Scores` (method ``"activation patching"``) with the exact
    noising effects ``M(clean with c := corrupt) - M(clean)`` of those ``k`` components, in the
    estimate's ranking order. Also ``workbook.verify_top``. Cost: per component, the clean run
    resumed from its layer (:mod:`workbook.patching.resume`), batched; an edge into layer ``l`` of an
    ``L``-layer model costs about ``(L - l) / L`` of a forward.
    """
    if k < 1:
        raise WorkbookError(f"k must be >= 1, got {k}.")
    names = scores.order(absolute=True)[:k]
    exact = {n: float(res[n]) for n, res in patch_each(model, task, names).items()}
    return Scores(names, torch.tensor([exact[n] for n in names]), method="activation patching",
                  kind=scores.kind, info={"forward_passes": len(names) + 1, "passes": f"{len(names)} patched fwd"})


def patch_each(model, task: Task, names: list[str]) -> dict[str, Scores]:
    """Activation-patch each of ``names`` alone, one :func:`patch_nodes` / :func:`patch_edges` call per kind (heads,
    MLPs, ``.q``/``.k``/``.v`` nodes, neurons, edges): ``{name: the Scores of its kind's call}``, whose
    ``res[name]`` is the batch-mean noising effect and ``res.per_example`` holds each prompt pair's own."""
    groups: dict[str, list[str]] = {}
    for n in names:
        if "->" in n:
            groups.setdefault("edge", []).append(n)
        elif n.startswith("MLP"):
            groups.setdefault("mlp", []).append(n)
        elif "." in n:
            groups.setdefault(n.rsplit(".", 1)[1], []).append(n)
        elif "N" in n[1:]:
            groups.setdefault("neuron", []).append(n)
        else:
            groups.setdefault("head", []).append(n)
    out: dict[str, Scores] = {}
    for what, group in groups.items():
        res = patch_edges(model, task, edges=group) if what == "edge" else patch_nodes(model, task, what, nodes=group)
        out.update(dict.fromkeys(group, res))
    return out
