"""Where the learner's EAP-IG takes its gradients: the points of their path, read off the model's input.

EAP-IG differentiates the model at the points ``e(alpha) = e_corrupt + alpha (e_clean - e_corrupt)``,
``alpha = k/m`` for ``k = 1..m``. :func:`points_note` runs the learner's function once on a test case with a
recording hook on the first block's input (``blocks.0.hook_resid_pre``: the embedding after any hook the learner
put on it, plus the position embedding, which is the same in every run) and, for every forward pass that runs
with gradients on, reads which point it is: per prompt pair, ``alpha = <r - r_corrupt, d> / |d|^2`` with
``d = r_clean - r_corrupt``, and how far ``r`` lies off that straight line (``|r - r_corrupt - alpha d| / |d|``).
The note first says what the alphas mean (a named slip such as a step over the remaining distance; or that they
agree with ``k/m`` and lie on the line, which puts the mistake after the points: weights, the sum, the delta), then
shows them next to ``k/m``. Exact: nothing is estimated.
"""

from __future__ import annotations

import contextlib
import io
from typing import Callable

import torch

from workbook.core.runs import cache_activations
from workbook.core.task import Task
from workbook.course.checks.point_weights import weights_note

__all__ = ["path_alphas", "points_note"]

HOOK = "blocks.0.hook_resid_pre"
OFF_LINE = 1e-3  # of |d|: float32 interpolation of embeddings is exact to ~1e-6 of it


#: point sequences of known slips, ``alpha(k, m)`` for k = 1..m, and what they mean
NAMED_POINTS = (
    (lambda k, m: 1 - (1 - 1 / m) ** k,
     "your points are alpha = 1 - (1 - 1/m)^k: each step covers 1/m of the distance REMAINING from the current point "
     "(point += (e_clean - point) / m), so the steps shrink and the last point never reaches the clean input; "
     "step from e_corrupt by k/m of the whole difference"),
    (lambda k, m: k / (m + 1),
     "your points are alpha = k/(m + 1): divided by m + 1 where m belongs, so the last point stops short of the "
     "clean input"),
)


def path_alphas(fn: Callable, model, task: Task, steps: int) -> tuple[list[torch.Tensor], list[float]] | None:
    """``(alphas, off)`` of each forward pass with gradients on in ``fn(model, task, steps)``: its alpha per
    prompt pair ``[B]`` and its largest distance from the straight line (in units of ``|d|``); None when ``fn``
    raises or the clean and corrupt inputs do not differ."""
    got = _traced(fn, model, task, steps)
    return None if got is None else got[:2]


def _traced(fn: Callable, model, task: Task, steps: int) -> tuple[list[torch.Tensor], list[float], object] | None:
    """:func:`path_alphas` and what ``fn`` returned."""
    _, clean = cache_activations(model, task.clean, [HOOK])
    _, corr = cache_activations(model, task.corrupt, [HOOK])
    r_n = corr[HOOK].double().flatten(1)
    d = clean[HOOK].double().flatten(1) - r_n
    size = (d * d).sum(1)
    if bool((size <= 0).any()):
        return None
    seen: list[torch.Tensor] = []

    def record(t, hook):
        if torch.is_grad_enabled() and t.shape == clean[HOOK].shape:
            seen.append(t.detach().double().flatten(1).clone())
        return t

    try:
        with contextlib.redirect_stdout(io.StringIO()), model.hooks(fwd_hooks=[(HOOK, record)]):
            out = fn(model, task, steps)
    except Exception:  # noqa: BLE001 - a crash is diagnosed elsewhere
        return None
    alphas, off = [], []
    for r in seen:
        a = ((r - r_n) * d).sum(1) / size
        alphas.append(a)
        off.append(float(((r - r_n - a[:, None] * d).norm(dim=1) / size.sqrt()).max()))
    return alphas, off, out


def points_note(fn: Callable, model, task: Task, steps: int) -> str:
    """The learner's EAP-IG points in words, next to ``alpha = k/m``; "" when they cannot be read."""
    got = _traced(fn, model, task, steps)
    if got is None or not got[0]:
        return ""
    alphas, off, out = got
    want = [k / steps for k in range(1, steps + 1)]
    per_pass = [float(a.mean()) for a in alphas]
    shown = ", ".join(f"{a:.3g}" for a in per_pass[:8]) + (", ..." if len(per_pass) > 8 else "")
    spread = max(float(a.max() - a.min()) for a in alphas)
    text = (f"On a test model with m = {steps}, your function differentiates {len(alphas)} forward passes, at alpha = "
            f"[{shown}] (alpha of each point along e_corrupt + alpha (e_clean - e_corrupt), mean over prompt pairs); "
            f"EAP-IG differentiates m = {steps}, at alpha = k/m = [{', '.join(f'{a:.3g}' for a in want)}].")
    notes = []
    if spread > 1e-4:
        notes.append(f"the prompt pairs of one pass sit at different alphas (up to {spread:.3g} apart): every pair "
                     "should be at the same alpha k/m")
    if max(off) > OFF_LINE:
        notes.append(f"your points leave the straight line from e_corrupt to e_clean (up to {max(off):.3g} of its "
                     "length away): interpolate the embeddings linearly (not the token ids, not along an arc)")
    if max(per_pass) > 1 + 1e-4:
        notes.append(f"some of your points lie beyond the clean input (alpha up to {max(per_pass):.3g} > 1): alpha "
                     "runs from 1/m up to exactly 1 (k/m, not m/k, and not a sum that grows past 1)")
    if min(per_pass) < -1e-4:
        notes.append("some of your points lie before the corrupt input (alpha < 0)")
    elif any(abs(a) <= 1e-4 for a in per_pass):
        notes.append("one of your points is the corrupt input itself (alpha = 0), where EAP-IG takes no gradient")
    for alpha_of, words in NAMED_POINTS:
        named = [alpha_of(k, steps) for k in range(1, steps + 1)]
        if len(per_pass) == steps and max(off) <= OFF_LINE and any(abs(a - w) > 1e-4 for a, w in zip(named, want)) \
                and all(abs(a - w) <= 1e-4 for a, w in zip(per_pass, named)):
            notes.append(words)
    right = len(per_pass) == steps and spread <= 1e-4 and max(off) <= OFF_LINE and all(
        abs(a - w) <= 1e-4 for a, w in zip(sorted(per_pass), want))
    if right and (weights := weights_note(out, model, task, steps)):
        notes.append(weights)
    elif right:
        notes.append("your points are right: the mistake is in what you do with their gradients (each weighted "
                     "1/m, summed over the m points, multiplied by the one corrupt - clean delta)")
    return " ".join([n[0].upper() + n[1:] + "." for n in notes] + [text])  # what they mean, then the points
