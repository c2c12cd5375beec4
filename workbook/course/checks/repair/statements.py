"""Edits of one statement of a learner's function (for :mod:`.nodes`): an update or a write deleted, ``+=``
and ``=``, ``+=`` on a list for ``.append``, a missing ``.clone()``, a discarded result kept, an in-place change made
a new tensor, a skip or a hook's ``return`` deleted, the result's sign; and (:func:`moves`) a line moved into or
out of a loop (indented or dedented)."""

from __future__ import annotations

import ast
from typing import Iterator

from workbook.course.checks.repair.scope import Scope, callee

__all__ = ["statement_edits", "moves"]


def statement_edits(node: ast.AST, scope: Scope) -> Iterator[tuple]:
    """``(replacement or None to delete, words)`` for one statement."""
    if isinstance(node, ast.AugAssign):
        yield None, "this update is extra"
        yield ast.Assign([node.target], node.value), "it accumulates (+=) where it should assign (=)"
        if isinstance(node.op, (ast.Add, ast.Sub)):
            flip = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
            yield ast.AugAssign(node.target, flip, node.value), "the update has the wrong sign"
        if isinstance(node.op, ast.Add) and isinstance(node.target, ast.Name):
            yield ast.Expr(ast.Call(ast.Attribute(ast.Name(node.target.id, ast.Load()), "append", ast.Load()),
                                    [node.value], [])), \
                f"`+=` on a list adds the tensor's rows one by one: `{node.target.id}.append(...)` adds it whole"
    elif isinstance(node, ast.Assign) and len(node.targets) == 1:
        yield from _assign_edits(node, id(node) in scope.in_loop)
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and callee(node.value) != "print":
        yield None, "this call is extra"
        yield from _in_place_edits(node.value)
    elif isinstance(node, ast.If) and node.body and isinstance(node.body[-1], (ast.Continue, ast.Break)) \
            and not node.orelse:
        yield None, "this skip is extra" if len(node.body) == 1 else "this `if` block and its skip are extra"
    elif isinstance(node, ast.Return) and node.value is not None:
        yield ast.Return(ast.UnaryOp(ast.USub(), node.value)), "the result has the wrong sign"
        if id(node) in scope.nested:
            yield None, "this return is extra (what a hook returns replaces the tensor it was given)"


def _assign_edits(node: ast.Assign, in_loop: bool) -> Iterator[tuple]:
    target = node.targets[0]
    if isinstance(target, ast.Name) and any(isinstance(n, ast.Name) and n.id == target.id
                                            for n in ast.walk(node.value)):
        yield None, "this reassignment is extra"
    if isinstance(target, ast.Subscript):
        zero = isinstance(node.value, ast.Constant) and node.value.value == 0
        yield None, "this write is extra" + (f": it sets `{ast.unparse(target)}` to 0, leaving those entries out"
                                             if zero else "")
    if isinstance(target, ast.Name) and isinstance(node.value, (ast.Subscript, ast.Name)):
        yield ast.Assign([target], ast.Call(ast.Attribute(node.value, "clone", ast.Load()), [], [])), \
            f"`{target.id}` is the stored tensor itself, not a copy: editing it in place changes where it " \
            "came from (.clone() it)"
    if in_loop and isinstance(target, (ast.Subscript, ast.Name)) and not (  # `+= 0` is deleting the line
            isinstance(node.value, ast.Constant) and node.value.value == 0):
        yield ast.AugAssign(target, ast.Add(), node.value), "it assigns (=) where it should accumulate (+=)"


def _in_place_edits(call: ast.Call) -> Iterator[tuple]:
    """A discarded result (``x.masked_fill(...)``) kept; an in-place change (``g.zero_()``) made a new tensor."""
    f = call.func
    if not (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)):
        return
    x = f.value.id
    if not f.attr.endswith("_"):
        yield ast.Assign([ast.Name(x, ast.Store())], call), \
            f"the result of `.{f.attr}(...)` is thrown away: it returns a new tensor, it does not change `{x}` in place"
    elif f.attr not in ("requires_grad_", "retain_grad_"):
        new = (ast.parse(f"torch.zeros_like({x})", mode="eval").body if f.attr == "zero_" else
               ast.Call(ast.Attribute(ast.Name(x, ast.Load()), f.attr[:-1], ast.Load()), call.args, call.keywords))
        yield ast.Assign([ast.Name(x, ast.Store())], new), \
            f"`.{f.attr}(...)` changes `{x}` in place, and others (autograd, a cache) hold the same tensor: make a " \
            "new one"


def _reads(stmt: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _writes(stmts: list[ast.stmt]) -> set[str]:
    return {n.id for s in stmts for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def moves(func: ast.FunctionDef) -> Iterator[tuple[ast.stmt, ast.For, str, str]]:
    """``(statement, loop, where, words)``: a statement moved into or out of a ``for`` loop next to it. ``where``:
    ``"into start"`` (the line before the loop reads the loop's variable), ``"into end"`` (the line after the loop
    reads a name first set inside it), ``"out"`` (a ``return`` at the end of the loop's body)."""
    for parent in ast.walk(func):
        for field in ("body", "orelse"):
            seq = getattr(parent, field, None)
            if not isinstance(seq, list):
                continue
            for j, loop in enumerate(seq):
                if not isinstance(loop, ast.For) or not isinstance(loop.target, ast.Name):
                    continue
                var, before = loop.target.id, _writes(seq[:j])
                if j and isinstance(seq[j - 1], (ast.Assign, ast.AugAssign, ast.Expr)) and var in _reads(seq[j - 1]):
                    yield seq[j - 1], loop, "into start", f"it reads the loop's `{var}`: it belongs inside the loop"
                after = seq[j + 1] if j + 1 < len(seq) else None
                if isinstance(after, (ast.Assign, ast.AugAssign, ast.Expr)) and \
                        _reads(after) & (_writes(loop.body) - before):
                    yield after, loop, "into end", "it reads what each pass of the loop computes: it belongs in it"
                if isinstance(loop.body[-1], ast.Return):
                    yield loop.body[-1], loop, "out", "it ends the function in the loop's first pass: it goes after it"
