"""How learner checks run and report: one line per verdict, never a crash for an unfilled stub.

A check is a function ``check_xxx(learner_fn)`` that calls the learner's function on fresh
random inputs and on a specimen, compares with the reference, and raises :class:`CheckFailed`
with a message naming the likely mistake. :func:`run_check` wraps it:

* stub not filled in (``NotImplementedError``) -> prints "not done yet" and returns False,
  so the rest of the notebook keeps running on the reference implementation;
* :class:`CheckFailed` -> prints the diagnosis (or raises with ``strict=True``);
* passes -> prints a short success line and returns True.
"""

from __future__ import annotations

import functools
import os
from typing import Callable

import torch

__all__ = ["CheckFailed", "learner_check", "assert_close_named", "STRICT_ENV"]

STRICT_ENV = "WORKBOOK_STRICT_CHECKS"


class CheckFailed(AssertionError):
    """A learner's function gave a wrong answer; the message says what is likely wrong."""


def learner_check(fn: Callable) -> Callable:
    """Decorator turning ``fn(learner_fn, ...)`` into a notebook-friendly check.

    Returns True when the learner's function passes, False when it is unfinished or wrong.
    Set ``strict=True`` (or env ``WORKBOOK_STRICT_CHECKS=1``) to raise instead of printing.
    """

    @functools.wraps(fn)
    def wrapper(learner_fn: Callable, *args, strict: bool | None = None, **kwargs) -> bool:
        strict = os.environ.get(STRICT_ENV, "0") == "1" if strict is None else strict
        name = getattr(learner_fn, "__name__", "your function")
        try:
            with torch.enable_grad():
                fn(learner_fn, *args, **kwargs)
        except NotImplementedError:
            print(f"[not done yet] {name}: still a stub. The notebook continues with the reference "
                  "implementation; come back and fill it in.")
            if strict:
                raise
            return False
        except CheckFailed as err:
            print(f"[check failed] {name}: {err}")
            if strict:
                raise
            return False
        print(f"[passed] {name}: matches the reference on every test case.")
        return True

    return wrapper


def assert_close_named(actual, expected, what: str, atol: float = 1e-4, rtol: float = 1e-3, hints: list[tuple[Callable, str]] = ()) -> None:
    """Compare ``actual`` with ``expected``; on mismatch raise :class:`CheckFailed`.

    ``hints`` is a list of ``(predicate(actual, expected) -> bool, message)``: the first
    predicate that holds supplies the diagnosis (e.g. "the sign is flipped").
    """
    actual = torch.as_tensor(actual).detach().float().cpu()
    expected = torch.as_tensor(expected).detach().float().cpu()
    if actual.shape != expected.shape:
        raise CheckFailed(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}.")
    if not torch.isfinite(actual).all():
        raise CheckFailed(f"{what}: contains NaN or inf.")
    if torch.allclose(actual, expected, atol=atol, rtol=rtol):
        return
    for pred, msg in hints:
        try:
            if pred(actual, expected):
                raise CheckFailed(f"{what}: {msg}")
        except CheckFailed:
            raise
        except Exception:  # a hint predicate must never mask the real failure
            continue
    err = (actual - expected).abs().max().item()
    raise CheckFailed(f"{what}: values differ from the reference (max abs difference {err:.3g}).")
