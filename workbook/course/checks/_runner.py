"""How learner checks run and report: one line per verdict, never a crash for an unfilled stub.

A check is a function ``check_xxx(learner_fn)`` that calls the learner's function on fresh
random inputs and on a specimen, compares with the reference, and raises :class:`CheckFailed`
with a message naming the likely mistake. :func:`run_check` wraps it:

* stub not filled in (``NotImplementedError`` raised by the learner's own code) -> prints
  "not done yet" and returns False, so the rest of the notebook keeps running on the
  reference implementation;
* :class:`CheckFailed` -> prints the diagnosis (or raises with ``strict=True``);
* a ``KeyError`` about a hook name that TransformerLens 4 reports differently as ``hook.name``
  (:mod:`workbook.course.checks.hook_names`) -> prints what that trap is;
* any other exception from the learner's code -> prints ``[check failed]`` with the exception
  and the learner's line that raised it, and returns False (Run All goes on);
* passes -> prints a short success line and returns True.

A check returns a :class:`CheckResult` (true when passed) that a notebook does not display.
"""

from __future__ import annotations

import functools
import os
import traceback
from pathlib import Path
from typing import Callable

import torch

from workbook.core.errors import WorkbookError
from workbook.course.checks.crash import explain_crash
from workbook.course.checks.hook_names import hook_name_trap
from workbook.course.checks.kept_state import kept_state_lead
from workbook.course.checks.known_errors import known_error
from workbook.course.checks.quick import session
from workbook.course.checks.repair import described, one_line_fix
from workbook.course.checks.source_lines import low_precision, unused_arguments

__all__ = ["CheckFailed", "CheckResult", "learner_check", "assert_close_named", "learner_line", "STRICT_ENV",
           "is_library"]

STRICT_ENV = "WORKBOOK_STRICT_CHECKS"
_PACKAGE = str(Path(__file__).resolve().parents[2])


def is_library(filename: str) -> bool:
    """True for the workbook's own files and installed libraries (not the learner's code)."""
    return filename.startswith(_PACKAGE) or "site-packages" in filename or "/lib/python" in filename


def _learner_frame(err: BaseException) -> traceback.FrameSummary | None:
    """The innermost traceback frame in the learner's code (not the workbook, torch or Python)."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if not is_library(f.filename)]
    return frames[-1] if frames else None


def learner_line(err: BaseException) -> str:
    """``"in f, line 12: code"`` for the innermost frame of ``err`` in the learner's code, or ""."""
    frame = _learner_frame(err)
    if frame is None:
        return ""
    code = (frame.line or "").strip()
    return f"in {frame.name}, line {frame.lineno}" + (f": {code}" if code else "")


def _raised_by_learner(err: BaseException) -> bool:
    """True when ``err`` comes from a ``raise`` statement in the learner's own code (a stub)."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames or is_library(frames[-1].filename):
        return False
    line = (frames[-1].line or "").strip()
    return line.startswith("raise") or not line  # no source line (e.g. exec'd code): trust it


class CheckFailed(AssertionError):
    """A learner's function gave a wrong answer; the message says what is likely wrong."""


class CheckResult:
    """What a check returns: true when the learner's function passed.

    A notebook does not display it (no ``Out: False`` under the check's own message); in a
    script use it as a bool: ``if check_atp_heads(my_atp): ...``.
    """

    def __init__(self, passed: bool) -> None:
        self.passed = bool(passed)

    def __bool__(self) -> bool:
        return self.passed

    def __eq__(self, other) -> bool:
        return bool(self) == bool(other)

    def __hash__(self) -> int:
        return hash(self.passed)

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed})"

    def _ipython_display_(self) -> None:  # the check already printed its verdict
        pass


def learner_check(fn: Callable) -> Callable:
    """Decorator turning ``fn(learner_fn, ...)`` into a notebook-friendly check.

    Returns a :class:`CheckResult`: true when the learner's function passes, false when it is
    unfinished, wrong or raises.
    Set ``strict=True`` (or env ``WORKBOOK_STRICT_CHECKS=1``) to raise instead of printing.
    """

    @functools.wraps(fn)
    def wrapper(learner_fn: Callable, *args, strict: bool | None = None, **kwargs) -> CheckResult:
        return CheckResult(_run(learner_fn, *args, strict=strict, **kwargs))

    def _run(learner_fn: Callable, *args, strict: bool | None = None, **kwargs) -> bool:
        with session():  # the test models and references, computed once for this call and any repair
            return _verdict(learner_fn, *args, strict=strict, **kwargs)

    def _fix(learner_fn: Callable, *args, **kwargs) -> str:
        """The message's first sentence: the state ``learner_fn`` keeps between calls when emptying it makes the check
        pass (:mod:`.kept_state`), else a one-line edit that makes it pass (:mod:`.repair`)."""
        def check(candidate: Callable) -> None:
            with torch.enable_grad():
                fn(candidate, *args, **kwargs)

        kept = kept_state_lead(check, learner_fn)
        if kept:
            return kept
        found = one_line_fix(check, learner_fn)
        return "" if found is None else described(check, learner_fn, found).describe() + " "

    def _verdict(learner_fn: Callable, *args, strict: bool | None = None, **kwargs) -> bool:
        strict = os.environ.get(STRICT_ENV, "0") == "1" if strict is None else strict
        name = getattr(learner_fn, "__name__", "your function")
        try:
            with torch.enable_grad():
                fn(learner_fn, *args, **kwargs)
        except NotImplementedError as err:
            if not _raised_by_learner(err):  # a library's NotImplementedError: a crash, not a stub
                return _crashed(name, err, strict, lambda: _fix(learner_fn, *args, **kwargs))
            print(f"[not done yet] {name}: still a stub. The notebook continues with the reference "
                  "implementation; come back and fill it in.")
            if strict:
                raise
            return False
        except CheckFailed as err:
            fix = _fix(learner_fn, *args, **kwargs)
            unused, text = unused_arguments(learner_fn) + low_precision(learner_fn), str(err)
            text = unused + text[:1].upper() + text[1:] if unused else text
            print(f"[check failed] {name}: {fix + 'What the check saw before it: ' if fix else ''}{text}")
            if strict:
                raise
            return False
        except Exception as err:  # noqa: BLE001 - a learner's bug must not stop Run All
            return _crashed(name, err, strict, lambda: _fix(learner_fn, *args, **kwargs))
        print(f"[passed] {name}: matches the reference on every test case.")
        return True

    return wrapper


def _from_workbook(err: BaseException) -> bool:
    """True when ``err`` is one of the workbook's own errors, or raised inside the workbook's code."""
    frames = traceback.extract_tb(err.__traceback__)
    return isinstance(err, WorkbookError) or bool(frames and frames[-1].filename.startswith(_PACKAGE))


def _crashed(name: str, err: Exception, strict: bool, fix: Callable[[], str] = lambda: "") -> bool:
    """Report an exception raised while running the learner's function (after ``fix()``: a one-line edit that
    makes it pass, in words, or ""); re-raise when strict."""
    frame = _learner_frame(err)
    fixed = fix()
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    what = f"{type(err).__name__}{': ' + message if message else ''}"
    explained = explain_crash(err, getattr(err, "workbook_dims", None) or {}, is_library)
    trap = hook_name_trap(err) if explained is None and frame is not None else None  # only the learner's code
    if trap is not None:
        where = f" (in {frame.name}, line {frame.lineno}: {(frame.line or '').strip()})" if frame is not None else ""
        print(f"[check failed] {name}: {fixed}{trap}{where}")
        if strict:
            raise CheckFailed(trap) from err
        return False
    known = " ".join(x for x in (explained, known_error(err, frame.line if frame is not None else "")) if x)
    if not known and _from_workbook(err):
        known = "a workbook function refused the call; its message above names the problem."
    if frame is not None:
        code = (frame.line or "").strip()
        where = f"in {frame.name}, line {frame.lineno}" + (f": {code}" if code else "")
        if known:
            print(f"[check failed] {name}: {fixed}{'Y' if fixed else 'y'}our function raised {what} ({where}): {known}")
        elif fixed:
            print(f"[check failed] {name}: {fixed}Your function raised {what} ({where}).")
        else:
            print(f"[check failed] {name} raised {what} ({where}). Fix it and re-run the cell; the notebook "
                  "continues with the reference implementation.")
    else:
        print(f"[check failed] {name}: {fixed}checking its result raised {what} (inside the workbook: is the return "
              "value what the exercise asks for?). The notebook continues with the reference implementation.")
    if strict:
        raise err
    return False


def assert_close_named(
    actual, expected, what: str, atol: float = 1e-4, rtol: float = 1e-3, hints: list[tuple[Callable, str]] = ()
) -> None:
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
