"""Held-out set #26, written blind on 2026-12-07 (round 26): part b.

Exercises check_eap and check_eap_ig (chapter 3, `build("flat_region")`), check_gradpath (chapter 4,
`build("path_saturation")`) and check_verify_top (chapter 5, `zoo.load_model("mixture")` with the ioi
task, n=8, seed=0). Each function is the chapter's solution copied with one learner slip. Each was run
next to the chapter's solution in /work/scratch/round26/b/verify.py on that model and task (EAP-IG with
steps 1, 3, 5; GradPath with 5 unit, 5 scaled, 3 unit and 10 unit steps; verify_top_k with k=5 on AtP
head/MLP, AtP q/k and EAP edge estimates, and on an all-ones shortlist as the chapter passes it) and kept
only if it crashes, changes the names, or differs by at least 2 % of the solution's largest magnitude in
the chapter's own setting (EAP-IG m=5, GradPath 5 unit steps). On flat_region EAP is non-zero on a
single edge (MLP0->logits) only, so four of the five EAP slips show as crashes. m=1 EAP-IG equals EAP for
every slip but the RMS one.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_eap
def eap_head_sources_cached_at_hook_z(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    L = model.cfg.n_layers
    # a head's output is its hook_z, as in the AtP chapter
    srcs = ["hook_embed"] + [f"blocks.{l}.attn.hook_z" for l in range(L)] + [f"blocks.{l}.hook_mlp_out" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, srcs)
    _, clean, grads = cache_activations_and_grads(model, task, srcs, list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_logits_hook_one_block_past_the_end(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    L = model.cfg.n_layers
    dests = []
    for l in range(L):
        dests += [f"blocks.{l}.hook_q_input", f"blocks.{l}.hook_k_input", f"blocks.{l}.hook_v_input", f"blocks.{l}.hook_mlp_in"]
    dests.append(f"blocks.{L}.hook_resid_pre")  # what the unembedding reads: the input after the last block
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), dests)
    grads[f"blocks.{L - 1}.hook_resid_post"] = grads[f"blocks.{L}.hook_resid_pre"]
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_delta_divided_by_the_final_layernorm_scale(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks) + ["ln_final.hook_scale"], list(graph.dest_hooks))
    # the unembedding sees the normalised residual, so normalise the change the same way
    deltas = (graph.stack_sources(corr) - graph.stack_sources(clean)) / clean["ln_final.hook_scale"]
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_value_inputs_left_out_of_the_destinations(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    L = model.cfg.n_layers
    # a head reads the residual stream through its query and its key; then the MLP; then the logits
    dests = []
    for l in range(L):
        dests += [f"blocks.{l}.hook_q_input", f"blocks.{l}.hook_k_input", f"blocks.{l}.hook_mlp_in"]
    dests.append(f"blocks.{L - 1}.hook_resid_post")
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), dests)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_sources_stacked_straight_from_the_cache(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    # one row per source hook
    deltas = torch.stack([corr[h] for h in graph.source_hooks]) - torch.stack([clean[h] for h in graph.source_hooks])
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_root_mean_square_of_the_gradients(model, task, steps: int) -> torch.Tensor:
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
        total = total + graph.stack_dest_grads(grads) ** 2  # squares so + and - points don't cancel
    scores = torch.einsum("sbpd,tbpd->st", deltas, (total / steps).sqrt()) / task.batch_size
    return scores * graph.edge_mask


def eapig_fraction_of_prompt_pairs_switched_to_clean(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    B = task.batch_size
    total = 0.0
    for k in range(1, steps + 1):
        # k/steps of the way: that share of the prompt pairs gets its clean input back
        n_clean = round(k / steps * B)
        target = torch.cat([e_c[:n_clean], e_n[n_clean:]], 0)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_point_advanced_by_a_growing_increment(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    point = e_n
    for k in range(1, steps + 1):
        point = point + (k / steps) * (e_c - e_n)  # move the point on along the path
        target = point
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_integrated_gradient_averaged_with_plain_eap(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean, clean_grads = cache_activations_and_grads(model, task, names, list(graph.dest_hooks))
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    # IG corrects EAP's gradient: combine the clean gradient with the path average
    g = (graph.stack_dest_grads(clean_grads) + total / steps) / 2
    scores = torch.einsum("sbpd,tbpd->st", deltas, g) / task.batch_size
    return scores * graph.edge_mask


def eapig_only_attention_inputs_integrated(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean, clean_grads = cache_activations_and_grads(model, task, names, list(graph.dest_hooks))
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    g = total / steps
    # the saturation is in the attention softmax: MLP and logits inputs keep their clean gradient
    att = torch.tensor([d.endswith((".q", ".k", ".v")) for d in graph.destinations])
    g = torch.where(att[:, None, None, None], g, graph.stack_dest_grads(clean_grads))
    scores = torch.einsum("sbpd,tbpd->st", deltas, g) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_target_shifted_one_position_like_lm_loss(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)

    def distance(emb):
        with model.hooks(fwd_hooks=[("hook_embed", lambda t, hook: emb)]):
            logits = model(task.clean)
        # compare each position's prediction with the target for the next token
        return ((logits[:, :-1] - target[:, 1:]) ** 2).flatten(1).sum(1)

    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(distance(leaf).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_eap_ig_straight_through_hook_reused(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)

    def distance(emb):
        # same hook as in EAP-IG, so gradients keep flowing
        with model.hooks(fwd_hooks=[("hook_embed", lambda t, hook: t + (emb - t).detach())]):
            logits = model(task.clean)
        return ((logits - target) ** 2).flatten(1).sum(1)

    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(distance(leaf).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_points_projected_back_onto_the_straight_segment(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    u = (e_n - e_c).flatten(1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            # keep the path between the two inputs: project onto the clean -> corrupt segment
            a = ((gamma - e_c).flatten(1) * u).sum(1) / (u * u).sum(1)
            gamma = e_c + a.clamp(0, 1).view(-1, 1, 1) * (e_n - e_c)
            points.append(gamma)
    return torch.stack(points)


def gp_straight_direction_removed_from_the_gradient(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    u = (e_n - e_c) / (e_n - e_c).flatten(1).norm(dim=1).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            # GradPath is what the straight path misses: keep only the part of g off the straight line
            g = g - (g.flatten(1) * u.flatten(1)).sum(1).view(-1, 1, 1) * u
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_tokens_passed_as_the_attention_mask(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            # output_distance wants the prompt's mask too
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target, task.clean).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# ----------------------------------------------------------------------------- check_verify_top
def vt_effect_shared_among_the_group(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
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
        # the group was patched in one call, so each member gets its share
        effects.update({n: float(res[n]) / len(group) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_names_sorted_upstream_first(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    def layer(name: str) -> float:
        src = name.split("->")[0]
        if src == "embed":
            return -1.0
        return float(src[3:]) + 0.5 if src.startswith("MLP") else float(src[1:src.index("H")])

    names = sorted(names, key=layer)  # patch in model order, earliest layer first
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_head_effect_summed_over_its_q_k_v_inputs(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
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
        if what == "head":
            # a head only acts through what it reads: add up its query, key and value effects
            parts = [wb.patch_nodes(model, task, x, nodes=[f"{n}.{x}" for n in group]) for x in "qkv"]
            effects.update({n: sum(float(p[f"{n}.{x}"]) for p, x in zip(parts, "qkv")) for n in group})
            continue
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_exact_effects_rescaled_to_the_estimates_total(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
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
    values = torch.tensor([effects[n] for n in names])
    # put them on the estimate's scale so the two are comparable
    est = torch.tensor([scores[n] for n in names])
    values = values * est.abs().sum() / values.abs().sum().clamp_min(1e-12)
    return wb.Scores(names, values, method="activation patching", kind=scores.kind)


def vt_names_found_by_value_with_list_index(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    vals = scores.values.abs().tolist()
    # the k largest values, then the name that has each value
    names = [scores.names[vals.index(v)] for v in sorted(vals, reverse=True)[:k]]

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


MISTAKES = [
    ("check_eap", "eap_head_sources_cached_at_hook_z",
     r"(?i)hook_result|hook_z|(head|source)['’]?s? (residual )?(write|output)|before (the )?W_?O|per[- ]head (output|result)",
     eap_head_sources_cached_at_hook_z),
    ("check_eap", "eap_logits_hook_one_block_past_the_end",
     r"(?i)resid_post|n_layers ?- ?1|last (block|layer)['’]?s? (output|resid)|one (block|layer) (past|too far|beyond)|off[- ]by[- ]one|does not exist|no (such )?hook",
     eap_logits_hook_one_block_past_the_end),
    ("check_eap", "eap_delta_divided_by_the_final_layernorm_scale",
     r"(?i)layer ?norm|ln_final|hook_scale|(normali[sz]|rescal|divid)\w* (the )?(delta|change|source)|raw (source )?(change|delta|write)|chain rule",
     eap_delta_divided_by_the_final_layernorm_scale),
    ("check_eap", "eap_value_inputs_left_out_of_the_destinations",
     r"(?i)\bv(alue)?[ _-]?input|hook_v_input|\.v\b|value (input|destination)s?|(q|query),? (k|key),? (and )?(v|value)|three inputs",
     eap_value_inputs_left_out_of_the_destinations),
    ("check_eap", "eap_sources_stacked_straight_from_the_cache",
     r"(?i)stack_sources|(split|one row) (per|for each|into) (the )?heads?|per[- ]head|hook_result.*(head|\[batch, pos, head)|head (axis|dimension)|shapes? (do not|don't) match",
     eap_sources_stacked_straight_from_the_cache),
    ("check_eap_ig", "eapig_root_mean_square_of_the_gradients",
     r"(?i)squar|root[- ]mean|rms|sqrt|sign (of the gradient|lost|dropped)|(plain|arithmetic|signed) (mean|average) of (the )?gradients",
     eapig_root_mean_square_of_the_gradients),
    ("check_eap_ig", "eapig_fraction_of_prompt_pairs_switched_to_clean",
     r"(?i)(share|fraction|subset|some) of (the )?(prompt pairs|examples|batch)|every (example|prompt pair)|interpolat\w* (each|every|the) (embedding|example)|mix(es|ing)? (of )?(clean and corrupt )?(examples|prompt pairs)",
     eapig_fraction_of_prompt_pairs_switched_to_clean),
    ("check_eap_ig", "eapig_point_advanced_by_a_growing_increment",
     r"(?i)(point|alpha|step)s? (overshoot|past|beyond)|increment|cumulat|accumulat\w* (the )?(point|step)|e_corrupt ?\+ ?\(?k ?/ ?m|k/m of the way|evenly spaced|straight path",
     eapig_point_advanced_by_a_growing_increment),
    ("check_eap_ig", "eapig_integrated_gradient_averaged_with_plain_eap",
     r"(?i)(averag|mix|combin|blend)\w* (with|in) (plain |the )?(eap|clean gradient)|clean gradient (added|included|mixed|weighted)|half (the )?weight|extra (clean )?(point|term)|only the (path|m) (points|gradients)",
     eapig_integrated_gradient_averaged_with_plain_eap),
    ("check_eap_ig", "eapig_only_attention_inputs_integrated",
     r"(?i)(mlp|logits?)[^.]{0,60}(clean|eap|not integrat|plain)|every destination|all (the )?destinations|(clean|eap) gradient[^.]{0,40}(mlp|logits?)|only (the )?(q|attention|head)",
     eapig_only_attention_inputs_integrated),
    ("check_gradpath", "gp_target_shifted_one_position_like_lm_loss",
     r"(?i)shift|off[- ]by[- ]one|next[- ]token|one position|same position|positions? (mis)?aligned|align",
     gp_target_shifted_one_position_like_lm_loss),
    ("check_gradpath", "gp_eap_ig_straight_through_hook_reused",
     r"(?i)straight[- ]through|detach|(no|not) (reach|flow)\w* (to )?the (leaf|point)|does not require grad|leaf (is )?(cut|detached|not used)|replace (the )?embedding (by|with) the (leaf|point)",
     gp_eap_ig_straight_through_hook_reused),
    ("check_gradpath", "gp_points_projected_back_onto_the_straight_segment",
     r"(?i)project|straight (line|path|segment)|segment|leave the (line|segment)|off the (line|straight)|clamp",
     gp_points_projected_back_onto_the_straight_segment),
    ("check_gradpath", "gp_straight_direction_removed_from_the_gradient",
     r"(?i)orthogonal|(remov|subtract|drop)\w* (the )?(component|part|projection)|straight (line|direction|path)|whole (gradient|g)|full gradient|component along",
     gp_straight_direction_removed_from_the_gradient),
    ("check_gradpath", "gp_tokens_passed_as_the_attention_mask",
     r"(?i)attention[_ ]mask|mask|token ids?|tokens? (passed|given|used) (as|for)|weight\w* (by|with) (the )?token",
     gp_tokens_passed_as_the_attention_mask),
    ("check_verify_top", "vt_effect_shared_among_the_group",
     r"(?i)divid\w* by (the )?(group|number of (names|components|nodes))|group size|len\(group\)|share|split (among|between)|each (name|component)['’]?s? own (effect|patch)",
     vt_effect_shared_among_the_group),
    ("check_verify_top", "vt_names_sorted_upstream_first",
     r"(?i)(layer|model|topolog\w*|upstream) order|sorted by layer|estimate['’]?s? order|order of the estimate|(re)?sort|rank(ed|ing)? order",
     vt_names_sorted_upstream_first),
    ("check_verify_top", "vt_head_effect_summed_over_its_q_k_v_inputs",
     r"(?i)(sum|add)\w* (of |up )?(its |the )?(q|query|inputs?)|q,? ?k,? ?(and )?v|query,? key,? (and )?value|whole head|head['’]?s? (output|hook_z|own)|what=.?head",
     vt_head_effect_summed_over_its_q_k_v_inputs),
    ("check_verify_top", "vt_exact_effects_rescaled_to_the_estimates_total",
     r"(?i)rescal|scal(ed|ing) (to|by)|estimate['’]?s? (scale|total|magnitude|sum)|normali[sz]|raw (exact )?effects?|unscaled",
     vt_exact_effects_rescaled_to_the_estimates_total),
    ("check_verify_top", "vt_names_found_by_value_with_list_index",
     r"(?i)\.index|tie[sd]?|duplicat|repeated names?|same name|equal (values|scores)|first name with|look\w* up (the )?names? by (its )?value",
     vt_names_found_by_value_with_list_index),
]
