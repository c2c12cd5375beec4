"""Held-out set #32, written blind on 2026-12-08 (round 32): part c.

Exercises check_eap_ig (chapter 3, ``my_eap_ig``), check_gradpath (chapter 4, ``my_gradpath``) and
check_verify_top (chapter 5, ``verify_top_k``). Each wrong function is the chapter's solution copied
with one slip. Each was run next to the chapter's own solution in a scratch script
(/work/scratch/round32/c/verify.py) on the chapter's model and task (``build("flat_region")``,
``build("path_saturation")``, the ``mixture`` zoo model with its IOI task and the chapter's EAP-IG /
AtP / QK-fix estimates) and, where the specimen hides the slip, on a random GPT-2 (3 layers x 5 heads,
d_head 4, batch 6, 7 tokens, weights N(0, 0.4), logit_diff) or with another step rule; every one
crashes, returns a wrong shape or names, or differs by >= 2 % of the correct result's largest magnitude.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_source_and_destination_positions_summed_separately(model, task, steps: int) -> torch.Tensor:
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
    # attention moves information between positions, so the source position p and the
    # destination position q get their own letters and both are summed
    scores = torch.einsum("sbpd,tbqd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_running_mean_divided_by_k_plus_one(model, task, steps: int) -> torch.Tensor:
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
        # keep a running mean of the gradients instead of a sum (saves the division at the end)
        mean = mean + (graph.stack_dest_grads(grads) - mean) / (k + 1)
    scores = torch.einsum("sbpd,tbpd->st", deltas, mean) / task.batch_size
    return scores * graph.edge_mask


def eapig_straight_through_without_subtracting_t(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        # straight-through: keep t in the graph, add the (detached) point
        hook = lambda t, hook, target=target: t + target.detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_difference_typed_as_a_sum(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c + e_n)  # e(k/m) = e_corrupt + (k/m)(e_clean ... e_corrupt)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_corrupt_weight_off_by_one(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        # k parts clean, the rest corrupt, out of steps parts
        target = (k * e_c + (steps - k + 1) * e_n) / steps
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_scaled_length_as_difference_of_norms(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    if step_size == "scaled":
        # the straight path's length, split into steps
        eta = (e_c.flatten(1).norm(dim=1) - e_n.flatten(1).norm(dim=1)) / steps
    else:
        eta = step_sizes(step_size, e_c, e_n, steps)
    eta = eta.view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_numeric_step_size_as_a_fraction_of_the_straight_length(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    if isinstance(step_size, (int, float)):
        # a number scales the straight path's length, like "scaled" does
        eta = step_size * (e_c - e_n).flatten(1).norm(dim=1)
    else:
        eta = step_sizes(step_size, e_c, e_n, steps)
    eta = eta.view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_distance_only_where_the_prompts_differ(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    differ = (task.clean != task.corrupt).to(e_c.dtype)[..., None]  # compare the outputs where the prompts differ
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            with model.hooks(fwd_hooks=[("hook_embed", lambda t, hook: leaf.to(t.dtype))]):
                logits = model(task.clean)
            dist = (((logits - target) * differ) ** 2).flatten(1).sum(1)
            (g,) = torch.autograd.grad(dist.sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_logits_centred_before_the_distance(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    target = target - target.mean(-1, keepdim=True)  # logits are only defined up to a constant
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            with model.hooks(fwd_hooks=[("hook_embed", lambda t, hook: leaf.to(t.dtype))]):
                logits = model(task.clean)
            logits = logits - logits.mean(-1, keepdim=True)
            dist = ((logits - target) ** 2).flatten(1).sum(1)
            (g,) = torch.autograd.grad(dist.sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_step_sizes_given_the_corrupt_logits(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, target, steps).view(-1, 1, 1)  # from clean to the corrupt run
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# ----------------------------------------------------------------------------- check_verify_top
def vt_group_picked_by_substring_of_the_kind(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if what in n.lower()]  # the names of this kind
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_first_value_of_the_groups_result_for_every_name(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
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
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res.values[0]) for n in group})  # the patched effect
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_kinds_not_deduplicated_values_appended(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects: dict[str, list[float]] = {n: [] for n in names}
    for what in map(kind, names):  # patch each kind's group
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        for n in group:
            effects[n].append(float(res[n]))
    return wb.Scores(names, torch.tensor([sum(effects[n]) for n in names]), method="activation patching", kind=scores.kind)


def vt_effect_looked_up_under_the_head_name(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
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
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n.split(".")[0]]) for n in group})  # the component's effect
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_eap_ig", "eapig_source_and_destination_positions_summed_separately",
     r"(?i)(position|positions).{0,80}(cross|separate|pair|every other|all pairs|different|independent|same position|matched|aligned|outer)|"
     r"(cross|pair|separate|independent).{0,60}position", eapig_source_and_destination_positions_summed_separately),
    ("check_eap_ig", "eapig_running_mean_divided_by_k_plus_one",
     r"(?i)(running|incremental|online).{0,40}mean|k\s*\+\s*1|weight.{0,60}(point|gradient)|unequal|not.{0,20}equal.{0,20}weight|"
     r"(earl|first|late|last).{0,40}point.{0,60}(weight|count)", eapig_running_mean_divided_by_k_plus_one),
    ("check_eap_ig", "eapig_straight_through_without_subtracting_t",
     r"(?i)(straight.?through|hook).{0,80}(add|plus|sum|keep|t \+|replace|- ?t|subtract|on top|instead of replac)|"
     r"(added|adds).{0,40}(point|target).{0,40}(embedding|t\b)|embedding.{0,40}(doubled|added twice|plus)",
     eapig_straight_through_without_subtracting_t),
    ("check_eap_ig", "eapig_difference_typed_as_a_sum",
     r"(?i)(e_?clean|clean).{0,10}\+.{0,10}(e_?corrupt|corrupt)|sum of.{0,30}(clean|embedding)|"
     r"(difference|e_clean\s*-\s*e_corrupt).{0,60}(sum|plus|\+|added)|(path|point|direction|interpolat).{0,60}(not between|outside the segment|leaves? the segment)",
     eapig_difference_typed_as_a_sum),
    ("check_eap_ig", "eapig_corrupt_weight_off_by_one",
     r"(?i)weights?.{0,60}(sum|add up|convex|off by one|steps\s*-\s*k|too (much|large))|(steps|m)\s*-\s*k\s*\+\s*1|"
     r"(extra|too much|more).{0,40}(corrupt|e_?corrupt)|not.{0,30}(convex|on the (straight )?(line|segment|path))|(scaled|longer|larger).{0,30}(point|embedding)",
     eapig_corrupt_weight_off_by_one),
    ("check_gradpath", "gp_scaled_length_as_difference_of_norms",
     r"(?i)(difference|subtract).{0,40}(of|between).{0,20}norms|norm of the difference|\|\|e_?clean\|\|\s*-|"
     r"(scaled|step).{0,60}(length|size|eta).{0,80}(norm|distance)", gp_scaled_length_as_difference_of_norms),
    ("check_gradpath", "gp_numeric_step_size_as_a_fraction_of_the_straight_length",
     r"(?i)(numer|float|number|constant|given).{0,60}(step|eta).{0,80}(scal|multipl|distance|length|fraction|as is|directly|itself)|"
     r"step_size.{0,60}(number|float|length)", gp_numeric_step_size_as_a_fraction_of_the_straight_length),
    ("check_gradpath", "gp_distance_only_where_the_prompts_differ",
     r"(?i)(distance|objective|logits|output).{0,80}(position|where.{0,30}differ|every position|all positions)|"
     r"(position|differ).{0,60}(mask|only|restrict)", gp_distance_only_where_the_prompts_differ),
    ("check_gradpath", "gp_logits_centred_before_the_distance",
     r"(?i)(cent(er|re)|mean.{0,30}(subtract|remov)|subtract.{0,30}mean|shift.{0,30}(invariant|constant)|normali[sz]ed logits|raw logits)",
     gp_logits_centred_before_the_distance),
    ("check_gradpath", "gp_step_sizes_given_the_corrupt_logits",
     r"(?i)step_sizes.{0,80}(logits|target|e_?corrupt|argument|embedding)|(logits|target).{0,60}(instead of|for|as).{0,40}(e_?corrupt|corrupt embedding)",
     gp_step_sizes_given_the_corrupt_logits),
    ("check_verify_top", "vt_group_picked_by_substring_of_the_kind",
     r"(?i)(group|kind|select|filter|match).{0,80}(substring|lower|name contain|\bin\b.{0,20}name|string test|empty|head names)|"
     r"(head|edge)s?.{0,60}(never|not|missing|empty|no).{0,40}(patch|group|verif|select)", vt_group_picked_by_substring_of_the_kind),
    ("check_verify_top", "vt_first_value_of_the_groups_result_for_every_name",
     r"(?i)(first|one|single|same).{0,60}(value|effect|entry).{0,80}(every|all|each|whole).{0,30}(name|group|component)|"
     r"values\[0\]|look.{0,20}up.{0,30}by name", vt_first_value_of_the_groups_result_for_every_name),
    ("check_verify_top", "vt_kinds_not_deduplicated_values_appended",
     r"(?i)(kind|group).{0,80}(repeat|more than once|once per name|twice|duplicat|dedup|again|several times|multiple times)|"
     r"(patch|count|add|summ).{0,60}(more than once|twice|repeated|multiple|several)", vt_kinds_not_deduplicated_values_appended),
    ("check_verify_top", "vt_effect_looked_up_under_the_head_name",
     r"(?i)(\.q|\.k|suffix|query|key|q/k).{0,80}(look|name|strip|drop|lost|head)|look.{0,30}up.{0,80}(head|suffix|wrong name)",
     vt_effect_looked_up_under_the_head_name),
]
