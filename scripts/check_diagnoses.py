#!/usr/bin/env python
"""The mistakes a learner check can name, read from its source code (no check is run).

    python scripts/check_diagnoses.py check_atp_heads check_eap    # print their diagnoses

A learner check (``workbook/checks/``, or any ``def check_...`` under ``workbook/``) names a
likely mistake through ``CheckFailed("...")``, ``(variant key or predicate, "message")`` pairs
or string-valued dicts (``{"sign": "the sign is flipped ..."}``). :func:`diagnoses` collects
those messages from the check, from the same-module functions it calls (binding constant
arguments, so ``_check_qk(fn, "q")`` renders its f-strings with ``kind = "q"``) and from the
module constants it names (also those it imports from another module of the package). Parts of an f-string that are not constant print as ``…``.
``scripts/workshop_docs.py`` puts them in the instructor guide, so the guide follows the checks.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERIC = (re.compile(r"values differ from the reference"), re.compile(r"contains NaN or inf"))
PLACEHOLDER = "…"


def _render(node: ast.AST, env: dict) -> str | None:
    """A message string from a str constant, f-string or ``+`` of them (unknown parts -> '…')."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
            else:
                value = _evaluate(v.value, env)
                parts.append(PLACEHOLDER if value is None else str(value))
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _render(node.left, env), _render(node.right, env)
        return None if left is None or right is None else left + right
    return None


def _evaluate(node: ast.AST, env: dict):
    """Evaluate constants, names bound to constants, comparisons and ``a if c else b``; else None."""
    allowed = (ast.Expression, ast.Constant, ast.Name, ast.Load, ast.IfExp, ast.Compare, ast.Eq, ast.NotEq,
               ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not)
    if not all(isinstance(n, allowed) for n in ast.walk(node)):
        return None
    if any(isinstance(n, ast.Name) and n.id not in env for n in ast.walk(node)):
        return None
    try:
        return eval(compile(ast.Expression(node), "<diagnosis>", "eval"), {"__builtins__": {}}, dict(env))
    except Exception:
        return None


def _clean(message: str) -> str | None:
    message = " ".join(message.split())
    message = re.sub(r"^[^:]*" + PLACEHOLDER + r"[^:]*:\s+", "", message, count=1)  # drop a "case …:" label
    words = re.sub(PLACEHOLDER, " ", message).split()
    if len(words) < 4 or any(g.search(message) for g in GENERIC):
        return None
    return message


class _Module:
    def __init__(self, path: Path):
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        self.functions = {n.name: n for n in self.tree.body if isinstance(n, ast.FunctionDef)}
        self.constants = {t.id: n.value for n in self.tree.body if isinstance(n, ast.Assign)
                          for t in n.targets if isinstance(t, ast.Name)}
        root = next((p for p in path.parents if (p / "workbook").is_dir()), None)
        for n in self.tree.body:  # message tables imported from another module of the package (checks/edge_hints.py)
            if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("workbook.") and root is not None:
                other = root / (n.module.replace(".", "/") + ".py")
                if other.is_file():
                    theirs = _Module(other).constants
                    self.constants.update({a.name: theirs[a.name] for a in n.names
                                           if a.name in theirs and a.name not in self.constants})

    def messages(self, fn: ast.FunctionDef, env: dict, seen: set, out: list) -> None:
        if fn.name in seen:
            return
        seen = seen | {fn.name}
        env = dict(env)
        for stmt in fn.body:  # straight-line constant assignments, e.g. noun = "query" if kind == "q" else "key"
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                value = _evaluate(stmt.value, env)
                if value is not None:
                    env[stmt.targets[0].id] = value
        self._collect(fn, env, seen, out)

    def _collect(self, tree: ast.AST, env: dict, seen: set, out: list) -> None:
        in_source_order = sorted(ast.walk(tree), key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
        for node in in_source_order:
            candidates = []
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "CheckFailed" and node.args:
                    candidates.append(node.args[0])
                elif node.func.id in self.functions:
                    callee = self.functions[node.func.id]
                    params = [a.arg for a in callee.args.args]
                    bound = {p: _evaluate(a, env) for p, a in zip(params, node.args)}
                    bound.update({k.arg: _evaluate(k.value, env) for k in node.keywords if k.arg})
                    self.messages(callee, {k: v for k, v in bound.items() if v is not None}, seen, out)
            elif isinstance(node, ast.Tuple) and len(node.elts) == 2:
                candidates.append(node.elts[1])  # (variant key or predicate, message)
            elif isinstance(node, ast.Dict):
                candidates.extend(node.values)
            elif isinstance(node, ast.Name) and node.id in self.constants and node.id not in seen:
                seen = seen | {node.id}
                self._collect(self.constants[node.id], env, seen, out)
            for c in candidates:
                text = _render(c, env)
                message = _clean(text) if text else None
                if message and message not in out:
                    out.append(message)


def find_check(name: str, root: Path = ROOT) -> tuple[Path, "_Module"]:
    """The one module under ``workbook/`` that defines ``def name``."""
    hits = [p for p in sorted((root / "workbook").rglob("*.py"))
            if re.search(rf"^def {re.escape(name)}\(", p.read_text(encoding="utf-8"), re.M)]
    if len(hits) != 1:
        raise LookupError(f"learner check {name!r} is defined in {len(hits)} modules under workbook/: {hits}")
    return hits[0], _Module(hits[0])


def diagnoses(name: str, root: Path = ROOT) -> list[str]:
    """Every specific mistake the learner check ``name`` can name, read from its source.

    Messages come from ``CheckFailed(...)`` calls, ``(key, message)`` pairs and string-valued
    dicts in the check, in the same-module functions it calls and the module constants it uses.
    The catch-all "values differ from the reference" is left out: it names no mistake.
    """
    _, module = find_check(name, root)
    out: list[str] = []
    module.messages(module.functions[name], {}, set(), out)
    return out


if __name__ == "__main__":
    for check in sys.argv[1:]:
        print(check)
        for message in diagnoses(check):
            print("  -", message)
