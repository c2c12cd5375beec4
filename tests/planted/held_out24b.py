"""Held-out set #24, written blind on 2026-12-07 (round 24): part b.

Exercises check_eap and check_eap_ig (chapter 3, the ``flat_region`` specimen), check_gradpath
(chapter 4, the ``path_saturation`` specimen) and check_verify_top (chapter 5, the zoo's
``mixture`` model with its IOI task, n=8, seed=0). Every function below is the chapter's own
solution copied and changed where a learner slips. Each was run next to the chapter's solution
on the chapter's model and task (scratch script /work/scratch/round24/b/verify_b.py, CPU,
OMP_NUM_THREADS=1): EAP once; EAP-IG with steps = 2, 5 and 10; GradPath with steps = 1 and 5
and step_size = "unit" and "scaled"; verify_top_k on the chapter's AtP node scores, QK-fix
q/k scores and EAP edge scores with k = 5. Every one crashes, returns a wrong shape or wrong
names, or differs from the solution by at least 2 % of the solution's largest magnitude at the
chapter's own settings (EAP-IG at steps >= 2: with steps = 1 EAP-IG is EAP for most of them;
GradPath at the chapter's gradpath(model, task, 5): gp_step_doubled_by_the_chain_rule_factor is
2.6 % there, 1 % at steps = 1 with unit steps, 16 % at steps = 1 with scaled steps).
None of the checks was read, imported or called.
"""

from __future__ import annotations

import dataclasses

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_eap
def eap_einsum_position_and_d_model_letters_swapped(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # gradients are [t, b, d, p] I think, so I write the letters in that order
    scores = torch.einsum("sbpd,tbdp->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_edge_scored_as_product_of_node_attributions(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    hooks = list(graph.source_hooks) + list(graph.dest_hooks)
    _, corr = cache_activations(model, task.corrupt, hooks)
    _, clean, grads = cache_activations_and_grads(model, task, hooks, hooks)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # an edge matters when both its ends matter: AtP of the source times AtP of the destination
    src = torch.einsum("sbpd,sbpd->s", deltas, graph.stack_sources(grads)) / task.batch_size
    dst_deltas = graph.stack_dest_grads(corr) - graph.stack_dest_grads(clean)
    dst = torch.einsum("tbpd,tbpd->t", dst_deltas, graph.stack_dest_grads(grads)) / task.batch_size
    scores = torch.outer(src, dst)
    return scores * graph.edge_mask


def eap_change_in_activation_times_gradient_between_runs(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    # EAP = how much "activation x gradient" changes from the clean run to the corrupt run
    _, corr, corr_grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks),
                                                      tokens=task.corrupt)
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    scores = (torch.einsum("sbpd,tbpd->st", graph.stack_sources(corr), graph.stack_dest_grads(corr_grads))
              - torch.einsum("sbpd,tbpd->st", graph.stack_sources(clean), graph.stack_dest_grads(grads))) / task.batch_size
    return scores * graph.edge_mask


def eap_gradient_taken_with_the_source_already_corrupted(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean = cache_activations(model, task.clean, list(graph.source_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    rows = []
    # the gradient of edge u->v should be read with u already switched to its corrupt write
    for i, src in enumerate(graph.sources):
        name, head = graph.source_hook(src)

        def patch(t, hook, name=name, head=head):
            if head is None:
                return t + (corr[name] - t).detach()
            t = t.clone()
            t[:, :, head] = t[:, :, head] + (corr[name][:, :, head] - t[:, :, head]).detach()
            return t

        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[(name, patch)])
        rows.append(torch.einsum("bpd,tbpd->t", deltas[i], graph.stack_dest_grads(grads)) / task.batch_size)
    scores = torch.stack(rows)
    return scores * graph.edge_mask


def eap_caches_aliased_by_a_memoising_helper(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)

    def acts_of(tokens, names, _store={}):
        # keep everything I have cached in one place
        _, acts = cache_activations(model, tokens, names)
        _store.update(acts)
        return _store

    corr = acts_of(task.corrupt, list(graph.source_hooks))
    clean = acts_of(task.clean, list(graph.source_hooks))
    _, _, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_one_path_point_per_prompt_pair(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    # one backward instead of m: prompt pair b takes point k = (b mod m) + 1, the batch covers the path
    alphas = (torch.arange(task.batch_size) % steps + 1) / steps
    target = e_n + alphas.view(-1, 1, 1).to(e_n) * (e_c - e_n)
    hook = lambda t, hook, target=target: t + (target - t).detach()
    _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
    total = graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total) / task.batch_size
    return scores * graph.edge_mask


def eapig_alpha_written_steps_over_k(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (steps / k) * (e_c - e_n)  # the k-th of m points
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_points_weighted_by_the_metric_increment(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    metrics, point_grads = [], []
    for k in range(0, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        m, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        metrics.append(m)
        point_grads.append(graph.stack_dest_grads(grads))
    # each point counts as much as the metric moved on its stretch of the path (so the weights sum to 1)
    total = 0.0
    for k in range(1, steps + 1):
        w = (metrics[k] - metrics[k - 1]) / (metrics[-1] - metrics[0])
        total = total + point_grads[k] * w.view(1, -1, 1, 1)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total) / task.batch_size
    return scores * graph.edge_mask


def eapig_per_point_scores_returned_unaveraged(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    per_point = []
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
        per_point.append(scores * graph.edge_mask)
    return torch.stack(per_point)  # one EAP matrix per point


def eapig_noisy_copies_of_the_clean_input(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    scale = (e_c - e_n).norm(dim=-1, keepdim=True) / e_c.shape[-1] ** 0.5
    gen = torch.Generator().manual_seed(0)
    total = 0.0
    for k in range(1, steps + 1):
        # m points around the clean input, spread as far as the corrupt input is
        target = e_c + scale * torch.randn(e_c.shape, generator=gen).to(e_c)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_points_left_flattened(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1)
    # work on [B, P * D] so the per-example norm is a plain norm over dim 1
    gamma, points = e_c.flatten(1).clone(), [e_c.flatten(1).clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf.view_as(e_c), target).sum(), leaf)
            gamma = (leaf - eta * g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_polyak_step_length(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            dist = output_distance(model, task.clean, leaf, target)
            (g,) = torch.autograd.grad(dist.sum(), leaf)
            # the step that would bring the distance to 0 if it were linear: dist * g / ||g||^2
            norm2 = g.flatten(1).pow(2).sum(1).clamp_min(1e-12).view(-1, 1, 1)
            gamma = (leaf - eta * dist.view(-1, 1, 1) * g / norm2).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_starts_halfway_between_clean_and_corrupt(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    start = (e_c + e_n) / 2  # begin in the middle, the straight path already covers the ends
    gamma, points = start.clone(), [start.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_step_doubled_by_the_chain_rule_factor(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            # d/dx ||x||^2 = 2 x: keep the 2 from the square
            gamma = (leaf - 2 * eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_clamp_min_applied_to_the_new_point(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            norm = g.flatten(1).norm(dim=1).view(-1, 1, 1)
            gamma = (leaf - eta * g / norm).clamp_min(1e-12).detach()  # guard against a zero norm
            points.append(gamma)
    return torch.stack(points)


# ----------------------------------------------------------------------------- check_verify_top
def vt_k_read_as_a_percentage(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    # k is "the top k %" of the estimate
    n_top = max(1, round(k / 100 * len(scores)))
    names = scores.order(absolute=True)[:n_top]

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


def vt_heads_patched_through_their_value_inputs(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "v"  # a head's output is built from its values

    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        elif what == "v":
            res = wb.patch_nodes(model, task, "v", nodes=[f"{n}.v" if "." not in n else n for n in group])
            res = wb.Scores([n[:-2] if n.endswith(".v") else n for n in res.names], res.values)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_largest_prompt_pair_effect(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
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
        for i, n in enumerate(res.names):
            if n in group:
                # the effect of the component is what it does when it matters most
                col = res.per_example[:, i]
                effects[n] = float(col[col.abs().argmax()])
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_ranked_by_signal_to_noise(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    # rank by how reliably large the estimate is over the prompt pairs, not by its size alone
    if scores.per_example is not None and scores.per_example.shape[0] > 1:
        snr = scores.per_example.mean(0).abs() / scores.per_example.std(0).clamp_min(1e-12)
        names = scores.with_values(snr).order(absolute=True)[:k]
    else:
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
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_resample_ablation_with_rolled_corrupt_prompts(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    # patch in the activation of a *different* prompt, so the clean prompt's own twin can't leak back in
    run = dataclasses.replace(task, corrupt=task.corrupt.roll(1, 0))
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, run, edges=group) if what == "edge" else wb.patch_nodes(model, run, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_eap", "eap_einsum_position_and_d_model_letters_swapped",
     r"(?i)einsum|subscript|(position|d_model|ax[ie]s|dimension)s?\b.{0,40}(swap|order|transpos|mix)|(swap|order|transpos|mix)\w*.{0,40}(position|d_model|ax[ie]s|dimension)",
     eap_einsum_position_and_d_model_letters_swapped),
    ("check_eap", "eap_edge_scored_as_product_of_node_attributions",
     r"(?i)product of (the )?(two |its )?(node|end)|node(-level)? (attribution|score|AtP|effect)s?|outer product|(source|destination)'?s? (own )?(node )?(AtP|attribution|score).{0,40}(times|multipl|product)",
     eap_edge_scored_as_product_of_node_attributions),
    ("check_eap", "eap_change_in_activation_times_gradient_between_runs",
     r"(?i)corrupt[- ]run gradients?|gradients? (of|from|on|at|in) the corrupt|difference (of|between) (the )?(two )?(products|attributions)|(activation|input|z)s? (times|x|\*) (the |its )?gradient|grad(ient)?[- ]?(times|x)[- ]?(input|activation)",
     eap_change_in_activation_times_gradient_between_runs),
    ("check_eap", "eap_gradient_taken_with_the_source_already_corrupted",
     r"(?i)(source|edge|u)\w* (already |was |were )?(patched|corrupted|set to (its |their )?corrupt)|gradients?.{0,40}(patched|corrupted) (run|point|source|input)|not (at|from|in) the clean (point|run|input)|(one|a) (backward|gradient) pass per source",
     eap_gradient_taken_with_the_source_already_corrupted),
    ("check_eap", "eap_caches_aliased_by_a_memoising_helper",
     r"(?i)(same|identical|shared|single|one) (dict|dictionary|cache|object|activations)|alias|mutable default|overwr|zero (deltas?|source changes?|differences?)|z\(corrupt\) ?(==|equals|=|is) ?z\(clean\)|corrupt (cache|activations) (hold|holds|are|contain|contains) (the )?clean",
     eap_caches_aliased_by_a_memoising_helper),
    ("check_eap_ig", "eapig_one_path_point_per_prompt_pair",
     r"(?i)(one|single|a single|only one|a different) (path )?point (per|for each|for every) (example|prompt|pair|row)|points? (are )?(spread|split|distributed|shared|cycled) (over|across|among) (the )?(batch|examples|prompts|prompt pairs)|each (example|prompt pair|row) (gets|sees|uses|takes) (only )?(one|a single)|every (example|prompt pair) (needs|must see|should see) all (m|the) points",
     eapig_one_path_point_per_prompt_pair),
    ("check_eap_ig", "eapig_alpha_written_steps_over_k",
     r"(?i)(steps|m) ?/ ?k\b|invert\w* (fraction|ratio)|upside[- ]down|alpha\w* (>|above|greater than|beyond|exceed\w*) ?1|(past|beyond|outside) the clean|extrapolat",
     eapig_alpha_written_steps_over_k),
    ("check_eap_ig", "eapig_points_weighted_by_the_metric_increment",
     r"(?i)weight\w* (by|with) (the )?(metric|M\b|increments?|changes?)|metric (increments?|changes?|differences?|steps?)|(unequal|non-?uniform|per-point) weights|not (an? )?(equal|plain|uniform|simple) (mean|average|weights?)|equal(ly)? weight",
     eapig_points_weighted_by_the_metric_increment),
    ("check_eap_ig", "eapig_per_point_scores_returned_unaveraged",
     r"(?i)(per|each|one)[- ](path )?point|not averaged over (the )?(m |path )?(points|steps)|extra (leading )?(axis|dim)|stack\w* .{0,30}(points|steps)|\[ ?(steps|m) ?,|(leading|first) (axis|dim)\w* .{0,20}(points|steps)",
     eapig_per_point_scores_returned_unaveraged),
    ("check_eap_ig", "eapig_noisy_copies_of_the_clean_input",
     r"(?i)nois|random|gaussian|smooth ?grad|around the clean|(off|not on) the (straight )?(line|path|segment)|(straight|interpolation) (line|path) (between|from) (the )?corrupt",
     eapig_noisy_copies_of_the_clean_input),
    ("check_gradpath", "gp_points_left_flattened",
     r"(?i)flatten|reshap|view_as|P ?\* ?D|(positions?|P) and (d_model|D) (merged|combined|collapsed|flattened)|\[ ?steps ?\+ ?1, ?B, ?P, ?(D|d_model) ?\]|(shape|dimension)s?.{0,40}(P, ?D|P, ?d_model|positions)",
     gp_points_left_flattened),
    ("check_gradpath", "gp_polyak_step_length",
     r"(?i)polyak|(times|multipl\w*|scal\w*) (by )?the (output )?distance|distance (times|x|\*)|(squared|\^ ?2) norm|norm squared|\|\|g\|\|\^? ?2|step (length|size) (is not|isn't|not|should be) (eta|1|one|unit)|not (a )?unit(-length)? step",
     gp_polyak_step_length),
    ("check_gradpath", "gp_starts_halfway_between_clean_and_corrupt",
     r"(?i)midpoint|halfway|half ?way|middle|mean of (e_?clean|the clean) and|(start|first point|gamma_?0|point 0)\w*.{0,50}(e_?clean|the clean (embedding|input))|(e_?clean|the clean (embedding|input)).{0,40}(start|first point|gamma_?0|point 0)",
     gp_starts_halfway_between_clean_and_corrupt),
    ("check_gradpath", "gp_step_doubled_by_the_chain_rule_factor",
     r"(?i)(factor|times|multipl\w*)( of| by)? (2|two)\b|twice|doubl|step (length|size)s? (of|is) 2|2 ?\* ?eta|eta ?\* ?2|length 2",
     gp_step_doubled_by_the_chain_rule_factor),
    ("check_gradpath", "gp_clamp_min_applied_to_the_new_point",
     r"(?i)clamp|clipp|negative (coordinates|entries|values|components)|floor\w* at (0|zero)|non-?negative|(coordinates|entries|values) (below|under) (0|zero)",
     gp_clamp_min_applied_to_the_new_point),
    ("check_verify_top", "vt_k_read_as_a_percentage",
     r"(?i)percent|%|fraction of (the )?(components|names|estimate)|k (read|taken|used|treated) as|(returns?|verif\w*|patch\w*) (\d+|more|fewer|too many|too few) (names|components)|(number|count) of (names|components) (is not|isn't|differs|!=)|not k (names|components)",
     vt_k_read_as_a_percentage),
    ("check_verify_top", "vt_heads_patched_through_their_value_inputs",
     r"(?i)value (input|vector)s?|\.v\b|hook_v|what ?= ?.?v\b|(head|heads)('s)? (value|v) (input|inputs)|(patch\w*|verif\w*) (the )?(value|v) input|instead of (the )?head('s)? output",
     vt_heads_patched_through_their_value_inputs),
    ("check_verify_top", "vt_largest_prompt_pair_effect",
     r"(?i)\bmax(imum)?\b|largest|extreme|argmax|(not|instead of) (the )?(batch )?(mean|average)|(single|one|the strongest) prompt pair|mean over (the )?prompt pairs",
     vt_largest_prompt_pair_effect),
    ("check_verify_top", "vt_ranked_by_signal_to_noise",
     r"(?i)signal[- ]to[- ]noise|\bsnr\b|\bstd\b|standard (deviation|error)|t[- ]stat|varian|spread over (the )?prompt pairs|(divid\w*|normali[sz]\w*) by (the |its )?(spread|std|deviation)|consisten|reliab|not (ranked|ordered|chosen|picked) by \|(score|estimate)\||by \|(score|estimate)\| (alone|only)",
     vt_ranked_by_signal_to_noise),
    ("check_verify_top", "vt_resample_ablation_with_rolled_corrupt_prompts",
     r"(?i)resampl|\broll|shuffl|(another|a different|other|wrong|mismatched|neighbou?ring|next|previous) (prompt|pair|example|row)|(mis)?pair(ed|ing)|(its|their) own (corrupt|twin)|twin",
     vt_resample_ablation_with_rolled_corrupt_prompts),
]
