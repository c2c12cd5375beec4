"""What the learner's variables hold: a trace of their function's locals, read against the model.

When a check fails, :func:`quantity_clue` calls the learner's function once more, on the chapter's
own model and batch, under ``sys.settrace`` (only frames of the learner's own code are traced;
library code runs untraced). Each line that leaves a tensor in a local variable, or in an entry of
a dict local, gives a :class:`Snapshot`. :mod:`workbook.course.checks.quantities` identifies each
snapshot with the model's own quantities (each run's activation, or the metric's gradient, at a
hook; whole or one head's slice). A **clue** is a contradiction between what a value is and what its
context says it should be:

* the loop's layer index (an int local named like one: ``l``, ``layer``, ...) is ``j`` and no int
  local of the frame is ``i``, but the value is layer ``i``'s activation (the same for a head index;
  gradients are left out: a pass with one layer's gradient dropped can equal another layer's);
* a dict entry's key names a hook (or a layer) and the value is another hook's (or layer's);
* a name says clean (or corrupt) and the value is only the other run's;
* a name says grad and the value is an activation, or an activation name holds a gradient;
* a name says queries, keys or a pattern and the value is another of these hooks' activations;
* the exercise linearises around the clean run and the gradients come from the corrupt one;
* an entry of a cache (a dict named like one) that held a model activation was edited in place.

While the trace runs, :class:`~workbook.course.checks.reshapes.Reshapes` watches the learner's own
``view``/``reshape`` calls: one that moves a size to another place in memory (``[B, T, H, D] -> [B, H, T,
D]``, a view where a permute belongs) is a clue too, read after the contradictions above.

Asked later (after the relations and the properties): :func:`foreign_gradient`, for exercises whose
gradients are the metric's own: a variable named like a gradient, shaped like one, holds other numbers
(not a multiple of a gradient), and no variable holds the metric's gradient.

A variable that holds an unexpected quantity under a neutral name is never reported: a clue needs
the contradiction. When there is none and the numbers bear no relation to the reference either,
:func:`locate` says where to look: the model quantities the code reads, and the first variables made
from them that match none (the lines where a formula combines them); it is added after the numbers
and the quoted line of a weak or absent relation, so it is a place to look, never a cause. Tracing
is skipped while another tracer (a debugger, coverage) is active.
"""

from __future__ import annotations

import contextlib
import linecache
import re
import sys
from dataclasses import dataclass, field
from typing import Callable

import torch

from workbook.course.checks._runner import is_library
from workbook.course.checks.gradient_clue import GRAD_NAME, foreign_gradient
from workbook.course.checks.quantities import Quantity, identified, identify, model_quantities
from workbook.course.checks.reshapes import Recut, Reshapes, recut_clue
from workbook.course.checks.where import RETURNED, locate

__all__ = ["Snapshot", "trace_locals", "identified", "clues", "foreign_gradient", "quantity_clue", "case_clue",
           "CaseTrace", "is_learner_file", "MAX_SNAPSHOTS"]

MAX_SNAPSHOTS = 4000  # a long loop stops being recorded after this many (the earliest lines matter most)
MAX_NUMEL = 2_000_000

_LAYER = re.compile(r"^(l|li|ly|lay|lyr|layer|layer_?(i|idx|index|id|num|no)|i_?layer|l_?idx|idx_?l|cur_layer)$")
_HEAD = re.compile(r"^(h|hd|hi|head|head_?(i|idx|index|id|num|no)|i_?head|h_?idx|idx_?h)$")
_NAME_KIND = ((re.compile(r"^q(_|$)|quer", re.I), ("hook_q", "queries")),
              (re.compile(r"^k(_|$)|key", re.I), ("hook_k", "keys")),
              (re.compile(r"^v(_|$)|val", re.I), ("hook_v", "values")),
              (re.compile(r"pat|^a(_|$)", re.I), ("hook_pattern", "an attention pattern")))
_CLEAN = re.compile(r"clean", re.I)
_CORRUPT = re.compile(r"corr|noise|noisy|corrupt", re.I)
_ACT = re.compile(r"^(act|acts|activation|activations|cache|clean_cache|corr\w*_cache|z|q|k|v|pattern)$", re.I)


@dataclass
class Snapshot:
    """A tensor a line of the learner's code left in ``name`` (``d['key']`` for a dict entry)."""

    func: str
    line: int
    name: str
    value: torch.Tensor
    ints: dict[str, int] = field(default_factory=dict)
    key: object = None  # the dict key, for a dict entry
    var: str = ""  # the variable (the dict's name for an entry)
    before: torch.Tensor | None = None  # a dict entry edited in place: its value before the edit
    free: tuple[str, ...] = ()  # the frame's free variables (read from an enclosing function when it runs)
    arg: bool = False  # the variable is one of the function's arguments (given to it, not made by it)


def _tensor_ok(v) -> bool:
    return isinstance(v, torch.Tensor) and v.is_floating_point() and 0 < v.numel() <= MAX_NUMEL


_ASSIGN = re.compile(r"^\s*([A-Za-z_][\w\s,()\[\]*]*?)\s*(?:[-+*/@]?=)(?!=)")


def _targets(filename: str, line: int) -> set[str]:
    """The plain names a line assigns (``a, b = ...``, ``x += ...``): a name re-bound to the same tensor
    object (a dict read again in the next iteration) is read again."""
    m = _ASSIGN.match(linecache.getline(filename, line))
    return set(re.findall(r"\b[A-Za-z_]\w*\b", re.sub(r"\[[^\]]*\]", "", m.group(1)))) if m else set()


def _arg_names(code) -> tuple[str, ...]:
    n = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 4) + bool(code.co_flags & 8)
    return code.co_varnames[:n]


def trace_locals(fn: Callable, args: tuple, is_learner: Callable[[str], bool],
                 recuts: list[Recut] | None = None) -> list[Snapshot]:
    """Call ``fn(*args)`` once under a line tracer; the snapshots of the learner's tensor locals, in order.

    An exception from ``fn`` ends the trace (the snapshots up to it are returned). Returns ``[]``
    when another tracer is active (a debugger or coverage keeps working). ``recuts``: a list that
    receives the learner's reshapes that re-cut axes (:mod:`.reshapes`)."""
    if sys.gettrace() is not None:
        return []
    snaps: list[Snapshot] = []
    seen: dict[tuple, tuple] = {}
    last: dict[int, int] = {}
    entries_seen: dict[int, tuple] = {}  # id of a dict entry's tensor -> (tensor, version, value then)

    def record(frame) -> None:
        line = last.get(id(frame), frame.f_lineno)
        local = frame.f_locals
        ints = {n: v for n, v in local.items() if type(v) is int}
        assigned = _targets(frame.f_code.co_filename, line)
        for name, v in local.items():
            entries = [(name, v, None)] if _tensor_ok(v) else []
            if isinstance(v, dict) and len(v) <= 256:
                entries += [(f"{name}[{k!r}]", x, k) for k, x in v.items() if _tensor_ok(x)]
            for label, x, key in entries:
                sig = (id(x), x._version)
                fresh = seen.get((id(frame), label)) != sig or (key is None and name in assigned)
                if not fresh or len(snaps) >= MAX_SNAPSHOTS:
                    continue
                seen[(id(frame), label)] = sig
                value, before = x.detach().clone(), None  # snapshots are never edited: one copy serves both
                if key is not None:
                    old = entries_seen.get(id(x))
                    before = old[2] if old is not None and old[1] != x._version else None
                    entries_seen[id(x)] = (x, x._version, value)
                snaps.append(Snapshot(frame.f_code.co_name, line, label, value, ints, key, name, before,
                                      frame.f_code.co_freevars, name in _arg_names(frame.f_code)))

    def local_trace(frame, event, arg):
        if event in ("line", "return"):
            record(frame)
            last[id(frame)] = frame.f_lineno
        if event == "return" and _tensor_ok(arg) and len(snaps) < MAX_SNAPSHOTS:  # what a return expression made
            snaps.append(Snapshot(frame.f_code.co_name, frame.f_lineno, RETURNED, arg.detach().clone(), var=RETURNED))
        return local_trace

    def global_trace(frame, event, arg):
        if event == "call" and is_learner(frame.f_code.co_filename):
            last[id(frame)] = frame.f_lineno
            return local_trace
        return None

    sys.settrace(global_trace)
    watch = Reshapes(is_learner) if recuts is not None else contextlib.nullcontext()
    try:
        with watch:
            fn(*args)
    except Exception:  # noqa: BLE001 - the check reports the learner's exception elsewhere
        pass
    finally:
        sys.settrace(None)
        if recuts is not None:
            recuts += watch.found
    return snaps


def _others(ints: dict[str, int], skip: re.Pattern) -> set[int]:
    return {v for n, v in ints.items() if not skip.match(n)}


def _index_clue(s: Snapshot, ids: list[Quantity], attr: str, names: re.Pattern, other: re.Pattern,
                n: int) -> str | None:
    """The loop index (layer or head) says one value, the tensor is another's."""
    if s.key is not None or not ids or any(getattr(q, attr) is None or q.kind != "act" for q in ids):
        return None  # gradients are left out: a pass with a layer's gradient dropped can equal another's
    loop = {k: v for k, v in s.ints.items() if names.match(k) and 0 <= v < n}
    if len(loop) != 1:
        return None
    var, v = next(iter(loop.items()))
    held = {getattr(q, attr) for q in ids}
    if v in held or held & _others(s.ints, other):
        return None
    q = ids[0]
    word = "layer" if attr == "layer" else "head"
    named = next((w for rx, w in _NAME_KIND if rx.search(s.name)), None)
    if named and all(not x.hook.endswith(named[0]) for x in ids):
        return (f"your `{s.name}` (line {s.line}, in the iteration where {var} = {v}) holds {q.describe()}: "
                f"another {word}'s {q.what} where your name says {named[1]}, so the names are read at the wrong "
                f"place (a list of hook names indexed by {word} that holds several names per {word}, e.g. q and "
                "k interleaved, or an index off by one)")
    if var in s.free:  # the hook function reads the loop variable when it runs, not when it was made
        return (f"in your function `{s.func}`, `{var}` is read from the enclosing loop when it RUNS (late binding): "
                f"it is {v} there while `{s.name}` (line {s.line}) holds {q.describe()}; every function made in the "
                f"loop sees the loop's last value. Bind it when the function is made: def f(act, hook, {var}={var})")
    return (f"your `{s.name}` (line {s.line}, in the iteration where {var} = {v}) holds {q.describe()}, not "
            f"{word} {v}'s: that line reads another {word}'s tensor (an index fixed or left over from another "
            f"iteration, or off by one)")


def _key_clue(s: Snapshot, ids: list[Quantity], hooks: set[str]) -> str | None:
    """A dict entry whose key names another hook or layer than its value."""
    if s.key is None or not ids:
        return None
    if isinstance(s.key, str) and s.key in hooks:
        if any(q.hook == s.key for q in ids):
            return None
        q = ids[0]
        return (f"your dict `{s.var}` holds, under the key '{s.key}', {q.describe()} (the values of '{q.hook}'): "
                "the entry is stored under another name than the hook it came from")
    if type(s.key) is int and all(q.layer is not None and q.layer != s.key for q in ids) and s.key >= 0:
        q = ids[0]
        return (f"your dict `{s.var}` holds, under the key {s.key}, layer {q.layer}'s {q.what} ({q.describe()}), "
                f"not layer {s.key}'s: an entry is stored under the wrong layer")
    return None


_CACHE = re.compile(r"clean|corr|cache|^acts?$|activation", re.I)
_OWN = re.compile(r"grad|sum|total|acc|score|out|res|new|patch", re.I)


def _inplace_clue(s: Snapshot, quantities: list[Quantity]) -> str | None:
    """A cached activation (an entry of a dict named like a cache) edited in place by the learner's code."""
    if s.before is None or not _CACHE.search(s.var) or _OWN.search(s.var):
        return None
    was = [q for q in identify(s.before, quantities) if q.kind == "act"]
    if not was or torch.equal(s.before, s.value):
        return None
    return (f"line {s.line} edited `{s.name}` in place (it held {was[0].describe()}): an assignment into a "
            "slice of a cached tensor, or an in-place op (+=, .add_(), .zero_()), changes the cache itself for "
            "every later use; .clone() a cached tensor before you edit it")


_KIND_NAME = {"hook_q": (re.compile(r"^(q|qs|query|queries)(_\w+)?$|^\w+_(q|query|queries)$", re.I), "queries"),
              "hook_k": (re.compile(r"^(k|ks|key|keys)(_\w+)?$|^\w+_(k|key|keys)$", re.I), "keys"),
              "hook_pattern": (re.compile(r"^(pattern|patt?|attn_pattern)(_\w+)?$", re.I), "an attention pattern")}


def _kind_clue(s: Snapshot, ids: list[Quantity]) -> str | None:
    """A variable named for queries, keys or a pattern that holds another of these hooks' activations."""
    if s.key is not None or not ids or any(q.kind != "act" for q in ids):
        return None
    said = [(hook, words) for hook, (rx, words) in _KIND_NAME.items() if rx.match(s.var)]
    held = {hook for q in ids for hook in _KIND_NAME if q.hook.endswith("attn." + hook)}
    if len(said) != 1 or not held or said[0][0] in held or len(held) != 1:
        return None
    q, hook = ids[0], next(iter(held))
    return (f"your `{s.name}` (line {s.line}) holds {q.describe()}, where its name says {said[0][1]}: the "
            f"{_KIND_NAME[hook][1].removeprefix('an ')} are used as the {said[0][1].removeprefix('an ')}, read from "
            f"the wrong hook ('{q.hook}' instead of '{q.hook.replace(hook, said[0][0])}': a copy-paste slip in the "
            "hook name or the dict key)")


def _run_clue(s: Snapshot, ids: list[Quantity], grad_run: str | None) -> str | None:
    name = s.var if s.key is None else f"{s.var}{s.key}"
    says_clean, says_corrupt = bool(_CLEAN.search(name)), bool(_CORRUPT.search(name))
    runs = {q.run for q in ids}
    q = ids[0]
    if says_clean != says_corrupt and len(runs) == 1:
        want = "clean" if says_clean else "corrupt"
        if q.run != want:
            noun = "cache is" if s.key is not None else "values are"
            return (f"your `{s.name}` (line {s.line}) holds {q.describe()}: the {want} {noun} taken on the {q.run} "
                    f"tokens (task.{q.run} where task.{want} belongs), so clean and corrupt are swapped or the same "
                    "run is used twice")
    if GRAD_NAME.search(name) and all(q.kind == "act" for q in ids):
        return (f"your `{s.name}` (line {s.line}) is named a gradient but holds an activation, {q.describe()}: "
                "the gradient of the metric with respect to it was never taken (read the gradient, e.g. from "
                "cache_activations_and_grads, or .grad after backward, not the activation)")
    if _ACT.match(s.var) and all(q.kind == "grad" for q in ids):
        return (f"your `{s.name}` (line {s.line}) holds a gradient, {q.describe()}, where an activation belongs: "
                "gradients are written into the activations' dict (a hook that stores gradients, copied from the one "
                "that stores activations and still writing into its dict?), or the two are swapped")
    if grad_run and all(q.kind == "grad" and q.run != grad_run for q in ids):
        return (f"your `{s.name}` (line {s.line}) holds {q.describe()}: a {q.run}-run gradient: the gradient is "
                f"taken on the {q.run} run, where this method linearises around the {grad_run} run (its gradient "
                f"comes from a backward pass on task.{grad_run})")
    return None


def clues(snaps: list[Snapshot], quantities: list[Quantity], n_layers: int, n_heads: int,
          grad_run: str | None = None, ids_of: list[list[Quantity]] | None = None) -> list[str]:
    """Every contradiction found in ``snaps`` (see the module docstring), first line first. ``ids_of``:
    :func:`identified` of ``snaps`` when the caller has it."""
    hooks = {q.hook for q in quantities}
    out: list[str] = []
    for s, ids in zip(snaps, identified(snaps, quantities) if ids_of is None else ids_of):
        if s.var == RETURNED:  # a return value has no name to contradict
            continue
        found = _inplace_clue(s, quantities)
        if not ids and not found:
            continue
        found = found or (_index_clue(s, ids, "layer", _LAYER, _HEAD, n_layers)
                 or _index_clue(s, ids, "head", _HEAD, _LAYER, n_heads)
                 or _key_clue(s, ids, hooks) or _kind_clue(s, ids) or _run_clue(s, ids, grad_run))
        if found and found not in out:
            out.append(found)
    return out


def quantity_clue(fn: Callable, model, task, *args, is_learner: Callable[[str], bool],
                  grad_run: str | None = None) -> str | None:
    """The first clue of ``fn(model, task, *args)`` on this model and batch, as a diagnosis, or None."""
    snaps = trace_locals(fn, (model, task, *args), is_learner)
    quantities = model_quantities(model, task) if snaps else []
    return _first_clue(snaps, model, quantities, identified(snaps, quantities), grad_run)


def _first_clue(snaps: list[Snapshot], model, quantities: list[Quantity], ids_of: list[list[Quantity]],
                grad_run: str | None) -> str | None:
    if not snaps:
        return None
    found = clues(snaps, quantities, model.cfg.n_layers, model.cfg.n_heads, grad_run, ids_of)
    if not found:
        return None
    more = f" ({len(found) - 1} more such line{'s' * (len(found) > 2)} after it)" if len(found) > 1 else ""
    return found[0] + more + "."


class CaseTrace:
    """The learner's function traced lazily on each ``(label, model, task)`` of ``cases`` (the chapter's own
    model first; a random model next, whose quantities are never zero by design): calling it gives the first
    clue (:func:`quantity_clue`), :meth:`where` the place to look (:func:`locate`). Each case is traced at
    most once; both read the same trace."""

    def __init__(self, fn: Callable, cases: list[tuple], *args, grad_run: str | None = None,
                 plain_grads: bool = False):
        self.fn, self.cases, self.args, self.grad_run, self.plain_grads = fn, cases, args, grad_run, plain_grads
        self._traced: dict[int, tuple[list[Snapshot], list[Quantity], list[list[Quantity]]]] = {}
        self._recuts: dict[int, list[Recut]] = {}

    def _trace(self, i: int) -> tuple[list[Snapshot], list[Quantity], list[list[Quantity]]]:
        """Case ``i``'s snapshots, the model's quantities and what each snapshot is (:func:`identified`)."""
        if i not in self._traced:
            _, model, task = self.cases[i]
            self._recuts[i] = []
            snaps = trace_locals(self.fn, (model, task, *self.args), is_learner_file, self._recuts[i])
            quantities = model_quantities(model, task) if snaps else []
            self._traced[i] = snaps, quantities, identified(snaps, quantities)
        return self._traced[i]

    def __call__(self) -> str | None:
        for i, (_, model, _task) in enumerate(self.cases):
            snaps, quantities, ids_of = self._trace(i)
            found = _first_clue(snaps, model, quantities, ids_of, self.grad_run) or \
                recut_clue(self._recuts[i], getattr(self.fn, "__name__", None))
            if found:
                return found
        return None

    def late(self) -> str | None:
        """:func:`foreign_gradient` on the first case that has one (only when the gradients are the metric's own)."""
        if not self.plain_grads:
            return None
        for i in range(len(self.cases)):
            found = foreign_gradient(*self._trace(i))
            if found:
                return found
        return None

    def where(self) -> str | None:
        for i, (_, model, _task) in enumerate(self.cases):
            snaps, quantities, ids_of = self._trace(i)
            found = locate(snaps, quantities, model.cfg.n_layers, skip=[p.detach() for p in model.parameters()],
                           top=getattr(self.fn, "__name__", None), ids_of=ids_of)
            if found:
                return found
        return None


def case_clue(fn: Callable, cases: list[tuple], *args, grad_run: str | None = None,
              plain_grads: bool = False) -> CaseTrace:
    """:class:`CaseTrace` of ``fn`` on ``cases``, for ``diagnose(clue=...)`` (which also reads its ``where``)."""
    return CaseTrace(fn, cases, *args, grad_run=grad_run, plain_grads=plain_grads)


def is_learner_file(filename: str) -> bool:
    """The learner's own code: not the workbook or a library, and not generated code (``<string>``), but a
    notebook cell (``<ipython-input-...>`` or an ipykernel temp file)."""
    if filename.startswith("<"):
        return filename.startswith("<ipython-input")
    return not is_library(filename)
