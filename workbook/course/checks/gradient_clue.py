"""A gradient of another quantity than the task's metric, read off the trace of the learner's locals.

Asked by :class:`~workbook.course.checks.trace.CaseTrace` (its ``late`` clue) for the exercises whose
gradients are the metric's own (AtP, the QK fix, EAP), after the relations and the properties.
"""

from __future__ import annotations

import re

import torch

from workbook.course.checks.quantities import Quantity, identified
from workbook.course.checks.where import RETURNED

__all__ = ["foreign_gradient", "GRAD_NAME"]

GRAD_NAME = re.compile(r"grad", re.I)  # a variable named like a gradient


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-300))


def foreign_gradient(snaps: list, quantities: list[Quantity],
                     ids_of: list[list[Quantity]] | None = None) -> str | None:
    """No variable holds the metric's gradient at any hook, and one named like a gradient has the shape of
    one but other numbers (not all zero, not a multiple of a gradient of that shape): the backward was of
    another quantity. Only for exercises whose gradients are the metric's own (AtP, the QK fix, EAP; not
    GradDrop's or a path's); :func:`~workbook.course.checks.diagnose_diff.diagnose` asks it after the
    relations and the properties, so a named neighbour (a log-probability's gradient) comes first."""
    ids_of = identified(snaps, quantities) if ids_of is None else ids_of
    pairs = [(s, ids) for s, ids in zip(snaps, ids_of) if s.var != RETURNED]
    if any(q.kind == "grad" for _, ids in pairs for q in ids):
        return None
    grads = [q for q in quantities if q.kind == "grad" and q.head is None]
    for s, ids in pairs:
        name = s.var if s.key is None else f"{s.var}{s.key}"
        if ids or s.arg or not GRAD_NAME.search(name) or not bool(s.value.abs().max() > 0):
            continue
        same = [q for q in grads if q.value.shape == s.value.shape]
        if not same or any(abs(_cosine(s.value, q.value)) > 0.99 for q in same):
            continue  # no gradient of that shape, or a scaled one (a factor is the relation probes' to name)
        return (f"your `{s.name}` (line {s.line}) is named a gradient, but neither it nor any other variable of "
                "yours holds the metric's gradient at any hook (nor a multiple of it): the gradient is of another "
                "quantity than the task's metric (the logits themselves or their sum, a loss, one logit, another "
                "run's metric?). Call .backward() on the task's metric of the logits, averaged over the batch.")
    return None
