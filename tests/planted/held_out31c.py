"""Held-out set #31, written blind on 2026-12-07 (round 31): part c.

Exercises check_eap_ig (chapter 3), check_gradpath (chapter 4) and check_verify_top (chapter 5).
Each wrong function is the chapter's solution copied with one inline slip. Each was run next to the
chapter's solution (scratch script /work/scratch/round31/c/verify.py) on the chapter's own specimen
(flat_region, path_saturation, the zoo mixture model's ioi task) and on a random GPT-2 built with
gpt2_config + bridge_from_hf (3 layers x 5 heads, d_model 20, batch 6, 7 tokens, weights N(0, 0.4),
corrupt prompt differing at 3 positions, logit_diff); state-across-calls slips were shown by calling
twice with two different tasks, tie/size slips with the arguments named in the table.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params
from workbook.patching.direct_effects import effect_split


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_gradients_times_the_embedding_difference(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    # integrated gradients = (x - x') * average gradient, so scale by the input difference
    avg = total / steps * (e_c - e_n)
    scores = torch.einsum("sbpd,tbpd->st", deltas, avg) / task.batch_size
    return scores * graph.edge_mask


_IG_ENDPOINTS: dict = {}


def eapig_endpoints_memoised_per_model(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    # the two caching runs don't depend on steps: do them once per model and reuse them
    if id(model) not in _IG_ENDPOINTS:
        _, clean = cache_activations(model, task.clean, names)
        _, corr = cache_activations(model, task.corrupt, names)
        _IG_ENDPOINTS[id(model)] = (graph.stack_sources(corr) - graph.stack_sources(clean),
                                    clean["hook_embed"], corr["hook_embed"])
    deltas, e_c, e_n = _IG_ENDPOINTS[id(model)]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_incremental_mean_divided_by_steps(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    mean = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        # keep a running mean of the gradients instead of a big sum
        mean = mean + (graph.stack_dest_grads(grads) - mean) / steps
    scores = torch.einsum("sbpd,tbpd->st", deltas, mean) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_distance_as_per_position_euclidean_norms(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            # distance between the outputs: the Euclidean norm of the logit difference at each position
            with model.hooks(fwd_hooks=[("hook_embed", lambda t, hook: leaf)]):
                logits = model(task.clean)
            dist = (logits - target).norm(dim=-1).sum()
            (g,) = torch.autograd.grad(dist, leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_points_renormalised_to_the_clean_embedding_norm(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    scale = e_c.norm(dim=-1, keepdim=True)
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            # keep each token embedding at the size a real embedding has
            gamma = gamma / gamma.norm(dim=-1, keepdim=True) * scale
            points.append(gamma)
    return torch.stack(points)


_GP_ENDPOINTS: dict = {}


def gp_endpoints_memoised_per_model(model, task, steps: int, step_size="unit") -> torch.Tensor:
    # the clean/corrupt runs are the same for every steps/step_size: cache them per model
    if id(model) not in _GP_ENDPOINTS:
        _, c = cache_activations(model, task.clean, ["hook_embed"])
        target, n = cache_activations(model, task.corrupt, ["hook_embed"])
        _GP_ENDPOINTS[id(model)] = (c["hook_embed"], n["hook_embed"], target)
    e_c, e_n, target = _GP_ENDPOINTS[id(model)]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_target_is_the_batch_mean_corrupt_output(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    # walk toward the corrupt behaviour: the average corrupt output
    target = target.mean(0, keepdim=True)
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# ----------------------------------------------------------------------------- check_verify_top
def _vt_kind(name: str) -> str:
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def vt_direct_effects_from_effect_split(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]
    kind = _vt_kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        elif what in ("head", "mlp"):
            # the exact effect of a node on the output: its direct effect
            res = effect_split(model, task, what, nodes=group)["direct"]
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_top_k_read_by_index(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    order = scores.order(absolute=True)
    names = [order[i] for i in range(k)]  # the k best, by position in the ranking
    kind = _vt_kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_selected_by_rank_at_most_k(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    # everything ranked in the top k
    names = [n for n in scores.order(absolute=True) if scores.rank(n) <= k]
    kind = _vt_kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_eap_ig", "eapig_gradients_times_the_embedding_difference",
     r"(?i)(embedding|input|e_clean\s*-\s*e_corrupt|clean\s*-\s*corrupt).{0,60}(difference|change|factor|multipl|scal)|(x\s*-\s*x'|input difference|multipl\w* .{0,40}(embedding|input) (difference|change))",
     eapig_gradients_times_the_embedding_difference),
    ("check_eap_ig", "eapig_endpoints_memoised_per_model",
     r"(?i)(previous|earlier|first|stale|another|other|last) (call|task|run)|cach|memo|state (kept|carried|across)|across calls|reus",
     eapig_endpoints_memoised_per_model),
    ("check_eap_ig", "eapig_incremental_mean_divided_by_steps",
     r"(?i)(running|incremental|moving|exponential).{0,30}(mean|average)|(divid|/)\w*.{0,30}(by )?(k|the (point|step) (index|count|number))\b|(later|last|early|first) points? .{0,30}(weigh|count)|unequal(ly)? weigh|weights? .{0,30}(not equal|unequal|uneven)",
     eapig_incremental_mean_divided_by_steps),
    ("check_gradpath", "gp_distance_as_per_position_euclidean_norms",
     r"(?i)(squar|\^2|\*\*\s*2)|not squared|(euclidean|l2) norm per position|per[- ]position (norm|distance)|output_distance",
     gp_distance_as_per_position_euclidean_norms),
    ("check_gradpath", "gp_points_renormalised_to_the_clean_embedding_norm",
     r"(?i)(renormali|rescal|project|norm).{0,60}(point|embedding|gamma|token)|(point|embedding|gamma).{0,60}(renormali|rescal|project|sphere|length|norm)",
     gp_points_renormalised_to_the_clean_embedding_norm),
    ("check_gradpath", "gp_endpoints_memoised_per_model",
     r"(?i)(previous|earlier|first|stale|another|other|last) (call|task|run)|cach|memo|state (kept|carried|across)|across calls|reus",
     gp_endpoints_memoised_per_model),
    ("check_gradpath", "gp_target_is_the_batch_mean_corrupt_output",
     r"(?i)(mean|average)\w*.{0,40}(over|across) (the )?(batch|examples|prompt pairs)|(batch|examples).{0,20}(mean|averag)|each example'?s? own (corrupt )?(logits|output|target)|per[- ]example (target|corrupt)",
     gp_target_is_the_batch_mean_corrupt_output),
    ("check_verify_top", "vt_direct_effects_from_effect_split",
     r"(?i)direct effect|effect_split|indirect|total effect",
     vt_direct_effects_from_effect_split),
    ("check_verify_top", "vt_top_k_read_by_index",
     r"(?i)(k|more) (is )?(larger|greater|bigger|exceeds?|than)|fewer (than k )?(names|components|scores)|out of range|index(error)?|len\(|slic",
     vt_top_k_read_by_index),
    ("check_verify_top", "vt_selected_by_rank_at_most_k",
     r"(?i)\bties?\b|tied|rank\w*.{0,40}(<=|at most|last place)|fewer than k|not (exactly )?k (names|components)",
     vt_selected_by_rank_at_most_k),
]
