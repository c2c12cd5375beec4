"""One-node edits of a learner's function that replace a whole small recipe, for :mod:`.nodes`.

Each edit undoes one realistic slip that a single-token change cannot:

- ``x.median(0).values`` (or ``.max`` / ``.min``, ``[0]`` for ``.values``) where the mean over that axis belongs;
- ``x.sum(0) / n`` where the mean over that axis belongs (the count ``n`` is the wrong one);
- ``e / e.max(-1, keepdim=True).values`` where the row sum belongs (a normaliser);
- a cast to a low precision (``.bfloat16()``, ``.half()``, ``.to(torch.float16)``) dropped;
- ``a @ b`` (``torch.matmul``) where the element-wise product ``a * b`` belongs;
- a rescaling dropped (``v / v.norm() * w.norm()`` or ``est * total / est.sum()`` keeps only the first factor);
- ``x[:, idx]`` where each row's own index belongs (``x[torch.arange(B), idx]``);
- a midpoint ``(a + b) / 2`` where one end belongs;
- ``x.gather(-1, i).squeeze(-1)`` where the sum over that axis belongs; ``0.5 * g`` or a clamp/relu of ``g``
  (``g.clamp_min(0)``) where ``g`` is cut to zero;
- a name rebound where a slice is written (``head = act[:, :, h]; head = value`` for ``act[:, :, h] = value``);
- a bound ``max(steps, 2)`` (``min``) where the value itself belongs;
- a conditional expression ``a if cond else b`` where one branch belongs in every case (a condition that leaves
  some entries out);
- a model's or task's size where the function's own count argument belongs (``task.batch_size`` for ``steps``);
- a loop's variable read after its loop, where the number of passes belongs (``k`` is one short after
  ``for k in range(m)``).
"""

from __future__ import annotations

import ast
import copy
from typing import Iterator

from workbook.course.checks.repair.scope import Scope, callee, is_method
from workbook.course.checks.repair.source import unparsed

__all__ = ["recipe_edits", "zero_differences", "zeroed_difference"]

_ORDER_STATS = {"median": "a median", "max": "a maximum", "min": "a minimum", "mode": "a mode"}
_LOW = {"bfloat16": "bfloat16", "half": "float16", "float16": "float16"}
_LOW_WORDS = ("the cast to {} is extra: a 16-bit float keeps about 3 significant digits, and a softmax or a "
              "difference of nearly equal values computed in it is visibly off (the model computes in float32)")


def _mean_call(x: ast.AST, args: list, keywords: list) -> ast.Call:
    dims = [kw for kw in keywords if kw.arg in ("dim", "keepdim")]
    return ast.Call(ast.Attribute(x, "mean", ast.Load()), args[:1], dims)


def _operand(call: ast.Call) -> tuple[ast.AST | None, list]:
    """The tensor a reduction is applied to and the remaining positional arguments."""
    if is_method(call):
        return call.func.value, list(call.args)
    return (call.args[0], list(call.args[1:])) if call.args else (None, [])


def _order_stat(node: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """``x.median(0).values`` / ``torch.median(x, dim=0)[0]`` as ``x.mean(0)``."""
    inner = None
    if isinstance(node, ast.Attribute) and node.attr == "values" and isinstance(node.value, ast.Call):
        inner = node.value
    elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call) and isinstance(
            node.slice, ast.Constant) and node.slice.value == 0:
        inner = node.value
    if inner is None or callee(inner) not in _ORDER_STATS:
        return
    x, rest = _operand(inner)
    if x is not None and (rest or inner.keywords):
        yield _mean_call(x, rest, inner.keywords), \
            f"{_ORDER_STATS[callee(inner)]} over that axis where the mean belongs (the method averages)"


def _max_normaliser(node: ast.BinOp) -> Iterator[tuple[ast.AST, str]]:
    """``e / e.max(-1, keepdim=True).values`` as ``e / e.sum(-1, keepdim=True)``: normalised by the largest entry
    where the sum belongs (the rows must sum to 1)."""
    right = node.right
    inner = right.value if isinstance(right, ast.Attribute) and right.attr == "values" else (
        right.value if isinstance(right, ast.Subscript) and isinstance(right.slice, ast.Constant) else right)
    if not (isinstance(node.op, ast.Div) and isinstance(inner, ast.Call) and callee(inner) in ("max", "amax")):
        return
    x, rest = _operand(inner)
    if x is not None and (rest or inner.keywords):
        dims = [kw for kw in inner.keywords if kw.arg in ("dim", "keepdim")]
        total = ast.Call(ast.Attribute(x, "sum", ast.Load()), rest[:1], dims)
        yield ast.BinOp(node.left, ast.Div(), total), \
            f"dividing by the largest entry `{unparsed(right)}` where the sum belongs: normalised rows sum to 1 (a " \
            "softmax divides by the sum of the exponentials)"


def _sum_over_count(node: ast.BinOp) -> Iterator[tuple[ast.AST, str]]:
    """``x.sum(0) / n`` as ``x.mean(0)``: the sum is right, the count divided by is not."""
    left = node.left
    if isinstance(node.op, ast.Div) and isinstance(left, ast.Call) and callee(left) == "sum":
        x, rest = _operand(left)
        if x is not None and (rest or left.keywords):
            yield _mean_call(x, rest, left.keywords), \
                f"the sum's denominator `{unparsed(node.right)}` is not the number of entries summed: " \
                "take the mean over that axis"


def _low_precision(node: ast.Call) -> Iterator[tuple[ast.AST, str]]:
    attr = callee(node)
    if attr in _LOW and is_method(node) and not node.args:
        yield node.func.value, _LOW_WORDS.format(_LOW[attr])
    if attr == "to" and is_method(node):
        for arg in list(node.args) + [kw.value for kw in node.keywords if kw.arg == "dtype"]:
            if isinstance(arg, ast.Attribute) and arg.attr in ("bfloat16", "float16", "half"):
                yield node.func.value, _LOW_WORDS.format(_LOW[arg.attr])


def _matmul(node: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    words = "a matrix product `@` where the element-wise product `*` belongs (each entry times its own gradient)"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        yield ast.BinOp(node.left, ast.Mult(), node.right), words
    if isinstance(node, ast.Call) and callee(node) in ("matmul", "mm", "bmm") and not is_method(node) and len(
            node.args) == 2:
        yield ast.BinOp(node.args[0], ast.Mult(), node.args[1]), words


def _has_norm(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and callee(n) in ("norm", "vector_norm") for n in ast.walk(node))


def _rescaled(node: ast.BinOp) -> Iterator[tuple[ast.AST, str]]:
    """``v / v.norm() * w.norm()`` or ``est * total / est.sum()``: every factor after the first dropped at once."""
    chain, first = [], node
    while isinstance(first, ast.BinOp) and isinstance(first.op, (ast.Mult, ast.Div)):
        chain.append(first.right)
        first = first.left
    if len(chain) < 2:
        return
    if all(_has_norm(f) for f in chain) and not _has_norm(first):
        yield first, f"the rescaling by norms is extra: `{unparsed(first)}` goes in as it is (patching copies the " \
                     "value, its size included)"
    else:
        yield first, f"the factors after `{unparsed(first)}` are extra: it goes in as it is (not rescaled to a " \
                     "total, a percentage, a norm or a range)"


def _after_loop(node: ast.AST, scope: Scope) -> Iterator[tuple[ast.AST, str]]:
    if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)):
        return
    count = scope.loop_counts.get(node.id)
    if count is not None and node.id not in {v for v, _ in scope.loop_vars.get(id(node), [])}:
        yield count, f"after `for {node.id} in range({unparsed(count)})`, `{node.id}` holds its last value " \
                     f"{unparsed(count)} - 1, not the number of passes {unparsed(count)}"


def _every_row(node: ast.AST, scope: Scope) -> Iterator[tuple[ast.AST, str]]:
    """``x[:, idx]`` (every row at every index of ``idx``: a [B, B] table) as ``x[torch.arange(len(idx)), idx]``."""
    if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple) and len(node.slice.elts) == 2):
        return
    first, idx = node.slice.elts
    loops = {v for v, _ in scope.loop_vars.get(id(node), [])}
    if isinstance(first, ast.Slice) and first.lower is None and first.upper is None and isinstance(
            idx, (ast.Attribute, ast.Name)) and not (isinstance(idx, ast.Name) and idx.id in loops):
        rows = ast.Call(ast.Attribute(ast.Name("torch", ast.Load()), "arange", ast.Load()),
                        [ast.Call(ast.Name("len", ast.Load()), [idx], [])], [])
        yield ast.Subscript(node.value, ast.Tuple([rows, idx], ast.Load()), ast.Load()), \
            f"`[:, {unparsed(idx)}]` takes every row at every index in `{unparsed(idx)}` (a [B, B] table): row b's " \
            f"own entry is `[torch.arange(B), {unparsed(idx)}]`"


def _midpoint(node: ast.BinOp) -> Iterator[tuple[ast.AST, str]]:
    """``(a + b) / 2`` as ``a`` or ``b``: a midpoint where one end belongs."""
    add = node.left
    if isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant) and node.right.value == 2 and isinstance(
            add, ast.BinOp) and isinstance(add.op, ast.Add):
        for end in (add.left, add.right):
            yield end, f"the midpoint of `{unparsed(add.left)}` and `{unparsed(add.right)}` where " \
                       f"`{unparsed(end)}` itself belongs"


def zero_differences(tree: ast.AST) -> set[str]:
    """The differences of two equal expressions (``x - x``) written in ``tree``, as code."""
    return {unparsed(n) for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Sub) and
            unparsed(n.left) == unparsed(n.right)}


def zeroed_difference(after: ast.AST, before: set[str]) -> str | None:
    """`` that makes `a - a` zero ...`` when an edit (giving the function ``after``) makes a difference of two equal
    expressions that the function (its :func:`zero_differences`: ``before``) did not have (``corr[x] - clean[x]``
    with ``clean`` for ``corr``): the edit passes because the term built from that difference vanishes, which is
    what its words should say."""
    new = zero_differences(after) - before
    return f"that makes `{min(new)}` zero: this difference feeds an extra term (drop it)" if new else None


def _one_entry(node: ast.Call) -> Iterator[tuple[ast.AST, str]]:
    """``x.gather(-1, idx).squeeze(-1)`` as ``x.sum(-1)``: one entry taken where the whole axis counts."""
    inner = node.func.value if is_method(node) else None
    if callee(node) == "squeeze" and isinstance(inner, ast.Call) and callee(inner) == "gather" and is_method(
            inner) and inner.args:
        yield ast.Call(ast.Attribute(inner.func.value, "sum", ast.Load()), inner.args[:1], []), \
            f"only the entry at `{unparsed(inner.args[1]) if len(inner.args) > 1 else 'the index'}` is taken where " \
            "the sum over that axis belongs (every entry of it counts)"


def _damped(node: ast.BinOp) -> Iterator[tuple[ast.AST, str]]:
    """``0.5 * g`` as ``0 * g``: a value scaled down where it is cut to zero."""
    if isinstance(node.op, ast.Mult):
        for const, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(const, ast.Constant) and type(const.value) is float and 0 < abs(const.value) < 1:
                yield ast.Call(ast.Attribute(ast.Name("torch", ast.Load()), "zeros_like", ast.Load()), [other], []), \
                    f"`{unparsed(other)}` is scaled by {const.value} where it is cut to zero (zeros, not a share)"


_CUTS = ("clamp", "clamp_min", "clamp_max", "clip", "relu")


def _partly_cut(node: ast.Call) -> Iterator[tuple[ast.AST, str]]:
    """``g.clamp_min(0)`` / ``torch.relu(g)`` as ``torch.zeros_like(g)``: one sign kept where all of ``g`` is cut."""
    name = callee(node)
    if name not in _CUTS:
        return
    value = node.func.value if is_method(node) else (node.args[0] if node.args else None)
    if isinstance(value, (ast.Name, ast.Attribute, ast.Subscript)):
        yield ast.Call(ast.Attribute(ast.Name("torch", ast.Load()), "zeros_like", ast.Load()), [value], []), \
            f"`{unparsed(node)}` keeps part of `{unparsed(value)}` (the values of one sign) where all of it is " \
            "cut to zero (zeros_like, not a clamp)"


def _rebound(node: ast.AST, scope: Scope) -> Iterator[tuple[ast.AST, str]]:
    """``head = value`` after ``head = act[:, :, h]`` as ``act[:, :, h] = value``: the name is rebound, the slice
    is never written."""
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
        return
    name, view = node.targets[0].id, scope.views.get(node.targets[0].id)
    if view is None or view is node.value or unparsed(view) == unparsed(node.value):
        return
    target = copy.deepcopy(view)
    target.ctx = ast.Store()
    yield ast.Assign([target], node.value), \
        f"`{name} = ...` only rebinds the name `{name}`: nothing is written into `{unparsed(view)}`, the slice " \
        f"`{name}` was taken from (assign into the slice itself)"


def _bound(node: ast.Call) -> Iterator[tuple[ast.AST, str]]:
    """``max(steps, 2)`` as ``steps``: a bound that changes the value it is given."""
    f = node.func
    if isinstance(f, ast.Name) and f.id in ("max", "min") and len(node.args) == 2 and not node.keywords:
        for keep, bound in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
            side = "below" if f.id == "max" else "above"
            yield keep, f"`{unparsed(node)}` changes `{unparsed(keep)}` when it is {side} `{unparsed(bound)}`: " \
                        "the bound is extra (use the value as given)"


def _one_branch(node: ast.IfExp) -> Iterator[tuple[ast.AST, str]]:
    """``a if cond else b`` as ``a`` (or ``b``): the condition is extra."""
    for keep, other in ((node.body, node.orelse), (node.orelse, node.body)):
        yield keep, f"the condition `{unparsed(node.test)}` is extra: every case takes `{unparsed(keep)}` (never " \
                    f"`{unparsed(other)}`)"


_SIZES = ("batch_size", "seq_len", "n_layers", "n_heads", "d_head", "n_ctx")


def _other_count(node: ast.AST, scope: Scope) -> Iterator[tuple[ast.AST, str]]:
    """A model's or task's size (``task.batch_size``) where the function's own count argument belongs (``steps``)."""
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and node.attr in _SIZES:
        for p in scope.int_params:
            yield ast.Name(p, ast.Load()), f"`{unparsed(node)}` is counted where the argument `{p}` belongs"


def recipe_edits(node: ast.AST, scope: Scope) -> Iterator[tuple[ast.AST, str]]:
    """``(replacement, words)`` for the recipes above that ``node`` is the root of."""
    yield from _order_stat(node)
    yield from _matmul(node)
    yield from _after_loop(node, scope)
    yield from _every_row(node, scope)
    yield from _other_count(node, scope)
    yield from _rebound(node, scope)
    if isinstance(node, ast.IfExp):
        yield from _one_branch(node)
    if isinstance(node, ast.BinOp):
        yield from _sum_over_count(node)
        yield from _max_normaliser(node)
        yield from _rescaled(node)
        yield from _midpoint(node)
        yield from _damped(node)
    if isinstance(node, ast.Call):
        yield from _low_precision(node)
        yield from _one_entry(node)
        yield from _partly_cut(node)
        yield from _bound(node)
