"""Learner checks for the node-level chapters: patching loop, AtP, QK fix (queries, keys), GradDrop.

Every check runs the learner's function on the chapter's own model and batch and on two random
GPT-2s whose sizes all differ (:mod:`workbook.course.checks.cases`), guards against edited
inputs and results that change between calls, compares with the reference implementation and,
when it disagrees, lets :mod:`workbook.course.checks.diagnose_diff` name the relation (a named
wrong variant such as "softmax not recomputed", a sign, a scale factor, an offset, a shift, a
subset), reading the numbers of the chapter's model. Learner functions take ``(model, task)`` and
return a tensor (shapes below); values are
noising effects/estimates averaged over the batch.
"""

from __future__ import annotations

from typing import Callable

import torch

from workbook.attribution.atp import atp
from workbook.attribution.graddrop import graddrop
from workbook.core.task import Task
from workbook.course.checks._runner import CheckFailed, learner_check
from workbook.course.checks.atp_variants import atp_recipe_variants, z_parts
from workbook.course.checks.atp_variants import recipe_hints as atp_recipe_hints
from workbook.course.checks.batch_order import leads
from workbook.course.checks.case import REL, close_to, not_a_tensor
from workbook.course.checks.cases import (
    SHARP,
    call_guarded,
    describe_model,
    dims_of,
    factors_of,
    head_label,
    random_cases,
    separating_cases,
)
from workbook.course.checks.diagnose_diff import Case, diagnose
from workbook.course.checks.extra_cases import extra_cases_message
from workbook.course.checks.graddrop_variants import DROP_HINTS, drop_set_variants
from workbook.course.checks.neighbours import (
    ATP_POSITION_HINTS,
    NEIGHBOUR_HINTS,
    atp_position_variants,
    neighbour_variants,
    patch_head_positions,
    zero_ablation,
)
from workbook.course.checks.pass_count import pass_count_note
from workbook.course.checks.properties import pair_probes
from workbook.course.checks.qk_variants import qk_fix_variant, qk_reference, recipe_hints
from workbook.course.checks.quick import in_quick_order, remembered
from workbook.course.checks.shapes import shape_failure
from workbook.course.checks.source_lines import describe_numbers, own_metric
from workbook.course.checks.trace import case_clue
from workbook.models import zoo
from workbook.models.specimens import build
from workbook.patching.nodes import patch_nodes

__all__ = ["check_patch_heads", "check_atp_heads", "check_qk_fix_queries", "check_qk_fix_keys", "check_graddrop",
           "random_cases", "qk_fix_variant", "chapter_case"]


def chapter_case(chapter: int) -> tuple[str, object, Task]:
    """The chapter's own model and batch: ``(label, model, task)`` (loaded once per check call)."""
    return remembered(("chapter", chapter), lambda: _chapter_case(chapter))


def _chapter_case(chapter: int) -> tuple[str, object, Task]:
    if chapter == 0:
        model, task = zoo.load("induction", n=16, seed=0)
        return (f"the chapter's induction model ({describe_model(model, task)})", model, task)
    name = {1: "saturation", 2: "cancellation"}[chapter]
    model, task = build(name)
    return (f"the {name} specimen, the chapter's model ({describe_model(model, task)})", model, task)


def _cases(chapter: int) -> list[tuple[str, object, Task]]:
    return in_quick_order([chapter_case(chapter)] + separating_cases())


def _run(fn: Callable, chapter: int, axes: tuple[str, ...], build_ref: Callable, hints: list[tuple[str, str]],
         identical: dict | None = None, grad_run: str | None = "clean", plain_grads: bool = True,
         sharp: tuple[str, Callable] | None = None, passes: str = "", extra: tuple[str, ...] = ()) -> None:
    """Run ``fn`` on the chapter's case and the separating cases; raise :class:`CheckFailed` with a diagnosis.

    ``build_ref(model, task) -> (reference, {variant key: tensor}, {factor name: value})``;
    ``identical``: keyword arguments of :func:`properties.identical_prompts` (its wording); ``grad_run``: the
    run the method's gradients come from (None: no gradients); ``plain_grads``: they are the metric's own
    (not GradDrop's), for the trace's late clue (:func:`~workbook.course.checks.trace.foreign_gradient`).
    ``sharp``: ``(hint, exact_on)`` for a first-order estimate: when every case passes, one more model with
    peaked attention (:data:`cases.SHARP`), where the estimate and the exact effect ``exact_on(model, task)``
    differ; a function that gives the exact effect there is told ``hint``. ``passes``: the method that runs one
    backward pass per layer (GradDrop): a pass count that is another size leads the message (:mod:`.pass_count`).
    ``extra``: names of :data:`~.extra_cases.EXTRA`, cases run when every other one passed.
    """
    all_cases = _cases(chapter)
    cases = _collect(fn, all_cases, axes, build_ref)

    def props() -> str | None:
        return pair_probes(fn, all_cases[1:], [c.want for c in cases[1:]],
                           reference_on=lambda m, t: build_ref(m, t)[0], **(identical or {}))

    clue = case_clue(fn, all_cases[:2], grad_run=grad_run, plain_grads=plain_grads and grad_run is not None)
    message = leads(fn, all_cases, cases, diagnose(cases, hints, fn, properties=props, clue=clue))
    if sharp is not None:
        message = _exact_instead(fn, message, cases, all_cases, axes, build_ref, hints, sharp)
    if not message and extra:
        message = extra_cases_message(fn, extra, lambda more: _collect(fn, more, axes, build_ref, twice=False),
                                      lambda more: diagnose(more, hints, fn))
    if message and passes:
        lead = pass_count_note(fn, all_cases[1:2], passes)
        message = lead + message[0].upper() + message[1:] if lead else message
    if message:
        own = own_metric(fn)
        raise CheckFailed(own + message[0].upper() + message[1:] if own else message)


def _exact_instead(fn: Callable, message: str | None, cases: list[Case], all_cases: list[tuple], axes: tuple[str, ...],
                   build_ref: Callable, hints: list[tuple[str, str]], sharp: tuple[str, Callable]) -> str | None:
    """For a first-order estimate, the exact effect it estimates told apart (``sharp`` of :func:`_run`): a failing
    function that gives the exact effect on every case (to the pass tolerance) is told so; a passing one is run once
    more on the peaked model, where the two differ by 10-30 %."""
    hint, exact_on = sharp
    if message:
        if all(close_to(c.got, exact_on(model, task), REL) for c, (_, model, task) in zip(cases, all_cases)):
            return f"{hint} {describe_numbers(next(c for c in cases if not c.passes))}"
        return message
    peaked = separating_cases(**SHARP)
    more = _collect(fn, peaked, axes, build_ref, twice=False)
    for c, (_, model, task) in zip(more, peaked):
        c.variants["exact"] = exact_on(model, task)
    return diagnose(more, [("exact", hint)] + hints, fn)


def _collect(fn: Callable, all_cases: list[tuple], axes: tuple[str, ...], build_ref: Callable,
             twice: bool = True) -> list[Case]:
    """``fn`` on each case, shape-checked (the last case called twice when ``twice``), as :class:`Case` s."""
    cases = []
    for i, (label, model, task) in enumerate(all_cases):
        dims = dims_of(model, task)
        shape = tuple(dims[a] for a in axes)
        out = call_guarded(fn, model, task, twice=twice and i == len(all_cases) - 1, dims=dims, label=label)
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(not_a_tensor(out, "a torch.Tensor"))
        if tuple(out.shape) != shape:
            raise CheckFailed(shape_failure(fn, all_cases[i:], (), tuple(out.shape), axes, dims_of))
        ref, variants, extra = remembered((build_ref, id(model), id(task)), lambda: build_ref(model, task),
                                          model, task)
        clean_m, corr_m = task.baselines(model)
        cases.append(Case(label, out, ref, tuple(AXIS_WORD[a] for a in axes),
                          factors=factors_of(model, task, **extra), variants=variants,
                          scalars={"M(clean)": clean_m, "M(corrupt)": corr_m,
                                   "M(clean) - M(corrupt)": clean_m - corr_m,
                                   "M(corrupt) - M(clean)": corr_m - clean_m},
                          name_of=head_label))
    return cases


AXIS_WORD = {"n_layers": "layer", "n_heads": "head", "seq": "position"}
BATCH_TOO_BIG = ("values are B times too large (B = the number of prompt pairs): either you summed over the batch "
                 "instead of averaging, or you multiplied by B a gradient that is already per example "
                 "(cache_activations_and_grads undoes the batch mean's 1/B for you).")


# --------------------------------------------------------------------------- patching loop
def _patch_ref(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    ref_s = patch_nodes(model, task, "head")
    ref = ref_s.values.reshape(L, H)
    per_ex = ref_s.per_example.reshape(-1, L, H)
    per_pos = patch_nodes(model, task, "head", per_position=True).values.reshape(L, H, task.seq_len)
    clean_v, corr_v = task.baselines(model)
    return ref, {
        "den": patch_nodes(model, task, "head", direction="denoising").values.reshape(L, H),
        "nosub": ref + clean_v,
        "corr_base": ref + clean_v - corr_v,
        "last": per_pos[..., -1],
        "first_pos": per_pos[..., 0],
        "first_ex": per_ex[0],
        "last_ex": per_ex[-1],
        "zero_ablation": zero_ablation(model, task),
        "complement": zero_ablation(model, task, complement=True),
        "all_but_last_pos": patch_head_positions(model, task, slice(None, -1)),
        **neighbour_variants(patch_nodes, model, task),
    }, {}


@learner_check
def check_patch_heads(fn: Callable) -> None:
    """``fn(model, task) -> Tensor[n_layers, n_heads]``: M(clean, head := corrupt) - M(clean)."""
    _run(fn, 0, ("n_layers", "n_heads"), _patch_ref, identical={"kind": "patching"}, grad_run=None,
         extra=("small", "nonlinear"), hints=[
        ("last", "you patched only the last position: a head's output at EVERY position can matter (a later "
                 "head reads earlier positions); write the corrupt values into act[:, :, h] for all positions."),
        ("den", "you patched clean activations into the corrupt run (denoising); here we noise: corrupt "
                "values into the clean run."),
        ("first_pos", "you patched only the first position (an index such as 0 or `:1` where `:` belongs): patch "
                      "head h at every position, act[:, :, h]."),
        ("nosub", "you returned M(patched) without subtracting M(clean)."),
        ("zero_ablation", "this is zero-ablation: you set the head's output to 0. Activation patching writes its "
                 "CORRUPT output (cached from the corrupt run) into the clean run."),
        ("corr_base", "you subtracted M(corrupt) instead of M(clean): the baseline of a noising effect is the "
                      "clean run."),
        ("first_ex", "these are the effects on the FIRST prompt pair only: average the metric over the batch "
                     "(task.metric_value does it), do not index example 0."),
        ("last_ex", "these are the effects on the LAST prompt pair only: average the metric over the batch."),
        ("scale:B", BATCH_TOO_BIG),
    ] + NEIGHBOUR_HINTS)


# --------------------------------------------------------------------------- AtP
def _atp_ref(model, task):
    L, H, T = model.cfg.n_layers, model.cfg.n_heads, task.seq_len
    parts = z_parts(model, task)
    ref_s = atp(model, task, "head")
    ref = ref_s.values.reshape(L, H)
    den = atp(model, task, "head", direction="denoising").values.reshape(L, H)
    per_pos = atp(model, task, "head", per_position=True).values.reshape(L, H, T)
    return ref, {"corrupt_grad": -den, "den": den, "avg_grad": (ref - den) / 2, "last": per_pos[..., -1],
                 "first_pos": per_pos[..., 0],
                 "first_ex": ref_s.per_example.reshape(-1, L, H)[0], "abs": per_pos.abs().sum(-1),
                 **neighbour_variants(atp, model, task), **atp_position_variants(model, task, parts),
                 **atp_recipe_variants(model, task, parts)}, {}


@learner_check
def check_atp_heads(fn: Callable) -> None:
    """``fn(model, task) -> Tensor[n_layers, n_heads]``: noising AtP of each head output (hook_z)."""
    _run(fn, 0, ("n_layers", "n_heads"), _atp_ref, extra=("small", "nonlinear"), hints=[
        ("last", "you summed only the last position: the metric is read at the last position, but a head's "
                 "output at every position reaches it (through later heads); sum (Δz · grad) over ALL positions "
                 "and d_head."),
        ("corrupt_grad", "you took the gradient on the corrupt run; take it on the clean run."),
        ("avg_grad", "you averaged the gradients of the clean and the corrupt run: AtP (noising) takes the gradient "
                     "on the clean run only (averaging gradients along the way is what integrated gradients do)."),
        ("den", "you computed the denoising estimate (clean - corrupt) x gradient on the corrupt run."),
        ("first_pos", "you summed only the first position: sum (Δz · grad) over ALL positions and d_head."),
        ("first_ex", "these are the estimates of the FIRST prompt pair only: average over the batch (.mean(0))."),
        ("abs", "you took |Δz · grad| per position before summing: keep the sign and sum the products."),
        ("scale:1/B", "values are 1/B too small: the backward of a batch MEAN scales each example's gradient by "
                      "1/B; cache_activations_and_grads already undoes it, so do not divide again, or sum the "
                      "products over examples before dividing once."),
        ("scale:B", BATCH_TOO_BIG),
    ] + NEIGHBOUR_HINTS + ATP_POSITION_HINTS + atp_recipe_hints())


# --------------------------------------------------------------------------- QK fix
def _exact_qk(kind: str) -> Callable:
    def exact(model, task):
        L, H, T = model.cfg.n_layers, model.cfg.n_heads, task.seq_len
        return patch_nodes(model, task, kind, per_position=True, progress_bar=False).values.reshape(L, H, T)
    return exact


def _check_qk(fn: Callable, kind: str) -> None:
    noun = "query" if kind == "q" else "key"
    exact = (f"your numbers are the EXACT effects of patching each {noun} (activation patching: a forward pass per "
             f"layer, head and position), not the QK fix's estimate of them. On models whose attention is near "
             f"uniform the two agree; on one with peaked attention they differ. The exercise asks for the estimate: "
             f"recompute the pattern with the corrupt {noun} (the exact softmax) and multiply its change by "
             "dM/dpattern of the clean run (one backward pass for all of them, no forward pass per position).")
    _run(fn, 1, ("n_layers", "n_heads", "seq"), qk_reference(kind), identical={"kind": "pattern", "noun": noun},
         sharp=(exact, _exact_qk(kind)),
         hints=[
        ("sign", f"sign flipped: use (pattern with the corrupt {noun}) - (clean pattern)."),
        ("plain", f"softmax not recomputed: this is plain AtP on hook_{kind}. Recompute the pattern with the "
                  f"corrupt {noun} and multiply its exact change by dM/dpattern."),
        ("other", f"these are the QK-fix values of the {'keys' if kind == 'q' else 'queries'}: you patched the "
                  f"{'key' if kind == 'q' else 'query'} (hook_{'k' if kind == 'q' else 'q'}) instead of the {noun}."),
        ("at_once", "keys patched all at once instead of one at a time: patch key s alone (only column s "
                    "changes, then each row is re-softmaxed)."),
        ("noscale", "the scores are not divided by sqrt(d_head): the model's attention divides q·k by "
                    "attn_scale(model, layer) before the softmax, so your patterns are not the model's."),
        ("nomask", "no causal mask: query t may only attend to keys s <= t; fill the scores with -inf where "
                   "s > t before the softmax."),
        ("triu", "the causal mask is transposed (triu instead of tril): query t attends to keys s <= t, so keep "
                 "the lower triangle (`torch.ones(T, T, dtype=torch.bool).tril()`) and fill -inf above it."),
        ("softmax_dim", "your softmax runs over the wrong axis, the queries (dim=-2), not the keys: the scores are "
                        "[B, H, query t, key s] and each query's row must sum to 1, so normalise over the keys "
                        "(`.softmax(-1)`)."),
        ("per_row", "you summed the pattern change over the query rows (one number per KEY): the query at t "
                    "changes row t only, so sum (A' - A) * grad over the keys, `.sum(-1)`, giving one per query."),
        ("grad_scores", "you multiplied the pattern change by dM/dscores (the gradient at hook_attn_scores, before "
                        "the softmax): the change is in the PATTERN, so use dM/dpattern (gradient at hook_pattern)."),
        ("diagonal", "you kept only row t = s of key s's change: patching key s changes column s of EVERY row "
                     "t >= s and re-normalises those rows; sum (A' - A) * grad over all rows and keys."),
        ("added", f"you added the corrupt {noun} to the clean one (+=) instead of replacing it: the patched {noun} "
                  f"is the corrupt {noun} itself."),
        ("corrupt_pattern", f"you used the corrupt run's whole attention pattern (every query AND key corrupt) as "
                            f"the patched pattern: patch only the one {noun} and keep every other query and key "
                            "clean, then recompute the softmax."),
        ("swapped", "clean and corrupt are swapped: the patterns are computed from the corrupt run with the "
                    f"clean {noun} patched in. Noising keeps the clean run and patches in the corrupt {noun}."),
        ("zero", f"every value of yours is 0: your patched pattern equals the clean one, or the change is summed "
                 f"only where it is 0. Is the pattern computed from the clean {noun} instead of the patched copy "
                 "(e.g. k2, the tensor you edited)? Is the change summed where it can be nonzero (the query "
                 "at t changes row t; the key at s changes column s in the rows t >= s that can see it, not the "
                 "rows t < s)? Is the change summed over the keys BEFORE it is multiplied by the gradient (a "
                 "softmax row sums to 1, so its change sums to 0)? Or is a difference taken of an activation with "
                 "itself (both caches from the same run, e.g. the clean cache taken on the corrupt tokens), or a "
                 "gradient that never arrives?"),
    ] + recipe_hints(noun) + [
        ("subset:layer:last", "only the last layer is right; every other layer differs. In the last layer only the "
                              "last query row carries gradient (the metric is read at the last position), and the "
                              "last query sees every key, so the causal mask cannot matter there; in the earlier "
                              "layers every row counts. So look at what your patterns do in the rows before the last: "
                              "the keys a query must not see (s > t: the causal mask missing, filled with 0 instead "
                              "of -inf, applied after the softmax or to only one of your two patterns), rows of the "
                              "new pattern that are not recomputed (left at 0 or at the clean values), or a patched "
                              "copy that is not fresh in each iteration (cloned once outside the position loop, so "
                              "earlier patches stay in). Otherwise: a layer index fixed to -1 or off by one, or "
                              "earlier entries overwritten by later iterations?"),
        ("scale:B", BATCH_TOO_BIG),
    ])


@learner_check
def check_qk_fix_queries(fn: Callable) -> None:
    """``fn(model, task) -> Tensor[n_layers, n_heads, seq]``: QK fix for the query at each position."""
    _check_qk(fn, "q")


@learner_check
def check_qk_fix_keys(fn: Callable) -> None:
    """``fn(model, task) -> Tensor[n_layers, n_heads, seq]``: QK fix, each key position patched on its own."""
    _check_qk(fn, "k")


# --------------------------------------------------------------------------- GradDrop
def _graddrop_ref(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    ref_s = graddrop(model, task, "head")
    ref = ref_s.values.reshape(L, H)
    per_pass = ref_s.info["per_pass"]  # [L, B, n] signed
    plain = atp(model, task, "head").per_example  # [B, n]
    layer = torch.arange(L).repeat_interleave(H)
    return ref, {
        "resid": (plain.abs() * layer[None] / (L - 1)).mean(0).reshape(L, H),
        "abs_after": (per_pass.mean(1).abs().sum(0) / (L - 1)).reshape(L, H),
        "no_abs": (per_pass.sum(0) / (L - 1)).mean(0).reshape(L, H),
        "squared": (per_pass.square().sum(0) / (L - 1)).mean(0).reshape(L, H),
        "accumulate": (per_pass.cumsum(0).abs().sum(0) / (L - 1)).mean(0).reshape(L, H),
        "plain_abs": (plain.abs() * L / (L - 1)).mean(0).reshape(L, H),
        "first_ex": (per_pass[:, 0].abs().sum(0) / (L - 1)).reshape(L, H),
        "last_ex": (per_pass[:, -1].abs().sum(0) / (L - 1)).reshape(L, H),
        **drop_set_variants(model, task),
    }, {"L-1": L - 1, "1/(L-1)": 1 / (L - 1), "(L-1)/L": (L - 1) / L, "L/(L-1)": L / (L - 1)}


@learner_check
def check_graddrop(fn: Callable) -> None:
    """``fn(model, task) -> Tensor[n_layers, n_heads]``: GradDrop scores of head outputs (hook_z)."""
    _run(fn, 2, ("n_layers", "n_heads"), _graddrop_ref, [
        ("resid", "dropped the residual stream too: stop the gradient only at hook_attn_out and hook_mlp_out, "
                  "not at the block output."),
        ("abs_after", "abs taken after averaging: take |estimate| per prompt pair and pass, then average."),
        ("no_abs", "no absolute value: sum |estimate_l| over the passes, not the signed estimates."),
        ("squared", "you squared each pass's estimate: GradDrop sums the ABSOLUTE values |estimate_l| (a square "
                    "weighs large passes more and changes the units)."),
        ("accumulate", "gradients accumulate across your backward passes: pass l sees the sum of passes 0..l. "
                       "Clear what you stored (or zero .grad) before each metric.backward(...)."),
        ("plain_abs", "nothing is dropped in any pass: each pass gives plain AtP. The gating hook must return zeros "
                      "for layer l's hook_attn_out/hook_mlp_out in pass l (is it registered as a BACKWARD hook, and "
                      "does it read the current layer?)."),
        ("first_ex", "these are the scores of the FIRST prompt pair only: take |estimate| per pair and pass, then "
                     "average over ALL pairs."),
        ("last_ex", "these are the scores of the LAST prompt pair only (a loop over examples that overwrites its "
                    "result?): average over all pairs."),
        ("subset:layer:last", "only the last layer is right. Its nodes have nothing downstream to drop, so every "
                              "pass but their own is plain AtP there, and only the last position carries gradient "
                              "there, so a |.| taken per position cannot show in that layer; the layers below are "
                              "wrong. Check the passes: in pass l stop the gradient through BOTH layer l's attention "
                              "and MLP outputs (hook_attn_out and hook_mlp_out, nothing else; the gate's condition "
                              "drops layer l only), take |estimate| per pair of the estimate SUMMED over positions and "
                              "d_head (not per position) in EVERY pass, and SUM the L - 1 passes that do not drop the "
                              "node's own layer (not a max or a single pass)."),
        ("zero", "every value of yours is 0: the gradients (or the deltas) you multiply are zeros. Did you clear the "
                 "gradients after the backward and before reading them (clear the store BEFORE each backward, read "
                 "it after)? Is the store keyed by hook.name and read by the registered name (TransformerLens 4 "
                 "reports another hook.name, so every lookup misses)? Does a gate drop every layer in every pass, or "
                 "are both caches from the same run (e.g. the clean cache taken on the corrupt tokens)?"),
    ] + DROP_HINTS + [
        ("scale:(L-1)/L", "divided by L instead of L-1 (the pass that drops the node's own layer is always 0)."),
        ("scale:L-1", "forgot to divide by L-1."),
        ("scale:1/B", "values are 1/B too small: the metric is a batch MEAN, so each example's gradient carries a "
                      "factor 1/B; multiply the gradients by B (task.batch_size) before |estimate| per example."),
        ("scale:B", "values are B times too large: you multiplied the gradients by B and also summed (instead of "
                    "averaging) over the prompt pairs, or multiplied by B twice."),
    ], plain_grads=False, passes="GradDrop")  # its gradients are the metric's with layers dropped, not its own
