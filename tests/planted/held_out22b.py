"""Held-out set #22, written blind on 2026-12-07 (round 22): part b.

Exercises check_eap and check_eap_ig (chapter 03, ``my_eap`` / ``my_eap_ig``), check_gradpath
(chapter 04, ``my_gradpath``) and check_verify_top (chapter 05, ``verify_top_k``), five wrong
solutions each. Each is the chapter's own solution copied and changed at one place. Each was run
next to that solution in a scratch script on the chapter's own model and task, built as the chapter
builds them: EAP / EAP-IG on ``build("flat_region")`` (EAP-IG with m = 1, 2 and 5), GradPath on
``build("path_saturation")`` (5 steps, ``"unit"`` and ``"scaled"``), and verify_top_k on the
``mixture`` model's IOI task (n = 8, seed 0) with AtP node, AtP q/k and EAP edge estimates as
input. Each one crashes, returns wrong names or a wrong shape, or differs from the solution by at
least 2 % of the largest magnitude in the solution's result. The flat-region EAP matrix has a single
non-zero edge (MLP0->logits) and GradPath moves its points only about 4 % of their largest
coordinate, so most slips there show only as crashes. Two verify_top_k slips only affect node names;
they give the right answer when the estimate holds edges only.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_eap
def eap_scores_overwritten_in_the_batch_loop(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    g = graph.stack_dest_grads(grads)
    # one prompt pair at a time is easier to read, then the batch mean
    for b in range(task.batch_size):
        scores = torch.einsum("spd,tpd->st", deltas[:, b], g[:, b])
    scores = scores / task.batch_size
    return scores * graph.edge_mask


def eap_corrupt_run_cached_at_the_destination_hooks(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    # the corrupt run needs the same hooks as the gradient run
    _, corr = cache_activations(model, task.corrupt, list(graph.dest_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_graph_built_from_the_model_object(model, task) -> torch.Tensor:
    graph = Graph(model)  # the graph of this model
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_gradients_requested_only_at_the_logits(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    # the metric only reads the logits, so that is the gradient I need
    logits_hook = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), [logits_hook])
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_first_prompt_pair_counted_twice(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    g = graph.stack_dest_grads(grads)
    # start the sum from the first prompt pair, then add the prompt pairs
    scores = torch.einsum("spd,tpd->st", deltas[:, 0], g[:, 0])
    for b in range(task.batch_size):
        scores = scores + torch.einsum("spd,tpd->st", deltas[:, b], g[:, b])
    scores = scores / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_straight_through_written_backwards(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        # straight-through: the value is the target, the difference is detached
        hook = lambda t, hook, target=target: target + (t - target).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_normaliser_without_parentheses(model, task, steps: int) -> torch.Tensor:
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
    # one normaliser for both means: the m points and the B prompt pairs
    scores = torch.einsum("sbpd,tbpd->st", deltas, total) / steps * task.batch_size
    return scores * graph.edge_mask


def eapig_direction_scaled_in_place(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    direction = e_c - e_n  # computed once, outside the loop
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + direction.mul_(k / steps)  # mul_ saves a copy per point
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_gradient_dicts_added(model, task, steps: int) -> torch.Tensor:
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
        total = total + grads  # sum the gradients, stack them once at the end
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(total) / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_tokens_passed_as_the_task(model, task, steps: int) -> torch.Tensor:
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
        # run the clean tokens with hook_embed replaced
        _, _, grads = cache_activations_and_grads(model, task.clean, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_task_passed_as_the_tokens(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            # output_distance runs the task with hook_embed := leaf
            (g,) = torch.autograd.grad(output_distance(model, task, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_output_distance_embedding_and_target_swapped(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            # distance from the corrupt output (target) to the output at the point (leaf)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, target, leaf).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_step_size_argument_used_in_the_update(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            # gamma <- gamma - step * g / ||g||
            gamma = (leaf - step_size * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_points_converted_with_torch_tensor(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.tensor(points)  # list of points -> one tensor [steps + 1, B, P, D]


def gp_cdist_pairs_every_position(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            with model.hooks(fwd_hooks=[("hook_embed", lambda t, hook: leaf)]):
                logits = model(task.clean)
            # ||G(gamma) - G(e_corrupt)||^2 with torch's distance function
            dist = (torch.cdist(logits, target) ** 2).sum()
            (g,) = torch.autograd.grad(dist, leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# ----------------------------------------------------------------------------- check_verify_top
def vt_top_half_positive_half_negative(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    # the strongest components on both sides: the most positive and the most negative
    ranked = scores.order(absolute=False)
    names = ranked[: (k + 1) // 2] + ranked[::-1][: k // 2]

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


def vt_tensor_from_dict_values(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
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
    # the values are all in the dict already
    return wb.Scores(names, torch.tensor(effects.values()), method="activation patching", kind=scores.kind)


def vt_names_as_a_generator(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = (n for n, _ in scores.top(k))  # the names of the top k

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
    names = list(names)
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_patch_nodes_arguments_in_the_wrong_order(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
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
        # patch_nodes(model, task, nodes, kind), like patch_edges(model, task, edges)
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, group, what)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_node_effect_as_the_sum_of_its_edges(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]
    graph = wb.Graph.from_model(model)

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
            res = wb.patch_edges(model, task, edges=group)
            effects.update({n: float(res[n]) for n in group})
            continue
        # a node acts only through its edges: add up its edges' exact effects
        # (a head or MLP through the edges it writes, a .q/.k input through the edges it reads)
        for n in group:
            side = 1 if what in ("q", "k") else 0
            mine = [e for e in graph.edges if e.split("->")[side] == n]
            effects[n] = float(wb.patch_edges(model, task, edges=mine).values.sum())
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_eap", "eap_scores_overwritten_in_the_batch_loop",
     r"(?i)(last (prompt pair|example|pair)|overwrit|accumulat|\+=|assign\w* (instead|rather)|only one (prompt pair|example))",
     eap_scores_overwritten_in_the_batch_loop),
    ("check_eap", "eap_corrupt_run_cached_at_the_destination_hooks",
     r"(?i)(source.?hooks|(corrupt|cach)\w*.{0,60}(dest(ination)?.?hooks?|source|hook_embed)|dest(ination)?.?hooks?.{0,60}(corrupt|cach))",
     eap_corrupt_run_cached_at_the_destination_hooks),
    ("check_eap", "eap_graph_built_from_the_model_object",
     r"(?i)(from_model|Graph\(model\)|constructor|model (object )?(passed|given) (to|as) Graph)",
     eap_graph_built_from_the_model_object),
    ("check_eap", "eap_gradients_requested_only_at_the_logits",
     r"(?i)(only (at |for |of )?(the )?logits|dest(ination)?.?hooks|(every|each|all) (the )?destination|gradients? (at|for) (the )?(head inputs|q/k/v|mlp inputs?))",
     eap_gradients_requested_only_at_the_logits),
    ("check_eap", "eap_first_prompt_pair_counted_twice",
     r"(?i)(first (prompt pair|example|pair).{0,40}(twice|double|two times|counted)|(twice|double).{0,40}(first|example 0|prompt pair 0)|initiali[sz]|B ?\+ ?1)",
     eap_first_prompt_pair_counted_twice),
    ("check_eap_ig", "eapig_straight_through_written_backwards",
     r"(?i)(straight.?through|target ?\+ ?\(t ?- ?target\)|t ?\+ ?\(target ?- ?t\)|(t|target) and (t|target) (are )?swapped|detach\w* .{0,40}(graph|gradient|embedding))",
     eapig_straight_through_written_backwards),
    ("check_eap_ig", "eapig_normaliser_without_parentheses",
     r"(?i)(parenthes|precedence|multipl\w* by (the )?(batch|B\b)|times (the )?(batch size|B\b)|B ?\^ ?2|B ?\*\* ?2|B²|batch size squared|instead of divid\w* by (the )?(batch|B\b))",
     eapig_normaliser_without_parentheses),
    ("check_eap_ig", "eapig_direction_scaled_in_place",
     r"(?i)(in.?place|mul_|compound|cumulat|alias|(direction|difference|e_clean ?- ?e_corrupt).{0,40}(modif|mutat|overwrit|shrink|rescal|scaled again))",
     eapig_direction_scaled_in_place),
    ("check_eap_ig", "eapig_gradient_dicts_added",
     r"(?i)((add|sum)\w* (the |two )?(gradient )?dict|dict\w* (of gradients )?(are |is )?(added|summed|can't be added|cannot be added)|stack_dest_grads.{0,40}(each|every|inside|per) (point|step|iteration)|stack (the gradients|them) (in|inside) the loop)",
     eapig_gradient_dicts_added),
    ("check_eap_ig", "eapig_tokens_passed_as_the_task",
     r"(?i)(task (object|argument)|tokens? (tensor )?(instead of|in place of|rather than|for) (the |a )?task|pass\w* (the )?(clean )?tokens)",
     eapig_tokens_passed_as_the_task),
    ("check_gradpath", "gp_task_passed_as_the_tokens",
     r"(?i)(task (object )?(instead|in place|rather)|tokens? (tensor )?(instead|in place|rather|not the task)|task\.clean|pass\w* the (whole )?task)",
     gp_task_passed_as_the_tokens),
    ("check_gradpath", "gp_output_distance_embedding_and_target_swapped",
     r"(?i)(argument\w* (order|swapped|reversed|switched|the wrong way)|swap|(embed\w*|leaf|point|gamma).{0,40}(target|logits).{0,40}(order|swapped|reversed|wrong place))",
     gp_output_distance_embedding_and_target_swapped),
    ("check_gradpath", "gp_step_size_argument_used_in_the_update",
     r"(?i)(step_size (string|argument|itself|instead|directly)|eta (is )?(not used|unused|never used|computed but)|the string|'unit'|\"unit\"|instead of eta)",
     gp_step_size_argument_used_in_the_update),
    ("check_gradpath", "gp_points_converted_with_torch_tensor",
     r"(?i)(torch\.tensor|torch\.stack|list of tensors|stack (the )?points|convert\w* .{0,20}list)",
     gp_points_converted_with_torch_tensor),
    ("check_gradpath", "gp_cdist_pairs_every_position",
     r"(?i)(cdist|pairwise|every pair|all pairs|pairs of positions|across positions|cross.?position|(each|every) position (with|against) (every|all|each) (other )?position|same position|matched positions|position by position)",
     gp_cdist_pairs_every_position),
    ("check_verify_top", "vt_top_half_positive_half_negative",
     r"(?i)(positive.{0,40}negative|negative.{0,40}positive|both (ends|signs)|\|score\||absolute|by magnitude)",
     vt_top_half_positive_half_negative),
    ("check_verify_top", "vt_tensor_from_dict_values",
     r"(?i)(torch\.tensor\(\s*\w*\.values|list\(|dict_values.{0,60}(list|tensor\(|convert)|(convert|wrap)\w* .{0,40}(list|tensor)|effects\[n\] for n in names)",
     vt_tensor_from_dict_values),
    ("check_verify_top", "vt_names_as_a_generator",
     r"(?i)(generator|iterator|exhaust|consumed|used up|names? (list )?(is |are )?empty|no names|list comprehension)",
     vt_names_as_a_generator),
    ("check_verify_top", "vt_patch_nodes_arguments_in_the_wrong_order",
     r"(?i)(argument\w* (order|position)|positionally|keyword|nodes ?=|what ?=|swapp|order of (the )?arguments)",
     vt_patch_nodes_arguments_in_the_wrong_order),
    ("check_verify_top", "vt_node_effect_as_the_sum_of_its_edges",
     r"(?i)(sum\w* (of |over )?(its |the )?(outgoing |incoming |single.?)?edges|edges?\W+(effects? )?(added|summed)|not additive|nonlinear|patch_nodes|patch\w* the (whole )?node)",
     vt_node_effect_as_the_sum_of_its_edges),
]
