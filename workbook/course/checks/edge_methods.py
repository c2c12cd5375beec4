"""Learner checks for chapters 03-04: EAP, EAP-IG and GradPath.

Learner signatures (noising; shapes in brackets):

* ``eap_fn(model, task) -> Tensor[n_sources, n_destinations]`` batch-mean edge matrix in
  :class:`~workbook.arch.graph.Graph` order, zero where there is no edge;
* ``eap_ig_fn(model, task, steps) -> Tensor[n_sources, n_destinations]`` (inputs variant,
  ``alpha = k/m, k = 1..m``);
* ``gradpath_fn(model, task, steps, step_size) -> Tensor[steps + 1, B, P, d_model]`` path
  points starting at the clean embedding (see :func:`workbook.attribution.eap_gp.gradpath`).

Each check runs the learner's function on two fresh random models and on a specimen and names
the likely mistake by matching the answer against planted wrong variants.
"""

from __future__ import annotations

import torch

from workbook.arch.graph import Graph
from workbook.attribution.eap import edge_scores_from_grads
from workbook.attribution.eap_gp import gradpath, output_distance, step_sizes
from workbook.attribution.eap_ig import eap_ig
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params
from workbook.core.task import Task
from workbook.course.checks._runner import CheckFailed, assert_close_named, learner_check
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
    ref = _mean_matrix(edge_scores_from_grads(deltas, graph.stack_dest_grads(g_clean), graph))
    wrong_run = _mean_matrix(edge_scores_from_grads(deltas, graph.stack_dest_grads(g_corr), graph))
    # gradient at each source's own output: every edge out of u gets AtP(u) = sum_v EAP(u->v)
    at_source = ref.sum(1, keepdim=True) * graph.edge_mask.to(ref.dtype)
    return {
        "reference": ref,
        "sign": -ref,
        "wrong_run": wrong_run,
        "at_source": at_source,
        "no_mean": ref * task.batch_size,
    }


def reference_eap_matrix(model, task: Task) -> torch.Tensor:
    return eap_variants(model, task)["reference"]


def _matrix(scores, graph: Graph) -> torch.Tensor:
    m = torch.zeros(graph.edge_mask.shape, dtype=scores.values.dtype)
    m[graph.edge_mask] = scores.values
    return m


def eap_ig_variants(model, task: Task, steps: int) -> dict[str, torch.Tensor]:
    """Reference EAP-IG (inputs, k = 1..m) and planted mistakes, ``[n_src, n_dst]`` each."""
    graph = Graph.from_model(model)
    ref = _matrix(eap_ig(model, task, steps), graph)
    return {
        "reference": ref,
        "sign": -ref,
        "corrupt_end": _matrix(eap_ig(model, task, steps, alphas="corrupt_end"), graph),
        "no_average": ref * steps,
        "activations": _matrix(eap_ig(model, task, steps, variant="activations"), graph),
    }


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    a, b = a.detach().double(), b.detach().double()
    return (
        a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-3) and not torch.allclose(b, torch.zeros_like(b))
    )


EAP_HINTS = {
    "sign": "the sign is flipped: the delta must be z(corrupt) - z(clean) (noising), not clean - corrupt.",
    "wrong_run": "you took the gradient on the corrupt run; EAP (noising) differentiates the CLEAN run.",
    "at_source": "every edge out of a source has the same score: you used the gradient at the source's "
    "output (dM/dz_u) instead of at each destination's input (before its LayerNorm), "
    "so the destination's LN Jacobian and path are missed.",
    "no_mean": "the scores are B times too large: the gradients are per example, so the einsum sums over the "
    "batch; divide by B (task.batch_size) to get the batch mean.",
}

IG_HINTS = {
    "sign": "the sign is flipped: the delta must be z(corrupt) - z(clean).",
    "corrupt_end": "your alphas include the corrupt endpoint (k = 0..m-1); the paper uses k = 1..m, "
    "which ends at the clean input (so m = 1 is EAP). Walking from clean toward corrupt "
    "gives the same wrong set of points.",
    "no_average": "the scores are m times too large: average the gradients over the m steps.",
    "activations": "this matches the activations variant: interpolate the INPUT embedding (hook_embed) "
    "and let the model recompute everything downstream.",
}


def _diagnose(actual: torch.Tensor, variants: dict[str, torch.Tensor], hints: dict[str, str], what: str) -> None:
    ref = variants["reference"]
    actual = torch.as_tensor(actual).detach()
    if actual.shape != ref.shape:
        raise CheckFailed(
            f"{what}: expected shape {tuple(ref.shape)} ([n_sources, n_destinations]), got {tuple(actual.shape)}."
        )
    if _close(actual, ref) or torch.allclose(actual.double(), ref.double(), atol=1e-6, rtol=1e-3):
        return
    for key, msg in hints.items():
        if _close(actual, variants[key]):
            raise CheckFailed(f"{what}: {msg}")
    mask = ref != 0
    if mask.any() and (actual[~mask] != 0).any():
        raise CheckFailed(f"{what}: non-zero scores where there is no edge; multiply by graph.edge_mask.")
    assert_close_named(actual, ref, what, atol=1e-5, rtol=1e-3)


@learner_check
def check_eap(eap_fn) -> None:
    """``eap_fn(model, task) -> [n_sources, n_destinations]`` against the reference EAP."""
    for i, (model, task) in enumerate(random_cases() + _specimen_cases()):
        _diagnose(eap_fn(model, task), eap_variants(model, task), EAP_HINTS, f"EAP matrix (case {i})")


@learner_check
def check_eap_ig(eap_ig_fn, steps: int = 4) -> None:
    """``eap_ig_fn(model, task, steps) -> [n_sources, n_destinations]`` against EAP-IG (inputs)."""
    for i, (model, task) in enumerate(random_cases() + _specimen_cases()):
        _diagnose(
            eap_ig_fn(model, task, steps),
            eap_ig_variants(model, task, steps),
            IG_HINTS,
            f"EAP-IG matrix (case {i}, m={steps})",
        )


def gradpath_variants(model, task: Task, steps: int, step_size="scaled") -> dict[str, torch.Tensor]:
    """Reference GradPath points and planted mistakes, ``[steps + 1, B, P, D]`` each."""
    ref, _ = gradpath(model, task, steps, step_size)
    out = {"reference": ref}
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)

    def walk(start, sign=1.0, per_example=True, normalise=True, eta=eta):

        gamma, pts = start.clone(), [start.clone()]
        with frozen_params(model), torch.enable_grad():
            for _ in range(steps):
                leaf = gamma.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
                if normalise:
                    norm = g.flatten(1).norm(dim=1).view(-1, 1, 1) if per_example else g.norm()
                    g = g / norm.clamp_min(1e-12)
                gamma = (leaf - sign * eta * g).detach()
                pts.append(gamma)
        return torch.stack(pts)

    out["ascent"] = walk(e_c, sign=-1.0)
    out["batch_norm"] = walk(e_c, per_example=False)
    out["no_normalise"] = walk(e_c, normalise=False)
    out["from_corrupt"] = walk(e_n)
    # step_size ignored: the path taken with the other step-size rule
    other = "unit" if step_size != "unit" else "scaled"
    out["ignores_step_size"] = walk(e_c, eta=step_sizes(other, e_c, e_n, steps).view(-1, 1, 1))
    return out


GP_HINTS = {
    "ascent": "the output distance grows along your path: step AGAINST the gradient (gamma - eta g/|g|).",
    "batch_norm": "you normalised the gradient over the whole batch; normalise per example "
    "(g.flatten(1).norm(dim=1)) so the step does not depend on the other prompts.",
    "no_normalise": "you did not normalise the gradient: each step must have length eta (g / ||g||).",
    "from_corrupt": "your path starts at the corrupt embedding; GradPath starts at e_clean and walks "
    "toward corrupt-like outputs.",
    "ignores_step_size": "your steps do not depend on step_size: the check asked for one step-size rule and got the "
    "path of the other. Take eta from step_sizes(step_size, e_clean, e_corrupt, steps) (one "
    "length per example).",
}


@learner_check
def check_gradpath(gradpath_fn, steps: int = 3, step_sizes_to_try=("scaled", "unit")) -> None:
    """``gradpath_fn(model, task, steps, step_size) -> [steps + 1, B, P, D]`` against the reference.

    Runs a random model and the flat-region specimen with each step-size rule in
    ``step_sizes_to_try`` (so a function that ignores ``step_size`` fails one of them).
    """
    cases = random_cases()[:1] + _specimen_cases()
    for i, ((model, task), step_size) in enumerate((c, s) for s in step_sizes_to_try for c in cases):
        other = "unit" if step_size != "unit" else "scaled"
        variants = gradpath_variants(model, task, steps, step_size)
        actual = torch.as_tensor(gradpath_fn(model, task, steps, step_size)).detach()
        ref = variants["reference"]
        if actual.shape != ref.shape:
            raise CheckFailed(
                f"GradPath points (case {i}): expected shape {tuple(ref.shape)} "
                f"([steps + 1, B, P, d_model], including the start), got {tuple(actual.shape)}."
            )
        if torch.allclose(actual, ref, atol=1e-4, rtol=1e-3):
            continue
        for key, msg in GP_HINTS.items():
            if torch.allclose(actual, variants[key], atol=1e-4, rtol=1e-3):
                asked = (
                    f" (asked for step_size={step_size!r}, got the path of {other!r})"
                    if key == "ignores_step_size"
                    else ""
                )
                raise CheckFailed(f"GradPath points (case {i}): {msg}{asked}")
        assert_close_named(actual, ref, f"GradPath points (case {i})", atol=1e-4, rtol=1e-3)
