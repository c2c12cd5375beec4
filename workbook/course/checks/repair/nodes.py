"""The one-node edits of a learner's function that :mod:`.edits` collects: ``node_edits`` gives, for one
node of the function's ``ast``, each replacement (``None`` deletes a statement) with the change in words.

What is tried, by kind of node:

- a call: a reduction swapped (sum / mean / median / max / min / std / var / logsumexp, a norm for a sum), an
  axis given to a reduction over everything, a sum over the last axis inserted, an extra ``abs`` / ``sign`` /
  transpose / ``sqrt`` / ``detach`` / clamp / rounding / cast to float64 / softmax / sigmoid dropped, a clamp
  where ``abs`` belongs, Python's built-in ``sum(x, dim=)`` made the tensor's ``.sum``, parentheses after a
  value (``x.shape()``) dropped, ``exp`` or ``sigmoid`` where ``softmax`` belongs, two arguments swapped, the
  last argument or a keyword dropped, a boolean keyword toggled, ``masked_fill``'s value 0;
- an operator: a difference's operands swapped, a term or factor dropped, ``+``/``-``, ``*``/``/``, ``//``, a
  power dropped, misplaced parentheses (``x / L - 1`` and ``x / (L - 1)``), ``@``'s operands swapped;
- a constant: an integer one up or down, another axis, einsum letters, a hook name's twin or another hook
  name of the function, a value written in where an argument of the function belongs, a fixed index where the
  enclosing loop's variable belongs, the loop's index on axis 0 where axis 1 or 2 belongs (``x[b]`` for ``x[:, b]``);
- a method named without its call (``x.clone``); ``&`` where ``*`` belongs; ``1 - mask`` for ``~mask``;
- a name or attribute: its twin (``clean``/``corr``, ``q``/``k``, ``n_layers``/``n_heads``, ``e_c``/``e_n``);
- ``zip(a, b)``: every pair (two nested loops);
- ``a or b``: ``a if a is not None else b`` (a tensor has no single truth value);
- a slice: a bound dropped, its bound on the other side (``[k:]`` for ``[:k]``), one index for a slice;
- a small recipe (:mod:`.recipes`): a median for a mean, a sum over a wrong count, a 16-bit cast, ``@`` for
  ``*``, a rescaling by norms, a loop variable read after its loop;
- a statement: an update or write deleted, ``+=`` and ``=``, a missing ``.clone()``, a discarded result, an
  in-place change made a new tensor, a skip or a hook's ``return`` deleted, the result's sign.
"""

from __future__ import annotations

import ast
import copy
from typing import Iterator

from workbook.course.checks.repair.names import STR_TWINS, TWINS, einsum_swaps, roles, swap_tokens
from workbook.course.checks.repair.recipes import recipe_edits
from workbook.course.checks.repair.scope import Scope, callee, is_method
from workbook.course.checks.repair.source import unparsed
from workbook.course.checks.repair.statements import statement_edits

__all__ = ["node_edits", "AXIS_CALLS"]

_REDUCE = {"sum": ("mean",), "mean": ("sum",), "median": ("mean",), "max": ("mean",), "min": ("mean",),
           "amax": ("mean",), "amin": ("mean",), "nanmean": ("sum",), "nansum": ("mean",), "std": ("mean",),
           "var": ("mean",), "logsumexp": ("sum",)}
_NOUN = {"sum": "a sum", "mean": "a mean", "median": "a median", "max": "a maximum", "min": "a minimum",
         "amax": "a maximum", "amin": "a minimum", "nanmean": "a mean", "nansum": "a sum",
         "std": "a standard deviation (the spread)", "var": "a variance (the spread)", "logsumexp": "a logsumexp"}
_ROUND = "the rounding is extra (it changes the values)"
_DROP_CALL = {"abs": "the absolute value |.| is extra (it drops the sign)", "neg": "the negation is extra",
              "sqrt": "the square root is extra", "square": "the square is extra", "t": "the transpose is extra",
              "transpose": "the transpose is extra (it swaps two axes)", "permute": "the permute is extra",
              "flip": "the flip is extra", "detach": "the detach is extra (it cuts the gradient)",
              "exp": "the exp is extra", "log": "the log is extra", "relu": "the relu is extra (it cuts off values)",
              **dict.fromkeys(("clamp", "clamp_min", "clip"), "the clamp is extra (it cuts off values)"),
              **dict.fromkeys(("round", "floor", "ceil", "trunc"), _ROUND),
              "item": "the .item() is extra (it takes a one-element tensor and gives a Python number)",
              "double": "the cast to float64 is extra (the model computes in float32)",
              **dict.fromkeys(("softmax", "log_softmax"), "the softmax is extra (the value it is applied to is "
                                                          "already normalised, or normalised twice)"),
              "sigmoid": "the sigmoid is extra", "tanh": "the tanh is extra",
              "sign": "the sign() is extra (it keeps only each entry's direction, +1 or -1, not its size)"}
#: element-wise maps written where a softmax over the last axis belongs
_NOT_SOFTMAX = {"exp": "an exp where a softmax belongs (exp without the division by the row's sum)",
                "sigmoid": "a sigmoid where a softmax belongs (each entry squashed on its own: the rows no longer "
                           "sum to 1)"}
#: attributes that hold a value (a tensor, a size, a number), never called
_VALUES = {"shape", "T", "mT", "grad", "data", "dtype", "device", "batch_size", "seq_len", "n_edges", "edge_mask",
           "n_layers", "n_heads", "d_head", "d_model", "n_ctx", "d_vocab"}
_BUILTIN_REDUCE = {"sum": "sum", "max": "amax", "min": "amin"}
#: tensor methods that take no argument where a learner writes them (``x.clone``, missing ``()``)
_METHODS = {"clone", "detach", "contiguous", "float", "abs", "exp", "item", "numel", "requires_grad_"}
_NORMS = ("norm", "vector_norm")
#: calls whose integer arguments are axes
AXIS_CALLS = {"sum", "mean", "softmax", "log_softmax", "transpose", "flip", "unsqueeze", "squeeze", "cat", "stack",
              "cumsum", "max", "min", "amax", "median", "norm", "argmax", "topk", "diff", "roll", "movedim",
              "vector_norm"}
_OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is",
        ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
_CMP_SWAP = {ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE), ast.Gt: (ast.GtE, ast.Lt),
             ast.GtE: (ast.Gt, ast.LtE), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.Is: (ast.IsNot,),
             ast.IsNot: (ast.Is,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,)}
_PARENS = "the parentheses are in the wrong place (`*` and `/` bind before `+` and `-`, left to right)"



def _reduction_edits(node: ast.Call, attr: str) -> Iterator[tuple[ast.AST, str]]:
    f = node.func
    for other in _REDUCE[attr]:
        new = copy.deepcopy(node)
        new.func.attr = other
        yield new, f"{_NOUN[attr]} where {_NOUN[other]} belongs"
    if attr in ("sum", "mean") and (node.args or node.keywords):
        yield (f.value if is_method(node) else node.args[0] if node.args else f.value), \
            f"{_NOUN[attr]} over that axis is extra"
    if len(node.args) >= 2 and is_method(node) and all(isinstance(a, ast.Constant) and type(a.value) is int
                                                      for a in node.args):
        yield ast.Call(f, [ast.Tuple(node.args, ast.Load())], node.keywords), \
            "the axis numbers must be one tuple: a second number is read as keepdim"
    if attr in ("sum", "mean") and is_method(node):
        if not (node.args or node.keywords):
            for axis in (0, -1):
                yield ast.Call(f, [ast.Constant(axis)], []), f"{_NOUN[attr]} over every axis where one axis belongs"
        inner = ast.Call(ast.Attribute(f.value, "sum", ast.Load()), [ast.Constant(-1)], [])
        yield ast.Call(ast.Attribute(inner, attr, ast.Load()), node.args, node.keywords), \
            "a sum over the last axis is missing"


def _norm_as_sum(node: ast.Call) -> ast.Call:
    """``x.norm(p, dim=...)`` / ``torch.linalg.vector_norm(x, ord, dim, keepdim)`` as the plain sum over those axes."""
    kws = [kw for kw in node.keywords if kw.arg in ("dim", "keepdim")]
    if is_method(node):
        args = node.args[1:2]
        return ast.Call(ast.Attribute(node.func.value, "sum", ast.Load()), args if not kws else [], kws)
    dims = [ast.keyword("dim", node.args[2])] if len(node.args) >= 3 else []
    return ast.Call(ast.Attribute(ast.Name("torch", ast.Load()), "sum", ast.Load()), node.args[:1], dims + kws)


def _call_edits(node: ast.Call) -> Iterator[tuple[ast.AST, str]]:
    f = node.func
    attr = callee(node)
    if attr in _REDUCE and isinstance(f, ast.Attribute):
        yield from _reduction_edits(node, attr)
    if attr in _NORMS and (node.args or is_method(node)):
        yield _norm_as_sum(node), "a norm where a sum belongs"
    if attr in _DROP_CALL:
        if is_method(node):
            yield f.value, _DROP_CALL[attr]
        elif node.args:
            yield node.args[0], _DROP_CALL[attr]
    if attr in _NOT_SOFTMAX and (is_method(node) or node.args):
        x = f.value if is_method(node) else node.args[0]
        yield ast.Call(ast.Attribute(x, "softmax", ast.Load()), [ast.Constant(-1)], []), _NOT_SOFTMAX[attr]
    if attr == "stack" and not is_method(node) and node.args:
        yield ast.Call(ast.Attribute(ast.Name("torch", ast.Load()), "tensor", ast.Load()), node.args[:1], []), \
            "torch.stack joins tensors: a list of Python numbers becomes one with torch.tensor"
    if len(node.args) == 1 and not node.keywords and isinstance(node.args[0], ast.BinOp) and isinstance(
            node.args[0].op, (ast.Sub, ast.Add)):
        a, b = node.args[0].left, node.args[0].right
        yield ast.BinOp(ast.Call(f, [a], []), node.args[0].op, ast.Call(f, [b], [])), \
            f"`{unparsed(f)}` is applied to the difference: apply it to each side, then subtract"
    if isinstance(f, ast.Name) and f.id in _BUILTIN_REDUCE and len(node.args) == 1 and node.keywords:
        yield ast.Call(ast.Attribute(node.args[0], _BUILTIN_REDUCE[f.id], ast.Load()), [], node.keywords), \
            f"Python's built-in {f.id}() where the tensor's .{_BUILTIN_REDUCE[f.id]}(dim=...) belongs"
    if isinstance(f, ast.Attribute) and f.attr in _VALUES and not (node.args or node.keywords):
        yield f, f"`.{f.attr}` holds a value, not a method: the parentheses are extra"
    if isinstance(f, ast.Name) and f.id == "zip" and len(node.args) == 2 and not node.keywords:
        pair = ast.Tuple([ast.Name("a_", ast.Load()), ast.Name("b_", ast.Load())], ast.Load())
        loops = [ast.comprehension(ast.Name(n, ast.Store()), arg, [], 0) for n, arg in zip(("a_", "b_"), node.args)]
        yield ast.ListComp(pair, loops), \
            "zip pairs the first with the first, the second with the second: every pair takes two nested loops"
    if attr == "range" and len(node.args) == 2:
        yield ast.Call(func=f, args=[node.args[1]], keywords=[]), "the loop should start at 0"
    yield from _argument_edits(node, attr)


def _argument_edits(node: ast.Call, attr: str | None) -> Iterator[tuple[ast.AST, str]]:
    f = node.func
    first = 1 if attr == "einsum" else 0
    for i in range(first, min(len(node.args), 5)):
        for j in range(i + 1, min(len(node.args), 5)):
            a, b = node.args[i], node.args[j]
            if unparsed(a) != unparsed(b):
                args = list(node.args)
                args[i], args[j] = b, a
                yield ast.Call(func=f, args=args, keywords=node.keywords), \
                    f"the arguments `{unparsed(a)}` and `{unparsed(b)}` are in the wrong order"
    if attr in ("relu", "clamp", "clamp_min", "clip") and is_method(node):
        yield ast.Call(ast.Attribute(f.value, "abs", ast.Load()), [], []), \
            "negative values are cut off where their size |.| belongs"
    if attr == "masked_fill" and len(node.args) == 2 and not (
            isinstance(node.args[1], ast.Constant) and node.args[1].value == 0):
        yield ast.Call(f, [node.args[0], ast.Constant(0.0)], node.keywords), \
            f"the fill value `{unparsed(node.args[1])}` where 0 belongs"
    if len(node.args) >= 2 and attr not in ("einsum", "range", "stack", "cat", "where"):
        yield ast.Call(func=f, args=node.args[:-1], keywords=node.keywords), \
            f"the argument `{unparsed(node.args[-1])}` is extra"
    for i, kw in enumerate(node.keywords):
        if kw.arg is not None and not (isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool)):
            yield ast.Call(func=f, args=node.args, keywords=node.keywords[:i] + node.keywords[i + 1:]), \
                f"`{kw.arg}={unparsed(kw.value)}` is extra"
        if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool):
            new = copy.deepcopy(node)
            if kw.arg == "keepdim" and kw.value.value:
                del new.keywords[i]
                yield new, "keepdim=True leaves a size-1 axis"
            else:
                new.keywords[i].value = ast.Constant(not kw.value.value)
                yield new, f"{kw.arg}={not kw.value.value} where {kw.arg}={kw.value.value} stands"


def _binop_edits(node: ast.BinOp) -> Iterator[tuple[ast.AST, str]]:
    op, a, b = node.op, node.left, node.right
    if isinstance(op, ast.Sub):
        yield ast.BinOp(b, ast.Sub(), a), "the two sides of this difference are swapped (its sign)"
        yield a, f"subtracting `{unparsed(b)}` is extra"
        yield ast.BinOp(a, ast.Add(), b), "a minus where a plus belongs"
    elif isinstance(op, ast.Add):
        yield a, f"adding `{unparsed(b)}` is extra"
        yield b, f"adding `{unparsed(a)}` is extra"
        yield ast.BinOp(a, ast.Sub(), b), "a plus where a minus belongs"
    elif isinstance(op, ast.Mult):
        yield a, f"the factor `{unparsed(b)}` is extra"
        yield b, f"the factor `{unparsed(a)}` is extra"
        yield ast.BinOp(a, ast.Div(), b), f"multiplied by `{unparsed(b)}` where it should be divided"
    elif isinstance(op, (ast.Div, ast.FloorDiv)):
        yield a, f"dividing by `{unparsed(b)}` is extra"
        if isinstance(op, ast.FloorDiv):
            yield ast.BinOp(a, ast.Div(), b), "floor division `//` (it rounds down) where `/` belongs"
        yield ast.BinOp(a, ast.Mult(), b), f"divided by `{unparsed(b)}` where it should be multiplied"
    elif isinstance(op, ast.Pow):
        root = " (a square root)" if isinstance(b, ast.Constant) and b.value == 0.5 else ""
        yield a, f"the power `** {unparsed(b)}`{root} is extra"
    elif isinstance(op, ast.MatMult):
        yield ast.BinOp(b, ast.MatMult(), a), "the two sides of @ are in the wrong order"
    elif isinstance(op, (ast.BitAnd, ast.BitOr)):
        sign = "&" if isinstance(op, ast.BitAnd) else "|"
        yield a, f"the mask `{unparsed(b)}` is extra" if sign == "&" else f"`| {unparsed(b)}` is extra"
        yield ast.BinOp(a, ast.Mult(), b), f"`{sign}` combines booleans: a 0/1 float mask is applied with `*`"
    if isinstance(op, ast.Sub) and isinstance(a, ast.Constant) and a.value == 1:
        yield ast.UnaryOp(ast.Invert(), b), f"a boolean mask is inverted with `~{unparsed(b)}`, not `1 - ...`"
    yield from _repeated_rows(node)
    yield from _regrouped(node)


def _repeated_rows(node: ast.BinOp) -> Iterator[tuple[ast.AST, str]]:
    """``[[0.0] * H] * L`` (L references to one list) as ``[[0.0] * H for _ in range(L)]``."""
    if isinstance(node.op, ast.Mult) and isinstance(node.left, ast.List) and len(node.left.elts) == 1 and \
            isinstance(node.left.elts[0], (ast.List, ast.BinOp, ast.ListComp)):
        loop = ast.comprehension(ast.Name("_", ast.Store()), ast.Call(ast.Name("range", ast.Load()), [node.right], []),
                                 [], 0)
        yield ast.ListComp(node.left.elts[0], [loop]), \
            "`[row] * n` repeats one list n times (every row is the same object): build each row in a comprehension"


def _regrouped(node: ast.BinOp) -> Iterator[tuple[ast.AST, str]]:
    """``(a o b) p c`` as ``a o (b p c)`` and back, where that changes the value (not ``+``/``+``, ``*``/``*``)."""
    same = (ast.Add, ast.Mult)
    left, right = node.left, node.right
    if isinstance(left, ast.BinOp) and not (type(left.op) is type(node.op) and isinstance(node.op, same)):
        yield ast.BinOp(left.left, left.op, ast.BinOp(left.right, node.op, right)), _PARENS
    if isinstance(right, ast.BinOp) and not (type(right.op) is type(node.op) and isinstance(node.op, same)):
        yield ast.BinOp(ast.BinOp(left, node.op, right.left), right.op, right.right), _PARENS


def _constant_edits(node: ast.Constant, parent: ast.AST | None, scope: Scope) -> Iterator[tuple[ast.AST, str]]:
    """An integer one up or down (not to 0 inside a sum: dropping the term says it), other axes; einsum letters;
    a hook name's twin or another hook name of the function; an argument of the function written in as a value."""
    v = node.value
    if isinstance(v, bool):
        return
    axis = (isinstance(parent, ast.Call) and callee(parent) in AXIS_CALLS and not (
        isinstance(parent.func, ast.Name) and parent.func.id in ("max", "min", "sum"))) or (
        isinstance(parent, ast.keyword) and parent.arg in ("dim", "axis")) or getattr(parent, "axes", False)
    if isinstance(v, int):
        in_sum = isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Add, ast.Sub))
        for w in (v + 1, v - 1):
            if not (w == 0 and in_sum):
                yield ast.Constant(w), f"{v} where {w} belongs (off by one)"
        if axis:
            for w in ((0, 1, 2, 3, -1, -2, -3) if v >= 0 else (-1, -2, -3, 0, 1, 2, 3)):  # the learner's sign first
                if w not in (v, v + 1, v - 1):
                    yield ast.Constant(w), f"axis {v} where axis {w} belongs"
    elif isinstance(v, str):
        if isinstance(parent, ast.Call) and callee(parent) == "einsum" and parent.args and parent.args[0] is node:
            for eq, words in einsum_swaps(v):
                yield ast.Constant(eq), f"einsum {words}"
        for a, b in STR_TWINS + [(y, x) for x, y in STR_TWINS]:
            if a in v and (a not in ("clean", "corrupt") or v == a):
                yield ast.Constant(v.replace(a, b)), f"{a} where {b} belongs"
        if v.strip() in ("inf", "-inf", "+inf"):
            w = "inf" if v.strip().startswith("-") else "-inf"
            yield ast.Constant(w), f"`{v}` where `{w}` belongs (the infinity's sign)"
        for other in scope.hooks:
            if v in scope.hooks and other != v:
                yield ast.Constant(other), f"the hook `{v}` where `{other}` belongs"
    for p, default in scope.params.items():  # the default written in, or another option of a string argument
        if not axis and type(default) is type(v) and (default == v) != isinstance(v, str):
            yield ast.Name(p, ast.Load()), f"`{v!r}` is written in where the argument `{p}` belongs"


def _index_edits(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[tuple[ast.AST, str]]:
    """A fixed index (``names[0]``, ``x[:, 0]``) where a variable of the loop around it belongs; the loop's index on
    axis 0 where axis 1 or 2 belongs (``x[b]`` for ``x[:, b]``, ``x[h]`` for ``x[:, :, h]``)."""
    loops = scope.loop_vars.get(id(node), [])
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and isinstance(node.slice, ast.Constant):
        for var, it in loops:
            if isinstance(it, ast.Name) and it.id == node.value.id:
                yield ast.Name(var, ast.Load()), f"`{unparsed(node)}` is fixed where the loop's `{var}` belongs"
    if isinstance(node, ast.Subscript) and isinstance(node.value, (ast.Name, ast.Attribute, ast.Subscript)) and any(
            isinstance(node.slice, ast.Name) and node.slice.id == var for var, _ in loops):
        for axis in (1, 2):
            lead = ", ".join([":"] * axis)
            yield ast.Subscript(node.value, ast.Tuple([ast.Slice()] * axis + [node.slice], ast.Load()), node.ctx), \
                f"`[{node.slice.id}]` indexes axis 0 where axis {axis} belongs (`[{lead}, {node.slice.id}]`)"
    if isinstance(node, ast.Constant) and type(node.value) is int and (
            isinstance(parent, ast.Subscript) or isinstance(parent, ast.Tuple) and getattr(parent, "index", False)):
        for var, _ in loops:
            yield ast.Name(var, ast.Load()), f"the index `{node.value}` is fixed where the loop's `{var}` belongs"


def _loop_entry_edits(node: ast.Call, parent: ast.AST | None, scope: Scope) -> Iterator[tuple[ast.AST, str]]:
    """A reduction over one axis where the loop's entry belongs (``x.mean(2)`` for ``x[:, :, h]``); in a hook, a
    ``.detach()`` where zeros belong (a detached tensor handed back carries the same values)."""
    attr = callee(node)
    if attr in _REDUCE and is_method(node) and len(node.args) == 1 and not node.keywords and isinstance(
            node.args[0], ast.Constant) and type(node.args[0].value) is int and 0 <= node.args[0].value <= 4:
        a = node.args[0].value
        for var, _ in reversed(scope.loop_vars.get(id(node), [])):  # the innermost loop first
            index = ast.Tuple([ast.Slice() for _ in range(a)] + [ast.Name(var, ast.Load())], ast.Load())
            yield ast.Subscript(node.func.value, index if a else index.elts[0], ast.Load()), \
                f"{_NOUN[attr]} over axis {a} where the loop's entry `{var}` belongs"
    in_return = isinstance(parent, (ast.Return, ast.IfExp))
    if attr == "detach" and is_method(node) and id(node) in scope.nested and in_return:
        yield ast.Call(ast.Attribute(ast.Name("torch", ast.Load()), "zeros_like", ast.Load()), [node.func.value], []), \
            "`.detach()` hands back the same values (it only cuts this tensor from the graph): zeros stop the gradient"


def _slice_edits(node: ast.Slice) -> Iterator[tuple[ast.AST, str]]:
    lo, up = node.lower, node.upper
    if lo is not None:
        yield ast.Slice(None, up, node.step), "the slice should start at the beginning"
    if up is not None:
        yield ast.Slice(lo, None, node.step), "the slice should run to the end"
    if lo is not None and up is None and node.step is None:
        yield ast.Slice(None, lo, None), f"the slice takes what comes from `{unparsed(lo)}` on where the first " \
            f"`{unparsed(lo)}` belong"
        yield lo, f"a slice from `{unparsed(lo)}` to the end where the one index `{unparsed(lo)}` belongs"
    if lo is None and up is not None and node.step is None:
        yield ast.Slice(up, None, None), f"the slice takes the first `{unparsed(up)}` where what comes after " \
            "them belongs"
    if lo is not None and isinstance(up, ast.BinOp) and isinstance(up.op, ast.Add) and unparsed(up.left) == \
            unparsed(lo) and isinstance(up.right, ast.Constant) and up.right.value == 1:
        yield lo, f"a slice `{unparsed(lo)}:{unparsed(up)}` (it keeps the axis) where the index `{unparsed(lo)}` " \
            "belongs"


def _compare_edits(node: ast.Compare) -> Iterator[tuple[ast.AST, str]]:
    for op in _CMP_SWAP[type(node.ops[0])]:
        new = ast.Compare(node.left, [op()], node.comparators)
        was, now = _OPS.get(type(node.ops[0]), "this test"), _OPS.get(op, "its negation")
        kind = ("the condition is inverted" if now in ("==", "!=", "is", "is not", "in", "not in") else
                "the comparison points the wrong way" if now.strip("=") != was.strip("=") else
                "the boundary case is off by one")
        yield new, f"{kind}: `{was}` where `{now}` belongs"


def node_edits(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[tuple[ast.AST | None, str]]:
    """``(replacement or None to delete, words)`` for one node of the function's body."""
    if isinstance(node, ast.Call):
        yield from _call_edits(node)
        yield from _loop_entry_edits(node, parent, scope)
        if isinstance(parent, ast.withitem) and callee(node) in ("no_grad", "inference_mode"):
            yield ast.parse("torch.enable_grad()", mode="eval").body, "it runs under torch.no_grad(): no gradient"
    elif isinstance(node, ast.BinOp):
        if isinstance(parent, ast.Subscript) and parent.slice is node and isinstance(node.op, (ast.Add, ast.Sub)) \
                and isinstance(node.right, ast.Constant) and node.right.value == 1:
            side = "before" if isinstance(node.op, ast.Sub) else "after"
            yield node.left, f"`{unparsed(parent)}` reads the entry {side} `{unparsed(parent.value)}" \
                             f"[{unparsed(node.left)}]`: an index off by one (the neighbouring layer's, position's " \
                             "or head's entry)"
        yield from _binop_edits(node)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        yield node.operand, "the minus sign is extra" if isinstance(node.op, ast.USub) else "the `not` is extra"
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMP_SWAP:
        yield from _compare_edits(node)
    elif isinstance(node, ast.Constant):
        yield from _constant_edits(node, parent, scope)
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        for other in dict.fromkeys(swap_tokens(node.id, scope.names)):
            yield ast.Name(other, ast.Load()), f"`{node.id}` where `{other}` belongs{roles(node.id, other)}"
    elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
        if node.attr in _METHODS and not (isinstance(parent, ast.Call) and parent.func is node):
            yield ast.Call(node, [], []), f"`.{node.attr}` is the method itself: its call `()` is missing"
        if node.attr in ("T", "mT"):
            yield node.value, "the transpose is extra"
        for a, b in TWINS + [(y, x) for x, y in TWINS]:
            if node.attr == a and len(a) > 1:
                yield ast.Attribute(node.value, b, ast.Load()), f"`.{a}` where `.{b}` belongs"
    elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        if isinstance(node, ast.GeneratorExp) and isinstance(parent, ast.Call):
            yield ast.ListComp(node.elt, node.generators), "a generator where a list belongs (write it in [...])"
        for g, gen in enumerate(node.generators):
            for i, cond in enumerate(gen.ifs):
                new = copy.deepcopy(node)
                del new.generators[g].ifs[i]
                yield new, f"the filter `if {unparsed(cond)}` is extra"
    elif isinstance(node, ast.Slice):
        yield from _slice_edits(node)
    elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) == 2:
        a, b = node.values
        yield ast.IfExp(ast.Compare(a, [ast.IsNot()], [ast.Constant(None)]), a, b), \
            "`or` asks a tensor for one True/False: test a missing value with `is None`"
    yield from _index_edits(node, parent, scope)
    yield from recipe_edits(node, scope)
    yield from statement_edits(node, scope)
