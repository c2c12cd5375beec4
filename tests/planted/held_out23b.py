"""Held-out set #23, written blind on 2026-12-07 (round 23): part b.

Exercises check_eap and check_eap_ig (chapter 3, `my_eap`, `my_eap_ig`), check_gradpath (chapter 4,
`my_gradpath`) and check_verify_top (chapter 5, `verify_top_k`), five wrong solutions each. Every one is
the chapter's solution copied with one learner slip. Each was run next to the chapter's solution on the
chapter's own model and task: `build("flat_region")` for EAP (m = 1, 3, 5 for EAP-IG), `build("path_saturation")`
for GradPath (steps = 5, step_size "unit" and "scaled"), and the zoo's `mixture` model with its IOI task
(n=8, seed=0) for verify_top_k, on the chapter's AtP node scores, QK-fix q/k scores, EAP and EAP-IG edge
scores. Each one crashes, returns the wrong type or names, or differs from the solution by at least 2 % of
the solution's largest magnitude (EAP-IG for m >= 2 where a slip needs two points; the q/k-specific
verify_top_k slip on the q/k scores).
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_eap
def eap_bos_slice_on_the_batch_axis(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    # BOS never changes, so I drop it: [:, 1:] skips the first position
    deltas = (graph.stack_sources(corr) - graph.stack_sources(clean))[:, 1:]
    dest_grads = graph.stack_dest_grads(grads)[:, 1:]
    scores = torch.einsum("sbpd,tbpd->st", deltas, dest_grads) / task.batch_size
    return scores * graph.edge_mask


def eap_dest_grads_dict_not_stacked(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # the gradients come back already per example, so they can go straight into the einsum
    scores = torch.einsum("sbpd,tbpd->st", deltas, grads) / task.batch_size
    return scores * graph.edge_mask


def eap_divided_by_len_of_the_grads_dict(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # batch mean: divide by how many per-example gradients I got back
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / len(grads)
    return scores * graph.edge_mask


def eap_corrupt_run_given_the_task(model, task):
    graph = Graph.from_model(model)
    # same first arguments as cache_activations_and_grads below: model, task
    _, corr = cache_activations(model, task, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_returns_a_scores_object(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    # like wb.eap: one named score per edge
    return wb.Scores(graph.edges, scores[graph.edge_mask], method="EAP", kind="edge")


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_divided_by_the_last_loop_index(model, task, steps: int):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(steps):
        target = e_n + ((k + 1) / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    # k is the number of points I summed
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / k) / task.batch_size
    return scores * graph.edge_mask


def eapig_hooks_passed_as_a_dict(model, task, steps: int):
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
        # hook name -> hook function
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks={"hook_embed": hook})
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_m_minus_1_intervals(model, task, steps: int):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    # m points on the line make m - 1 intervals, so the step is 1/(m-1)
    for k in range(1, steps):
        target = e_n + (k / (steps - 1)) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / (steps - 1)) / task.batch_size
    return scores * graph.edge_mask


def eapig_endpoints_from_hook_pos_embed(model, task, steps: int):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks) + ["hook_pos_embed"]
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # the input embedding of each prompt
    e_c, e_n = clean["hook_pos_embed"], corr["hook_pos_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_median_over_points(model, task, steps: int):
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
        per_point.append(graph.stack_dest_grads(grads))
    # the median is more robust than the mean if one point has a huge gradient
    typical = torch.stack(per_point).median(0).values
    scores = torch.einsum("sbpd,tbpd->st", deltas, typical) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_eta_indexed_by_step(model, task, steps: int, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    # one step length per step of the path
    eta = step_sizes(step_size, e_c, e_n, steps)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for j in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta[j] * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_leaf_grad_read_after_autograd_grad(model, task, steps: int, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            g = leaf.grad  # the gradient is stored on the leaf now
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_target_logits_averaged_over_positions(model, task, steps: int, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    # G(e_corrupt): the corrupt prompt's output, one logit vector per example
    target = target.mean(1, keepdim=True)
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


def gp_step_shared_among_positions(model, task, steps: int, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    # the step length is per token: share it out over the prompt's positions
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1) / task.seq_len
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_target_is_the_logit_change(model, task, steps: int, step_size="unit"):
    clean_logits, c = cache_activations(model, task.clean, ["hook_embed"])
    corrupt_logits, n = cache_activations(model, task.corrupt, ["hook_embed"])
    # walk toward the change the corrupt prompt makes to the output
    target = corrupt_logits - clean_logits
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


def vt_median_over_prompt_pairs(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]
    kind = _kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        # a typical prompt pair's effect, not pulled around by one odd prompt
        typical = res.per_example.median(0).values
        effects.update({n: float(typical[res.names.index(n)]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_k_counted_in_heads(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    # L1H0.q and L1H0.k are the same head: count components by head, keep going until k heads
    heads, names = [], []
    for n in scores.order(absolute=True):
        head = n.split(".")[0]
        if head not in heads:
            if len(heads) == k:
                break
            heads.append(head)
        names.append(n)
    kind = _kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_per_example_sum_divided_by_k(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]
    kind = _kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        # average the per-example effects myself
        mean = res.per_example.sum(0) / k
        effects.update({n: float(mean[res.names.index(n)]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_patch_nodes_given_kind_keyword(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]
    kind = _kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        # name the node kind explicitly so it can't be mistaken for per_position
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, kind=what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_per_example_mean_over_the_wrong_axis(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]
    kind = _kind
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        # mean over the prompt pairs of the per-example effects
        mean = res.per_example.mean(1)
        effects.update({n: float(mean[res.names.index(n)]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_eap", "eap_bos_slice_on_the_batch_axis",
     r"(?i)(batch (axis|dim)|axis 1\b|dim(ension)? 1\b|first (prompt|example|pair)|drop(s|ped|ping)?\b.{0,40}(prompt|example|pair)|half (of )?the (prompt|example|pair)|(prompt|example|pair)s? (is |are )?(left out|missing|dropped|skipped))",
     eap_bos_slice_on_the_batch_axis),
    ("check_eap", "eap_dest_grads_dict_not_stacked",
     r"(?i)(stack_dest_grads|not stacked|(gradient|grads?) dict|dict(ionary)? (of|passed|given|instead)|stack(ed|ing)? the (destination )?grad)",
     eap_dest_grads_dict_not_stacked),
    ("check_eap", "eap_divided_by_len_of_the_grads_dict",
     r"(?i)(len\(grads\)|number of (gradient |destination )?hooks|divid\w* by .{0,40}(hooks|destinations|gradients)|batch[ _]size|number of (prompt pairs|examples))",
     eap_divided_by_len_of_the_grads_dict),
    ("check_eap", "eap_corrupt_run_given_the_task",
     r"(?i)(task\.corrupt|token(s| ids)\b.{0,40}(not|instead)|(not|instead of) .{0,30}tokens|passe[sd] the task|task object|a Task\b)",
     eap_corrupt_run_given_the_task),
    ("check_eap", "eap_returns_a_scores_object",
     r"(?i)(returns? (a|an) (wb\.)?Scores|Scores (object|instance)|wb\.Scores|(tensor|matrix)\b.{0,60}(not|instead of) (a )?Scores|Scores\b.{0,60}(not|instead of) (a|the) .{0,30}(tensor|matrix))",
     eap_returns_a_scores_object),
    ("check_eap_ig", "eapig_divided_by_the_last_loop_index",
     r"(?i)(m ?- ?1|steps ?- ?1|loop (index|variable|counter)|last (value of )?k\b|divid\w* by k\b|(instead of|not) (by )?(m|steps)\b|one (point )?too few in the (divisor|denominator))",
     eapig_divided_by_the_last_loop_index),
    ("check_eap_ig", "eapig_hooks_passed_as_a_dict",
     r"(?i)(dict|list of \(?name, ?f(n|unction)\)? pairs|\(name, ?f(n|unction)\) pairs|list of pairs|extra_fwd_hooks)",
     eapig_hooks_passed_as_a_dict),
    ("check_eap_ig", "eapig_m_minus_1_intervals",
     r"(?i)(m ?- ?1|steps ?- ?1|k ?/ ?\(?(m|steps) ?- ?1|intervals|fence ?post|one (point|step) (too )?(few|short|missing)|(alpha|points?) .{0,40}k ?/ ?(m|steps)\b)",
     eapig_m_minus_1_intervals),
    ("check_eap_ig", "eapig_endpoints_from_hook_pos_embed",
     r"(?i)(pos(itional)?[_ ]?embed|hook_pos_embed|positional|wrong (hook|endpoints?)|endpoints? .{0,40}hook_embed)",
     eapig_endpoints_from_hook_pos_embed),
    ("check_eap_ig", "eapig_median_over_points",
     r"(?i)(median|(mean|average) (of|over) the (m |integration |path )?(points|gradients)|not (the )?(mean|average)|sum .{0,30}divid\w* by m)",
     eapig_median_over_points),
    ("check_gradpath", "gp_eta_indexed_by_step",
     r"(?i)(per[- ]example|one (length |value |step )?per example|eta\[|index\w* .{0,40}(step|eta)|step_sizes\b.{0,60}(example|batch|\[B\]))",
     gp_eta_indexed_by_step),
    ("check_gradpath", "gp_leaf_grad_read_after_autograd_grad",
     r"(?i)(\.grad\b|leaf\.grad|autograd\.grad\b.{0,60}(return|result|tuple)|(use|take|unpack) (the )?(returned|result|value returned))",
     gp_leaf_grad_read_after_autograd_grad),
    ("check_gradpath", "gp_target_logits_averaged_over_positions",
     r"(?i)((averag|mean)\w* .{0,40}positions|every position|position (axis|dim)|(per|each|all) positions?\b.{0,40}(logits|target)|target logits\b.{0,60}(shape|position))",
     gp_target_logits_averaged_over_positions),
    ("check_gradpath", "gp_step_shared_among_positions",
     r"(?i)(divid\w* .{0,40}(positions|seq(uence)?[_ ]len(gth)?|number of tokens)|seq_len|shared|split .{0,30}positions|eta ?/|step (length|size)\b.{0,60}(too short|smaller|shorter|per (position|token)))",
     gp_step_shared_among_positions),
    ("check_gradpath", "gp_target_is_the_logit_change",
     r"(?i)(clean logits (are )?subtract|minus the clean logits|(logit )?(difference|change)\b.{0,60}(target|instead)|target\b.{0,60}(difference|change|corrupt logits themselves|G\(e_corrupt\))|corrupt logits\b.{0,40}(not|instead))",
     gp_target_is_the_logit_change),
    ("check_verify_top", "vt_median_over_prompt_pairs",
     r"(?i)(median|(batch )?mean over (the )?(prompt pairs|examples|batch)|average over (the )?(prompt pairs|examples)|not the mean)",
     vt_median_over_prompt_pairs),
    ("check_verify_top", "vt_k_counted_in_heads",
     r"(?i)(count\w* .{0,40}heads?|same head|\.q and \.k|query and key\b.{0,60}(one|same|separate)|more than k\b|k \+ ?1|extra (name|component)|too many (names|components)|separate components)",
     vt_k_counted_in_heads),
    ("check_verify_top", "vt_per_example_sum_divided_by_k",
     r"(?i)(divid\w* by k\b|/ ?k\b|(instead of|not) (by )?(the )?(batch size|number of (prompt pairs|examples)|B\b)|batch[ _]size|(batch )?mean over (the )?(prompt pairs|examples))",
     vt_per_example_sum_divided_by_k),
    ("check_verify_top", "vt_patch_nodes_given_kind_keyword",
     r"(?i)(what=|`what`|\bwhat\b (argument|keyword|parameter)|kind=|(unexpected|unknown|wrong) keyword|keyword argument)",
     vt_patch_nodes_given_kind_keyword),
    ("check_verify_top", "vt_per_example_mean_over_the_wrong_axis",
     r"(?i)(wrong (axis|dim)|axis|dim(ension)? ?(0|1)\b|mean over (the )?(nodes|names|components|group)|per_example\b.{0,40}(\[B, ?n\]|shape|axis|dim)|transpos)",
     vt_per_example_mean_over_the_wrong_axis),
]
