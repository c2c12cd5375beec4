"""Cases run only when every other case passed, each for a kind of slip the other cases cannot show.

- :func:`~.cases.small_change_case`: corrupt prompts that differ from the clean ones in one token of one pair, so
  every component's output changes only a little; a function that leaves a component at 0 when its change looks
  small (a threshold on the size of the change) gets 0 where the effects are small but real.
- :func:`~.cases.nonlinear_metric_case`: the task measured with the probability difference, which is not linear in
  the logits; a function that applies the metric to a difference of logits (or to anything combined before the
  metric) is right with the logit difference only.

:func:`extra_cases_message` runs them through the check's own ``collect`` and ``diagnose`` and puts what the case
shows in front of the diagnosis.
"""

from __future__ import annotations

from typing import Callable

from workbook.course.checks.case import Case
from workbook.course.checks.cases import nonlinear_metric_case, small_change_case
from workbook.course.checks.source_lines import describe_numbers

__all__ = ["EXTRA", "extra_cases_message"]


def _small_lead(case: Case) -> str:
    zeroed = (case.got.abs() <= 1e-12) & (case.want.abs() > 1e-9 * case.scale)
    if not bool(zeroed.any()):
        return f"right on every other case but not on {case.label}, where every output changes only a little: "
    return (f"on {case.label}, every component's output changes only a little, and your values are exactly 0 for "
            f"{int(zeroed.sum())} of {zeroed.numel()} components whose effect is small but not 0: a component "
            "skipped (left at zero) when its change looks small, a threshold on the size of the change, drops real "
            "effects; compute every component, however little it changes. ")


def _nonlinear_lead(case: Case) -> str:
    return (f"your values are right with the logit difference, which is linear in the logits, but not on {case.label}: "
            "use the task's own metric (task.metric_value, not the logit difference written by hand or set in its "
            "place), applied to each run's own logits, and nothing combined before it (such as the metric of the "
            "patched minus the clean logits): metric(patched) - metric(clean). ")


#: name -> (the case, the lead for a failure on it)
EXTRA: dict[str, tuple[Callable[[], list], Callable[[Case], str]]] = {
    "small": (small_change_case, _small_lead), "nonlinear": (nonlinear_metric_case, _nonlinear_lead)}


def extra_cases_message(fn: Callable, which: tuple[str, ...], collect: Callable[[list], list[Case]],
                        diagnose: Callable[[list[Case]], str | None]) -> str | None:
    """For a function that passed every other case: the first of ``which`` (names in :data:`EXTRA`) it fails, with
    its lead and the check's diagnosis there (``collect(cases)`` runs ``fn`` on them; ``diagnose(cases)`` says what
    differs); None when it passes them all."""
    for name in which:
        make, lead = EXTRA[name]
        more = collect(make())
        failed = next((c for c in more if not c.passes), None)
        if failed is not None:
            found = (diagnose(more) or "") if name == "small" else describe_numbers(failed)  # the diagnosis's hints
            return lead(failed) + (found[0].upper() + found[1:] if found else "")  # are about the linear metric
    return None
