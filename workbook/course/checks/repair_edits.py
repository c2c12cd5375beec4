"""The one-line edits that :mod:`.repair` tries on a learner's function (:func:`edits`).

Generic Python and PyTorch edits of one node of the function's own source (the ``ast`` of
``inspect.getsource``; its signature and docstring are left alone): a reduction swapped (sum / mean /
median / max / min), an extra ``abs``, transpose, ``sqrt`` or ``detach`` dropped, an integer one up or
down, another axis, two letters of an einsum term swapped, a twin name (``clean_q`` / ``corr_q``, ``q`` /
``k``), attribute (``.clean`` / ``.corrupt``, ``n_layers`` / ``n_heads``) or hook name (``hook_q`` /
``hook_k``), a difference's operands swapped, a term or factor dropped, ``*`` for ``/``, a comparison
loosened, tightened or negated, a slice bound dropped, a boolean keyword toggled, an accumulation (``+=``)
made an assignment or back, an extra statement deleted, the result's sign. Each :class:`Edit` carries the
edited module, the line as written and as edited (comments left out: they are the learner's, not a
diagnosis) and the change in words. Lines inside a ``while`` test are never edited (no edit may loop).
"""


from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from typing import Callable, Iterator

from workbook.course.checks.repair_source import body_nodes, function_source, parents, replaced, shown_lines, unparsed

__all__ = ["Edit", "edits"]

_REDUCE = {"sum": ("mean",), "mean": ("sum",), "median": ("mean",), "max": ("mean",), "min": ("mean",),
           "amax": ("mean",), "amin": ("mean",), "nanmean": ("sum",), "nansum": ("mean",)}
_NOUN = {"sum": "a sum", "mean": "a mean", "median": "a median", "max": "a maximum", "min": "a minimum",
         "amax": "a maximum", "amin": "a minimum", "nanmean": "a mean", "nansum": "a sum"}
_DROP_CALL = {"abs": "the absolute value |.| is extra (it drops the sign)", "neg": "the negation is extra",
              "sqrt": "the square root is extra", "square": "the square is extra", "t": "the transpose is extra",
              "transpose": "the transpose is extra (it swaps two axes)", "permute": "the permute is extra",
              "flip": "the flip is extra", "detach": "the detach is extra (it cuts the gradient)",
              "exp": "the exp is extra", "log": "the log is extra", "relu": "the relu is extra (it cuts off values)",
              **dict.fromkeys(("clamp", "clamp_min", "clip"), "the clamp is extra (it cuts off values)")}
_AXIS_CALLS = {"sum", "mean", "softmax", "log_softmax", "transpose", "flip", "unsqueeze", "squeeze", "cat", "stack",
               "cumsum", "max", "min", "amax", "median", "norm", "argmax", "topk", "diff", "roll", "movedim"}
_TWINS = [("clean", "corrupt"), ("clean", "corr"), ("q", "k"), ("k", "v"), ("q", "v"), ("src", "dst"),
          ("first", "last"), ("start", "end"), ("n_layers", "n_heads"), ("n_heads", "n_kv_heads"),
          ("d_head", "d_model"), ("pre", "post"), ("in", "out"), ("clean_answer", "corrupt_answer"), ("L", "H"),
          ("B", "T"), ("l", "h"), ("i", "j"), ("t", "s")]
_COPY_SUFFIX = re.compile(r"^(?P<base>\w+?)(_?\d+|_new|_patched|_p|_orig|_copy)$")  # k2 / k, q_new / q
_STR_TWINS = [("hook_q", "hook_k"), ("hook_k", "hook_v"), ("hook_q", "hook_v"), ("resid_pre", "resid_post"),
              ("resid_pre", "resid_mid"), ("mlp_in", "mlp_out"), ("attn_out", "mlp_out"), ("hook_z", "hook_result"),
              ("hook_pattern", "hook_attn_scores"), ("clean", "corrupt")]
_OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_CMP_SWAP = {ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE), ast.Gt: (ast.GtE, ast.Lt),
             ast.GtE: (ast.Gt, ast.LtE), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.Is: (ast.IsNot,),
             ast.IsNot: (ast.Is,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,)}


@dataclass
class Edit:
    """One candidate: the learner's line ``line`` (in their file) as written (``before``) and edited
    (``after``; "" when the line is deleted), in ``words``, and the edited module (one function)."""

    line: int
    before: str
    after: str
    words: str
    tree: ast.Module

    def describe(self) -> str:
        change = (f"deleting line {self.line} (`{self.before}`)" if not self.after else
                  f"line {self.line}, `{self.before}` -> `{self.after}`")
        return f"one change makes your function pass every test case: {change} ({self.words})."


def _swap_tokens(name: str, names: set[str]) -> Iterator[str]:
    """Names in ``names`` that are ``name`` with one ``_``-separated part (or the whole) replaced by its twin."""
    parts = name.split("_")
    for a, b in _TWINS + [(y, x) for x, y in _TWINS]:
        if name == a and b in names:
            yield b
        for i, p in enumerate(parts):
            if p == a:
                cand = "_".join(parts[:i] + [b] + parts[i + 1:])
                if cand in names and cand != name:
                    yield cand
    m = _COPY_SUFFIX.match(name)  # an edited copy and its original: k2 / k, q_new / q, new_q / q
    for other in names:
        if other != name and (m and m.group("base") == other or _COPY_SUFFIX.match(other) and
                              _COPY_SUFFIX.match(other).group("base") == name or other in (f"new_{name}",) or
                              name == f"new_{other}"):
            yield other


_ROLE = {"clean": "the clean run's values", "corr": "the corrupt run's values", "corrupt": "the corrupt run's values",
         "q": "the queries", "k": "the keys", "v": "the values", "src": "the source's values",
         "dst": "the destination's values", "pre": "the block's input", "post": "the block's output"}


def _roles(a: str, b: str) -> str:
    """``": the corrupt run's values read where the clean run's belong"`` for twin names, else ""."""
    pa, pb = a.split("_"), b.split("_")
    diff = [(x, y) for x, y in zip(pa, pb) if x != y] if len(pa) == len(pb) else []
    if len(diff) != 1 or diff[0][0] not in _ROLE or diff[0][1] not in _ROLE:
        return ""
    x, y = diff[0]
    return f": {_ROLE[x]} read where {_ROLE[y]} belong"


def _einsum_swaps(s: str) -> Iterator[tuple[str, str]]:
    """Equations with two letters of one term swapped, then with one letter of a term replaced by another letter of
    the equation (a d_head letter written twice as d and e)."""
    lhs, _, rhs = s.partition("->")
    terms = lhs.split(",") + [rhs]
    yield from _einsum_transpositions(terms)
    letters = sorted({c for c in s if c.isalpha()})
    for t, term in enumerate(terms):
        for i, c in enumerate(term):
            for other in letters:
                if c.isalpha() and other not in term:
                    ts = terms[:t] + [term[:i] + other + term[i + 1:]] + terms[t + 1:]
                    yield ",".join(ts[:-1]) + "->" + ts[-1], f"`{c}` where `{other}` belongs in `{term}`"


def _einsum_transpositions(terms: list[str]) -> Iterator[tuple[str, str]]:
    for t, term in enumerate(terms):
        for i in range(len(term)):
            for j in range(i + 1, len(term)):
                if term[i] == term[j] or not (term[i].isalpha() and term[j].isalpha()):
                    continue
                new = term[:i] + term[j] + term[i + 1:j] + term[i] + term[j + 1:]
                ts = terms[:t] + [new] + terms[t + 1:]
                yield ",".join(ts[:-1]) + "->" + ts[-1], f"the letters {term[i]} and {term[j]} of `{term}` swapped"


def _call_edits(node: ast.Call) -> Iterator[tuple[ast.AST, str]]:
    f = node.func
    attr = f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else None)
    on_module = isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in ("torch", "F", "np")
    if attr in _REDUCE and isinstance(f, ast.Attribute):
        for other in _REDUCE[attr]:
            new = copy.deepcopy(node)
            new.func.attr = other
            yield new, f"{_NOUN[attr]} where {_NOUN[other]} belongs"
        if attr in ("sum", "mean") and (node.args or node.keywords):
            yield (node.args[0] if on_module and node.args else f.value), f"{_NOUN[attr]} over that axis is extra"
    if attr in _DROP_CALL:
        if isinstance(f, ast.Attribute) and not on_module:
            yield f.value, _DROP_CALL[attr]
        elif node.args:
            yield node.args[0], _DROP_CALL[attr]
    if attr == "range" and len(node.args) == 2:
        yield ast.Call(func=f, args=[node.args[1]], keywords=[]), "the loop should start at 0"
    first = 1 if attr == "einsum" else 0
    for i in range(first, min(len(node.args), 5)):
        for j in range(i + 1, min(len(node.args), 5)):
            a, b = node.args[i], node.args[j]
            if unparsed(a) != unparsed(b):
                args = list(node.args)
                args[i], args[j] = b, a
                yield ast.Call(func=f, args=args, keywords=node.keywords), \
                    f"the arguments `{unparsed(a)}` and `{unparsed(b)}` are in the wrong order"
    if attr in ("relu", "clamp", "clamp_min", "clip") and isinstance(f, ast.Attribute) and not on_module:
        yield ast.Call(ast.Attribute(f.value, "abs", ast.Load()), [], []), \
            "negative values are cut off where their size |.| belongs"
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


def _constant_edits(node: ast.Constant, axis: bool, in_sum: bool) -> Iterator[tuple[ast.AST, str]]:
    """An integer one up or down (not to 0 inside a sum: dropping the term says it), other axes; einsum letters
    swapped; a hook name's twin."""
    v = node.value
    if isinstance(v, bool):
        return
    if isinstance(v, int):
        for w in (v + 1, v - 1):
            if not (w == 0 and in_sum):
                yield ast.Constant(w), f"{v} where {w} belongs (off by one)"
        if axis:
            for w in ((0, 1, 2, 3, -1, -2, -3) if v >= 0 else (-1, -2, -3, 0, 1, 2, 3)):  # the learner's sign first
                if w not in (v, v + 1, v - 1):
                    yield ast.Constant(w), f"axis {v} where axis {w} belongs"
    elif isinstance(v, str):
        if "->" in v and "," in v.split("->")[0] + ",":
            for eq, words in _einsum_swaps(v):
                yield ast.Constant(eq), f"einsum {words}"
        for a, b in _STR_TWINS + [(y, x) for x, y in _STR_TWINS]:
            if a in v and (a not in ("clean", "corrupt") or v == a):
                yield ast.Constant(v.replace(a, b)), f"{a} where {b} belongs"


def _node_edits(node: ast.AST, parent: ast.AST | None, names: set[str], in_loop: bool) -> Iterator[tuple]:
    """``(replacement or None to delete, words)`` for one node."""
    if isinstance(node, ast.Call):
        yield from _call_edits(node)
        if isinstance(parent, ast.withitem) and _callee(node) in ("no_grad", "inference_mode"):
            yield ast.parse("torch.enable_grad()", mode="eval").body, "it runs under torch.no_grad(): no gradient"
    elif isinstance(node, ast.BinOp):
        yield from _binop_edits(node)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        yield node.operand, "the minus sign is extra" if isinstance(node.op, ast.USub) else "the `not` is extra"
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMP_SWAP:
        for op in _CMP_SWAP[type(node.ops[0])]:
            new = ast.Compare(node.left, [op()], node.comparators)
            was, now = _OPS.get(type(node.ops[0]), "this test"), _OPS.get(op, "its negation")
            kind = ("the condition is inverted" if now in ("==", "!=", "its negation") else
                    "the comparison points the wrong way" if now.strip("=") != was.strip("=") else
                    "the boundary case is off by one")
            yield new, f"{kind}: `{was}` where `{now}` belongs"
    elif isinstance(node, ast.Constant):
        axis = (isinstance(parent, ast.Call) and _callee(parent) in _AXIS_CALLS) or (
            isinstance(parent, ast.keyword) and parent.arg in ("dim", "axis")) or getattr(parent, "axes", False)
        in_sum = isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Add, ast.Sub))
        yield from _constant_edits(node, axis, in_sum)
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        for other in dict.fromkeys(_swap_tokens(node.id, names)):
            yield ast.Name(other, ast.Load()), f"`{node.id}` where `{other}` belongs{_roles(node.id, other)}"
    elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
        if node.attr in ("T", "mT"):
            yield node.value, "the transpose is extra"
        for a, b in _TWINS + [(y, x) for x, y in _TWINS]:
            if node.attr == a and len(a) > 1:
                yield ast.Attribute(node.value, b, ast.Load()), f"`.{a}` where `.{b}` belongs"
    elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        for g, gen in enumerate(node.generators):
            for i, cond in enumerate(gen.ifs):
                new = copy.deepcopy(node)
                del new.generators[g].ifs[i]
                yield new, f"the filter `if {unparsed(cond)}` is extra"
    elif isinstance(node, ast.Slice):
        if node.lower is not None:
            yield ast.Slice(None, node.upper, node.step), "the slice should start at the beginning"
        if node.upper is not None:
            yield ast.Slice(node.lower, None, node.step), "the slice should run to the end"
    yield from _statement_edits(node, in_loop)


def _statement_edits(node: ast.AST, in_loop: bool) -> Iterator[tuple]:
    if isinstance(node, ast.AugAssign):
        yield None, "this update is extra"
        yield ast.Assign([node.target], node.value), "it accumulates (+=) where it should assign (=)"
        if isinstance(node.op, (ast.Add, ast.Sub)):
            flip = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
            yield ast.AugAssign(node.target, flip, node.value), "the update has the wrong sign"
    elif isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        if isinstance(target, ast.Name) and any(isinstance(n, ast.Name) and n.id == target.id
                                                for n in ast.walk(node.value)):
            yield None, "this reassignment is extra"
        if isinstance(target, ast.Name) and isinstance(node.value, (ast.Subscript, ast.Name)):
            yield ast.Assign([target], ast.Call(ast.Attribute(node.value, "clone", ast.Load()), [], [])), \
                f"`{target.id}` is the stored tensor itself, not a copy: editing it in place changes where it " \
                "came from (.clone() it)"
        if in_loop and isinstance(target, (ast.Subscript, ast.Name)):
            yield ast.AugAssign(target, ast.Add(), node.value), "it assigns (=) where it should accumulate (+=)"
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and _callee(node.value) != "print":
        yield None, "this call is extra"
        f = node.value.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and not f.attr.endswith("_"):
            yield ast.Assign([ast.Name(f.value.id, ast.Store())], node.value), \
                f"the result of `.{f.attr}(...)` is thrown away: it returns a new tensor, it does not change " \
                f"`{f.value.id}` in place"

    elif isinstance(node, ast.If) and len(node.body) == 1 and isinstance(node.body[0], (ast.Continue, ast.Break)):
        yield None, "this skip is extra"
    elif isinstance(node, ast.Return) and node.value is not None:
        yield ast.Return(ast.UnaryOp(ast.USub(), node.value)), "the result has the wrong sign"


def _callee(call: ast.Call) -> str | None:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else None)


def edits(fn: Callable) -> list[Edit]:
    """Every one-node edit of ``fn``'s body (see the module docstring), most common slips first; of two edits
    that give the same function, only the first."""
    got = function_source(fn)
    if got is None:
        return []
    tree, lines, offset = got
    nodes = body_nodes(tree)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {a.arg for a in ast.walk(tree)
                                                                       if isinstance(a, ast.arg)}
    up_of = parents(tree)
    loops = {id(n) for loop in ast.walk(tree) if isinstance(loop, (ast.For, ast.While))
             for stmt in loop.body for n in ast.walk(stmt)}
    whiles = {id(n) for loop in ast.walk(tree) if isinstance(loop, ast.While) for n in ast.walk(loop.test)}
    for node in nodes:  # a tuple of axes: (1, 3) in x.sum((1, 3)) or dim=(1, 3)
        up = up_of.get(id(node), (None,))[0]
        if isinstance(node, ast.Tuple) and ((isinstance(up, ast.Call) and _callee(up) in _AXIS_CALLS) or (
                isinstance(up, ast.keyword) and up.arg in ("dim", "axis"))):
            node.axes = True
    out = []
    for i, node in enumerate(nodes):
        if id(node) in whiles:
            continue
        parent = up_of.get(id(node), (None,))[0]
        for new, words in _node_edits(node, parent, names, id(node) in loops):
            shown = shown_lines(lines, node, new)
            if shown is None:
                continue
            edited = replaced(tree, i, new)
            if edited is not None:
                out.append(Edit(node.lineno + offset, shown[0], shown[1], words, edited))
    seen: set[str] = set()  # two edits that give the same function (range(0, L) / range(L) aside) are run once
    unique = []
    for e in sorted(out, key=lambda e: _rank(e.words)):
        key = ast.dump(e.tree)
        if key not in seen:
            seen.add(key)
            unique.append(e)
    return unique


_RANK = (r"^einsum `", r"where a (mean|sum)|median|maxim|minim", r"axis|keepdim|transpose|permute|einsum the letters",
         r"off by one", r"where `|belongs", r"sign|swapped|wrong order|absolute|clamp|filter", r"extra")


def _rank(words: str) -> int:
    """Most common slips first; an einsum letter replaced by another (many candidates, rarer) last."""
    k = next((k for k, p in enumerate(_RANK) if re.search(p, words)), len(_RANK))
    return len(_RANK) + 1 if k == 0 else k


