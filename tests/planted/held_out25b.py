"""Held-out set #25, written blind on 2026-12-07 (round 25): part b.

Exercises check_eap and check_eap_ig (chapter 03, the ``flat_region`` specimen), check_gradpath
(chapter 04, the ``path_saturation`` specimen) and check_verify_top (chapter 05, the zoo's
``mixture`` model on its IOI task, n=8, seed=0). Each wrong function is the chapter's solution
copied and changed where a learner slips. Each was run next to the chapter's solution in a scratch
script (/work/scratch/round25/b/verify.py) on the chapter's own model and task: EAP once; EAP-IG
at steps 1 and 5; GradPath at 5 steps with step_size "unit" and "scaled"; verify_top at k = 5 on
AtP head+MLP scores, AtP q/k scores, EAP edge scores and a mixed head/MLP + q/k estimate. Each one
crashes, returns other names, or differs by at least 2 % of the correct result's largest
magnitude on at least one of those calls. Some show only under some arguments:
gp_step_length_applied_twice_via_the_norm, gp_step_sizes_for_steps_minus_one_gaps and
gp_target_pushed_past_the_corrupt_output only with step_size="scaled"; vt_argsort_applied_to_the_sorted_names
only on the q/k, edge and mixed estimates and vt_ranked_on_rounded_estimates only on the q/k and
edge estimates (elsewhere they pick the same names); eapig_alpha_written_k_plus_one_over_steps and
eapig_spherical_interpolation only at steps > 1.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params, run_model


# ----------------------------------------------------------------------------- check_eap
def eap_logits_gradient_from_the_unembedding_direction(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    # into the logits the metric is linear: d(logit diff)/d(resid) is just W_U[:, answer] - W_U[:, wrong]
    L = model.cfg.n_layers
    g = torch.zeros_like(grads[f"blocks.{L - 1}.hook_resid_post"])
    g[torch.arange(task.batch_size), task.pos] = (model.W_U[:, task.answer] - model.W_U[:, task.wrong]).T
    grads[f"blocks.{L - 1}.hook_resid_post"] = g
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_scores_centred_on_the_mean_edge(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    scores = scores - scores[graph.edge_mask].mean()  # relative to the average edge
    return scores * graph.edge_mask


def eap_relative_source_change(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    z_clean = graph.stack_sources(clean)
    # how much each source changes, relative to its clean size
    deltas = (graph.stack_sources(corr) - z_clean) / z_clean.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_scores_log_compressed(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    scores = scores.sign() * scores.abs().log1p()  # signed log scale, so small edges stay visible
    return scores * graph.edge_mask


def eap_scores_clamped_to_unit_range(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    scores = scores.clamp(-1, 1)  # attribution scores live in [-1, 1]
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_alpha_written_k_plus_one_over_steps(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(steps):  # k = 0..m-1, so the point is (k+1)/m
        target = e_n + (k + 1 / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_spherical_interpolation(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    # slerp between the two embeddings (per example), so the points keep an embedding-like norm
    a, b = e_n.flatten(1), e_c.flatten(1)
    omega = torch.arccos(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).clamp(-1, 1)).clamp_min(1e-6)
    total = 0.0
    for k in range(1, steps + 1):
        s = k / steps
        w_n = (torch.sin((1 - s) * omega) / torch.sin(omega)).view(-1, 1, 1)
        w_c = (torch.sin(s * omega) / torch.sin(omega)).view(-1, 1, 1)
        target = w_n * e_n + w_c * e_c
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_straight_through_by_rescaling(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t * (target / t).detach()  # scale t onto the target, keep its graph
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_normalisers_added(model, task, steps: int) -> torch.Tensor:
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
    scores = torch.einsum("sbpd,tbpd->st", deltas, total) / (steps + task.batch_size)  # mean over points and prompts
    return scores * graph.edge_mask


def eapig_points_counted_by_the_batch_size(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, task.batch_size + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_objective_keeps_the_point_near_e_clean(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            # stay a realistic input: penalise drifting away from the clean embedding
            objective = output_distance(model, task.clean, leaf, target) + ((leaf - e_c) ** 2).flatten(1).sum(1)
            (g,) = torch.autograd.grad(objective.sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_step_length_applied_twice_via_the_norm(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            unit = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1) / eta  # norm in units of eta
            gamma = (leaf - eta * g / unit).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_step_length_per_token(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1) / e_c.shape[1]  # shared among the prompt's tokens
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_step_sizes_for_steps_minus_one_gaps(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps - 1).view(-1, 1, 1)  # steps points have steps - 1 gaps
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_target_pushed_past_the_corrupt_output(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    clean_logits, _ = cache_activations(model, task.clean, [])
    target = target + (target - clean_logits)  # aim beyond G(e_corrupt) so the few steps surely get there
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
def _kind(name: str) -> str:
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def vt_exact_averaged_with_the_estimate(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    kind = _kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: (float(res[n]) + scores[n]) / 2 for n in group})  # combine both pieces of evidence
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_argsort_applied_to_the_sorted_names(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    all_names = sorted(scores.names)
    top = scores.values.abs().argsort(descending=True)[:k]
    names = [all_names[i] for i in top.tolist()]

    kind = _kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_true_ranks_returned(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    kind = _kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res.rank(n)) for n in group})  # where patching puts it
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_ranked_on_rounded_estimates(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.with_values(scores.values.round(decimals=1)).order(absolute=True)[:k]  # rounded for the printout

    kind = _kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_sorted_the_values_not_the_names(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    d = scores.to_dict()
    names = sorted(d.values(), key=abs, reverse=True)[:k]

    kind = _kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_eap", "eap_logits_gradient_from_the_unembedding_direction",
     r"(?i)(layer ?norm|ln_final|final norm|unembed\w*|W_U|direct logit|autograd|(real|actual|true) gradient|analytic)",
     eap_logits_gradient_from_the_unembedding_direction),
    ("check_eap", "eap_scores_centred_on_the_mean_edge",
     r"(?i)(mean[- ]?(subtract|centr)|centr(e|ed|ing)|subtract\w* (the )?(mean|average)|offset|shift\w*|baseline)",
     eap_scores_centred_on_the_mean_edge),
    ("check_eap", "eap_relative_source_change",
     r"(?i)(relative|divid\w* by (the )?(clean|source|activation)\w*\W+(\w+\W+){0,3}(norm|size|magnitude)|normali[sz]\w*\W+(\w+\W+){0,4}(delta|change|activation)|raw (delta|change|difference))",
     eap_relative_source_change),
    ("check_eap", "eap_scores_log_compressed",
     r"(?i)(\blog|log1p|compress|nonlinear|transform\w*|rescal\w*|raw (scores|values)|linear)",
     eap_scores_log_compressed),
    ("check_eap", "eap_scores_clamped_to_unit_range",
     r"(?i)(clamp|clip|saturat|\[-1, ?1\]|bounded|capped|cap\b|limit\w* to)",
     eap_scores_clamped_to_unit_range),
    ("check_eap_ig", "eapig_alpha_written_k_plus_one_over_steps",
     r"(?i)(parenthes|precedence|\(k ?\+ ?1\) ?/|k ?\+ ?1 ?/ ?(m|steps)|alpha\w*\W+(\w+\W+){0,5}(beyond|past|outside|greater than|above) (1|one|\[0, ?1\]|the clean)|extrapolat)",
     eapig_alpha_written_k_plus_one_over_steps),
    ("check_eap_ig", "eapig_spherical_interpolation",
     r"(?i)(slerp|spherical|straight[- ]line|linear(ly)? interpolat|straight path|not (a )?straight|arc)",
     eapig_spherical_interpolation),
    ("check_eap_ig", "eapig_straight_through_by_rescaling",
     r"(?i)(straight[- ]through|t \+ \(target - t\)\.detach|multipl\w* (by|t)|rescal|scal\w* (t|the activation)|ratio)",
     eapig_straight_through_by_rescaling),
    ("check_eap_ig", "eapig_normalisers_added",
     r"(?i)((steps|m)\s*\+\s*(b|batch)|(b|batch)\w*\s*\+\s*(steps|m\b)|(sum|add)\w* (of )?the (two )?(normali[sz]ers|divisors)|divid\w* by (m|steps) (times|\*|and) (b|the batch)|(m|steps) ?\* ?b\b|product)",
     eapig_normalisers_added),
    ("check_eap_ig", "eapig_points_counted_by_the_batch_size",
     r"(?i)((batch[_ ]size|\bb\b)\w*\W+(\w+\W+){0,5}(points|steps|loop|iterations)|(points|steps|loop|iterations)\w*\W+(\w+\W+){0,5}(batch[_ ]size|number of prompts)|steps (argument )?(is )?ignored|range\(1, ?(steps|m) ?\+ ?1\))",
     eapig_points_counted_by_the_batch_size),
    ("check_gradpath", "gp_objective_keeps_the_point_near_e_clean",
     r"(?i)(penalt|regulari[sz]|extra term|added term|objective|only the output distance|proximity|e_clean\W+(\w+\W+){0,4}(term|distance))",
     gp_objective_keeps_the_point_near_e_clean),
    ("check_gradpath", "gp_step_length_applied_twice_via_the_norm",
     r"(?i)(eta\W*(\^ ?2|\*\* ?2|squared|twice)|(step (length|size))\w*\W+(\w+\W+){0,5}(squared|twice|eta\^2)|divid\w* by (the )?norm (over|divided by) eta|eta (in|inside) the (norm|denominator))",
     gp_step_length_applied_twice_via_the_norm),
    ("check_gradpath", "gp_step_length_per_token",
     r"(?i)((number of )?(positions|tokens)\W+(\w+\W+){0,5}(eta|step)|(eta|step (length|size))\w*\W+(\w+\W+){0,5}(positions|tokens|\bP\b|seq)|divid\w* by (the )?(sequence length|number of (positions|tokens)))",
     gp_step_length_per_token),
    ("check_gradpath", "gp_step_sizes_for_steps_minus_one_gaps",
     r"(?i)(steps ?- ?1|step_sizes\w*\W+(\w+\W+){0,6}steps|off[- ]by[- ]one|(eta|step (length|size))\w*\W+(\w+\W+){0,5}(too (long|large)|divided by))",
     gp_step_sizes_for_steps_minus_one_gaps),
    ("check_gradpath", "gp_target_pushed_past_the_corrupt_output",
     r"(?i)(G\(e_corrupt\)|corrupt (run'?s )?(logits|output)|target\W+(\w+\W+){0,5}(beyond|past|overshoot|extrapolat|wrong|shifted)|overshoot|extrapolat)",
     gp_target_pushed_past_the_corrupt_output),
    ("check_verify_top", "vt_exact_averaged_with_the_estimate",
     r"(?i)(estimate\w*\W+(\w+\W+){0,6}(mix|averag|blend|combin|added|included)|(mix|averag|blend|combin)\w*\W+(\w+\W+){0,6}estimate|only the (exact|patched)|not (purely )?exact|\(exact ?\+ ?estimate\))",
     vt_exact_averaged_with_the_estimate),
    ("check_verify_top", "vt_argsort_applied_to_the_sorted_names",
     r"(?i)(sorted\(|alphabetic|(indices|argsort|positions?)\W+(\w+\W+){0,6}(another|different|sorted|wrong) (list|order)|names? (don't|do not|no longer) (match|line up)|misalign|wrong names)",
     vt_argsort_applied_to_the_sorted_names),
    ("check_verify_top", "vt_true_ranks_returned",
     r"(?i)(\brank|ranks? instead|positions? instead|ordinal|integers? (instead|rather))",
     vt_true_ranks_returned),
    ("check_verify_top", "vt_ranked_on_rounded_estimates",
     r"(?i)(round|ties?\b|precision|decimal|truncat)",
     vt_ranked_on_rounded_estimates),
    ("check_verify_top", "vt_sorted_the_values_not_the_names",
     r"(?i)(values? (instead of|not|rather than) (the )?names|floats? (as|instead of) names|names? (are|were) (the )?(scores|values|floats|numbers)|\.values\(\)|keys)",
     vt_sorted_the_values_not_the_names),
]
