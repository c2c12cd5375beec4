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
    """Remember the test models and references for one check call (nested: the outer one), starting from what the
    last call left when none of it was changed (:func:`_carried`), and leaving it to the next."""
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


def _state(obj: object, subs: list | None = None) -> tuple:
    """What a later call could find changed. A tensor: its version counter (bumped by every in-place change),
    storage and shape. A module (its submodules ``subs``, listed once when it is first copied): a copy of its
    weights and buffers, which need no in-place op to change (``p.data`` writes bypass the counter), its hooks,
    mode and config. A container or an object: which objects it holds."""
    if isinstance(obj, torch.Tensor):
        return (obj._version, obj.data_ptr(), tuple(obj.shape), obj.dtype)
    if isinstance(obj, torch.nn.Module):
        subs = list(obj.modules()) if subs is None else subs
        tensors, hooks = {}, []
        for i, sub in enumerate(subs):
            for t in (*sub._parameters.values(), *sub._buffers.values()):
                if t is not None:
                    tensors[id(t)] = t
            for kind in _HOOK_KINDS:
                n = _hooks(sub, getattr(sub, kind, None))
                if n:
                    hooks.append((i, kind, n))
        by_dtype = {}
        for t in tensors.values():
            by_dtype.setdefault(t.dtype, []).append(t.detach().reshape(-1))
        cfg = getattr(obj, "cfg", None)
        return (subs, {d: torch.cat(ts) for d, ts in by_dtype.items()},
                tuple(t.requires_grad for t in tensors.values()), tuple(hooks), obj.training,
                repr(vars(cfg)) if cfg is not None and hasattr(cfg, "__dict__") else None)
    if isinstance(obj, dict):
        return (tuple((k, id(v)) for k, v in obj.items()),)
    if isinstance(obj, (tuple, list, set, frozenset)):
        return (tuple(id(x) for x in obj),)
    return (tuple((k, id(v)) for k, v in vars(obj).items()),)


_HOOK_KINDS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


def _hooks(module: torch.nn.Module, found: dict | None) -> int:
    """How many of the hooks in ``found`` (one of ``module``'s hook dicts) a caller put there: every hook on a
    TransformerLens hook point, and elsewhere those that are not TransformerLens's own (a bridge wires capture
    hooks on its first forward)."""
    if not found:
        return 0
    if type(module).__name__ == "HookPoint":
        return len(found)
    return sum(not getattr(h, "__module__", "").startswith("transformer_lens") for h in found.values())


def _same(copies: list[tuple[object, tuple]]) -> bool:
    """Every object's state equals its copy (a module's weights and buffers bitwise)."""
    for obj, before in copies:
        if not isinstance(obj, torch.nn.Module):
            if _state(obj) != before:
                return False
            continue
        now = _state(obj, before[0])
        if now[2:] != before[2:] or now[1].keys() != before[1].keys() or not all(
                now[1][d].shape == before[1][d].shape and torch.equal(now[1][d], before[1][d]) for d in now[1]):
            return False
    return True
