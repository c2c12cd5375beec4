"""Where to look when a learner's numbers bear no relation to the reference (used by :mod:`.trace`).

:func:`locate` reads the snapshots of the learner's locals (:class:`~workbook.course.checks.trace.Snapshot`:
``var``, ``line``, ``value``, ``arg``) against the model's own quantities
(:mod:`workbook.course.checks.quantities`): what the variables hold (each run's activations, the metric's
gradients, by hook and layer), and the first variables made from them that match none, with their
lines: where a formula combines them. It says where, never why: a real quantity read at the wrong hook
is listed as held, for the learner to compare with the method.
"""

from __future__ import annotations

import re

import torch

from workbook.course.checks.quantities import Quantity, identified

__all__ = ["locate", "RETURNED"]

RETURNED = "(returned)"  # the name the trace gives a snapshot of a function's return value


def _reads_in_words(read: dict[tuple, set], n_layers: int) -> list[str]:
    out = []
    for (run, kind, what, hook), layers in read.items():
        at = sorted(x for x in layers if x is not None)
        where = f" at layer{'s' * (len(at) > 1)} {', '.join(map(str, at))}" if at else ""
        where = " at every layer" if n_layers > 1 and at == list(range(n_layers)) else where
        out.append(f"the {run} run's {what}{where} ({hook})" if kind == "act"
                   else f"the metric's gradient at the {what}{where} on the {run} run ({hook})")
    return out


_NOT_A_PLACE = re.compile(r"^_|logit|metric|loss", re.I)  # a throwaway, the model's output, the objective


def _constant(t: torch.Tensor) -> bool:
    """An initialisation (zeros, ones, a fill value): where an accumulator starts, not where it goes wrong."""
    return t.numel() > 1 and bool((t == t.flatten()[0]).all())


def locate(snaps: list, quantities: list[Quantity], n_layers: int, skip: list[torch.Tensor] = (),
           limit: int = 4, top: str | None = None, ids_of: list[list[Quantity]] | None = None) -> str | None:
    """Where to look when the learner's numbers bear no relation to the reference: the model quantities their code
    reads (each run's activations and the metric's gradients, grouped by hook, with their layers) and the first
    variables made from them that match none (``limit`` of them, in the order they were made, with their lines;
    an accumulator at its first non-constant value), and the learner's return expression: the lines where those
    quantities are combined. It does not say the reads are the right ones (a real quantity at the wrong hook is
    listed as read); the learner compares the list with the method. ``skip``: tensors that are no place to look
    (the model's weights). ``top``: the learner's function (places in other functions name theirs; default: the
    first traced). ``ids_of``: what each snapshot is (:func:`~workbook.course.checks.quantities.identified`),
    when the caller has it. None when nothing read is a model quantity, or nothing is made from it."""
    read: dict[tuple, set] = {}
    made: dict[str, tuple[int, str]] = {}
    top = top or (snaps[0].func if snaps else "")
    for s, ids in zip(snaps, identified(snaps, quantities) if ids_of is None else ids_of):
        var = f"{s.var} {s.func}" if s.var == RETURNED else s.var  # one return value per function
        if ids:
            q = min(ids, key=lambda q: q.head is not None)  # the whole tensor before one head's slice
            hook = q.hook.split(".", 2)[-1] if q.layer is not None else q.hook
            read.setdefault((q.run, q.kind, q.what, hook), set()).add(q.layer)
        elif not s.arg and var not in made and not _NOT_A_PLACE.search(s.var) and not _constant(s.value) and not any(
                w.shape == s.value.shape and torch.equal(w, s.value) for w in skip):
            made[var] = (s.line, s.func)
    if not read or not made:
        return None

    def at(var: str) -> str:
        line, func = made[var]
        where = f"line {line}{'' if func == top else f', in `{func}`'}"
        return f"the value returned ({where})" if var.startswith(RETURNED) else f"`{var}` ({where})"

    final = f"{RETURNED} {top}"  # the learner's own return expression: always a place when it made something new
    places = [v for v in made if v != final][:limit] + ([final] if final in made else [])
    return (f"Your variables hold {'; '.join(_reads_in_words(read, n_layers))}. If those are the quantities the "
            f"method needs, the mistake is where they are combined: compare "
            f"{', '.join(at(var) for var in places)} with the formula, one term at a time.")
