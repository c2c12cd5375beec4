"""Learner checks for chapters 03-04: EAP, EAP-IG and GradPath.

Learner signatures (noising; shapes in brackets):

* ``eap_fn(model, task) -> Tensor[n_sources, n_destinations]`` batch-mean edge matrix in
  :class:`~workbook.arch.graph.Graph` order, zero where there is no edge;
* ``eap_ig_fn(model, task, steps) -> Tensor[n_sources, n_destinations]`` (inputs variant, ``alpha = k/m``; also run
  with m = 1, plain EAP: :mod:`.step_counts`);
* ``gradpath_fn(model, task, steps, step_size) -> Tensor[steps + 1, B, P, d_model]`` path
  points starting at the clean embedding (see :func:`workbook.attribution.eap_gp.gradpath`).

Each check runs the learner's function on the chapter's specimen and on two random GPT-2s whose
sizes all differ (:mod:`workbook.course.checks.cases`), and names the mistake with
:mod:`workbook.course.checks.diagnose_diff`: a planted wrong variant, or a relation (sign,
scale factor such as ``m`` or ``B``, offset, shift, agreement on some edge groups only).
"""

from __future__ import annotations

import torch

from workbook.arch.graph import Graph
from workbook.attribution.eap import edge_scores_from_grads
from workbook.attribution.eap_gp import gradpath
from workbook.attribution.eap_ig import eap_ig
from workbook.core.runs import cache_activations, cache_activations_and_grads
from workbook.core.task import Task
from workbook.course.checks._runner import CheckFailed, learner_check
from workbook.course.checks.case import not_a_tensor
from workbook.course.checks.cases import call_guarded, describe_model, dims_of, factors_of, separating_cases
from workbook.course.checks.diagnose_diff import ZERO_TEXT, Case, diagnose, shape_message
from workbook.course.checks.gradpath_variants import GP_HINTS, gradpath_variants
from workbook.course.checks.neighbours import METRIC_WORDS, other_metrics
from workbook.course.checks.properties import batch_mean, pair_probes, steps_probe
from workbook.course.checks.quick import in_quick_order, remembered
from workbook.course.checks.shapes import off_edge_words, shape_failure
from workbook.course.checks.step_counts import one_step_failure
from workbook.course.checks.trace import case_clue
from workbook.models.loading import build_gpt2
from workbook.models.specimens import build

__all__ = ["check_eap", "check_eap_ig", "check_gradpath", "random_cases", "reference_eap_matrix",
           "eap_variants", "eap_ig_variants", "gradpath_variants"]


def random_cases(seeds=(11, 12)) -> list[tuple]:
    """Small random GPT-2s with a random clean/corrupt task each: ``[(model, task), ...]``."""
    cases = []
    for s in seeds:
        model = build_gpt2(seed=s, n_layers=2, d_model=16, n_heads=2, d_vocab=20, n_ctx=8)
        g = torch.Generator().manual_seed(s)
        clean = torch.randint(0, 20, (3, 5), generator=g)
        corrupt = clean.clone()
        corrupt[:, :2] = torch.randint(0, 20, (3, 2), generator=g)
        answer = torch.randint(0, 10, (3,), generator=g)
        cases.append((model, Task(clean, corrupt, answer, answer + 10)))
    return cases


def _specimen_cases() -> list[tuple]:
    return [build("flat_region")]


def _check_cases(chapter: int) -> list[tuple[str, object, Task]]:
    """The chapter's specimen first (its numbers go in the messages), then the separating models."""
    name = {3: "flat_region", 4: "path_saturation"}[chapter]
    model, task = remembered(("specimen", name), lambda: build(name))
    return in_quick_order([(f"the {name} specimen, the chapter's model ({describe_model(model, task)})", model, task)]
                          + separating_cases())


def _edge_groups(graph: Graph) -> dict[str, torch.Tensor]:
    src, dst = graph.sources, graph.destinations
    col = {"edges into queries": [d.endswith(".q") for d in dst], "edges into keys": [d.endswith(".k") for d in dst],
           "edges into values": [d.endswith(".v") for d in dst], "edges into MLPs": [d.startswith("MLP") for d in dst],
           "edges into the logits": [d == "logits" for d in dst]}
    row = {"edges out of the embedding": [s_ == "embed" for s_ in src],
           "edges out of MLPs": [s_.startswith("MLP") for s_ in src],
           "edges out of heads": [s_.startswith("L") for s_ in src]}
    out = {k: torch.tensor(v)[None, :].expand(len(src), -1) & graph.edge_mask for k, v in col.items()}
    out.update({k: torch.tensor(v)[:, None].expand(-1, len(dst)) & graph.edge_mask for k, v in row.items()})
    return out


def _mean_matrix(per_ex: torch.Tensor) -> torch.Tensor:
    return per_ex.mean(0)


def eap_variants(model, task: Task) -> dict[str, torch.Tensor]:
    """The reference EAP matrix and the planted mistakes' matrices (``[n_src, n_dst]`` each)."""
    graph = Graph.from_model(model)
    _, corr, g_corr = cache_activations_and_grads(
        model, task, list(graph.source_hooks), list(graph.dest_hooks), tokens=task.corrupt
    )
    _, clean, g_clean = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    g_dest = graph.stack_dest_grads(g_clean)
    per_pair = edge_scores_from_grads(deltas, g_dest, graph)
    ref = _mean_matrix(per_pair)
    last_pos = _mean_matrix(edge_scores_from_grads(deltas[:, :, -1:], g_dest[:, :, -1:], graph))
    means_first = edge_scores_from_grads(deltas.mean(1, keepdim=True), g_dest.mean(1, keepdim=True), graph)[0]
    wrong_run = _mean_matrix(edge_scores_from_grads(deltas, graph.stack_dest_grads(g_corr), graph))
    avg_grad = (ref + wrong_run) / 2
    # gradient at each source's own output: every edge out of u gets AtP(u) = sum_v EAP(u->v)
    at_source = ref.sum(1, keepdim=True) * graph.edge_mask.to(ref.dtype)
    return {
        "reference": ref,
        "sign": -ref,
        "wrong_run": wrong_run,
        "denoising": -wrong_run,
        "last_pos": last_pos,
        "means_first": means_first,
        "at_source": at_source,
        "no_mean": ref * task.batch_size,
        "avg_grad": avg_grad,
        "abs_per_pair": per_pair.abs().mean(0),
        "squared": per_pair.square().mean(0),
        "abs_delta": _mean_matrix(edge_scores_from_grads(deltas.abs(), g_dest, graph)),
        "unit_delta": _mean_matrix(edge_scores_from_grads(deltas / deltas.norm(dim=-1, keepdim=True).clamp_min(1e-12),
                                                          g_dest, graph)),
        "sums_product": _mean_matrix(edge_scores_from_grads(deltas.sum(-1, keepdim=True), g_dest.sum(-1, keepdim=True),
                                                            graph)),
        **{f"metric_{k}": reference_eap_matrix(model, t) for k, t in other_metrics(task).items()},
    }


def reference_eap_matrix(model, task: Task) -> torch.Tensor:
    """The reference EAP matrix alone, ``[n_src, n_dst]`` (noising, batch mean), without the planted variants."""
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, g = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return _mean_matrix(edge_scores_from_grads(deltas, graph.stack_dest_grads(g), graph))


def _matrix(scores, graph: Graph) -> torch.Tensor:
    m = torch.zeros(graph.edge_mask.shape, dtype=scores.values.dtype)
    m[graph.edge_mask] = scores.values
    return m


def eap_ig_variants(model, task: Task, steps: int) -> dict[str, torch.Tensor]:
    """Reference EAP-IG (inputs, k = 1..m) and planted mistakes, ``[n_src, n_dst]`` each."""
    graph = Graph.from_model(model)
    m = steps

    def at(alphas) -> torch.Tensor:  # EAP-IG with the points e_corrupt + a (e_clean - e_corrupt), a in alphas
        return _matrix(eap_ig(model, task, len(alphas), alphas=list(alphas)), graph)

    ref, corrupt_end, eap_m = _matrix(eap_ig(model, task, m), graph), at([k / m for k in range(m)]), \
        eap_variants(model, task)["reference"]
    out = {
        "reference": ref,
        "sign": -ref,
        "corrupt_end": corrupt_end,
        "no_average": ref * m,
        "activations": _matrix(eap_ig(model, task, m, variant="activations"), graph),
        "last_point": eap_m,
        "zero_to_m": (m * corrupt_end + eap_m) / (m + 1),
        # other quadrature rules of the same path: the points or their weights
        "midpoint": at([(k - 0.5) / m for k in range(1, m + 1)]),
        "trapezoid": (ref + corrupt_end) / 2,
        "no_clean_end": (m * ref - eap_m) / m,
        "no_clean_end_m1": (m * ref - eap_m) / (m - 1) if m > 1 else ref * 0,
        "reversed": at([-k / m for k in range(1, m + 1)]),
        "clean_twice": (m * ref + eap_m) / (m + 1),
        # every point's delta scaled by its alpha, the gradient always the clean one: EAP times mean(alpha)
        "alpha_scaled_delta": eap_m * (m + 1) / (2 * m),
    }
    if m > 1:
        out["linspace"] = at([k / (m - 1) for k in range(m)])
    return out


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    a, b = a.detach().double(), b.detach().double()
    return (
        a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-3) and not torch.allclose(b, torch.zeros_like(b))
    )


ONLY_EMBED = ("only the edges out of the embedding are right: every other source's delta must be that source's own "
    "write, z_u(corrupt) - z_u(clean) at its hook (a head's output, an MLP's output), not the embedding's change "
    "or another source's.")

EAP_HINTS = {
    "sign": "the sign is flipped: the delta must be z(corrupt) - z(clean) (noising), not clean - corrupt, and the "
    "gradient that of the metric M itself (not of a loss -M).",
    "wrong_run": "you took the gradient on the corrupt run; EAP (noising) differentiates the CLEAN run.",
    "avg_grad": "you averaged the gradients of the clean and the corrupt run: EAP (noising) takes the gradient on the "
    "clean run only (averaging gradients along a path is EAP-IG).",
    "at_source": "every edge out of a source has the same score: you used the gradient at the source's "
    "output (dM/dz_u) instead of at each destination's input (before its LayerNorm), "
    "so the destination's LN Jacobian and path are missed.",
    "last_pos": "you kept only the last position: the metric is read there, but a source's output at EVERY "
    "position reaches later destinations through attention; sum the products over positions (p) too.",
    "means_first": "you averaged the deltas and the gradients over the batch BEFORE multiplying them: the mean "
    "of a product is not the product of the means; multiply per example (the einsum keeps b), then average.",
    "denoising": "this is the denoising estimate: (clean - corrupt) times the gradient on the corrupt run. "
    "Noising takes z(corrupt) - z(clean) and differentiates the clean run.",
    "no_mean": "the scores are B times too large: the gradients are per example, so the einsum sums over the "
    "batch; divide by B (task.batch_size) to get the batch mean.",
    "scale:B": "the scores are B times too large: the gradients of cache_activations_and_grads are already per "
    "example, so the einsum sums over the batch; divide by B (task.batch_size) once, not zero times.",
    "scale:1/B": "the scores are 1/B too small: the gradients are already per example (the batch mean's 1/B "
    "undone), so divide the einsum's sum over the batch by B exactly once.",
    "abs_per_pair": "you took |score| per prompt pair before averaging: EAP keeps the sign; average the signed "
    "per-pair scores over the batch (an absolute value belongs to ranking, after the average).",
    "zero": ZERO_TEXT[:-2] + "; or the delta and the gradient each summed over d_model before they meet (no dot "
    "product): the gradient at a LayerNorm's input sums to 0 over d_model, so that product is 0).",
    **{f"metric_{k}": f"these scores differentiate {w}, not the task's metric: take the gradient of "
                      "task.metric_value(logits) (the logit difference, averaged over the batch)." for k, w in
       METRIC_WORDS.items()},
    "squared": "you squared each pair's score ((delta . grad)^2): EAP is the signed product delta . grad, summed "
    "over positions and d_model, averaged over pairs.",
    "abs_delta": "you took the absolute value of the delta (|z(corrupt) - z(clean)|): keep its sign, the direction "
    "of the change matters as much as its size.",
    "unit_delta": "you normalised the delta to unit length: EAP multiplies the raw change z(corrupt) - z(clean) by "
    "the gradient; its size is part of the estimate.",
    "sums_product": "you multiplied the delta's sum over d_model by the gradient's sum (no dot product): pair each "
    "d_model component of the delta with the same component of the gradient, then sum ('sbpd,tbpd->st').",
    "scale:B/n_sources": "you divided the sum over the batch by the number of sources (e.g. deltas.shape[0] of a "
    "[n_sources, batch, ...] stack) where the batch size B belongs: average over the batch axis.",
    "groups:edges out of MLPs,edges out of heads": ONLY_EMBED,
}

IG_HINTS = {
    "sign": "the sign is flipped: the delta must be z(corrupt) - z(clean).",
    "corrupt_end": "your alphas include the corrupt endpoint (k = 0..m-1); the paper uses k = 1..m, "
    "which ends at the clean input (so m = 1 is EAP). Walking from clean toward corrupt "
    "gives the same wrong set of points.",
    "no_average": "the scores are m times too large: average the gradients over the m steps.",
    "activations": "this matches the activations variant: interpolate the INPUT embedding (hook_embed) "
    "and let the model recompute everything downstream.",
    "last_point": "these are the plain EAP scores: every gradient was taken at the clean input (alpha = 1). Is the "
    "interpolated embedding actually used (the straight-through hook passed to the run, with THIS step's "
    "target bound, e.g. `target=target`)?",
    "zero_to_m": "you averaged m + 1 points (k = 0..m): the paper's points are k = 1..m (m = 1 is EAP).",
    "midpoint": "you took the midpoints alpha = (k - 1/2)/m of the m intervals; the points are alpha = k/m for "
    "k = 1..m (the right end of each interval, so the last one is the clean input).",
    "trapezoid": "this is the trapezoid rule (k = 0..m, the two end points weighted 1/2); EAP-IG averages the m "
    "points alpha = k/m, k = 1..m, with equal weights.",
    "no_clean_end": "the clean end point (k = m, alpha = 1) is missing: your loop stops one point early (k = 1..m-1, "
    "e.g. range(1, m)); take k = 1..m, so m points, and divide by m.",
    "no_clean_end_m1": "you averaged the m - 1 points k = 1..m-1: the clean end point (alpha = 1) is missing; take "
    "k = 1..m (range(1, m + 1)).",
    "reversed": "your points run the wrong way, past the corrupt input: e_corrupt + alpha (e_corrupt - e_clean) "
    "extrapolates beyond it. Interpolate e_corrupt + alpha (e_clean - e_corrupt), alpha = k/m.",
    "clean_twice": "the clean point (alpha = 1) is counted twice: m + 1 gradients averaged, the last one again at "
    "the clean input; take the m points alpha = k/m, k = 1..m, each once.",
    "linspace": "your points are torch.linspace(0, 1, m): they include the corrupt end (alpha = 0) and are spaced "
    "1/(m-1); the points are alpha = k/m for k = 1..m.",
    "scale:m": "the scores are m times too large: average the gradients over the m steps (divide the sum by m).",
    "scale:1/m": "the scores are m times too small: divide the gradient sum by m once, not twice.",
    "scale:m/(m+1)": "the scores are m/(m+1) of the expected: you divided the sum of m gradients by m + 1.",
    "scale:B": "the scores are B times too large: divide the einsum's sum over the batch by B once.",
    "scale:1/B": "the scores are 1/B too small: the gradients are already per example (the batch mean's 1/B undone), "
    "so you divided by B once too often.",
    "alpha_scaled_delta": "you scaled each point's delta by its alpha and kept the clean gradient at every point: "
    "in EAP-IG the delta is the same z(corrupt) - z(clean) at every step, and the GRADIENT is taken at each "
    "interpolated point (the input embedding moved to e_corrupt + alpha (e_clean - e_corrupt)).",
    "scale:B/n_sources": EAP_HINTS["scale:B/n_sources"],
    "groups:edges out of MLPs,edges out of heads": ONLY_EMBED,
}


def _edge_dims(model, task, graph: Graph | None = None) -> dict[str, int]:
    """The named sizes of a case, with the graph's ``n_sources`` and ``n_destinations``."""
    graph = graph or Graph.from_model(model)
    return {**dims_of(model, task), "n_sources": len(graph.sources), "n_destinations": len(graph.destinations)}


def _edge_shape_failure(fn, cases: list, extra_args: tuple, first_shape: tuple[int, ...], first_dims: dict) -> str:
    """The clearest shape message (:func:`shape_failure`), and the sources' gradients when the result is square."""
    message = shape_failure(fn, cases, extra_args, first_shape, ("n_sources", "n_destinations"), _edge_dims)
    n_src, n_dst = first_dims["n_sources"], first_dims["n_destinations"]
    if first_shape == (n_src, n_src) and n_src != n_dst:
        message += (" One column per SOURCE: you took the gradients at the sources' outputs (graph.source_hooks) "
                    "where the destinations' inputs belong (graph.dest_hooks, stacked with graph.stack_dest_grads).")
    return message


def _edge_check(fn, chapter: int, variants_fn, hints: dict[str, str], extra_args=(), factors=None,
                steps_reference=None) -> None:
    """Run ``fn`` on the chapter's specimen and the separating models; raise a diagnosis.

    ``steps_reference(model, task, steps)``: the reference at another step count (EAP-IG), for
    :func:`properties.steps_probe`."""
    cases = []
    all_cases = _check_cases(chapter)
    for i, (label, model, task) in enumerate(all_cases):
        graph = Graph.from_model(model)
        dims = _edge_dims(model, task, graph)
        out = call_guarded(fn, model, task, *extra_args, twice=i == len(all_cases) - 1, dims=dims, label=label)
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(not_a_tensor(out, "one torch.Tensor [n_sources, n_destinations]"))
        out = out.detach()
        if tuple(out.shape) != (dims["n_sources"], dims["n_destinations"]):
            raise CheckFailed(_edge_shape_failure(fn, all_cases[i:], extra_args, tuple(out.shape), dims))
        variants = dict(remembered((variants_fn, id(model), id(task), extra_args),
                                   lambda: variants_fn(model, task, *extra_args), model, task))
        ref = variants.pop("reference")
        mask = graph.edge_mask
        if (out[~mask].abs() > 1e-9 * max(ref.abs().max().item(), 1e-9)).any():
            inverted = bool((out[mask].abs() <= 1e-9 * max(ref.abs().max().item(), 1e-9)).all())
            raise CheckFailed(f"on {label}: non-zero scores where there is no edge" + off_edge_words(out, ref, mask) + (
                " and zeros on every real edge: your mask is inverted (masked_fill(edge_mask, 0) zeroes the real "
                "edges; keep them: scores * graph.edge_mask, or masked_fill(~edge_mask, 0))." if inverted else
                ": the edge mask is not applied; multiply the scores by graph.edge_mask."))
        clean_m, corr_m = task.baselines(model)
        cases.append(Case(label, out, ref, ("source", "destination"), variants=variants,
                          factors=factors_of(model, task, **{"B/n_sources": task.batch_size / len(graph.sources)},
                                             **(factors(*extra_args) if factors else {})),
                          scalars={"M(clean)": clean_m, "M(corrupt)": corr_m}, groups=_edge_groups(graph),
                          name_of=lambda idx, g=graph: f"{g.sources[idx[0]]}->{g.destinations[idx[1]]}"))
    sep = all_cases[1:]

    def props() -> str | None:
        found = pair_probes(fn, sep, [c.want for c in cases[1:]], *extra_args,
                            reference_on=lambda m, t: variants_fn(m, t, *extra_args)["reference"])
        if found is None and steps_reference is not None:
            found = steps_probe(fn, sep, extra_args[0], steps_reference, "EAP-IG", corrupt_point=lambda m, t: _matrix(
                eap_ig(m, t, 1, alphas="corrupt_end"), Graph.from_model(m)))
        return found

    message = diagnose(cases, list(hints.items()), fn, properties=props,
                       clue=case_clue(fn, all_cases[:2], *extra_args, grad_run=None if extra_args else "clean",
                                      plain_grads=not extra_args))
    if message:
        raise CheckFailed(message)


@learner_check
def check_eap(eap_fn) -> None:
    """``eap_fn(model, task) -> [n_sources, n_destinations]`` against the reference EAP."""
    _edge_check(eap_fn, 3, eap_variants, EAP_HINTS)


def _ig_factors(steps: int) -> dict[str, float]:
    return {"m": steps, "1/m": 1 / steps, "m+1": steps + 1, "(m+1)/m": (steps + 1) / steps,
            "m/(m+1)": steps / (steps + 1), "m-1": steps - 1}


@learner_check
def check_eap_ig(eap_ig_fn, steps: int = 4) -> None:
    """``eap_ig_fn(model, task, steps) -> [n_sources, n_destinations]`` against EAP-IG (inputs)."""
    reference = lambda m, t, s: _matrix(eap_ig(m, t, s), Graph.from_model(m))  # noqa: E731
    _edge_check(eap_ig_fn, 3, eap_ig_variants, IG_HINTS, extra_args=(steps,), factors=_ig_factors,
                steps_reference=reference)
    if steps != 1 and (failed := one_step_failure(eap_ig_fn, _check_cases(3)[1:2], reference)):
        raise CheckFailed(failed)


def _gradpath_case(fn, label, model, task, steps, step_size, twice) -> Case:
    variants = dict(remembered((gradpath_variants, id(model), id(task), steps, step_size),
                               lambda: gradpath_variants(model, task, steps, step_size), model, task))
    ref = variants.pop("reference")
    B, P, D = ref.shape[1:]
    dims = {"steps + 1": steps + 1, "batch": B, "seq": P, "d_model": D, "d_vocab": model.cfg.d_vocab}
    actual = call_guarded(fn, model, task, steps, step_size, twice=twice, dims={**dims, **dims_of(model, task)},
                          label=label)
    if not isinstance(actual, torch.Tensor):
        raise CheckFailed(f"return the points as one torch.Tensor [steps + 1, B, P, d_model] (torch.stack them), "
                          f"got a {type(actual).__name__}.")
    if tuple(actual.shape) != tuple(ref.shape):
        raise CheckFailed(f"GradPath points on {label} (steps={steps}): "
                          + shape_message(tuple(actual.shape), ("steps + 1", "batch", "seq", "d_model"), dims)
                          + " The first point is the start, e_clean.")
    start = ref[0]
    variants = {k: v - start for k, v in variants.items()}
    return Case(f"{label}, step_size={step_size!r} (displacements from e_clean)", actual - start, ref - start,
                ("path step", "example", "position", "d_model"), variants=variants,
                factors={"steps": steps, "1/steps": 1 / steps, "B": B, "1/B": 1 / B},
                name_of=lambda idx: f"point {idx[0]}, example {idx[1]}, position {idx[2]}, dim {idx[3]}")


@learner_check
def check_gradpath(gradpath_fn, steps: int = 3, step_sizes_to_try=("scaled", "unit")) -> None:
    """``gradpath_fn(model, task, steps, step_size) -> [steps + 1, B, P, D]`` against the reference, on the chapter's
    specimen and two separating random models with each step-size rule in ``step_sizes_to_try`` (so a function that
    ignores ``step_size`` fails one of them); messages compare displacements from ``e_clean``."""
    base = _check_cases(4)
    runs = [(c, s_) for s_ in step_sizes_to_try for c in base]
    cases = [_gradpath_case(gradpath_fn, label, model, task, steps, step_size, twice=i == 0)
             for i, ((label, model, task), step_size) in enumerate(runs)]
    sep = base[1:]

    def props() -> str | None:
        for step_size in step_sizes_to_try:
            found = batch_mean(gradpath_fn, sep, steps, step_size, batch_axis=1) or steps_probe(
                gradpath_fn, sep, steps, lambda m, t, s, r=step_size: gradpath(m, t, s, r)[0], "GradPath",
                extra=(step_size,))
            if found:
                return found
        return None

    message = diagnose(cases, list(GP_HINTS.items()), gradpath_fn, properties=props,
                       clue=case_clue(gradpath_fn, base[:2], steps, step_sizes_to_try[0]))
    if message:
        raise CheckFailed(message)
