"""State a learner's function keeps between calls, found by emptying it before every call and checking again.

A check calls the learner's function many times: on several test models and tasks, then on the chapter's own. A
function that keeps something from one call to the next (a module-level dict or list filled on the first call, a
variable rebound with ``global``, a dict as a default argument, an attribute set on the function, a variable of an
enclosing function, a ``functools`` cache) returns, or crashes on, what an earlier call left: a cached run of
another model whose sizes then appear in the error, a mask built for another sequence length.

:func:`kept_state` lists what the function (and the learner's own helpers it calls, two levels deep) can keep, by
reading its code: the global names it reads or rebinds, its defaults, its attributes and its closure.
:func:`kept_state_lead` runs the check once more (verdict only, :func:`~.repair.passes`) on a wrapper that empties
all of it before every call; when that passes, the state is the cause, and the lead names it. What the learner's
function kept is put back afterwards. Nothing is approximated: the lead is given only when emptying the state makes
the very check pass.
"""

from __future__ import annotations

import dis
import functools
import inspect
import re
import types
from dataclasses import dataclass
from typing import Callable

from workbook.course.checks.repair import passes

__all__ = ["Kept", "kept_state", "kept_state_lead"]

CONTAINERS = (dict, list, set)


@dataclass
class Kept:
    """One place where a function can keep state between calls: ``what`` in words, and how to empty and restore it."""
    what: str
    holder: object  # the container, the function (attribute), the globals dict (a rebound name), or an lru cache
    key: str = ""
    saved: object = None

    def filled(self) -> bool:
        """Whether something is kept there now (an empty container or a None name keeps nothing)."""
        value = self._value()
        if hasattr(self.holder, "cache_info"):
            return self.holder.cache_info().currsize > 0
        return bool(value) if isinstance(value, CONTAINERS) else value is not None

    def _value(self):
        if isinstance(self.holder, CONTAINERS) and not self.key:
            return self.holder
        if isinstance(self.holder, types.FunctionType):
            return self.holder.__dict__.get(self.key)
        if isinstance(self.holder, dict):
            return self.holder.get(self.key)
        return None

    def empty(self) -> None:
        """Empty it (saving what it held on the first call)."""
        if hasattr(self.holder, "cache_clear"):
            self.holder.cache_clear()
            return
        value = self._value()
        if self.saved is None:
            self.saved = (value, value.copy() if isinstance(value, CONTAINERS) else None)
        if isinstance(self.holder, types.FunctionType):  # an attribute: gone, as before the first call
            self.holder.__dict__.pop(self.key, None)
        elif self.key:  # a name rebound with `global`: None, as such a name usually starts
            self.holder[self.key] = None
        else:
            value.clear()

    def restore(self) -> None:
        """Put back what it held before :meth:`empty` was first called."""
        if self.saved is None:
            return
        value, copy = self.saved
        if isinstance(value, CONTAINERS):
            value.clear()
            value.update(copy) if isinstance(value, (dict, set)) else value.extend(copy)
        if isinstance(self.holder, types.FunctionType):
            self.holder.__dict__[self.key] = value
        elif isinstance(self.holder, dict) and self.key:
            self.holder[self.key] = value
        self.saved = None


def _codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _is_learners(obj, module: str) -> bool:
    return isinstance(obj, types.FunctionType) and obj.__module__ == module and not obj.__module__.startswith(
        "workbook")


def _global_state(fn: types.FunctionType, found: list[Kept], seen: set[int], depth: int) -> None:
    """Module-level containers ``fn`` reads, names it rebinds with ``global``, and the learner's helpers it calls."""
    space = fn.__globals__
    for code in _codes(fn.__code__):
        rebound = {i.argval for i in dis.get_instructions(code) if i.opname == "STORE_GLOBAL"}
        for name in code.co_names:
            obj = space.get(name)
            if name in rebound and not isinstance(obj, (types.FunctionType, types.ModuleType, type)):
                if ("global", name) not in seen:
                    seen.add(("global", name))
                    found.append(Kept(f"the module-level variable `{name}` (set with `global {name}`)", space, name))
            elif isinstance(obj, CONTAINERS) and id(obj) not in seen:
                seen.add(id(obj))
                found.append(Kept(f"the module-level {type(obj).__name__} `{name}`", obj))
            elif _is_learners(obj, fn.__module__) and depth < 2 and id(obj) not in seen:
                seen.add(id(obj))
                _state(obj, found, seen, depth + 1)
            elif hasattr(obj, "cache_clear") and hasattr(obj, "__wrapped__") and id(obj) not in seen:
                seen.add(id(obj))
                found.append(Kept(f"the cache of `{name}` (functools)", obj))


def _state(fn: types.FunctionType, found: list[Kept], seen: set, depth: int) -> None:
    seen.add(id(fn))  # a function that names itself (an attribute on itself) is read once
    _global_state(fn, found, seen, depth)
    params = list(inspect.signature(fn).parameters)
    for i, value in enumerate(fn.__defaults__ or ()):
        name = params[len(params) - len(fn.__defaults__) + i] if len(params) >= len(fn.__defaults__) else "?"
        if isinstance(value, CONTAINERS) and id(value) not in seen:
            seen.add(id(value))
            found.append(Kept(f"the default argument `{name}={type(value).__name__}()` of `{fn.__name__}` (one "
                              "object for every call)", value))
    for name, value in (fn.__kwdefaults__ or {}).items():
        if isinstance(value, CONTAINERS) and id(value) not in seen:
            seen.add(id(value))
            found.append(Kept(f"the default argument `{name}` of `{fn.__name__}` (one object for every call)", value))
    for key in [k for k in fn.__dict__ if not k.startswith("__")]:
        found.append(Kept(f"the attribute `{fn.__name__}.{key}` set on the function", fn, key))
    for var, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        value = cell.cell_contents if cell.cell_contents is not None else None
        if isinstance(value, CONTAINERS) and id(value) not in seen:
            seen.add(id(value))
            found.append(Kept(f"`{var}` of the enclosing function (a {type(value).__name__} shared by every call)",
                              value))


def kept_state(fn: Callable) -> list[Kept]:
    """What ``fn`` can keep between calls, read off its code (see the module docstring); [] for a non-function."""
    inner = inspect.unwrap(fn) if hasattr(fn, "__wrapped__") else fn
    found: list[Kept] = []
    if hasattr(fn, "cache_clear") and hasattr(fn, "__wrapped__"):
        found.append(Kept(f"the cache of `{getattr(fn, '__name__', 'your function')}` (functools)", fn))
    if isinstance(inner, types.FunctionType):
        _state(inner, found, set(), 0)
    return found


def _passes_emptied(check: Callable[[Callable], None], fn: Callable, kept: list[Kept]) -> bool:
    """Whether ``check`` passes on ``fn`` with everything in ``kept`` emptied before every call (then put back)."""
    @functools.wraps(fn)
    def emptied(*args, **kwargs):
        for k in kept:
            k.empty()
        return fn(*args, **kwargs)

    try:
        return passes(check, emptied, quick=True)
    finally:
        for k in kept:
            k.restore()


def _culprits(check: Callable[[Callable], None], fn: Callable, kept: list[Kept]) -> list[Kept]:
    """The state whose emptying makes the check pass: all of ``kept`` together, else one of the first four alone
    (a constant table the function reads is kept too, and emptying it breaks the function); [] when none does."""
    if _passes_emptied(check, fn, kept):
        return kept
    for k in kept[:4] if len(kept) > 1 else ():
        if _passes_emptied(check, fn, [k]):
            return [k]
    return []


def _read_at(fn: Callable, kept: Kept) -> str:
    """" (filled on line 12: `code`)" for the first line of ``fn``'s body that writes into ``kept`` (else the first
    that names it), or ""."""
    found = re.search(r"`([\w.]+)", kept.what)
    try:
        lines, start = inspect.getsourcelines(inspect.unwrap(fn))
    except (OSError, TypeError):
        return ""
    if not found:
        return ""
    name = re.escape(found.group(1).rsplit(".", 1)[-1])
    body = [(k, line.split("#")[0].strip()) for k, line in enumerate(lines[1:], start=start + 1)]
    filled = [(k, c) for k, c in body if re.search(
        rf"\b{name}\s*(\[[^\]]*\])?\s*=[^=]|\b{name}\.(update|append|setdefault|extend|add)\(", c)]
    named = filled or [(k, c) for k, c in body if re.search(rf"\b{name}\b", c)]
    return f" (filled on line {named[0][0]}: `{named[0][1]}`)" if filled else \
        f" (line {named[0][0]}: `{named[0][1]}`)" if named else ""


def kept_state_lead(check: Callable[[Callable], None], fn: Callable) -> str:
    """A sentence naming the state ``fn`` keeps between calls when the check passes with it emptied before every
    call (and only then); "" otherwise. ``check(candidate)`` raises when ``candidate`` fails."""
    kept = [k for k in kept_state(fn) if k.filled()]
    if not kept:
        return ""
    culprits = _culprits(check, fn, kept)
    if not culprits:
        return ""
    what = " and ".join(k.what for k in culprits[:2]) + _read_at(fn, culprits[0])
    return (f"your function keeps state between calls in {what}: an earlier call (on another model or task) left "
            "something there that a later call reads (a cached run, mask, size or result of the earlier call). "
            "Emptied before every call, your function passes every test case. Compute everything from the model "
            "and task of each call (or key a cache by everything the result depends on). ")
