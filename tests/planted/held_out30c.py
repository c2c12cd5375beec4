"""Held-out set #30, written blind on 2026-12-07 (round 30): part c.

Exercises check_eap_ig (chapter 3), check_gradpath (chapter 4) and check_verify_top (chapter 5).
Each wrong function is the chapter's solution copied with one slip. Each was run next to the
chapter's solution in a scratch script (/work/scratch/round30/c/): EAP-IG on the flat_region
specimen, a random GPT-2 (package gpt2_config + bridge_from_hf, 3 layers x 5 heads, d_head 4,
batch 6, 7 tokens, weights N(0, 0.4), corrupt prompt differing at 3 positions, logit_diff) and the
mixture model's IOI task, m = 5, 2, 1; GradPath on the path_saturation specimen and the same random
GPT-2, with ("unit", 5 steps), ("scaled", 5 steps) and (0.5, 3 steps); verify_top on the mixture
model's ioi, sva and greater_than tasks with AtP node, AtP q/k and EAP edge estimates, k = 5. Each
one crashes or differs from the solution by at least 2 % of the solution's largest magnitude on at
least one of these (the table in the round-30 reply says which).
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_self_edges_zeroed(model, task, steps: int) -> torch.Tensor:
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
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    scores.fill_diagonal_(0.0)  # a node can't feed itself, so no self-edges
    return scores * graph.edge_mask


def eapig_every_other_point(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1, 2):  # k = 1..m
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_endpoints_read_from_the_stacked_sources_on_the_batch_axis(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    src_c, src_n = graph.stack_sources(clean), graph.stack_sources(corr)
    deltas = src_n - src_c
    e_c, e_n = src_c[:, 0], src_n[:, 0]  # the embedding is source 0
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_gradient_normalised_over_the_whole_batch(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.norm().clamp_min(1e-12)).detach()  # unit-length gradient
            points.append(gamma)
    return torch.stack(points)


def gp_enable_grad_used_without_calling_it(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad:  # gradients on inside the loop
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_distance_not_reduced_to_a_scalar(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            # the distance is already per example, so each example gets its own gradient
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# ----------------------------------------------------------------------------- check_verify_top
def vt_task_rebuilt_without_its_metric(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]
    # a fresh copy of the prompt pairs for the patching runs
    task = wb.make_task(task.clean.clone(), task.corrupt.clone(), task.answer, task.wrong)

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_edges_passed_as_source_destination_pairs(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=[tuple(n.split("->")) for n in group])  # (source, destination)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_group_reset_by_every_name(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    groups: dict[str, list[str]] = {}
    for n in names:
        groups[kind(n)] = [n]  # collect the names of each kind
    effects: dict[str, float] = {}
    for what, group in groups.items():
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects.get(n, 0.0) for n in names]), method="activation patching",
                     kind=scores.kind)


MISTAKES = [
    ("check_eap_ig", "eapig_self_edges_zeroed",
     r"(?i)diagonal|source i (and|to|into) destination i|(same|matching) (row and column )?index|index i (to|and) i|(real|legitimate|valid|existing) edges? .{0,30}(zeroed|set to (0|zero)|removed|wiped)|embed->L0H0\.q",
     eapig_self_edges_zeroed),
    ("check_eap_ig", "eapig_every_other_point",
     r"(?i)(skips?|skipping|leaves? out|drops?) every (other|second)|every (other|second) (point|k|step) (is |are )?(skipped|left out|dropped|missing)|step (of|size) 2|stride|by 2\b|, ?2\)|half of the (m )?(path )?points|(even|odd) (k|points|values of k)|only \S+ of the m points|ceil\(m ?/ ?2\)",
     eapig_every_other_point),
    ("check_eap_ig", "eapig_endpoints_read_from_the_stacked_sources_on_the_batch_axis",
     r"(?i)\[:, ?0\]|(example|prompt pair) 0|first (example|prompt pair)|index(ed|es|ing)? (into )?the batch|wrong axis|axis 0 (is|holds|of the stack is) the sources|sources? (are|is) (on |along )?(the )?(first|leading) axis|\[0\] (for|to get) the embedding|hook_embed (directly|from the cache)|clean\[.?hook_embed.?\]",
     eapig_endpoints_read_from_the_stacked_sources_on_the_batch_axis),
    ("check_gradpath", "gp_gradient_normalised_over_the_whole_batch",
     r"(?i)(one|a single|shared|same) norm (for|over|across) |norm (taken |computed )?over (every|all|the whole|the entire) (examples|batch|tensor)|not per example|per[- ]example norm|each example('s)? own (norm|gradient norm)|g\.norm\(\)|batch[- ]wide norm|global norm|norm of the (whole|entire|full|stacked) (gradient|batch|tensor)|flatten\(1\)",
     gp_gradient_normalised_over_the_whole_batch),
    ("check_gradpath", "gp_enable_grad_used_without_calling_it",
     r"(?i)enable_grad\(\)|enable_grad without|parenthes|(is |was )?not called|call(ed|ing)? (torch\.)?enable_grad|context manager|class (object|itself)|instantiat|'type' object",
     gp_enable_grad_used_without_calling_it),
    ("check_gradpath", "gp_distance_not_reduced_to_a_scalar",
     r"(?i)\.sum\(\)|grad_outputs|implicitly created|non-scalar|vector[- ]valued|(sum|summed|reduce|reduced) (it |the distances? |over the batch |over (the )?examples )?(first|before)|(needs|requires|must be|expects) a scalar|sum over (the )?(batch|examples)",
     gp_distance_not_reduced_to_a_scalar),
    ("check_verify_top", "vt_task_rebuilt_without_its_metric",
     r"(?i)logit[_ ]diff|prob(ability)?[_ ]diff|default metric|make_task|metric (was |is )?(dropped|lost|replaced|reset|defaulted|not (passed|kept|carried))|(task'?s?|its) own metric|wrong metric|different metric|metric=",
     vt_task_rebuilt_without_its_metric),
    ("check_verify_top", "vt_edges_passed_as_source_destination_pairs",
     r"(?i)tuple|\(src, ?dst\)|\(source, ?destination\)|names? (as |are )?strings?|strings? like .?src->dst|edge names?,? not|full edge names?|split\(|attributeerror",
     vt_edges_passed_as_source_destination_pairs),
    ("check_verify_top", "vt_group_reset_by_every_name",
     r"(?i)overwrit|\[n\]|\.append|setdefault|only (the )?last (name|component)|one name (per|of each) (kind|group)|(names|components) (are |were )?(left out|dropped|missing|never patched|not patched|unpatched)|zeros? (for|returned for|in place of)|replaced by the next",
     vt_group_reset_by_every_name),
]
