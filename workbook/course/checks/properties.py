"""Properties every right answer has, tested on the learner's own function (no reference needed).

The catalogue probes of :mod:`workbook.course.checks.diagnose_diff` compare the learner's numbers
with the reference and with named wrong variants; a mistake nobody planted often relates to
neither. These probes instead call the learner's function on inputs where the answer is known
by construction, and name the *kind* of mistake from which property fails:

* **identical prompts** (:func:`identical_prompts`): with ``corrupt = clean`` nothing is patched,
  so every noising effect and estimate of the course (patching, AtP, the QK fix, GradDrop, EAP,
  EAP-IG) is exactly 0. A nonzero answer has a part that is not a corrupt-minus-clean
  difference of the same prompt pair: an ablation value, another pair's or position's
  activation, a pattern recomputed differently from the model's, a baseline other than M(clean).
* **a batch is the mean of its prompt pairs** (:func:`batch_mean`): every estimate is computed
  per prompt pair and averaged (GradDrop's absolute value is taken per pair), so the result on a
  batch equals the mean of the results on each pair alone. Failing it means the function mixes
  pairs (means before products, a batch-wide norm, one pair's values read for another, a sum, a
  median or maximum over the pairs). On B copies of one pair, a right answer is that pair's own; B
  times it means every pair's delta met every pair's gradient (crossed examples).
  For GradPath the points of pair ``b`` must not depend on the other pairs.
* **one step is the endpoint** (:func:`steps_probe`): EAP-IG with ``m = 1`` is EAP at the clean
  input, GradPath with one step is its first step; right there and wrong at ``m`` steps locates
  the mistake in the interpolation/walk, not in the scoring; right at another number of steps
  names an off-by-one.

Each probe returns a diagnosis (str) or None; they run on the small separating models of
:mod:`workbook.course.checks.cases`, and a learner function that raises on the probe input is
given the benefit of the doubt (None).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import torch

from workbook.core.task import Task
from workbook.course.checks.case import close_to
from workbook.course.checks.gradpath_objectives import objective_of_first_step
from workbook.course.checks.identical_words import IDENTICAL_TEXT
from workbook.course.checks.pair_weights import pair_weights
from workbook.course.checks.path_points import points_note
from workbook.course.checks.point_weights import weights_note

__all__ = ["identical_prompts", "batch_mean", "pair_probes", "steps_probe", "first_step_geometry", "once", "PROBE_REL",
           "CROSSED_CAUSE"]

PROBE_REL = 2e-3  # a property fails when it is off by more than this share of the values' scale (float32)
EXACT_REL = 1e-4  # the same numbers up to float32 rounding (a median or maximum picks one pair's own value)


def once(fn: Callable[[], str | None] | None) -> Callable[[], str | None]:
    """``fn`` (a property probe: it runs the learner's function) called at most once, when first asked."""
    memo: list = []

    def call() -> str | None:
        if not memo:
            memo.append(fn() if fn is not None else None)
        return memo[0]
    return call


def _quiet(fn: Callable, *args) -> torch.Tensor | None:
    """``fn(*args)`` as a float64 tensor, or None when it raises or returns something else (not our business)."""
    try:
        with torch.enable_grad():
            out = fn(*args)
        out = torch.as_tensor(out).detach().cpu().double()
    except Exception:  # noqa: BLE001 - the main check reports the learner's errors
        return None
    return out if bool(torch.isfinite(out).all()) else None


def _scale(*ts: torch.Tensor) -> float:
    return max([t.abs().max().item() for t in ts if t is not None and t.numel()] + [1e-9])


def identical_prompts(fn: Callable, cases: list[tuple[str, object, Task]], *args, kind: str = "default",
                      noun: str = "") -> str | None:
    """Diagnosis when ``fn(model, task_with_corrupt_equal_clean, *args)`` is not ~0 on some case
    (relative to the learner's own result on the real task); ``kind``/``noun`` pick the wording."""
    for label, model, task in cases:
        real = _quiet(fn, model, task, *args)
        same = _quiet(fn, model, replace(task, corrupt=task.clean.clone()), *args)
        if real is None or same is None or same.shape != real.shape:
            continue
        scale = _scale(real)
        if same.abs().max().item() > PROBE_REL * scale + 1e-7:
            return IDENTICAL_TEXT[kind].format(got=same.abs().max().item(), scale=scale, noun=noun) + \
                f" (Seen on {label}.)"
    return None


MIXES = ("(most often the deltas and the gradients averaged over the batch before they are multiplied: the product "
         "of the means instead of the mean of the per-pair products; or an absolute value, a square or a "
         "normalisation applied after averaging over pairs, a norm or step length computed over the whole batch, "
         "or one pair's activations read for another, as with a shifted or reversed batch index)")


def batch_mean(fn: Callable, cases: list[tuple[str, object, Task]], *args, reference: Callable | None = None,
               batch_axis: int | None = None, reference_on: Callable | None = None) -> str | None:
    """Diagnosis when the result on a batch is not the mean of the results on each prompt pair alone.

    ``batch_axis``: the result keeps the batch on that axis (GradPath): pair ``b`` alone must then
    give slice ``b``. ``reference(model, task)``: the right answer on the whole batch, used to
    say whether each pair alone is right; ``reference_on(model, task)`` computes it on another task,
    to name how pairs were mixed (:func:`_which_mix`).
    """
    for label, model, task in cases:
        full = _quiet(fn, model, task, *args)
        if full is None:
            continue
        singles = [_quiet(fn, model, task.subset([b]), *args) for b in range(task.batch_size)]
        if any(s is None for s in singles):
            continue
        if batch_axis is not None:
            if any(s.shape[batch_axis] != 1 for s in singles) or full.shape[batch_axis] != len(singles):
                continue
            together = torch.cat(singles, batch_axis)
            if _off(full, together):
                return ("the result for one prompt pair changes when other pairs are in the batch: run alone, "
                        "pair b gives other points than in the batch. Everything here is per pair " + MIXES
                        + f". (Seen on {label}.)")
            continue
        if any(s.shape != full.shape for s in singles):
            continue
        mean = torch.stack(singles).mean(0)
        if not _off(full, mean):
            continue
        B = task.batch_size
        if not _off(full, mean * B):
            return (f"your result on the batch is the SUM of your results on each prompt pair alone (B = {B} "
                    f"times their mean): it sums over the prompt pairs where it averages (a sum over the batch axis, "
                    f"or a stack on another axis that puts the batch where a sum is taken). (Seen on {label}.)")
        for b, which in ((0, "first"), (B - 1, "last")):
            if not _off(full, singles[b]):
                return (f"your result on the batch equals your result on the {which} prompt pair alone: the other "
                        f"pairs are dropped or overwritten (a loop over pairs that keeps the last value, an index "
                        f"[0] or [-1] on the batch axis); average over all pairs. (Seen on {label}.)")
        stacked = torch.stack(singles)
        for which, value in (("MEDIAN", stacked.median(0).values), ("LARGEST", stacked.max(0).values),
                             ("SMALLEST", stacked.min(0).values)):
            if _same(full, value) and _off(value, mean):  # a median or maximum is one of the pairs' own numbers
                return (f"your result on the batch is the {which} of your results on each prompt pair alone, entry "
                        f"by entry, not their mean: the pairs are combined with a {which.lower()} (median/max/min "
                        "over the batch axis) where the method averages them; use .mean(0) over the pairs. "
                        f"(Seen on {label}.)")
        weighted = pair_weights(full, singles)
        if weighted:
            return weighted + f" (Seen on {label}.)"
        crossed = _crossed(fn, model, task, args, singles[0])
        if crossed:
            return crossed + f" (Seen on {label}.)"
        right = reference is not None and not _off(mean, torch.as_tensor(reference(model, task)).double())
        mixed = _which_mix(full, model, task, reference_on, right) if reference_on is not None else None
        if right and mixed is None and reference_on is not None:
            mixed = _which_side(fn, model, task, args, reference_on)
        if mixed:
            return mixed + f" (Seen on {label}.)"
        lead = ("each prompt pair on its own gives the right numbers, but the batch does not: " if right else
                "your result on the batch is not the mean of your results on each prompt pair alone, and it must "
                "be (each pair's estimate is computed on its own, then averaged): ")
        return lead + "your function combines the pairs wrongly " + MIXES + f". (Seen on {label}.)"
    return None


CROSSED_CAUSE = ("every pair's delta is multiplied with EVERY pair's gradient, so the examples are crossed. The "
                 "batch index is summed separately in each factor (an einsum with a different batch letter in each "
                 "operand, e.g. 'b...,c...', or the batch summed in each factor before the product); keep one batch "
                 "index shared by both factors, sum over it, and divide by B.")
CROSSED_TEXT = ("on a batch of {B} copies of one prompt pair your result is {B} times that pair's own result (and "
                "on a real batch it is not the mean of the pairs): " + CROSSED_CAUSE)


def _crossed(fn: Callable, model, task: Task, args: tuple, single: torch.Tensor) -> str | None:
    """Whether ``fn`` on ``B`` copies of pair 0 gives ``B`` times pair 0's result ``single`` (where the mean of
    identical pairs is that pair's own): the sum over pairs ``b, c`` of ``delta_b . grad_c`` (crossed examples)."""
    B = task.batch_size
    if B < 2:
        return None
    copies = _quiet(fn, model, task.subset([0] * B), *args)
    if copies is None or copies.shape != single.shape or not _off(copies, single) or _off(copies, single * B):
        return None
    return CROSSED_TEXT.format(B=B)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to float32 rounding, relative to their scale however small (no absolute floor)."""
    scale = max(a.abs().max().item(), b.abs().max().item())
    return scale > 0 and (a - b).abs().max().item() <= EXACT_REL * scale


def _off(a: torch.Tensor, b: torch.Tensor) -> bool:
    return not close_to(a, b, PROBE_REL)


def pair_probes(fn: Callable, cases: list[tuple[str, object, Task]], wants: list[torch.Tensor], *args,
                reference_on: Callable, **identical) -> str | None:
    """The probes every per-pair estimate answers, in order: :func:`batch_mean`, then
    :func:`identical_prompts` (``identical``: its wording arguments). ``wants``: the reference on each
    case's whole batch, in the order of ``cases``; ``reference_on(model, task)``: it on another task."""
    refs = {id(model): want for (_, model, _), want in zip(cases, wants)}
    return batch_mean(fn, cases, *args, reference=lambda model, task: refs[id(model)],
                      reference_on=reference_on) or identical_prompts(fn, cases, *args, **identical)


def steps_probe(fn: Callable, cases: list[tuple[str, object, Task]], steps: int, reference: Callable,
                what: str, extra: tuple = (), corrupt_point: Callable | None = None) -> str | None:
    """Diagnosis from calling ``fn(model, task, s, *extra)`` at other step counts ``s``.

    ``reference(model, task, s)`` is the right answer with ``s`` steps. Right at one step but not at
    ``steps`` puts the mistake in the path (points, weights, the walk); matching the reference of
    another step count names that count. ``what``: "EAP-IG" or "GradPath" (wording).
    ``corrupt_point(model, task)``: EAP-IG's scores with the one point at the corrupt input.
    """
    others = [s for s in (steps - 1, steps + 1, 2 * steps, 2 * steps - 1, 2 * steps + 1) if s >= 1 and s != steps]
    one_right, at_corrupt, matched, firsts, all_right = True, corrupt_point is not None, None, [], True
    runs = []
    for label, model, task in cases:
        mine = _quiet(fn, model, task, steps, *extra)
        one = _quiet(fn, model, task, 1, *extra)
        if mine is None or one is None:
            return None
        all_right = all_right and not _off(mine, torch.as_tensor(reference(model, task, steps)).double())
        ref_one = torch.as_tensor(reference(model, task, 1)).double()
        one_right = one_right and not _off(one, ref_one)
        at_corrupt = at_corrupt and not _off(one, torch.as_tensor(corrupt_point(model, task)).double())
        firsts.append((one, ref_one))
        runs.append((model, task, one))
        if what == "EAP-IG":
            hits = [s for s in others if not _off(mine, torch.as_tensor(reference(model, task, s)).double())]
            matched = hits if matched is None else [s for s in matched if s in hits]
    if all_right:  # right at ``steps`` on these models: nothing to say here
        return None
    if matched:
        s = matched[0]
        how = {steps + 1: "one point too many", steps - 1: "one point too few"}.get(s, "the step count is scaled")
        return (f"your scores with m = {steps} steps are the right scores of m = {s} steps: the points or their "
                f"count are off ({how}): take alpha_k = k/m for k = 1..m, m points in all, and divide the sum by m.")
    if one_right and what == "EAP-IG":
        points = points_note(fn, runs[0][0], runs[0][1], steps)
        return ("with m = 1 (one point, the clean input: plain EAP) your scores are right, with more steps they are "
                "not: the mistake is in the path (its points, or how their gradients are combined), not in the "
                "scoring. The points are e(alpha) = e_corrupt + alpha (e_clean - e_corrupt) for alpha = k/m, "
                "k = 1..m (embeddings, not "
                "token ids), each point's gradient taken AT that point and weighted 1/m, and the delta is the same "
                "corrupt - clean difference at every step." + (" " + points if points else ""))
    if at_corrupt and not one_right:
        return ("with m = 1 your single point is the CORRUPT input (alpha = 0), where it must be the clean one: your "
                "alphas start at 0 (k = 0..m-1, or torch.linspace(0, 1, m)); the points are alpha = k/m for "
                "k = 1..m, so the last one is the clean input and m = 1 is plain EAP.")
    if not one_right and what == "EAP-IG" and (weights := weights_note(mine, model, task, steps, with_corrupt=True)):
        return weights + "."
    if what == "GradPath" and not one_right:
        geometry = first_step_geometry(firsts)
        if geometry is not None and "another direction" in geometry:
            return objective_of_first_step([(m, t, p.float()) for m, t, p in runs]) or geometry
        return geometry
    if one_right and what == "GradPath":
        return ("with one step your path is right, with more steps it is not: the first step is computed well but "
                "the next ones are not taken from the new point. At every step recompute the gradient at the "
                "CURRENT point (against the same target), normalise it per example, step by that step's eta, and "
                "append the new point.")
    return None


def first_step_geometry(firsts: list[tuple[torch.Tensor, torch.Tensor]]) -> str | None:
    """GradPath's first step (points ``[2, B, P, D]``, learner's and reference's): length or direction off?"""
    length_ok = direction_ok = True
    along_sign, flipped = bool(firsts), False
    ratios: list[tuple[torch.Tensor, int, torch.Tensor]] = []
    for mine, ref in firsts:
        if mine.shape != ref.shape or mine.shape[0] != 2 or _off(mine[0], ref[0]):
            return None  # another start or layout: the other probes say it
        d, r = (mine[1] - mine[0]).flatten(1), (ref[1] - ref[0]).flatten(1)  # [B, P*D]
        n_d, n_r = d.norm(dim=1), r.norm(dim=1)
        if bool((n_r <= 1e-12).any()):
            return None
        length_ok = length_ok and bool(((n_d - n_r).abs() <= 1e-2 * n_r).all())
        ratios.append((n_d / n_r, d.shape[1], n_r))
        cos = (d * r).sum(1) / (n_d * n_r).clamp_min(1e-30)
        direction_ok = direction_ok and bool((cos >= 0.999).all())
        flipped = (flipped or bool((cos <= -0.999).any())) and bool((cos.abs() >= 0.999).all())
        sr = r.sign()
        along_sign = along_sign and bool(((d * sr).sum(1) / (n_d * sr.norm(dim=1)).clamp_min(1e-30) >= 0.999).all())
    if flipped:
        return ("your first step lies along the gradient but goes the wrong way for some examples: their step "
                "length eta is negative. With step_size='scaled', eta is the norm of the difference, "
                "||e_clean - e_corrupt|| / steps, which is never negative (a difference of norms can be); a number or "
                "'unit' is positive too.")
    if along_sign and not direction_ok:
        return ("your first step follows the SIGN of the gradient (every coordinate moved by the same amount), not "
                "the gradient itself: divide g by its L2 norm per example (g / ||g||) and step by eta along it.")
    if length_ok and not direction_ok:
        return ("your first step has the right length (eta of each example) but another direction: the path "
                "follows minus the gradient of the OUTPUT distance to the corrupt run (the model's logits at the "
                "current point against the corrupt run's logits, every position and every logit, summed), taken "
                "with respect to the embedding; you follow the gradient of something else (another objective, "
                "some positions or logits only, a distance between embeddings, or the other end as target).")
    if direction_ok and not length_ok:
        for what, of_n in (("sqrt(n)", lambda n: n ** 0.5), ("1/sqrt(n)", lambda n: n ** -0.5)):
            if all(bool(((r - of_n(n)).abs() <= 1e-2 * of_n(n)).all()) for r, n, _ in ratios):
                how = ("divided by the RMS of the gradient (norm / sqrt(n)) instead of its L2 norm, so each step is "
                       "sqrt(n) times too long" if what == "sqrt(n)" else "divided by the norm times sqrt(n) (an "
                       "average over the n = positions x d_model entries), so each step is sqrt(n) times too short")
                return (f"your first step points the right way but its length is eta x {what} (n = positions x "
                        f"d_model): you {how}. Divide by g.flatten(1).norm(dim=1), the L2 norm of each example's "
                        "whole gradient.")
        if all(bool(((r * eta * eta - 1).abs() <= 1e-2).all()) for r, _, eta in ratios):  # a step of 1/eta
            return ("your first step points the right way but is 1/eta long where eta belongs: you divided by the "
                    "step size eta where you multiply by it (the step is eta * g / ||g||).")
        return ("your first step points the right way but has the wrong length: each example moves by its own eta "
                "(step_sizes(step_size, e_clean, e_corrupt, steps)), along the gradient divided by that example's "
                "L2 norm over all its positions and dimensions.")
    return None


SIDE_TEXT = ("each prompt pair alone gives the right numbers, and so does a batch whose pairs all share one {side} "
             "prompt, but your real batch does not: the {side} values of different pairs are mixed: {what} averaged "
             "over the batch ({ablation}), or one pair's {side} values read for another. Use each pair's own values "
             "(keep the batch axis: index [b], never .mean(0) before the end).")


BOTH_SIDES_TEXT = ("each prompt pair alone gives the right numbers, and so does a batch whose pairs share one corrupt "
                   "prompt or one clean prompt, but your real batch does not: values of different pairs are mixed: a "
                   "batch mean of the corrupt activations (a mean-ablation), of the clean activations or of the "
                   "gradients, or one pair's values read for another. Keep the batch axis until the end: index [b], "
                   "never .mean(0) of an activation or a gradient before the per-pair product.")


def _which_side(fn: Callable, model, task: Task, args: tuple, reference_on: Callable) -> str | None:
    """Whether the learner is right on batches whose pairs share one corrupt (or one clean) prompt: then
    it mixes that side's values across pairs (a batch mean of the activations, another pair's values)."""
    if task.attention_mask is not None or task.batch_size < 2:
        return None
    B = task.batch_size
    shared = {"corrupt": replace(task, corrupt=task.corrupt[:1].expand(B, -1).clone()),
              "clean": replace(task.subset([0] * B), corrupt=task.corrupt.clone())}
    ok = {}
    for side, other in shared.items():
        mine = _quiet(fn, model, other, *args)
        ok[side] = mine is not None and not _off(mine, torch.as_tensor(reference_on(model, other)).double())
    if ok["corrupt"] and ok["clean"]:  # e.g. a method linear in the delta: one shared clean prompt hides it
        return BOTH_SIDES_TEXT
    side = "corrupt" if ok["corrupt"] else "clean" if ok["clean"] else None
    if side is None:
        return None
    if side == "corrupt":
        return SIDE_TEXT.format(side=side, what="the corrupt activations", ablation="a batch-mean corrupt activation "
                                "is a mean-ablation, not the pair's own corrupt value")
    return SIDE_TEXT.format(side=side, what="the clean activations or the gradients (both from the clean run)",
                            ablation="a batch-mean clean activation or gradient")


def _which_mix(full: torch.Tensor, model, task: Task, reference_on: Callable, right: bool) -> str | None:
    """Whether ``full`` is the right answer with every pair's corrupt prompt replaced by another prompt: when
    each pair alone is ``right``, the first pair's or the next/previous pair's corrupt prompt (a batch index
    shifted by one); when not, the next/previous pair's CLEAN prompt (a resample-ablation within the clean run)."""
    B = task.batch_size
    tries = {"first": task.corrupt[:1].expand(B, -1), "next": task.corrupt.roll(-1, 0),
             "previous": task.corrupt.roll(1, 0)} if right else {
        "next": task.clean.roll(-1, 0), "previous": task.clean.roll(1, 0)}
    for which, corrupt in tries.items():
        other = replace(task, corrupt=corrupt.clone())
        if not _off(full, torch.as_tensor(reference_on(model, other)).double()):
            if not right:
                return (f"every prompt pair got the {which} pair's CLEAN values where its own corrupt values belong: "
                        "the patch writes in another prompt's activation from the clean run (the clean batch "
                        "shifted by one, a resample-ablation within the clean prompts), not the corrupt run's "
                        "value of the same pair; read the corrupt cache at the same example.")
            if which == "first":
                return ("every prompt pair got the FIRST pair's corrupt values: the corrupt activation (or delta) "
                        "of example 0 is used for every example (an index [0] or a broadcast over the batch); take "
                        "each example's own corrupt values, e.g. corr[:, ...] with the batch axis kept.")
            return (f"every prompt pair got the {which} pair's corrupt values: the batch index of the corrupt "
                    "values is shifted by one against the clean run's; use the same example on both sides.")
    return None
