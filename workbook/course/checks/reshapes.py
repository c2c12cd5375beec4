"""A ``.view``/``.reshape`` that re-cuts a tensor's axes where the learner meant to reorder them.

``x.view(B, H, T, D)`` of a ``[B, T, H, D]`` tensor does not move the head axis in front of the
positions: view and reshape keep the numbers in memory order and only cut them into new axes, so
heads and positions get mixed. :class:`Reshapes` watches the learner's own calls of ``view`` and
``reshape`` while :func:`~workbook.course.checks.trace.trace_locals` runs (a
``TorchFunctionMode``; library code is not watched) and keeps each call that :func:`recut` flags.

:func:`recut` reads the shapes alone: an axis keeps its meaning through a reshape when it keeps its
size and its *inner* size (the product of the sizes after it). An output axis whose size is that of
one input axis but whose inner size is not was cut from another place of memory: a size moved to
another position (``[B, T, H, D] -> [B, H, T, D]``, ``[S, B, P, D] -> [B*P*D, S]``). Merging or
splitting neighbouring axes (``[B, T, H*D] -> [B, T, H, D]``, ``-> [B, -1]``) is never flagged. Sizes
are matched only when they are unique on both sides (on a model whose sizes coincide, e.g. ``B == H``,
the shapes cannot tell), so the checks' test models, whose sizes all differ, are where it shows.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["Recut", "Reshapes", "recut", "recut_clue"]

_WATCHED = {torch.Tensor.view: ".view", torch.Tensor.reshape: ".reshape", torch.reshape: "torch.reshape"}


def _inner(shape: tuple[int, ...]) -> list[tuple[int, int]]:
    """``(size, product of the sizes after it)`` of each axis of size > 1."""
    out, inner = [], 1
    for n in reversed(shape):
        if n > 1:
            out.append((n, inner))
        inner *= n
    return out[::-1]


def recut(before: tuple[int, ...], after: tuple[int, ...]) -> bool:
    """Whether reshaping ``before`` into ``after`` moves a size to another place in memory (see the module)."""
    a, b = _inner(before), _inner(after)
    sizes_a, sizes_b = [n for n, _ in a], [n for n, _ in b]
    for n, inner in b:
        if sizes_a.count(n) == 1 and sizes_b.count(n) == 1 and dict(a)[n] != inner:
            return True
    return False


@dataclass
class Recut:
    """One flagged call: where (``func``, ``line``), how (``how``: ``.view`` ...) and the two shapes."""

    func: str
    line: int
    how: str
    before: tuple[int, ...]
    after: tuple[int, ...]


def _caller(is_learner: Callable[[str], bool]):
    frame = sys._getframe(2)
    while frame is not None and "/torch/" in frame.f_code.co_filename:
        frame = frame.f_back
    return frame if frame is not None and is_learner(frame.f_code.co_filename) else None


class Reshapes(TorchFunctionMode):
    """While active, the learner's ``view``/``reshape`` calls that :func:`recut` flags, in ``found``."""

    def __init__(self, is_learner: Callable[[str], bool], limit: int = 20):
        super().__init__()
        self.is_learner, self.limit, self.found = is_learner, limit, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        how = _WATCHED.get(func)
        if how and len(self.found) < self.limit and isinstance(out, torch.Tensor) and args \
                and isinstance(args[0], torch.Tensor) and recut(tuple(args[0].shape), tuple(out.shape)):
            frame = _caller(self.is_learner)
            if frame is not None:
                self.found.append(Recut(frame.f_code.co_name, frame.f_lineno, how, tuple(args[0].shape),
                                        tuple(out.shape)))
        return out


def recut_clue(found: list[Recut], top: str | None = None) -> str | None:
    """The first flagged reshape, as a diagnosis, or None."""
    if not found:
        return None
    r = found[0]
    where = f"line {r.line}" + ("" if r.func == top else f" (in `{r.func}`)")
    return (f"{where} reshapes a tensor of shape {list(r.before)} into {list(r.after)} with {r.how}: view and "
            "reshape keep the numbers in memory order and only cut them into new axes, so this does not move an "
            "axis, it scrambles two of them (e.g. heads and positions mixed). To reorder axes use .permute or "
            ".transpose (or an einsum), and .reshape only to merge or split neighbouring axes.")
