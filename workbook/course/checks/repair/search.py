"""One-line repairs: the smallest edit of one line of a learner's function that makes it pass its check.

A slip on one line (a loop bound one short, a sum where a mean belongs, two operands swapped, the wrong
axis, a twin variable such as ``corr_q`` read for ``clean_q``) often leaves numbers with no simple
relation to the reference, so no property names it; undoing the slip makes the function pass.
:func:`one_line_fix` tries the generic edits of :mod:`.edits`, most common slips first: each is
compiled in the learner's own globals (and closure) and run through the same check in quick mode
(:mod:`..quick`: the first failing case stops it; the test models and references are computed once per
check call). The first edit that passes is run through the check once more in full, with nothing
reused, before it is reported. Nothing is approximated: a reported fix passes the check that the
learner's function failed. Only the learner's function is edited (not the helpers it calls), one node
at a time, within a time budget (``WORKBOOK_REPAIR_SECONDS``, default 20 s; 0 turns the search off). A
fix says where to look and what one change does; it is not a claim about what the learner meant, and a
mistake spread over two lines gets none.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import os
import time
import warnings
from typing import Callable

from tqdm.auto import tqdm

from workbook.course.checks.quick import fresh, quick_mode
from workbook.course.checks.repair.edits import Edit, edits

__all__ = ["Edit", "edits", "one_line_fix", "passes", "budget", "BUDGET_ENV"]

BUDGET_ENV = "WORKBOOK_REPAIR_SECONDS"


def _compile(fn: Callable, edit: Edit) -> Callable | None:
    """The edited function, compiled in ``fn``'s globals with its closure's values (None when it does not compile)."""
    free = fn.__code__.co_freevars
    tree = copy.deepcopy(edit.tree)
    func = tree.body[0]
    if free:  # def __factory(<free vars>): <the def>; return <name>
        factory = ast.FunctionDef(name="__factory", args=ast.arguments(
            posonlyargs=[], args=[ast.arg(a) for a in free], kwonlyargs=[], kw_defaults=[], defaults=[]),
            body=[func, ast.Return(ast.Name(func.name, ast.Load()))], decorator_list=[], returns=None)
        if "type_params" in ast.FunctionDef._fields:
            factory.type_params = []
        tree.body = [factory]
    try:
        code = compile(ast.fix_missing_locations(tree), "<one-line edit>", "exec")
    except (SyntaxError, ValueError, TypeError):
        return None
    space: dict = {}
    try:
        exec(code, fn.__globals__, space)  # noqa: S102 - the learner's own function, edited in one place
        if free:
            return space["__factory"](*(c.cell_contents for c in fn.__closure__))
        new = space[func.name]
    except Exception:  # noqa: BLE001 - a cell still empty, a name the edit broke
        return None
    new.__defaults__, new.__kwdefaults__ = fn.__defaults__, fn.__kwdefaults__
    return new


def budget() -> float:
    """Seconds the search may take (``WORKBOOK_REPAIR_SECONDS``; default 20; 0 turns it off)."""
    try:
        return max(0.0, float(os.environ.get(BUDGET_ENV, "20")))
    except ValueError:
        return 20.0


def passes(check: Callable[[Callable], None], candidate: Callable, quick: bool) -> bool:
    """Whether ``check(candidate)`` raises nothing, its printing and warnings silenced: in quick mode (inside the
    caller's session: the first failing case stops it, the verdict without a diagnosis), or else in a fresh run."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with quick_mode() if quick else fresh():
                check(candidate)
        except Exception:  # noqa: BLE001 - any failure or crash means the edit does not fix it
            return False
    return True


def one_line_fix(check: Callable[[Callable], None], fn: Callable, seconds: float | None = None,
                 full_check: Callable[[Callable], None] | None = None) -> Edit | None:
    """The first edit of :func:`edits` with which ``check`` (run in quick mode, inside the caller's
    :func:`~workbook.course.checks.quick.session`) passes, confirmed by ``full_check`` (default ``check``)
    run normally; None when none passes within ``seconds`` (default :func:`budget`)."""
    seconds = budget() if seconds is None else seconds
    if seconds <= 0:
        return None
    t0 = time.perf_counter()
    found = edits(fn)
    bar = tqdm(found, desc="looking for a one-line fix", leave=False, delay=3, disable=not found)
    try:
        for edit in bar:
            if time.perf_counter() - t0 > seconds:
                return None
            candidate = _compile(fn, edit)
            if candidate is not None and passes(check, candidate, quick=True) \
                    and passes(full_check or check, candidate, quick=False):
                return edit
    finally:
        bar.close()
    return None
