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
from workbook.course.checks.batch_order import leads
from workbook.course.checks.case import not_a_tensor
from workbook.course.checks.cases import (
    SHARP,
    call_guarded,
    describe_model,
    dims_of,
    factors_of,
    separating_cases,
    swapped_case,
)
from workbook.course.checks.diagnose_diff import Case, diagnose, shape_message
from workbook.course.checks.edge_columns import columns_message, row_offset_message
from workbook.course.checks.edge_hints import EAP_HINTS, IG_HINTS
from workbook.course.checks.gradpath_variants import GP_HINTS, gradpath_variants
from workbook.course.checks.neighbours import other_metrics
from workbook.course.checks.properties import batch_mean, pair_probes, steps_probe
from workbook.course.checks.quick import in_quick_order, remembered
from workbook.course.checks.shapes import off_edge_words, shape_failure
from workbook.course.checks.source_lines import describe_numbers
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


def _check_cases(chapter: int, again: bool = False) -> list[tuple[str, object, Task]]:
    """The chapter's specimen first (its numbers go in the messages), then the separating models; ``again``: the
    first of them once more on its swapped task (a second call on one model, for EAP-IG and GradPath, whose
    endpoints a learner may cache per model)."""
    name = {3: "flat_region", 4: "path_saturation"}[chapter]
    model, task = remembered(("specimen", name), lambda: build(name))
    return in_quick_order([(f"the {name} specimen, the chapter's model ({describe_model(model, task)})", model, task)]
                          + separating_cases() + (swapped_case() if again else []) + separating_cases(**SHARP))


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
    span = torch.tensor([[graph.dest_layer(d) - graph.source_layer(s_) for d in dst] for s_ in src])
    out.update({"edges spanning at most one layer": (span <= 1) & graph.edge_mask,
                "edges spanning more than one layer": (span > 1) & graph.edge_mask})
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
    all_cases = _check_cases(chapter, again=bool(extra_args))
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

    message = columns_message(cases) or row_offset_message(cases) or diagnose(
        cases, list(hints.items()), fn, properties=props,
        clue=case_clue(fn, all_cases[:2], *extra_args, grad_run=None if extra_args else "clean",
                       plain_grads=not extra_args))
    message = leads(fn, all_cases, cases, message, extra_args)
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


NUMERIC_STEP = 0.5  # one more run of the first separating model, with a number as step_size


@learner_check
def check_gradpath(gradpath_fn, steps: int = 3, step_sizes_to_try=("scaled", "unit")) -> None:
    """``gradpath_fn(model, task, steps, step_size) -> [steps + 1, B, P, D]`` against the reference, on the chapter's
    specimen and two separating random models with each step-size rule in ``step_sizes_to_try`` (so a function that
    ignores ``step_size`` fails one of them); messages compare displacements from ``e_clean``."""
    base = _check_cases(4, again=True)
    runs = [(c, s_) for s_ in step_sizes_to_try for c in base]
    cases = [_gradpath_case(gradpath_fn, label, model, task, steps, step_size, twice=i == 0)
             for i, ((label, model, task), step_size) in enumerate(runs)]
    sep = base[1:]
    numeric = _gradpath_case(gradpath_fn, *base[1], steps, NUMERIC_STEP, twice=False) if all(
        c.passes for c in cases) else None  # one more run, with a number as step_size
    if numeric is not None and not numeric.passes:
        raise CheckFailed(f"your path is right with step_size 'unit' and 'scaled' but not with a numeric step_size: "
                          f"with a number, the step length is that number itself (eta = {NUMERIC_STEP} for every "
                          "example), not a share of the straight path's length nor scaled by anything else. "
                          + describe_numbers(numeric))

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
