"""Crash reports about the objects a learner's failing line handed over (part of :func:`.crash.explain_crash`).

* :func:`wrong_argument`: the error was raised inside a function that the learner's line called, and one of
  that call's parameters holds an object of another type than its annotation (a Tensor where a ``Task``
  belongs, a list where a ``str`` belongs; an unannotated ``task``, ``tokens`` or ``scores`` by the workbook's
  naming convention): an argument in the wrong place or the wrong object. Read off the callee's own frame (its
  bound parameters), never by calling anything.
* :func:`missing_axis`: a reshape inside the model that fails because a tensor handed back (by a hook) lacks
  one axis;
* :func:`wrong_value`: a ``dict`` met by ``+`` or handed where one tensor belongs, ``torch.tensor`` of a
  dict's values, a string used in arithmetic, a class called without the arguments of its constructor where a
  ``from_...`` constructor builds it from something else;
* :func:`empty_list`: ``torch.cat``/``torch.stack`` of an empty list (the loop that fills it never ran);
* :func:`int_key`: a dict keyed by hook names looked up with an integer (a layer number).
"""

from __future__ import annotations

import builtins
import inspect
import re
import types

import torch

from workbook.core.scores import Scores
from workbook.core.task import Task

__all__ = ["wrong_argument", "wrong_value", "missing_axis", "empty_list", "int_key", "CONVENTION"]

#: the workbook's parameter names that always hold one kind of object, for functions that leave them unannotated
CONVENTION = {"task": "Task", "tokens": "torch.Tensor", "scores": "Scores"}
_KNOWN = {"Task": Task, "Scores": Scores, "torch": torch}


def _resolve(name: str, space: dict) -> type | None:
    """The class an annotation names (``Task``, ``torch.Tensor``, ``list``) in the callee's module, or None."""
    head = name.split(".")[0]
    obj = space.get(head, _KNOWN.get(head, getattr(builtins, head, None)))
    for part in name.split(".")[1:]:
        obj = getattr(obj, part, None)
    if not inspect.isclass(obj) or getattr(obj, "__module__", "") in ("typing", "collections.abc", "typing_extensions"):
        return None  # typing's special forms (Any, Sequence) are no classes to test against
    return obj


def _accepts(annotation: str, value, space: dict) -> bool | None:
    """Whether ``value`` fits the annotation written as ``annotation`` (None when a part of it does not name a
    class of the callee's module: a protocol, an alias or a type variable says too little)."""
    kinds = [re.sub(r"\[.*", "", a.strip()) for a in annotation.split("|")]
    if value is None or "None" in kinds:  # optional parameters are left to the other reports
        return None
    classes = [_resolve(k, space) for k in kinds]
    if not classes or any(c is None or c is object for c in classes):
        return None
    if float in classes and isinstance(value, int):
        return True
    return isinstance(value, tuple(classes))


def _shown(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a Tensor of shape {list(value.shape)}"
    text = repr(value)
    return f"a {type(value).__name__} " + (text if len(text) <= 50 else text[:47] + "...")


def wrong_argument(err: BaseException, learner: types.FrameType) -> str | None:
    """A parameter of the function called from the learner's failing line that holds an object of another type
    than its annotation, read from the first frame after ``learner`` in ``err``'s traceback."""
    tb = err.__traceback__
    while tb is not None and tb.tb_frame is not learner:
        tb = tb.tb_next
    callee = tb.tb_next.tb_frame if tb is not None and tb.tb_next is not None else None
    if callee is None:
        return None
    fn = callee.f_globals.get(callee.f_code.co_name)
    if not inspect.isfunction(fn) or fn.__code__ is not callee.f_code:
        return None
    sig = inspect.signature(fn)
    wrong = []
    for name, p in sig.parameters.items():
        ann = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", None)
        if p.annotation is inspect.Parameter.empty:
            ann = CONVENTION.get(name)
        if not ann or name not in callee.f_locals:
            continue
        if _accepts(ann, callee.f_locals[name], callee.f_globals) is False:
            value = callee.f_locals[name]
            hint = (" (the tokens instead of the task?)" if ann == "Task" and isinstance(value, torch.Tensor) else
                    " (the task instead of its tokens, task.clean?)" if isinstance(value, Task) and "Tensor" in ann
                    else "")
            wrong.append(f"`{name}` got {_shown(value)} where a {ann} belongs{hint}")
    if not wrong:
        return None
    params = ", ".join(sig.parameters)
    return (f"the call {fn.__name__}({params}) on this line got the wrong object: " + "; ".join(wrong) +
            ". An argument is in the wrong position, or another object was passed where that one belongs: pass "
            "each by keyword to be sure.")


def wrong_value(err: BaseException, line: str, values: dict[str, object], scope: dict[str, object]) -> str | None:
    """What an error about an operand or a constructor says about the values on the failing ``line``."""
    text = str(err)
    if re.search(r"unsupported operand type\(s\) for [^:]+: '\w+' and 'dict'|'dict' and '\w+'", text):
        return ("a dict cannot be added to a number or to another dict: add the tensors it holds entry by entry "
                "({k: total[k] + grads[k] for k in grads}), or turn each dict into one tensor first (stack its "
                "entries) and add the tensors.")
    if "Could not infer dtype of dict_values" in text or "Could not infer dtype of dict_keys" in text:
        return ("torch.tensor takes a list (of numbers or tensors), not a dict's .values() view: write "
                "torch.tensor([d[n] for n in names]) in the order of your names (a dict's values follow the order "
                "in which its entries were added, which need not be that order).")
    if isinstance(err, TypeError) and re.search(r"(but )?got dict\b|not dict\b|'dict' object", text):
        dicts = [n for n, v in values.items() if isinstance(v, dict) and re.search(rf"\b{n}\b", line)]
        if dicts:
            d = values[dicts[0]]
            keys = ", ".join(repr(k) for k in list(d)[:2]) + (", ..." if len(d) > 2 else "")
            dest = any(re.search(r"_input$|hook_mlp_in$|resid_post$", str(k)) for k in d)
            helper = f"graph.stack_dest_grads({dicts[0]})" if dest else f"graph.stack_sources({dicts[0]})"
            return (f"`{dicts[0]}` is a dict ({keys}: one tensor per hook), used where one tensor belongs: stack "
                    f"its entries into one tensor first, in the graph's order: {helper} (a dict of "
                    f"{'destination gradients' if dest else 'source activations'}).")
    m = re.search(r"argument of type '(\w+)' is not iterable", text)
    found = re.search(r"\bin\s+([A-Za-z_]\w*)\b", line) if m else None
    if found and found.group(1) in values:
        v = values[found.group(1)]
        return (f"`{found.group(1)}` is {_shown(v)} here, and `x in {found.group(1)}` needs a string or a collection: "
                f"a {type(v).__name__} reached a place where a name (a str) belongs (values taken for names, e.g. a "
                f"dict's .values() where its keys belong, or a list of scores where a list of names belongs?).")
    if isinstance(err, TypeError):
        for name, v in values.items():
            if isinstance(v, str) and re.search(rf"(?<![\w.])({name}\s*[*/+\-@]|[*/+\-@]\s*{name}\b)", line):
                return (f"`{name}` is the string {v!r} here, used in arithmetic: a number or tensor belongs there "
                        f"(the value computed from `{name}`, not `{name}` itself?).")
    m = re.search(r"(\w+)\.__init__\(\) missing \d+ required positional argument", text)
    cls = scope.get(m.group(1)) if m else None
    if inspect.isclass(cls):
        makers = [n for n, a in vars(cls).items() if n.startswith("from_") and isinstance(a, classmethod)]
        if makers:
            alt = " or ".join(f"{cls.__name__}.{n}(...)" for n in makers)
            return (f"{cls.__name__}(...) builds the object from all its parts ({cls.__name__}"
                    f"{inspect.signature(cls)}); to build it from what you have, use its constructor {alt}.")
    return None


def missing_axis(text: str, dims: dict[str, int]) -> str | None:
    """``shape '[16, 12, 4, 16]' is invalid for input of size 3072``: the tensor lacks one axis of that shape (a
    hook that handed back a slice of its activation), named in the model's sizes."""
    m = re.search(r"shape '\[([-\d, ]+)\]' is invalid for input of size (\d+)", text)
    if not m:
        return None
    shape, n = [int(x) for x in m.group(1).split(",")], int(m.group(2))
    for i, size in enumerate(shape):
        rest = shape[:i] + shape[i + 1:]
        if size > 1 and all(x > 0 for x in rest) and torch.Size(rest).numel() == n:
            named = [k for k, v in dims.items() if v == size]
            what = f"{size} = {' or '.join(named)}" if named else str(size)
            return (f"a tensor that should be {shape} has {n} entries: it lacks axis {i} (size {what}). A hook "
                    f"must hand back its whole activation, with the shape it received: a hook that returns a slice "
                    f"(act[:, :, h]) instead of the edited activation, or a sum, mean or index that dropped that "
                    f"axis, gives the model a tensor it cannot reshape.")
    return None


def empty_list(text: str, values: dict[str, object], dims: dict[str, int]) -> str | None:
    """``torch.cat``/``torch.stack`` of an empty list: which list on the line is empty, and why a loop fills none."""
    if "non-empty" not in text:
        return None
    empty = [n for n, v in values.items() if isinstance(v, (list, tuple)) and not v and not n.startswith("_")]
    which = f"`{empty[0]}` is empty" if empty else "the list is empty"
    batch = f" (B = {dims['batch']} here)" if "batch" in dims else ""
    return (f"{which} when it is joined: the loop that fills it never ran on this test model, or its condition never "
            f"held. A range that is empty on a small batch{batch} (an integer division such as B // k that rounds "
            "down to 0) skips every pair, and a batch cut into chunks must keep the last, shorter chunk (the "
            "remainder): every prompt pair counts.")


def int_key(err: BaseException, values: dict[str, object]) -> str | None:
    """A ``KeyError`` for an integer on a dict keyed by hook names: a layer number used where its hook's name
    belongs."""
    key = err.args[0] if isinstance(err, KeyError) and err.args else None
    if not isinstance(key, int) or isinstance(key, bool):
        return None
    named = [(n, v) for n, v in values.items() if isinstance(v, dict) and v and all(
        isinstance(k, str) for k in v) and key not in v]
    if not named:
        return None
    n, d = named[0]
    return (f"`{n}` is keyed by hook names (e.g. {list(d)[0]!r}), and you looked it up with the integer {key} (a "
            f"layer number): build that layer's hook name (names[{key}], or the f-string with the layer in it) and "
            "look that up.")
