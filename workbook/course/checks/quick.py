"""Verdict-only runs of a check, for trying many edited versions of a learner's function (:mod:`.repair`).

A check normally runs every test case and, when one fails, diagnoses it (probes, the trace, the
properties: seconds). To try dozens of one-line edits, only the verdict is needed: inside
:func:`quick_mode` a :class:`~workbook.course.checks.case.Case` that does not pass raises
:class:`QuickFail` at once, the cheap separating cases run before the chapter's own model
(:func:`in_quick_order`), and what does not depend on the learner's function (the test models, the
references and their variants) is computed once per check call and then reused (:func:`remembered`,
active inside :func:`session`, which the check's wrapper opens around the whole call). Outside a
session nothing is remembered and nothing changes.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

__all__ = ["QuickFail", "session", "fresh", "quick_mode", "quick", "remembered", "in_quick_order"]

_STATE: ContextVar[dict | None] = ContextVar("workbook_check_session", default=None)


class QuickFail(Exception):
    """A test case failed in quick mode (the verdict is all that was asked for)."""


@contextmanager
def session() -> Iterator[None]:
    """Remember the test models and references for the duration of one check call (nested: the outer one)."""
    if _STATE.get() is not None:
        yield
        return
    token = _STATE.set({"quick": False, "memo": {}})
    try:
        yield
    finally:
        _STATE.reset(token)


@contextmanager
def fresh() -> Iterator[None]:
    """No session inside: a check run here computes everything anew (the confirmation of a fix)."""
    token = _STATE.set(None)
    try:
        yield
    finally:
        _STATE.reset(token)


@contextmanager
def quick_mode() -> Iterator[None]:
    """Inside a :func:`session`: stop at the first failing case (:class:`QuickFail`)."""
    state = _STATE.get()
    if state is None:
        raise RuntimeError("quick_mode needs an open session()")
    before, state["quick"] = state["quick"], True
    try:
        yield
    finally:
        state["quick"] = before


def quick() -> bool:
    """True inside :func:`quick_mode`."""
    state = _STATE.get()
    return bool(state and state["quick"])


def remembered(key: tuple, compute: Callable[[], object], *keep: object) -> object:
    """``compute()``, computed once per session for ``key`` (objects named by ``id`` in the key belong in
    ``keep``, so that they stay alive and their ids are not reused); outside a session, just ``compute()``."""
    state = _STATE.get()
    if state is None:
        return compute()
    memo = state["memo"]
    if key not in memo:
        memo[key] = (compute(), keep)
    return memo[key][0]


def in_quick_order(cases: list) -> list:
    """``cases`` (the chapter's own model first) with the chapter's case moved last in quick mode: the small
    separating models reject most wrong edits faster."""
    return cases[1:] + cases[:1] if quick() and len(cases) > 1 else cases
