"""The edits that :mod:`.search` tries on a learner's function (:func:`edits`).

Generic Python and PyTorch edits of one node of the function's own source (the ``ast`` of
``inspect.getsource``; its signature and docstring are left alone), listed in :mod:`.nodes`: a reduction
swapped, an extra call dropped, an integer one up or down, another axis, einsum letters, a twin name or hook, a
difference's operands swapped, a term dropped, misplaced parentheses, a slice's bound, a fixed index where the
loop's variable belongs, a statement deleted, ... When the same slip is written in several places (the same
slice on both sides of an assignment, the same ``.exp()`` in the clean and the patched pattern), the edit is also
tried in all of them at once. Each :class:`Edit` carries the edited module, the first line as written and as
edited (comments left out: they are the learner's, not a diagnosis), the other lines it changes and the change in
words. Lines inside a ``while`` test are never edited (no edit may loop).
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from typing import Callable

from workbook.course.checks.repair.nodes import AXIS_CALLS, node_edits
from workbook.course.checks.repair.recipes import zero_differences, zeroed_difference
from workbook.course.checks.repair.scope import Scope, callee
from workbook.course.checks.repair.source import (
    body_nodes,
    code_only,
    function_source,
    needs_parens,
    parents,
    replaced,
    shown_lines,
    unparsed,
)
from workbook.course.checks.repair.statements import moves

__all__ = ["Edit", "edits"]


@dataclass
class Edit:
    """One candidate: the learner's line ``line`` (in their file) as written (``before``) and edited
    (``after``; "" when the line is deleted), in ``words``, the edited module (one function), and the other
    lines the same change is made on (``also``), for a deleted statement how many lines it spans (``span``), and
    where a moved line goes (``moved``)."""

    line: int
    before: str
    after: str
    words: str
    tree: ast.Module
    also: tuple[int, ...] = ()
    span: int = 1
    moved: str = ""

    def describe(self) -> str:
        where = f"line {self.line}" + (f" (and the same change on line {', '.join(map(str, self.also))})"
                                       if self.also else "")
        block = f" and the {'block' if self.before.endswith(':') else 'lines'} under it" if self.span > 1 else ""
        change = (f"moving line {self.line} (`{self.before}`) {self.moved}" if self.moved else
                  f"deleting line {self.line} (`{self.before}`){block}" if not self.after else
                  f"{where}, `{self.before}` -> `{self.after}`")
        return f"one change makes your function pass every test case: {change} ({self.words})."


def _scope(tree: ast.Module, nodes: list[ast.AST]) -> Scope:
    """What :func:`~.nodes.node_edits` reads about the function around each node."""
    func = tree.body[0]
    scope = Scope(names={n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} |
                  {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)})
    args = func.args.posonlyargs + func.args.args
    for a, d in zip(args[len(args) - len(func.args.defaults):], func.args.defaults):
        if isinstance(d, ast.Constant) and type(d.value) in (int, float, str):
            scope.params[a.arg] = d.value
    scope.int_params = [a.arg for a in args if (isinstance(a.annotation, ast.Name) and a.annotation.id == "int") or
                        type(scope.params.get(a.arg)) is int]
    scope.hooks = list(dict.fromkeys(n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(
        n.value, str) and re.fullmatch(r"(blocks\.\d+\.)?(\w+\.)?hook_\w+", n.value)))
    for loop in ast.walk(func):
        if isinstance(loop, ast.Assign) and len(loop.targets) == 1 and isinstance(loop.targets[0], ast.Name) \
                and isinstance(loop.value, ast.Subscript):
            scope.views.setdefault(loop.targets[0].id, loop.value)
        if isinstance(loop, (ast.For, ast.While)):
            scope.in_loop |= {id(n) for stmt in loop.body for n in ast.walk(stmt)}
        if isinstance(loop, ast.For) and isinstance(loop.target, ast.Name):
            it = loop.iter
            if isinstance(it, ast.Call) and callee(it) == "range" and len(it.args) == 1:
                scope.loop_counts[loop.target.id] = it.args[0]
            for stmt in loop.body:
                for n in ast.walk(stmt):
                    scope.loop_vars.setdefault(id(n), []).append((loop.target.id, loop.iter))
        if isinstance(loop, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            for gen in loop.generators:
                if isinstance(gen.target, ast.Name):
                    for part in (loop.elt,) if not isinstance(loop, ast.DictComp) else (loop.key, loop.value):
                        for n in ast.walk(part):
                            scope.loop_vars.setdefault(id(n), []).append((gen.target.id, gen.iter))
        if isinstance(loop, (ast.FunctionDef, ast.Lambda)) and loop is not func:
            scope.nested |= {id(n) for n in ast.walk(loop)}
    return scope


def _mark(nodes: list[ast.AST], up_of: dict) -> None:
    """Tuples of axes (``x.sum((1, 3))``, ``dim=(1, 3)``) and tuples of indices (``x[:, 0]``)."""
    for node in nodes:
        if not isinstance(node, ast.Tuple):
            continue
        up, name, _ = up_of.get(id(node), (None, None, None))
        if (isinstance(up, ast.Call) and callee(up) in AXIS_CALLS) or (
                isinstance(up, ast.keyword) and up.arg in ("dim", "axis")):
            node.axes = True
        if isinstance(up, ast.Subscript) and name == "slice":
            node.index = True


def edits(fn: Callable) -> list[Edit]:
    """Every one-node edit of ``fn``'s body (see the module docstring), most common slips first, each slip written
    in several places also tried in all of them; of two edits that give the same function, only the first."""
    got = function_source(fn)
    if got is None:
        return []
    tree, lines, offset = got
    nodes = body_nodes(tree)
    up_of = parents(tree)
    _mark(nodes, up_of)
    scope = _scope(tree, nodes)
    whiles = {id(n) for loop in ast.walk(tree) if isinstance(loop, ast.While) for n in ast.walk(loop.test)}
    out, sites, kth = [], {}, {}
    zeros = zero_differences(tree)
    for i, node in enumerate(nodes):
        if id(node) in whiles:
            continue
        parent = up_of.get(id(node), (None,))[0]
        for new, words in node_edits(node, parent, scope):
            shown = shown_lines(lines, node, new, parent)
            if shown is None:
                continue
            edited = replaced(tree, i, new)
            zeroed = zeroed_difference(edited, zeros) if edited is not None and new is not None else None
            words = f"{words}; {zeroed}" if zeroed else words  # a twin or an index that turns a difference into x - x
            if edited is not None:
                span = node.end_lineno - node.lineno + 1 if new is None else 1
                out.append(Edit(node.lineno + offset, shown[0], shown[1], words, edited, span=span))
                if new is not None and isinstance(node, ast.expr):  # the k-th edit in these words of each site
                    kth[i, words] = kth.get((i, words), -1) + 1
                    key = (words, kth[i, words], callee(node) if isinstance(node, ast.Call) else
                           ast.dump(node.slice) if isinstance(node, ast.Subscript) else
                           (type(node.op).__name__, ast.dump(node.right)) if isinstance(node, ast.BinOp) else
                           ast.dump(node))
                    sites.setdefault(key, []).append((i, node, new, len(out) - 1, parent))
    out = _with_every_site(out, sites, tree, nodes, lines, offset)
    for stmt, loop, where, words in moves(tree.body[0]):
        to = (f"into the loop on line {loop.lineno + offset} (its first line)" if where == "into start" else
              f"into the loop on line {loop.lineno + offset} (its last line)" if where == "into end" else
              f"out of the loop on line {loop.lineno + offset}, to just after it")
        out.append(Edit(stmt.lineno + offset, code_only(lines[stmt.lineno - 1]).strip(), "", words,
                        _moved(tree, nodes.index(stmt), nodes.index(loop), where), moved=to))
    seen: set[str] = set()  # two edits that give the same function (range(0, L) / range(L) aside) are run once
    unique = []
    for e in sorted(out, key=lambda e: _rank(e.words)):
        key = ast.dump(e.tree)
        if key not in seen:
            seen.add(key)
            unique.append(e)
    return unique


def _with_every_site(out: list[Edit], sites: dict, tree: ast.Module, nodes: list, lines: list[str],
                     offset: int) -> list[Edit]:
    """``out`` with, after the first edit of each slip found in several places (not one inside another), the
    edit that makes it in all of them."""
    extra: dict[int, Edit] = {}
    for (words, _, _), group in sites.items():
        inside = {id(n) for _, node, _, _, _ in group for n in ast.walk(node) if n is not node}
        if len(group) < 2 or any(id(node) in inside for _, node, _, _, _ in group):
            continue
        edited = replaced(tree, [(i, new) for i, _, new, _, _ in group])
        first = group[0]
        before, after = _shown_sites(lines, [(node, new, up) for _, node, new, _, up in group
                                             if node.lineno == first[1].lineno])
        also = tuple(dict.fromkeys(node.lineno + offset for _, node, _, _, _ in group
                                   if node.lineno != first[1].lineno))
        n = len(group)
        extra[first[3]] = Edit(first[1].lineno + offset, before, after, f"{words}; written {n} times, changed in all",
                               edited, also)
    return [e for j, edit in enumerate(out) for e in ((edit, extra[j]) if j in extra else (edit,))]


def _moved(tree: ast.Module, stmt: int, loop: int, where: str) -> ast.Module:
    """A copy of ``tree`` with body node ``stmt`` moved to the start or end of the loop ``loop`` or out after it."""
    out = copy.deepcopy(tree)
    ns, up = body_nodes(out), parents(out)
    s, lp = ns[stmt], ns[loop]
    parent, field, k = up[id(s)]
    getattr(parent, field).pop(k)
    if where == "into start":
        lp.body.insert(0, s)
    elif where == "into end":
        lp.body.append(s)
    else:
        if not lp.body:
            lp.body.append(ast.Pass())
        parent, field, k = up[id(lp)]
        getattr(parent, field).insert(k + 1, s)
    return ast.fix_missing_locations(out)


def _shown_sites(lines: list[str], changes: list[tuple[ast.AST, ast.AST, ast.AST]]) -> tuple[str, str]:
    """One line as written and with each of its ``(node, new, parent)`` changes made (right to left), comments left
    out."""
    first = changes[0][0]
    before, _ = shown_lines(lines, first, changes[0][1])
    raw = lines[first.lineno - 1].encode()
    for node, new, parent in sorted(changes, key=lambda c: -c[0].col_offset):
        text = unparsed(new)
        if needs_parens(node, new, parent):
            text = f"({text})"
        raw = raw[:node.col_offset] + text.encode() + raw[node.end_col_offset:]
    return before, code_only(raw.decode(errors="replace")).strip()


_RANK = (r"^einsum `", r"where a (mean|sum)|median|maxim|minim", r"axis|keepdim|transpose|permute|einsum the letters",
         r"off by one|slice", r"where `|belongs", r"sign|swapped|wrong order|absolute|clamp|filter|^the mask `",
         r"extra")


#: edits made only where one particular construct stands (a built-in sum with dim=, `x.shape()`, zip, `or`):
#: few candidates, each a well-known slip, so they are tried first
_FIRST = (r"built-in|holds a value, not a method|cast to float64|`or` asks|zip pairs|a generator where|"
          r"torch.stack joins|its call `\(\)` is missing|`[&|]` combines|inverted with `~")


def _rank(words: str) -> int:
    """Most common slips first; an einsum letter replaced by another (many candidates, rarer) last, unless the
    letter is in no other term (an axis summed on its own: rarely meant)."""
    if re.search(_FIRST, words):
        return -1
    if words.startswith("einsum `") and "summed on its own" in words:
        return 2
    k = next((k for k, p in enumerate(_RANK) if re.search(p, words)), len(_RANK))
    return len(_RANK) + 1 if k == 0 else k
