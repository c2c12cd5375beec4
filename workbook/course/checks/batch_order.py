"""Whether a learner's result depends on the order of the prompt pairs, for the checks whose result is a batch mean.

Every method of chapters 00-04 (patching, AtP, the QK fix, GradDrop, EAP, EAP-IG) reports the mean over the prompt
pairs of a per-pair number, so putting the same pairs in another order cannot change it (up to float rounding).
A result that changes when the batch is rolled by one uses something of one pair for all of them: a position, token
or length read from the first pair (``task.clean[0]``), or a value carried over from the previous pair.
:func:`order_lead` runs the learner's function on the test cases' tasks and on the same tasks rolled by one (and
once more unrolled, so that a function whose result changes on every call is not blamed), and puts the finding in
front of the check's diagnosis.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import warnings
from typing import Callable

import torch

from workbook.course.checks.case import REL, Case, close_to
from workbook.course.checks.earlier_calls import stale_lead

__all__ = ["ORDER_TEXT", "index_zero_lines", "leads", "order_lead"]

ORDER_TEXT = ("your result changes when the same prompt pairs come in another order (the batch rolled by one, on "
              "{label}), although it is a mean over the pairs, which no order changes: something of one pair is used "
              "for all of them, such as a position, token or length read from the first pair (an index [0] on the "
              "batch axis, e.g. task.clean[0]), or a value carried over from one pair to the next. Compute every "
              "per-pair quantity from that pair's own prompts.")


def index_zero_lines(fn: Callable) -> str:
    """" The index [0] in `g[0]` (line 12) may be it: ..." for the learner's expressions (its own source) that index
    something with [0], other than a shape, a size or a split string: the usual way one pair's value reaches every
    pair; "" when there is none."""
    try:
        lines, start = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return ""
    found = []
    for i, line in enumerate(lines):
        code = line.split("#")[0]
        for m in re.finditer(r"([\w.]+(\([^()]*\))?)\[0\]", code):
            if not re.search(r"(shape|size\(\)|\.size|split\([^)]*\))$", m.group(1)):
                found.append(f"`{m.group(0)}` (line {start + i})")
                break
    if not found:
        return ""
    return (f" The index [0] in {' and '.join(found[:2])} may be it: it keeps the first entry of an axis, the first "
            "prompt pair's when that axis is the batch.")


def _call(fn: Callable, model, task, extra_args: tuple) -> torch.Tensor | None:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = fn(model, task, *extra_args)
        except Exception:  # noqa: BLE001 - a crash is diagnosed by the check itself
            return None
    return out.detach().double() if isinstance(out, torch.Tensor) else None


def order_lead(fn: Callable, cases: list[tuple[str, object, object]], message: str | None,
               extra_args: tuple = ()) -> str | None:
    """``message`` (a check's diagnosis, None when it passed) led by :data:`ORDER_TEXT` when ``fn``'s result on one of
    ``cases`` (``(label, model, task)``) changes with the order of the prompt pairs; else ``message`` as it is."""
    if not message:
        return message
    for label, model, task in cases:
        if task.batch_size < 2:
            continue
        first = _call(fn, model, task, extra_args)
        rolled = _call(fn, model, task.subset(torch.roll(torch.arange(task.batch_size), 1)), extra_args)
        if first is None or rolled is None or first.shape != rolled.shape or not bool(torch.isfinite(first).all()):
            continue
        scale = max(first.abs().max().item(), 1e-12)
        if close_to(rolled, first, REL, scale):
            continue
        again = _call(fn, model, task, extra_args)
        if again is not None and again.shape == first.shape and close_to(again, first, REL, scale):
            return ORDER_TEXT.format(label=label) + index_zero_lines(fn) + " " + message[0].upper() + message[1:]
    return message


def leads(fn: Callable, all_cases: list[tuple[str, object, object]], cases: list[Case], message: str | None,
          extra_args: tuple = ()) -> str | None:
    """``message`` led by what is true of the learner's function across calls: a result kept from an earlier call
    (:func:`~.earlier_calls.stale_lead`), or one that depends on the order of the prompt pairs (:func:`order_lead`)."""
    return stale_lead(cases, order_lead(fn, all_cases, message, extra_args))
