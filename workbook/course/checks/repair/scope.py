"""What the edits of :mod:`.nodes` and :mod:`.statements` may read about a learner's function: the
:class:`Scope` around a node, and the name of a call."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

__all__ = ["Scope", "callee", "is_method"]


@dataclass
class Scope:
    """What the edits of one node may read about the function around it: every name in it, the nodes inside a
    ``for``/``while`` body, the loop variables around each node (``(name, iterable)``, comprehensions included),
    the nodes inside a nested ``def``, the parameters with a constant default, the hook names written,
    the counts of ``range`` loops and the names bound to a slice."""

    names: set[str]
    in_loop: set[int] = field(default_factory=set)
    loop_vars: dict[int, list[tuple[str, ast.AST]]] = field(default_factory=dict)
    nested: set[int] = field(default_factory=set)
    params: dict[str, object] = field(default_factory=dict)
    hooks: list[str] = field(default_factory=list)
    #: ``for k in range(m)`` loops' variables and their counts ``m`` (read after the loop, ``k`` is ``m - 1``)
    loop_counts: dict[str, ast.AST] = field(default_factory=dict)
    #: the function's parameters that hold a count (annotated ``int`` or with an int default)
    int_params: list[str] = field(default_factory=list)
    #: names bound to a slice of another value (``head = act[:, :, h]``): name -> that subscript
    views: dict[str, ast.AST] = field(default_factory=dict)


def callee(call: ast.Call) -> str | None:
    """The called function's or method's name (``sum`` for ``x.sum(1)`` and ``torch.sum(x)``)."""
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else None)


def is_method(node: ast.Call) -> bool:
    """A method of a value (``x.sum()``), not a function of a module (``torch.sum(x)``, ``torch.linalg.norm(x)``)."""
    f = node.func
    if not isinstance(f, ast.Attribute):
        return False
    base = f.value
    while isinstance(base, ast.Attribute) and base.attr in ("linalg", "nn", "functional", "special", "fft"):
        base = base.value
    return not (isinstance(base, ast.Name) and base.id in ("torch", "F", "np", "math"))
