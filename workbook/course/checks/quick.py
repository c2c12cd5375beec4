"""Verdict-only runs of a check, for trying many edited versions of a learner's function (:mod:`.repair`).

A check normally runs every test case and, when one fails, diagnoses it (probes, the trace, the
properties: seconds). To try dozens of one-line edits, only the verdict is needed: inside
:func:`quick_mode` a :class:`~workbook.course.checks.case.Case` that does not pass raises
:class:`QuickFail` at once, the cheap separating cases run before the chapter's own model
(:func:`in_quick_order`), and what does not depend on the learner's function (the test models, the
references and their variants) is computed once and then reused (:func:`remembered`, active inside
:func:`session`, which the check's wrapper opens around the whole call). Outside a session nothing is
remembered and nothing changes.

What a session remembered is carried into the next check call (a learner runs a check again after each
change, and the suite runs hundreds): each remembered value's tensors, models (weights, buffers, config,
hooks, train/eval mode) and tasks are copied when it is computed, and the next session reuses them only
if every one is still as copied; one changed object (a learner's function that wrote into a weight, a
task or an estimate, or left a hook or a flag set on a model) drops everything (:func:`forget`).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

import torch

__all__ = ["QuickFail", "session", "fresh", "quick_mode", "quick", "remembered", "in_quick_order", "forget"]

_STATE: ContextVar[dict | None] = ContextVar("workbook_check_session", default=None)
#: the last session's memo, ``{key: (value, keep, copies)}``, offered to the next session (:func:`_carried`)
_CARRIED: dict = {}


class QuickFail(Exception):
    """A test case failed in quick mode (the verdict is all that was asked for)."""


@contextmanager
def session() -> Iterator[None]:
    """Remember the test models and references for the duration of one check call (nested: the outer one)."""
    if _STATE.get() is not None:
        yield
        return
    memo = _carried()
    token = _STATE.set({"quick": False, "memo": memo})
    try:
        yield
    finally:
        _STATE.reset(token)
        _CARRIED.clear()
        _CARRIED.update(memo)


def forget() -> None:
    """Drop what earlier check calls remembered (the next call builds its models and references anew)."""
    _CARRIED.clear()


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
        value = compute()
        memo[key] = (value, keep, _copies((value, keep)))
    return memo[key][0]


def in_quick_order(cases: list) -> list:
    """``cases`` (the chapter's own model first) with the chapter's case moved last in quick mode: the small
    separating models reject most wrong edits faster."""
    return cases[1:] + cases[:1] if quick() and len(cases) > 1 else cases


def _carried() -> dict:
    """The last session's memo when every object it copied is unchanged, else an empty one."""
    memo = dict(_CARRIED)
    _CARRIED.clear()
    if all(_same(copies) for _, _, copies in memo.values()):
        return memo
    return {}


def _copies(root: object) -> list[tuple[object, tuple]]:
    """``[(object, copy of its state)]`` for every tensor, module, container and plain object reachable from
    ``root`` (through tuples, lists, sets, dicts and attributes), each once."""
    out, seen, todo = [], set(), [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, complex, bool, type)) or \
                callable(obj) and not isinstance(obj, torch.nn.Module):
            continue
        seen.add(id(obj))
        if isinstance(obj, (torch.Tensor, torch.nn.Module)) or hasattr(obj, "__dict__") or \
                isinstance(obj, (dict, tuple, list, set, frozenset)):
            out.append((obj, _state(obj)))
        if isinstance(obj, dict):
            todo.extend(obj.values())
        elif isinstance(obj, (tuple, list, set, frozenset)):
            todo.extend(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, (torch.Tensor, torch.nn.Module)):
            todo.extend(vars(obj).values())
    return out


def _state(obj: object) -> tuple:
    """A copy of what a later call could find changed: a tensor's values; a module's weights, buffers,
    config, hooks and mode; which objects a container or an object's attributes hold."""
    if isinstance(obj, torch.Tensor):
        return (obj.detach().clone(),)
    if isinstance(obj, torch.nn.Module):
        hooks = tuple(tuple(_hooks(m, kind) for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                                                         "_backward_pre_hooks")) for m in obj.modules())
        cfg = getattr(obj, "cfg", None)
        return ([t.detach().clone() for t in obj.state_dict(keep_vars=True).values()],
                [p.requires_grad for p in obj.parameters()], hooks, obj.training,
                repr(vars(cfg)) if cfg is not None and hasattr(cfg, "__dict__") else None)
    if isinstance(obj, dict):
        return (tuple((k, id(v)) for k, v in obj.items()),)
    if isinstance(obj, (tuple, list, set, frozenset)):
        return (tuple(id(x) for x in obj),)
    return (tuple((k, id(v)) for k, v in vars(obj).items()),)


def _hooks(module: torch.nn.Module, kind: str) -> int:
    """How many hooks of ``kind`` a caller put on ``module``: every hook on a TransformerLens hook point, and
    elsewhere those that are not TransformerLens's own (a bridge wires capture hooks on its first forward)."""
    found = getattr(module, kind, None) or {}
    if type(module).__name__ == "HookPoint":
        return len(found)
    return sum(not getattr(h, "__module__", "").startswith("transformer_lens") for h in found.values())


def _same(copies: list[tuple[object, tuple]]) -> bool:
    """Every object's state equals its copy (tensors bitwise, NaN equal to NaN)."""
    for obj, before in copies:
        now = _state(obj)
        tensors = [(now[0], before[0])] if isinstance(obj, torch.Tensor) else \
            list(zip(now[0], before[0])) if isinstance(obj, torch.nn.Module) else []
        if isinstance(obj, torch.nn.Module) and (now[1:] != before[1:] or len(now[0]) != len(before[0])):
            return False
        if not isinstance(obj, (torch.Tensor, torch.nn.Module)) and now != before:
            return False
        if not all(x.shape == y.shape and x.dtype == y.dtype and _equal(x, y) for x, y in tensors):
            return False
    return True


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bitwise equal values (a NaN equals a NaN in the same place)."""
    if a.is_floating_point() or a.is_complex():
        return bool(((a == b) | (a.isnan() & b.isnan())).all())
    return torch.equal(a, b)
