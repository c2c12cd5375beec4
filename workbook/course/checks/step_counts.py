"""The step count a learner's function is given is the one it uses: EAP-IG with one point is plain EAP.

The main check runs EAP-IG at one step count (m = 4 by default); a function that changes the count it is given
(``steps = max(steps, 2)``, a fixed count) can pass there and still be wrong at another. :func:`one_step_failure`
calls it once more with m = 1, where EAP-IG's single point is the clean input (plain EAP), and names the
count its result belongs to when it is another.
"""

from __future__ import annotations

from typing import Callable

import torch

from workbook.core.task import Task
from workbook.course.checks.case import close_to

__all__ = ["one_step_failure"]

REL = 1e-3  # float32 sums of the same products in another order: far below any change of the step count


def one_step_failure(fn: Callable, cases: list[tuple[str, object, Task]], reference: Callable) -> str | None:
    """A diagnosis when ``fn(model, task, 1)`` is not ``reference(model, task, 1)`` (plain EAP) on some case;
    ``reference(model, task, m)``: EAP-IG's edge matrix with ``m`` points."""
    for label, model, task in cases:
        try:
            got = torch.as_tensor(fn(model, task, 1)).detach().double()
        except Exception as err:  # noqa: BLE001 - a crash at m = 1 is the learner's to see
            first = str(err).splitlines()[0] if str(err) else ""
            return (f"with m = 1 your function raised {type(err).__name__}: {first} (on {label}). EAP-IG with one "
                    "point (alpha = 1, the clean input) is plain EAP and must work.")
        want = torch.as_tensor(reference(model, task, 1)).double()
        if got.shape == want.shape and close_to(got, want, REL):
            continue
        used = next((m for m in (2, 3, 4, 5) if got.shape == want.shape and close_to(
            got, torch.as_tensor(reference(model, task, m)).double(), REL)), None)
        count = (f"your result is EAP-IG's with m = {used} points: the step count you are given is changed "
                 "(a minimum such as max(steps, 2), or a count fixed in the code); use steps as passed"
                 if used else "your result is not plain EAP's")
        return (f"with m = 1 (one point, alpha = 1: the clean input, so plain EAP) {count}. The check's main runs "
                f"use more steps, where this does not show. (Seen on {label}.)")
    return None
