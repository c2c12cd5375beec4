"""The learner's function as an ``ast`` to edit one node at a time (:mod:`.edits`): its source, the
nodes of its body, one node replaced, and the edited line as the learner would read it (comments left out:
they are the learner's, not part of a diagnosis)."""

from __future__ import annotations

import ast
import copy
import inspect
import io
import textwrap
import tokenize
from typing import Callable

__all__ = ["function_source", "parents", "body_nodes", "replaced", "shown_lines", "unparsed", "code_only",
           "needs_parens"]


def unparsed(node: ast.AST) -> str:
    """``node`` as code ("?" where ``ast.unparse`` cannot print it); a node built by an edit gets the locations and
    the ``type_comment`` that ``unparse`` reads."""
    try:
        node = copy.deepcopy(node)
        for n in ast.walk(node):
            if "type_comment" in n._fields and not hasattr(n, "type_comment"):
                n.type_comment = None
        ast.fix_missing_locations(ast.Module([node if isinstance(node, ast.stmt) else ast.Expr(node)], []))
        return ast.unparse(node)
    except Exception:  # noqa: BLE001 - a node unparse cannot print
        return "?"


def function_source(fn: Callable) -> tuple[ast.Module, list[str], int] | None:
    """``(module holding only fn's def, its source lines, line offset in the learner's file)`` or None."""
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return None
    text = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    tree.body[0].decorator_list = []
    return tree, text.splitlines(), first - 1


def parents(tree: ast.AST) -> dict[int, tuple[ast.AST, str, int | None]]:
    """id(child) -> (parent, field, index in the field's list or None)."""
    out = {}
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for i, v in enumerate(value):
                    if isinstance(v, ast.AST):
                        out[id(v)] = (parent, name, i)
            elif isinstance(value, ast.AST):
                out[id(value)] = (parent, name, None)
    return out


def body_nodes(tree: ast.Module) -> list[ast.AST]:
    """The nodes of the function's body (not its signature or docstring), in a fixed order."""
    func = tree.body[0]
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return [n for stmt in body for n in ast.walk(stmt)]


def replaced(tree: ast.Module, index: int | list[tuple[int, ast.AST]], new: ast.AST | None = None) -> ast.Module | None:
    """A copy of ``tree`` with the ``index``-th body node replaced by ``new`` (deleted when None; None when it
    cannot be), or with each ``(index, new)`` of a list of expressions (none inside another) replaced."""
    out = copy.deepcopy(tree)
    nodes, up = body_nodes(out), parents(out)
    for i, node in [(index, new)] if isinstance(index, int) else index:
        parent, name, k = up[id(nodes[i])]
        if k is None:
            if node is None:
                return None
            setattr(parent, name, copy.deepcopy(node))
        elif node is None:
            seq = getattr(parent, name)
            del seq[k]
            if not seq:
                seq.append(ast.Pass())
        else:
            getattr(parent, name)[k] = copy.deepcopy(node)
    return ast.fix_missing_locations(out)


def code_only(line: str) -> str:
    """``line`` without its comment (a learner's comment is theirs, not part of the diagnosis)."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line).readline):
            if tok.type == tokenize.COMMENT:
                return line[: tok.start[1]].rstrip()
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return line.rstrip()


_PREC = {ast.Pow: 7, ast.Mult: 5, ast.Div: 5, ast.FloorDiv: 5, ast.Mod: 5, ast.MatMult: 5, ast.Add: 4, ast.Sub: 4,
         ast.LShift: 3, ast.RShift: 3, ast.BitAnd: 3, ast.BitXor: 3, ast.BitOr: 3}


def _binding(node: ast.AST) -> int:
    """How tightly an expression binds (higher: tighter; 99 for a name, call, constant, ...)."""
    if isinstance(node, ast.BinOp):
        return _PREC.get(type(node.op), 3)
    return {ast.UnaryOp: 6, ast.Compare: 2, ast.BoolOp: 1, ast.IfExp: 0, ast.Lambda: 0,
            ast.NamedExpr: 0}.get(type(node), 99)


def needs_parens(node: ast.AST, new: ast.AST, parent: ast.AST | None) -> bool:
    """Whether ``new``, written where ``node`` stands under ``parent``, must be put in parentheses."""
    p = _binding(new)
    if p == 99:
        return False
    if isinstance(parent, (ast.Attribute, ast.Subscript)) and node is parent.value or \
            isinstance(parent, ast.Call) and node is parent.func:
        return True
    if isinstance(parent, ast.UnaryOp):
        return p < 6
    if isinstance(parent, ast.BinOp):
        q = _PREC.get(type(parent.op), 3)
        return p < q or (p == q and node is parent.right)
    return isinstance(new, ast.BinOp) and not isinstance(node, ast.BinOp) and parent is None


def shown_lines(lines: list[str], node: ast.AST, new: ast.AST | None,
                parent: ast.AST | None = None) -> tuple[str, str] | None:
    """``(line as written, line edited)``, comments left out, when ``node`` (a child of ``parent``) sits on one
    line (else None); the edited part is put in parentheses where the operators around it need them."""
    if isinstance(parent, ast.JoinedStr) and new is not None:  # a piece of an f-string: show the whole f-string
        whole = copy.copy(parent)
        whole.values = [new if v is node else v for v in parent.values]
        return shown_lines(lines, parent, whole)
    ln = getattr(node, "lineno", None)
    block = new is None and isinstance(node, ast.stmt)  # a statement deleted: its first line is shown
    if isinstance(node, ast.IfExp) and ln is not None and new is not None and ln < node.end_lineno <= len(lines):
        return _spread(lines, node, new)
    if ln is None or (getattr(node, "end_lineno", ln) != ln and not block) or ln > len(lines):
        return None
    raw = code_only(lines[ln - 1]).encode()
    before = raw.decode().strip()
    if new is None:
        return before, ""
    a, b = node.col_offset, node.end_col_offset
    text = unparsed(new)
    wrapped = raw[:a].rstrip().endswith(b"(") and raw[b:].lstrip().startswith(b")")
    if not isinstance(node, ast.stmt) and not wrapped and needs_parens(node, new, parent):
        text = f"({text})"
    if isinstance(node, ast.GeneratorExp) and raw[a:a + 1] == b"(" and not text.startswith("("):
        text = f"({text})"  # a call's only argument: the generator's span includes the call's parentheses
    after = (raw[:a].decode(errors="replace") + text + raw[b:].decode(errors="replace")).strip()
    return (before, after) if after != before else None


def _spread(lines: list[str], node: ast.expr, new: ast.AST) -> tuple[str, str] | None:
    """``shown_lines`` for an expression written over several lines: those lines joined into one."""
    first, last = code_only(lines[node.lineno - 1]).encode(), code_only(lines[node.end_lineno - 1]).encode()
    before = " ".join(code_only(line).strip() for line in lines[node.lineno - 1:node.end_lineno])
    after = (first[:node.col_offset].decode(errors="replace").strip() + unparsed(new)
             + last[node.end_col_offset:].decode(errors="replace")).strip()
    return (before, after) if after != before else None
