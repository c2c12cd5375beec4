"""Results carried over from an earlier call of the learner's function.

A check calls the learner's function several times in one run. A function that keeps state between calls (a cache
keyed by the name or the model only, a ranking stored on the function, a module-level dict, a dict as a default
argument) returns what it computed before. For verify_top (:mod:`.workflow`), which calls it with other estimates,
other k and the same names on another task: :func:`stale_effects_message` names effects of an earlier call returned
again for the same names, :func:`stale_names_message` a ranking of an earlier call's estimate returned for this
call's. For EAP-IG and GradPath, whose cases include the first separating model once more on its swapped task
(:func:`~.cases.swapped_case`): :func:`stale_lead` names a result that repeats the earlier call's.
"""

from __future__ import annotations

from workbook.core.scores import Scores
from workbook.course.checks.case import REL, Case, close_to
from workbook.course.checks.cases import SWAPPED

__all__ = ["stale_effects_message", "stale_lead", "stale_names_message"]

KEPT = ("something is kept between calls (a cache keyed by the name only, a ranking or result stored on the "
        "function or in a module-level variable, a dict as a default argument)")


def stale_effects_message(got: Scores, want: Scores, before: dict[str, float]) -> str | None:
    """The effects of an earlier call on another task of the same model (``before``: name -> exact effect there),
    returned again for the same names; else None."""
    names = [n for n in want.names if n in before and n in set(got.names)]
    scale = max(max((abs(float(want[n])) for n in want.names), default=0.0), 1e-9)
    if not names or all(abs(before[n] - float(want[n])) <= 2e-3 * scale for n in names):
        return None
    if all(abs(float(got[n]) - before[n]) <= 2e-3 * scale for n in names):
        return (f"your effects for {', '.join(names[:3])} are those of an earlier call on another task (the same "
                f"names, the same numbers): {KEPT}; compute each call's effects from its own model and task.")
    return None


def stale_names_message(got: Scores, want: Scores, earlier: list[list[str]]) -> str | None:
    """This call's names are the top of an earlier call's estimate (``earlier``: each earlier estimate's names by
    |score|), not of this call's; else None."""
    names = list(got.names)
    if not names or set(names) == set(want.names):
        return None
    for ranking in earlier:
        if names == ranking[:len(names)]:
            return (f"your names {names[:4]} are the top of the estimate of an earlier call, not of this call's "
                    f"scores: {KEPT}; rank this call's own scores on every call.")
    return None


def stale_lead(cases: list[Case], message: str | None) -> str | None:
    """``message`` led by the finding that a case on a task with clean and corrupt swapped (:data:`~.cases.SWAPPED`)
    got the very result of the case on the same model's own task, where the expected results differ: state kept
    between calls. ``message`` as it is otherwise (None when the check passed)."""
    if not message:
        return message
    by_label = {c.label: c for c in cases}
    for c in cases:
        first = by_label.get(c.label.removesuffix(SWAPPED)) if c.label.endswith(SWAPPED) else None
        if first is None or first.got.shape != c.got.shape or close_to(first.want, c.want, REL, c.scale):
            continue
        same = close_to(c.got, first.got, REL, max(first.scale, c.scale))
        if same and not c.passes and c.got.abs().max().item() > 1e-2 * c.scale:  # a ~0 result repeats trivially
            return (f"on {c.label} your result is the one your function gave on the same model's own task, one call "
                    f"earlier: {KEPT}; compute everything from the model and task of each call. "
                    + message[0].upper() + message[1:])
    return message
