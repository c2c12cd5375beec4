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
import re
import traceback
from pathlib import Path
from typing import Callable

import torch

from workbook.core.errors import WorkbookError
from workbook.course.checks.crash import explain_crash
from workbook.course.checks.hook_names import hook_name_trap
from workbook.course.checks.quick import session
from workbook.course.checks.repair import one_line_fix

__all__ = ["CheckFailed", "CheckResult", "learner_check", "assert_close_named", "learner_line", "known_error",
           "KNOWN_ERRORS", "STRICT_ENV", "is_library"]

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
        """A one-line edit that makes ``learner_fn`` pass (:mod:`.repair`), as the message's first sentence."""
        def check(candidate: Callable) -> None:
            with torch.enable_grad():
                fn(candidate, *args, **kwargs)

        found = one_line_fix(check, learner_fn)
        return "" if found is None else found.describe() + " "

    def _verdict(learner_fn: Callable, *args, strict: bool | None = None, **kwargs) -> bool:
        strict = os.environ.get(STRICT_ENV, "0") == "1" if strict is None else strict
        name = getattr(learner_fn, "__name__", "your function")
        try:
            with torch.enable_grad():
                fn(learner_fn, *args, **kwargs)
        except NotImplementedError as err:
            if not _raised_by_learner(err):
                return _crashed(name, err, strict)
            print(f"[not done yet] {name}: still a stub. The notebook continues with the reference "
                  "implementation; come back and fill it in.")
            if strict:
                raise
            return False
        except CheckFailed as err:
            fix = _fix(learner_fn, *args, **kwargs)
            print(f"[check failed] {name}: {fix + 'What the check saw before it: ' if fix else ''}{err}")
            if strict:
                raise
            return False
        except Exception as err:  # noqa: BLE001 - a learner's bug must not stop Run All
            return _crashed(name, err, strict, lambda: _fix(learner_fn, *args, **kwargs))
        print(f"[passed] {name}: matches the reference on every test case.")
        return True

    return wrapper


# (pattern in the error message or the learner's line, what it means) for errors autograd and hooks raise
KNOWN_ERRORS = (
    (r"does not require grad and does not have a grad_fn",
     "nothing you differentiate depends on a tensor that requires grad: the metric was computed under "
     "torch.no_grad(), from detached activations, or the leaf you differentiate by (an interpolated embedding, a "
     "cached activation) was not made with .requires_grad_(True) or never entered the run (patch it in with a "
     "hook that returns it, so the forward pass goes through it). A hook that returns a detached tensor cuts the "
     "graph too: a straight-through hook returns t + (target - t).detach(), whose t + keeps the gradient."),
    (r"backward through the graph a second time",
     "a second backward through the same graph: run a fresh forward pass for each backward, or keep the graph "
     "with retain_graph=True where you reuse it on purpose."),
    (r"leaf Variable that requires grad is being used in an in-place",
     "you edited a tensor that requires grad in place (a parameter or the leaf you differentiate by): clone it "
     "first, or edit under torch.no_grad()."),
    (r"modified by an inplace operation",
     "an activation that autograd still needs was edited in place (in a hook?): edit a copy and return it "
     "(act = act.clone(); act[...] = ...; return act)."),
    (r"Backward hook for Modules where no input requires gradient should always return None",
     "a function registered as a BACKWARD hook returned a tensor: a forward hook (fwd_hooks / extra_fwd_hooks) "
     "replaces an activation in the forward pass; a backward hook (bwd_hooks) sees gradients and may only return "
     "a replacement gradient. A straight-through or patching hook is a forward hook."),
    (r"only integer tensors of a single element can be converted to an index",
     "a float tensor used as an index: torch.topk and torch.sort return (values, indices); index with .indices "
     "(or [1]), not the values."),
    (r"grad can be implicitly created only for scalar outputs",
     "backward() on a tensor with more than one value: reduce the metric to one number first (task.metric_value "
     "averages over the batch), or give torch.autograd.grad its grad_outputs."),
    (r"Can't call numpy\(\) on Tensor that requires grad",
     "a tensor that requires grad was turned into numbers: .detach() it first (and compute scores under "
     "torch.no_grad())."),
    # plain Python and PyTorch slips, whatever the exercise
    (r"'(dim|axis|keepdim)' is an invalid keyword argument for (sum|max|min|any|all)\(\)",
     "Python's built-in sum() (or max/min/any/all) was called on tensors: it takes no dim. Reduce with the tensor's "
     "own method, (x).sum(dim=...), or torch.sum(x, dim=...)."),
    (r"'(Tensor|torch\.Size|int|float|list|tuple|dict)' object is not callable",
     "a value was called like a function: an attribute that holds a tensor, a size or a number (.shape, .T, a "
     "graph's .edge_mask, cfg.n_heads) is read without parentheses; or a name that held a function was assigned a "
     "tensor earlier."),
    (r"(?i)(expected scalar type|same dtypes?,? but got:?|dtypes match, got) ?(float|double|half|bfloat16)\w* "
     r"(!=|but found|for the destination and|and) (float|double|half|bfloat16)",
     "two tensors of different dtypes met: the model's float32 and a float64 one (.double(), dtype=torch.float64, "
     "or a tensor made from numpy). Keep the model's dtype: drop the cast, or convert with .to(x.dtype)."),
    (r"Boolean value of Tensor with more than one value is ambiguous",
     "a tensor with several values was asked for one True/False: `a or b` / `a and b` / `if t:` / `not t` on a "
     "tensor. To fall back when a value is missing write `b if a is None else a` (or dict.get(key, default)); to "
     "test every value use .any() or .all(); to choose per element, torch.where."),
    (r"got multiple values for argument",
     "a function received one argument twice: functools.partial(f, a, b) binds a and b to f's FIRST parameters, so "
     "the arguments a hook is called with (the activation, the hook) arrive a second time. Bind by keyword, "
     "partial(f, layer=l, head=h), or write lambda act, hook: f(act, hook, l, h)."),
    (r"(too many|not enough) values to unpack \(expected 2.*(hooks|fwd|bwd)",
     "a hook list is not a flat list of (name, function) pairs: a list was .append()ed into it as one element "
     "(use .extend() or +=), or a name or a function stands alone."),
    (r"'(int|float|bool)' object is not subscriptable",
     "a name indexed on this line holds a number, not the dict, list or tensor it held before: it was "
     "assigned again (a loop variable or a result with the same name?), or a function returned a number."),
)


def known_error(err: BaseException, line: str | None = "") -> str | None:
    """What a common autograd/hook error means, in words (None when it is not one of :data:`KNOWN_ERRORS`)."""
    text = f"{err} {line or ''}"
    for pattern, meaning in KNOWN_ERRORS:
        if re.search(pattern, text):
            return meaning
    if isinstance(err, AttributeError) and "NoneType" in str(err) and ".grad" in (line or ""):
        return ("a .grad that is None: only leaf tensors created with requires_grad=True get .grad after "
                "backward() (call .retain_grad() on an intermediate tensor, or use torch.autograd.grad).")
    return None


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
