"""What a one-line fix means for the method, read off the learner's line as written (no run needed).

The generic words of an edit ("the clamp is extra", "a minus where a plus belongs", "the `not` is extra") say what
changes on the line; a learner also needs to know what that does to the computation. :func:`meaning` adds it where
the line shows it:

- a clamp or relu of a product (``(delta * grad).clamp(min=0)``) sets the product's negative entries to 0 before
  they are summed: the estimate is the sum of the signed terms;
- ``x - (y - x)`` where ``x + (y - x)`` belongs moves ``x`` the opposite way along the difference (the patched
  value is ``y`` itself);
- a condition on state kept from an earlier call (``hasattr(the_function, ...)``, ``key in A_MODULE_DICT``, a
  module-level value tested against None) decides whether a stored result is reused: the state is kept across calls.

Each returns "" when the line does not show it. Nothing is evaluated; only the line's ``ast`` is read.
"""

from __future__ import annotations

import ast
from typing import Callable

from workbook.course.checks.repair.edits import Edit
from workbook.course.checks.repair.source import unparsed

__all__ = ["meaning"]

_CUTS = ("clamp", "clamp_min", "clip", "relu")


def _parsed(line: str) -> ast.AST | None:
    """The line as an ``ast`` (a block header such as ``if x:`` gets a body so that it parses)."""
    text = line.strip()
    for candidate in (text, text + " pass", text.rstrip(":")):
        try:
            return ast.parse(candidate)
        except SyntaxError:
            continue
    return None


def _cut_product(tree: ast.AST, after: ast.AST | None) -> str:
    kept = {unparsed(n) for n in ast.walk(after)} if after is not None else set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _CUTS \
                and isinstance(node.func.value, ast.BinOp) and isinstance(node.func.value.op, ast.Mult) \
                and unparsed(node) not in kept:
            product = unparsed(node.func.value)
            product = f"`{product}`" if len(product) <= 60 else "it"
            return (f"it sets the negative entries of the product {product} to 0 before they are summed, so terms "
                    "of opposite sign no longer cancel: the estimate is the sum of the signed terms")
    return ""


def _opposite_way(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and isinstance(node.right, ast.BinOp) \
                and isinstance(node.right.op, ast.Sub) and unparsed(node.right.right) == unparsed(node.left):
            x, y = unparsed(node.left), unparsed(node.right.left)
            return (f"subtracting the difference moves `{x}` the opposite way, away from `{y}`: "
                    f"`{x} + ({y} - {x})` is `{y}` itself")
    return ""


def _stored_state(tree: ast.AST, fn: Callable) -> str:
    glob = getattr(fn, "__globals__", {})
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr" \
                and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == fn.__name__:
            where = f"on the function itself (`{fn.__name__}`)"
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and (
                isinstance(node.ops[0], (ast.In, ast.NotIn, ast.Is, ast.IsNot))) and any(
                isinstance(n, ast.Name) and n.id in glob and not callable(glob[n.id])
                for n in (node.left, *node.comparators)):
            name = next(n.id for n in (node.left, *node.comparators) if isinstance(n, ast.Name) and n.id in glob)
            where = f"in the module-level `{name}`"
        else:
            continue
        return (f"this condition decides whether a result stored {where} by an earlier call is reused: state kept "
                "across calls, so a later call (another model, task or set of scores) gets the stale result; "
                "compute it on every call")
    return ""


def meaning(fn: Callable, edit: Edit) -> str:
    """What ``edit`` changes in the method's terms, read off its line (see the module docstring); "" if nothing."""
    tree = _parsed(edit.before)
    if tree is None:
        return ""
    after = _parsed(edit.after) if edit.after else None
    words = edit.words
    if words.startswith(("the clamp is extra", "the relu is extra")):
        return _cut_product(tree, after)
    if words.startswith("a minus where a plus belongs"):
        return _opposite_way(tree)
    if words.startswith(("the `not` is extra", "the condition is inverted")):
        return _stored_state(tree, fn)
    return ""
