"""When the learner's function raises: say what the values on the failing line were, in the model's sizes.

A bare ``RuntimeError: The size of tensor a (6) must match the size of tensor b (2)`` tells a
learner little. :func:`explain_crash` reads the innermost frame of the learner's own code (its
local variables, at the moment of the error) and says, in words:

* for a shape error (broadcast, index, matmul, einsum): which named sizes of the model and task
  the numbers are (``6 = seq``, ``2 = n_heads``), the shape of every tensor named on the failing
  line with its axes named, and the usual causes (an axis layout mix-up, a reduction without
  ``keepdim``, a mask built for ``n_ctx`` positions);
* for a ``KeyError``: which dict on the failing line lacks the key and what it holds instead (the
  ``hook.name`` trap when it holds the name TransformerLens 4 reports, else a name that was never
  cached into it);
* for an operation on ``None``: which variable or dict entry is None (a ``.grad`` of a non-leaf);
* for an unexpected keyword argument: the function's real signature;
* for any error raised inside a function the line called: a parameter holding another type than its
  annotation; a dict added, a dict's values given to torch.tensor, a string in arithmetic, a class called
  where its ``from_...`` constructor belongs (:mod:`.crash_calls`).

It never runs the learner's code again and never evaluates expressions: it only reads values
already bound in the frame. Returns None when it has nothing specific to say.
"""

from __future__ import annotations

import difflib
import inspect
import linecache
import re
import types

import torch

from workbook.course.checks.crash_calls import empty_list, int_key, missing_axis, wrong_argument, wrong_value
from workbook.course.checks.hook_names import alias_of, canonical_of

__all__ = ["explain_crash", "learner_tb_frame", "name_size"]


def learner_tb_frame(err: BaseException, is_library) -> tuple[types.FrameType, int] | None:
    """``(frame, line number)`` of the innermost traceback entry in the learner's code, or None."""
    tb, found = err.__traceback__, None
    while tb is not None:
        if not is_library(tb.tb_frame.f_code.co_filename):
            found = (tb.tb_frame, tb.tb_lineno)
        tb = tb.tb_next
    return found


def name_size(size: int, dims: dict[str, int]) -> str:
    """``"6 = seq"``, ``"2 = n_heads or batch"``, or ``"7"`` when no named size has it."""
    hits = [n for n, v in dims.items() if v == size]
    return f"{size} = {' or '.join(hits)}" if hits else str(size)


def _shape_text(t: torch.Tensor, dims: dict[str, int]) -> str:
    names = []
    for s in t.shape:
        hits = [n for n, v in dims.items() if v == s]
        names.append("/".join(hits) if hits else "?")
    return f"{list(t.shape)} = [{', '.join(names)}]"


def _describe(name: str, value, dims: dict[str, int]) -> str | None:
    if isinstance(value, torch.Tensor):
        return f"{name} is {_shape_text(value, dims)}" + (f" ({value.dtype})" if not value.is_floating_point() else "")
    if isinstance(value, dict):
        keys = list(value)[:3]
        return f"{name} is a dict of {len(value)} entries (e.g. {keys})"
    if value is None:
        return f"{name} is None"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
        return f"{name} is a {type(value).__name__} of {len(value)} tensors (the first {_shape_text(value[0], dims)})"
    if isinstance(value, str) and len(value) < 60:
        return f"{name} is the string {value!r}"
    return None


def _line_values(frame: types.FrameType, lineno: int) -> tuple[str, dict[str, object]]:
    line = linecache.getline(frame.f_code.co_filename, lineno).strip()
    names = dict.fromkeys(re.findall(r"(?<![\w.])([A-Za-z_]\w*)", line))
    scope = {**frame.f_globals, **frame.f_locals}

    def data(n: str) -> bool:  # a local, or a global value that is neither a function nor a module
        return n in frame.f_locals or (n in scope and not callable(scope[n])
                                       and not isinstance(scope[n], types.ModuleType))
    return line, {n: scope[n] for n in names if data(n)}


def _shapes(values: dict[str, object], dims: dict[str, int]) -> str:
    parts = [d for n, v in values.items() if (d := _describe(n, v, dims)) is not None and "dict" not in d]
    return (" On that line: " + "; ".join(parts[:5]) + ".") if parts else ""


def _broadcast(text: str, dims: dict[str, int]) -> str | None:
    m = re.search(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\)", text)
    m = m or re.search(r"size (\d+) for operand \d+ which does not broadcast with previously seen size (\d+)", text)
    m = m or re.search(r"shapes cannot be multiplied \(\d+x(\d+) and (\d+)x\d+\)", text)
    m = m or re.search(r"Expected size (\d+) but got size (\d+)", text)
    if not m:
        return None
    a, b = int(m.group(1)), int(m.group(2))
    sizes = {a, b}
    causes = []
    if dims.get("n_ctx") in sizes and dims.get("seq") in sizes:
        causes.append(f"a mask or buffer built for n_ctx = {dims['n_ctx']} positions (the model's context length), "
                      f"where this task has seq = {dims['seq']}: size it by the tensor's own seq axis")
    causes += ["axes in another order than you think (hook_q/hook_k/hook_v/hook_z are [batch, pos, head, d_head]; "
               "the attention pattern and its gradient are [batch, head, query, key])",
               "a sum, mean or max without keepdim=True, which drops an axis so the next operation pairs the wrong "
               "axes (broadcasting lines axes up from the right)"]
    return (f"two tensors whose axes do not line up were combined: an axis of size {name_size(a, dims)} met one of "
            f"size {name_size(b, dims)}. Usual causes: " + "; or ".join(causes) + ".")


def _string_index(line: str, values: dict[str, object]) -> str | None:
    """A tensor indexed with a hook name, as if it were a cache dict: a (logits, cache) pair unpacked the other way."""
    for name, key in re.findall(r"(\w+)\[\s*(\w+|'[^']*'|\"[^\"]*\")\s*\]", line):
        t, k = values.get(name), values.get(key, key.strip("'\""))
        if isinstance(t, torch.Tensor) and isinstance(k, str) and not k.isdigit():
            return (f"`{name}` is a tensor of shape {tuple(t.shape)}, indexed with the name {k!r} as if it were a "
                    "cache dict: cache_activations(...) returns (logits, cache) in that order, so the two were "
                    "unpacked the other way round (`_, cache = ...`).")
    return None


def _score_lookup(err: KeyError) -> str | None:
    """A name read from a workbook result that does not hold it (a patching call for another kind)."""
    m = re.match(r"no score named ('[^']*'|\"[^\"]*\") in (.+?);", str(err.args[0]) if err.args else "")
    if m is None:
        return None
    return (f"you looked up {m.group(1)} in a result of {m.group(2)} that does not hold it, a name of another "
            "kind or group than that call's: a patching call returns only the names it was given (one kind per "
            "call), so read each name from the result of its own kind's call, not every name from each result.")


def _index(text: str, dims: dict[str, int]) -> str | None:
    m = re.search(r"index (-?\d+) is out of bounds for dimension (\d+) with size (\d+)", text)
    if m:
        return (f"index {m.group(1)} runs past axis {m.group(2)}, whose size is {name_size(int(m.group(3)), dims)}: "
                "an index or loop bound of another axis is used on this one (a layer index on the head axis, a "
                "position on the head axis, n_layers where n_heads belongs).")
    m = re.search(r"too many indices for tensor of dimension (\d+)", text)
    if m:
        return (f"you index more axes than the tensor has ({m.group(1)}): it is not the tensor you think (e.g. "
                "logits [batch, pos, d_vocab] where a cache or an activation [batch, pos, head, d_head] belongs).")
    return None


def _several_values(text: str, values: dict[str, object], dims: dict[str, int], frame) -> str | None:
    """For a tensor of several values made one number: the dict on the line whose entries hold several values."""
    if "only one element tensors" not in text and "cannot be converted to Scalar" not in text:
        return None
    task = next((v for v in frame.f_locals.values() if hasattr(v, "batch_size") and hasattr(v, "corrupt")), None)
    dims = {**({"batch": task.batch_size} if task is not None else {}), **dims}
    for name, d in values.items():
        entry = next(iter(d.values()), None) if isinstance(d, dict) and d else None
        if isinstance(entry, torch.Tensor) and entry.numel() > 1:
            per_pair = entry.dim() >= 1 and entry.shape[0] == dims.get("batch")
            return (f"the entries of {name} hold several values each ({_shape_text(entry, dims)})" + (
                ": one per prompt pair, never averaged over them (a per-example result where the mean over the "
                "batch belongs: take .mean(0), or the value the call already averaged)" if per_pair else "")
                + "; one number per entry belongs.")
    return None


def _key(err: KeyError, values: dict[str, object], dims: dict[str, int]) -> str | None:
    key = err.args[0] if err.args else None
    if not isinstance(key, str):
        return None
    layer = re.search(r"blocks\.(\d+)\.", key)
    if layer is not None and int(layer.group(1)) >= dims.get("n_layers", 10**9):
        return None  # a layer the model does not have: a loop bound, said by the size report
    holders = {n: v for n, v in values.items() if isinstance(v, dict) and key not in v}
    if not holders:
        return None
    other = alias_of(key) or canonical_of(key)
    for n, d in holders.items():
        if other is not None and other in d:
            return None  # the hook.name trap: hook_names says it
    n, d = next(iter(holders.items()))
    asked = (" A cache holds only the names its call asked for: cache_activations(model, tokens, names) and "
             "cache_activations_and_grads(model, task, act_names, grad_names) fill their dicts with exactly those "
             "lists, so this name was not in the list given for this dict.")
    if not d:
        return (f"the dict {n} has no entry {key!r}: it is empty (no names were asked for it, e.g. an empty "
                "grad_names or act_names list; or filled after you read it, cleared too early, or never filled: a "
                "hook that never ran).")
    roles = _roles(key, d)
    return (f"the dict {n} has no entry {key!r}: it holds {len(d)} other entries (e.g. {list(d)[:3]})." + (roles or
            asked + " Or it was filled from another list of names (activation names and gradient names swapped, "
            "sources and destinations swapped), or overwritten by a later assignment (one kind's results replacing "
            "another's) instead of updated.") + _kind_missing(key, d))


GRAD_NONE = ("A .grad is None on a tensor that is not a leaf (an activation inside the model): after backward() only "
             "leaves keep .grad; take activation gradients with a backward hook (or call .retain_grad() before "
             "backward, or use torch.autograd.grad).")


def _none(values: dict[str, object], line: str) -> str | None:
    nones = [n for n, v in values.items() if v is None]
    nones += [f"{n}[{k!r}]" for n, v in values.items() if isinstance(v, dict) for k, x in v.items() if x is None][:3]
    if nones:
        return f"{', '.join(nones)} is None. " + GRAD_NONE
    if ".grad" in line:
        return "a .grad on that line is None. " + GRAD_NONE
    return None


def _component_kind(name: str) -> str | None:
    """A component name's kind, for verify_top's names: "edge", "q", "k", "v", "MLP", "head"; None for another key."""
    for kind, pattern in (("edge", r".+->.+"), ("q", r"L\d+H\d+\.q"), ("k", r"L\d+H\d+\.k"), ("v", r"L\d+H\d+\.v"),
                          ("MLP", r"MLP\d+"), ("head", r"L\d+H\d+")):
        if re.fullmatch(pattern, name):
            return kind
    return None


def _kind_missing(key: str, d: dict) -> str:
    """For a component name missing from a dict of component names: no name of its kind is there at all."""
    kind, held = _component_kind(key), {_component_kind(k) for k in d if isinstance(k, str)}
    if kind is None or None in held or kind in held:
        return ""
    return (f" No {kind} name is in it at all (it holds {', '.join(sorted(held))} names): the {kind}s' group was "
            "never patched, its selection of names (a test of each name's kind) matched none of them.")


_SOURCE = re.compile(r"hook_embed$|hook_pos_embed$|attn\.hook_z$|attn\.hook_result$|hook_mlp_out$|hook_attn_out$")
_DEST = re.compile(r"hook_[qkv]_input$|hook_mlp_in$|hook_resid_post$|attn\.hook_[qkv]$")


def _roles(key: str, d: dict) -> str:
    """Why ``key`` is not in ``d`` when one is a source output and the other holds destination inputs."""
    names = [k for k in d if isinstance(k, str)]
    if _SOURCE.search(key) and names and all(_DEST.search(k) for k in names):
        return (f" It holds destination inputs and you look up the source output {key!r}: sources' activations "
                "(graph.stack_sources) come from the activation cache, destinations' gradients "
                "(graph.stack_dest_grads) from the gradient cache. Were the two swapped?")
    if _DEST.search(key) and names and all(_SOURCE.search(k) for k in names):
        return (f" It holds source outputs and you look up the destination input {key!r}: destinations' gradients "
                "(graph.stack_dest_grads) come from the gradient cache. Were the two swapped?")
    return ""


def _keyword(text: str, frame: types.FrameType) -> str | None:
    m = re.search(r"(\w+)>?\(\) got an unexpected keyword argument '(\w+)'", text)
    if not m:
        return None
    if m.group(2) == "hook":
        return ("TransformerLens calls every hook function as fn(activation, hook=hook_point), so a hook function "
                "must take a second argument named `hook`: def f(act, hook) or lambda act, hook: ... (yours takes "
                "no `hook` argument).")
    fn = {**frame.f_globals, **frame.f_locals}.get(m.group(1))
    try:
        sig = f"{m.group(1)}{inspect.signature(fn)}" if fn is not None else None
    except (TypeError, ValueError):
        sig = None
    return (f"{m.group(1)}() has no argument {m.group(2)!r}" + (f"; its signature is {sig}" if sig else "")
            + ": read help() of the function for the name it uses.")


def _unknown_hook(err: KeyError, frame: types.FrameType, dims: dict[str, int]) -> str | None:
    """A hook name the model does not have: the closest names it does have (from a model in the frame). A
    layer the model does not have is left to the size report (a loop bound or index of another axis)."""
    m = re.search(r"Hook name '([^']+)' does not exist", str(err.args[0]) if err.args else "")
    layer = re.search(r"blocks\.(\d+)\.", m.group(1)) if m else None
    if m is None or (layer is not None and int(layer.group(1)) >= dims.get("n_layers", 10**9)):
        return None
    names = next((list(v.hook_dict) for v in frame.f_locals.values() if hasattr(v, "hook_dict")), [])
    close = difflib.get_close_matches(m.group(1), names, n=3, cutoff=0.6)
    return (f"the model has no hook named {m.group(1)!r}" + (f"; the closest names it has: {close}" if close else "")
            + ": attention hooks carry the part's name (blocks.L.attn.hook_z, .hook_q, .hook_pattern), the "
            "residual stream and the block outputs do not (blocks.L.hook_resid_pre, blocks.L.hook_attn_out); "
            "list them with [n for n in model.hook_dict if n.startswith('blocks.0.')].")


def _method_indexed(text: str, line: str) -> str | None:
    """``scores.order[:k]``: a method indexed where its result should be."""
    if "'method' object is not subscriptable" not in text:
        return None
    m = re.search(r"([\w.]+\.(\w+))\s*\[", line)
    what = m.group(1) if m else "the method"
    return (f"{what} is a method: call it first, then index its result ({what}(...)[...], e.g. "
            "scores.order(absolute=True)[:k]).")


def _attribute(text: str, values: dict[str, object]) -> str | None:
    m = re.search(r"'(\w+)' object has no attribute '(\w+)'", text)
    if not m:
        return None
    hits = [(n, v) for n, v in values.items() if type(v).__name__ == m.group(1)]
    if not hits or m.group(1) == "NoneType":
        return None
    n, v = hits[0]
    shown = repr(v)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return (f"{n} is a {m.group(1)}, {shown}, which has no .{m.group(2)}: it is not the kind of object this line "
            "expects (a (name, value) pair where a name belongs, a list where a tensor belongs, a Scores where a "
            "dict belongs?).")


def _tuple_used(values: dict[str, object]) -> str | None:
    """A tuple used where its contents belong: a function returning several values, never unpacked."""
    for n, v in values.items():
        if not isinstance(v, tuple) or not v or not any(isinstance(x, torch.Tensor) for x in v):
            continue
        if len(v) == 2 and isinstance(v[1], dict):
            return (f"`{n}` is a tuple (logits, cache), not the cache: cache_activations(...) returns both, so unpack "
                    f"it (`_, {n} = cache_activations(...)`; cache_activations_and_grads returns (logits, acts, "
                    "grads)).")
        return (f"`{n}` is a tuple of {len(v)} tensor{'s' * (len(v) > 1)}, not a tensor: torch.autograd.grad(...) "
                f"returns one gradient per input as a tuple, even for one input; unpack it (`({n},) = "
                "torch.autograd.grad(...)`, or take [0]).")
    return None


def _shadowed(text: str, line: str, values: dict[str, object]) -> str | None:
    """``'str' object is not callable``: a function's name rebound to a value (a loop variable)."""
    m = re.search(r"'(\w+)' object is not callable", text)
    if not m:
        return None
    for name in re.findall(r"(?<![\w.])([A-Za-z_]\w*)\s*\(", line):
        if type(values.get(name)).__name__ == m.group(1):
            return (f"`{name}` is a {m.group(1)} here, not a function: a variable of the same name (a loop variable "
                    f"such as `for {name} in ...`, or an assignment) replaced your function `{name}` (shadowing); "
                    "give one of them another name.")
    return None


def _hook_pair(text: str, line: str) -> str | None:
    """``fwd_hooks=(name, fn)``: one pair without the list around it."""
    if "unpack" not in text or not re.search(r"(fwd|bwd)_hooks\s*=\s*\(", line):
        return None
    return ("fwd_hooks/bwd_hooks take a LIST of (name, function) pairs; one pair needs the list around it, "
            "fwd_hooks=[(name, fn)]. A bare pair is read as a sequence of two items, the name and the function, "
            "and each is unpacked as a pair.")


def _none_attribute(text: str, line: str) -> str | None:
    m = re.search(r"'NoneType' object has no attribute '(\w+)'", text)
    found = re.search(rf"([A-Za-z_][\w.]*)\.{m.group(1)}\b", line) if m else None
    if not found:
        return None
    return (f"`{found.group(1)}` is None here, so it has no .{m.group(1)}: the value was never set (an attribute "
            "that this object leaves empty, a function or in-place method that returns None) where your code "
            "expects a tensor.")


def explain_crash(err: BaseException, dims: dict[str, int], is_library) -> str | None:
    """What went wrong on the learner's failing line, in words (see the module docstring), or None."""
    found = learner_tb_frame(err, is_library)
    if found is None:
        return None
    frame, lineno = found
    try:
        line, values = _line_values(frame, lineno)
    except Exception:  # noqa: BLE001 - explaining must never raise
        return None
    text = str(err)
    try:
        said = wrong_argument(err, frame) or wrong_value(err, line, values, {**frame.f_globals, **frame.f_locals})
    except Exception:  # noqa: BLE001 - explaining must never raise
        said = None
    if said:
        return said
    if isinstance(err, KeyError):
        return _score_lookup(err) or int_key(err, values) or _unknown_hook(err, frame, dims) or _key(err, values, dims)
    if isinstance(err, TypeError):
        said = _keyword(text, frame) or _method_indexed(text, line) or _shadowed(text, line, values) or (
            _none(values, line) if "NoneType" in text else None) or _tuple_used(values)
        return said
    if isinstance(err, AttributeError):
        return _attribute(text, values) or _none_attribute(text, line) or _tuple_used(values)
    if isinstance(err, (RuntimeError, IndexError, ValueError)):
        said = _several_values(text, values, dims, frame) or _hook_pair(text, line) \
            or _string_index(line, values) or missing_axis(text, dims) or _broadcast(text, dims) \
            or _index(text, dims) or empty_list(text, values, dims)
        return said + _shapes(values, dims) if said else None
    return None
