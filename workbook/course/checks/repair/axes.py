"""What the axis of a one-line fix holds: the repair's words made concrete on a test case.

A fix such as ``g = grads[pats[l]].mean(-2, keepdim=True)`` -> ``g = grads[pats[l]]`` says "a mean over that
axis is extra"; which axis that is, in the model's terms, is what tells the learner why. :func:`axis_note`
runs the learner's own (unedited) function once on the first test case the check builds, under
``sys.settrace`` (only frames of the function's own lines, nested hooks included), and reads the shape of the
value the axis call reduces at that line. The test models have a distinct size for each dimension (batch,
positions, layers, heads, d_head, d_model, vocabulary), so each size names its axis; the two trailing
position axes of an attention pattern or score are its query rows and key columns. A count quoted in the
fix's words and read on that line (``e_c.shape[1]`` in "dividing by `e_c.shape[1]` is extra") is named the same
way ("7 on a test case: the number of positions"). Nothing is guessed from names: a size shared by two
dimensions is given as both. Skipped while another tracer (a debugger, coverage) is active, and for
expressions that are not plain reads (a call could change state).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import inspect
import io
import re
import sys
import warnings
from typing import Callable

import torch

from workbook.arch.graph import Graph
from workbook.core.task import Task
from workbook.course.checks.quick import quick_mode
from workbook.course.checks.repair.edits import Edit
from workbook.course.checks.repair.meaning import meaning
from workbook.course.checks.repair.nodes import AXIS_CALLS
from workbook.course.checks.repair.scope import callee, is_method
from workbook.course.checks.repair.source import unparsed

__all__ = ["described", "axis_note", "axis_labels"]

_PLAIN = (ast.Name, ast.Attribute, ast.Subscript, ast.Constant, ast.Slice, ast.Tuple, ast.Load, ast.keyword,
          ast.JoinedStr, ast.FormattedValue,
          ast.UnaryOp, ast.unaryop, ast.BinOp, ast.operator, ast.Compare, ast.cmpop)
#: calls that only compute (no state changes), allowed inside an operand that is read again
_PURE = {"einsum", "masked_fill", "softmax", "log_softmax", "sum", "mean", "norm", "flatten", "view", "reshape",
         "permute", "transpose", "abs", "exp", "log", "clamp", "clamp_min", "matmul", "stack", "cat", "unsqueeze",
         "squeeze", "float", "double", "detach", "clone", "tril", "triu", "ones", "zeros", "stack_sources",
         "stack_dest_grads", "sqrt", "square", "pow", "where", "amax", "max", "min"}


class _Stop(Exception):
    """Raised by the spy after its one traced call, to end the check early."""


def _axis_calls(line: str) -> list[tuple[str, int]]:
    """``(operand source, axis)`` of each axis call on ``line`` whose axis is an integer constant (the first argument
    of a method, or ``dim=``) and whose operand is a plain read: it may call only the pure functions of ``_PURE``."""
    try:
        tree = ast.parse(line.strip().rstrip(":") if line.strip().endswith(":") else line.strip())
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and callee(node) in AXIS_CALLS and is_method(node)):
            continue
        operand = node.func.value
        first = node.args[0] if node.args else None
        axis = next((kw.value for kw in node.keywords if kw.arg in ("dim", "axis")), first)
        if isinstance(axis, ast.UnaryOp) and isinstance(axis.op, ast.USub) and isinstance(axis.operand, ast.Constant):
            axis = ast.Constant(-axis.operand.value)
        if isinstance(axis, ast.Constant) and type(axis.value) is int and all(
                isinstance(n, (*_PLAIN, ast.expr_context)) or (isinstance(n, ast.Call) and callee(n) in _PURE)
                for n in ast.walk(operand)):
            found.append((unparsed(operand), axis.value))
    return found


def axis_labels(shape: tuple[int, ...], model, task: Task) -> list[str]:
    """A word per axis of ``shape`` from the sizes of ``model`` and ``task`` ("batch", "pos", "head", ...; a size
    that several dimensions share gets all their words joined by "/"); the last two position axes of a value
    with two are "query" and "key"."""
    cfg = model.cfg
    sizes = {"batch": task.batch_size, "pos": task.seq_len, "layer": cfg.n_layers, "head": cfg.n_heads,
             "d_head": cfg.d_head, "d_model": cfg.d_model, "vocab": cfg.d_vocab}
    kv = getattr(cfg, "n_key_value_heads", None)
    if kv and kv != cfg.n_heads:  # grouped-query attention: keys and values have their own head count
        sizes["kv head"] = kv
    with contextlib.suppress(Exception):  # the edge graph's sources and destinations (EAP's [n_src, n_dst, ...])
        graph = Graph.from_model(model)
        sizes.update(source=len(graph.sources), destination=len(graph.destinations))
    words = ["/".join(dict.fromkeys(k for k, v in sizes.items() if v == size)) or "?" for size in shape]
    if len(shape) >= 2 and words[-2:] == ["pos", "pos"]:
        words[-2:] = ["query", "key"]
    return words


def _plain(text: str) -> bool:
    """Whether ``text`` is an expression that only reads values (names, items, attributes, arithmetic and the
    pure calls of ``_PURE``), so evaluating it once more changes nothing."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    return all(isinstance(n, (*_PLAIN, ast.expr_context, ast.Expression)) or (
        isinstance(n, ast.Call) and callee(n) in _PURE) for n in ast.walk(tree))


def _traced_values(fn: Callable, line: int, exprs: list[str], args: tuple, kwargs: dict) -> dict[str, object]:
    """Each of ``exprs`` evaluated where ``line`` of ``fn``'s file is about to run (first time), in ``fn(*args)``:
    ``{expr: its shape (a tensor) or its number (an int, or a one-number tensor)}``."""
    code = fn.__code__
    try:
        last = code.co_firstlineno + len(inspect.getsourcelines(fn)[0])
    except (OSError, TypeError):
        return {}
    compiled = {e: compile(e, "<read again>", "eval") for e in exprs}
    got: dict[str, object] = {}

    def local(frame, event, arg):
        if event == "line" and frame.f_lineno == line and not got:
            for e, c in compiled.items():
                with contextlib.suppress(Exception):
                    value = eval(c, frame.f_globals, frame.f_locals)  # noqa: S307 - a plain read (_plain)
                    got[e] = (value.item() if value.numel() == 1 and not value.is_floating_point() else
                              tuple(value.shape)) if isinstance(value, torch.Tensor) else value
        return local

    def tracer(frame, event, arg):
        c = frame.f_code
        return local if c.co_filename == code.co_filename and code.co_firstlineno <= c.co_firstlineno < last else None

    sys.settrace(tracer)
    try:
        with contextlib.suppress(Exception):
            fn(*args, **kwargs)
    finally:
        sys.settrace(None)
    return got


def _first_case(check: Callable[[Callable], None], fn: Callable, line: int, exprs: list[str]) -> tuple:
    """``(values of exprs at line, model, task)`` on the first test case the check runs ``fn`` on."""
    seen: dict = {}

    def spy(*args, **kwargs):
        model = next((a for a in args if hasattr(a, "cfg")), None)
        task = next((a for a in (*args, *kwargs.values()) if isinstance(a, Task)), None)
        if model is not None and task is not None and not seen:
            seen.update(values=_traced_values(fn, line, exprs, args, kwargs), model=model, task=task)
        raise _Stop

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), quick_mode():
        warnings.simplefilter("ignore")
        with contextlib.suppress(Exception):
            check(spy)
    return seen.get("values", {}), seen.get("model"), seen.get("task")


def described(check: Callable[[Callable], None], fn: Callable, edit: Edit) -> Edit:
    """``edit`` with its words made concrete on a test case: "over that axis" becomes "over the heads (axis 2)", and
    what the changed axis holds and what a quoted count counts are added (:func:`axis_note`), and what the change
    means for the method where its line shows it (:func:`~.meaning.meaning`)."""
    note, axis_words = axis_note(check, fn, edit)
    words = edit.words.replace("over that axis", f"over {axis_words}") if axis_words else edit.words
    notes = [n for n in (meaning(fn, edit), note) if n]
    return dataclasses.replace(edit, words=words + "".join("; " + n for n in notes))


def axis_note(check: Callable[[Callable], None], fn: Callable, edit: Edit) -> tuple[str, str]:
    """``(words, axis)`` on what ``edit`` changes, read on a test case: the axis it changes or drops ("axis -2 of `g`
    holds the query positions: [batch 6, head 5, query 7, key 7] on a test case"; ``axis``: "the query positions
    (axis -2)"), and a quoted count in its words that is one of the model's or task's sizes ("`e.shape[1]` is 7 on a
    test case: the number of positions"); ``("", "")`` when there is none or it cannot be read."""
    if sys.gettrace() is not None or not edit.before:
        return "", ""
    after = set(_axis_calls(edit.after)) if edit.after else set()
    changed = [c for c in _axis_calls(edit.before) if c not in after]
    moved = [c for c in changed if c[0] in {o for o, _ in after}]  # the call whose own axis changed (its operand
    axis_call = changed[0] if len(changed) == 1 else moved[0] if len(moved) == 1 else None  # reads the same)
    quoted = [q for q in dict.fromkeys(re.findall(r"`([^`]+)`", edit.words)) if q in edit.before and _plain(q)
              and not (q.isidentifier() and q in ("torch", "model", "task"))]
    zeroed = _zeroed_indices(edit.words)
    exprs = ([axis_call[0]] if axis_call else []) + quoted + ([zeroed[0]] if zeroed else [])
    if not exprs:
        return "", ""
    values, model, task = _first_case(check, fn, edit.line, exprs)
    notes, axis_words = [], ""
    if zeroed and isinstance(values.get(zeroed[0]), tuple):
        notes.append(_zeroed_words(zeroed, values[zeroed[0]], model, task))
    shape = values.get(axis_call[0]) if axis_call else None
    if isinstance(shape, tuple) and -len(shape) <= axis_call[1] < len(shape):
        notes.append(_axis_words(axis_call, shape, after, model, task))
        held = axis_labels(shape, model, task)[axis_call[1]]
        axis_words = f"{_what(held).split(' (')[0]} (axis {axis_call[1]})"
    for q in quoted:
        v = values.get(q)
        if isinstance(v, int) and not isinstance(v, bool) and v > 1 and q != str(v):
            held = [w for w in axis_labels((v,), model, task)[0].split("/") if w != "?"]
            if held:
                notes.append(f"`{q}` is {v} on a test case: the number of {' / '.join(map(_plural, held))}")
    return "; ".join(n for n in notes if n), axis_words


def _zeroed_indices(words: str) -> tuple[str, list[tuple[int, int]]] | None:
    """For "it sets `g[:, 0]` to 0": ``("g", [(axis 1, index 0)])``, the fixed indices of the zeroed entries."""
    found = re.search(r"it sets `([^`]+)` to 0", words)
    node = ast.parse(found.group(1), mode="eval").body if found and _plain(found.group(1)) else None
    if not isinstance(node, ast.Subscript):
        return None
    parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    if any(isinstance(p, ast.Constant) and p.value is Ellipsis for p in parts):
        return None
    fixed = [(i, p.value) for i, p in enumerate(parts) if isinstance(p, ast.Constant) and type(p.value) is int]
    return (unparsed(node.value), fixed) if fixed else None


def _zeroed_words(zeroed: tuple[str, list[tuple[int, int]]], shape: tuple[int, ...], model, task: Task) -> str:
    base, fixed = zeroed
    words = axis_labels(shape, model, task)
    if any(i >= len(shape) for i, _ in fixed):
        return ""
    one = {"pos": "position", "batch": "prompt pair", "query": "query position", "key": "key position"}
    which = " and ".join(f"{one.get(words[i], words[i])} {k}" for i, k in fixed)
    dims = ", ".join(f"{w} {s}" for w, s in zip(words, shape))
    return f"those entries of `{base}` are {which}: {which} is zeroed ([{dims}] on a test case)"


def _axis_words(call: tuple[str, int], shape: tuple[int, ...], after: set, model, task: Task) -> str:
    operand, axis = call
    words = axis_labels(shape, model, task)
    dims = ", ".join(f"{w} {s}" for w, s in zip(words, shape))
    value = f"`{operand}`" if len(operand) <= 50 else "the value it works on"
    note = f"axis {axis} of {value} holds {_what(words[axis])}: [{dims}] on a test case"
    instead = [a for o, a in after if o == operand and a != axis and -len(shape) <= a < len(shape)]
    return note + (f"; the fix uses axis {instead[0]}, {_what(words[instead[0]])}" if len(instead) == 1 else "")


def _plural(word: str) -> str:
    return {"batch": "prompt pairs", "pos": "positions", "head": "heads", "layer": "layers",
            "kv head": "key/value heads", "source": "edge sources", "destination": "edge destinations"}.get(word, word)


def _what(word: str) -> str:
    return {"query": "the query positions (one row per query)", "key": "the key positions (one column per key)",
            "pos": "the positions", "batch": "the prompt pairs", "head": "the heads", "layer": "the layers",
            "source": "the edge sources", "destination": "the edge destinations"}.get(
        word, f"the {word} axis")
