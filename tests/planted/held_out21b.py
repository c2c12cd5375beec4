"""Held-out set #21 (writer b), written blind on 2026-12-07 (round 21).

Five realistic learner mistakes per exercise for ``check_eap``, ``check_eap_ig``, ``check_gradpath`` and
``check_verify_top``, each written inline (the chapter's solution copied into the function and changed
where the learner slips), none among the ideas already planted. Each was checked against the correct
solution on the chapter's own model and task: chapter 3's ``flat_region`` specimen (EAP; EAP-IG with
``steps=5``), chapter 4's ``path_saturation`` specimen (GradPath, ``steps=5``, unit and scaled step sizes),
and chapter 5's mixture model on ``zoo.load_task("mixture", n=8, seed=0, task="ioi")`` with AtP node,
AtP query/key, EAP and EAP-IG edge scores and ``k=5`` (verify_top). Every one kept differs from the
correct result by at least 2 % of its largest magnitude, crashes, or returns a wrong shape.

``MISTAKES``: ``(check name, id, cause regex, function)``; the regex matches a message that names the
mistake's cause in plain English.
"""
import functools

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_eap
def eap_edge_mask_applied_with_bitwise_and(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    # keeps the edges with & (scores and mask)
    return scores & graph.edge_mask


def eap_destination_grads_stacked_from_the_dict(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # stacks the gradient dict's values instead of graph.stack_dest_grads
    dest_grads = torch.stack(list(grads.values()))
    scores = torch.einsum("sbpd,tbpd->st", deltas, dest_grads) / task.batch_size
    return scores * graph.edge_mask


def eap_d_model_kept_in_the_einsum_output(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # d is left in the output subscripts
    scores = torch.einsum("sbpd,tbpd->std", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask[..., None]


def eap_per_example_loop_indexes_the_source_axis(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    dest_grads = graph.stack_dest_grads(grads)
    scores = 0.0
    for b in range(task.batch_size):
        # example b taken from the first axis (the sources / destinations), not the batch axis
        scores = scores + torch.einsum("spd,tpd->st", deltas[b], dest_grads[b])
    scores = scores / task.batch_size
    return scores * graph.edge_mask


def eap_matmul_without_transposing_the_gradients(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    dest_grads = graph.stack_dest_grads(grads)
    # flattened matrix product, gradient matrix not transposed
    scores = deltas.flatten(1) @ dest_grads.flatten(1) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_inplace_add_into_a_zero_dim_accumulator(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    # 0-dim accumulator, then added to in place
    total = torch.zeros(())
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total += graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_gradients_interpolated_instead_of_inputs(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # two gradient runs (clean and corrupt tokens), the gradients mixed with weight k/m
    _, _, g_clean = cache_activations_and_grads(model, task, [], list(graph.dest_hooks))
    _, _, g_corr = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), tokens=task.corrupt)
    g_c, g_n = graph.stack_dest_grads(g_clean), graph.stack_dest_grads(g_corr)
    total = 0.0
    for k in range(1, steps + 1):
        total = total + g_n + (k / steps) * (g_c - g_n)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_point_missing_the_corrupt_start(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        # the step along the path, without the starting point e_corrupt
        target = (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_partial_binds_the_point_as_the_activation(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]

    def put_point(t, hook, target):
        return t + (target - t).detach()

    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        # the point bound positionally: it fills the hook's first parameter
        hook = functools.partial(put_point, target)
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_linspace_between_tensors(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    # all points at once with linspace between the two embeddings (as with numpy)
    points = torch.linspace(e_n, e_c, steps + 1)[1:]
    total = 0.0
    for target in points:
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_scaled_step_from_the_logit_distance(model, task, steps, step_size="unit"):
    clean_logits, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    # "scaled": the clean-corrupt distance measured between the logits
    if step_size == "scaled":
        eta = ((clean_logits - target).flatten(1).norm(dim=1) / steps).view(-1, 1, 1)
    else:
        eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_distance_made_a_float_before_the_gradient(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            # .item() to keep the distance as a number
            dist = output_distance(model, task.clean, leaf, target).sum().item()
            (g,) = torch.autograd.grad(dist, leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_trailing_comma_makes_the_point_a_tuple(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            # trailing comma after the update
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach(),
            points.append(gamma)
    return torch.stack(points)


def gp_heavy_ball_momentum(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    velocity = torch.zeros_like(e_c)
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            # the previous step carried over (momentum 0.9)
            velocity = 0.9 * velocity + eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
            gamma = (leaf - velocity).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_gradient_clamped_instead_of_its_norm(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            # clamp_min applied to the gradient, not to its norm
            gamma = (leaf - eta * g.clamp_min(1e-12) / g.flatten(1).norm(dim=1).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# ----------------------------------------------------------------------------- check_verify_top
def vt_effect_of_the_first_prompt_pair_only(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        # row 0 of the per-example effects
        effects.update({n: float(res.per_example[0, res.names.index(n)]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_python_floats_passed_to_torch_stack(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    # torch.stack on a list of Python floats
    return wb.Scores(names, torch.stack([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_update_indented_under_the_node_branch(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
            # the update sits inside the else branch
            effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_effects_divided_by_the_batch_size(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        # divided by the number of prompt pairs, as if patching returned a sum
        effects.update({n: float(res[n]) / task.batch_size for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_kind_falls_through_to_none_for_heads(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        if "." in name:
            return name.rsplit(".", 1)[1]
        # no final return for plain head names

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_eap", "eap_edge_mask_applied_with_bitwise_and",
     r"(?i)(&|bitwise[_ ]and\w*|logical[_ ]and)\W+(\w+\W+){0,6}(edge_mask|mask|floats?|float tensor)"
     r"|(edge_mask|mask)\W+(\w+\W+){0,4}(with|using|via) (an? )?(&|bitwise|logical and)"
     r"|(&|bitwise[_ ]and\w*) (is )?(not implemented|undefined|does not work) for (float|Float)"
     r"|multipl\w* (the scores )?(by|with) the (boolean )?(edge_)?mask,? (not|instead of|rather than) (&|and|bitwise)",
     eap_edge_mask_applied_with_bitwise_and),
    ("check_eap", "eap_destination_grads_stacked_from_the_dict",
     r"(?i)(torch\.stack|stack(ed|ing|s)?)\W+(\w+\W+){0,6}(gradient |grads? )?(dict|dictionary|\.values\(\)|values of the)"
     r"|grads?\.values\(\)"
     r"|(dict|dictionary)('s)? (values|order)\W+(\w+\W+){0,6}(stack|destination)"
     r"|(hooks?|gradients?) (have|of) (different|unequal) shapes",
     eap_destination_grads_stacked_from_the_dict),
    ("check_eap", "eap_d_model_kept_in_the_einsum_output",
     r"(?i)d_model (axis |dimension |dim )?(is |was )?(not (summed|contracted|reduced)|kept|left|still)"
     r"|(did not|didn't|never|forgot to) (sum|contract|reduce) (over |out )?(the )?d_model"
     r"|extra (d_model|trailing|third|last) (axis|dimension|dim)"
     r"|(d_model|\bd\b) (left |kept )?in the (einsum )?output"
     r"|->std\b|\[n_sources, n_destinations, d_model\]",
     eap_d_model_kept_in_the_einsum_output),
    ("check_eap", "eap_per_example_loop_indexes_the_source_axis",
     r"(?i)(index\w*|slic\w*|took|take|select\w*)\W+(\w+\W+){0,6}(first|leading|0th|source|destination) (axis|dim|dimension)"
     r"|(axis|dim|dimension) 0\W+(\w+\W+){0,6}(instead of|not|rather than) (the )?(batch|axis 1|dim 1)"
     r"|batch (is|lives on|sits on|is on) (axis|dim|dimension) 1"
     r"|(deltas|grads?|stack)\[:, ?b\]"
     r"|(deltas|grads?)\[b\]\W+(\w+\W+){0,6}(source|destination)",
     eap_per_example_loop_indexes_the_source_axis),
    ("check_eap", "eap_matmul_without_transposing_the_gradients",
     r"(?i)(transpos\w*|\.T\b)\W+(\w+\W+){0,6}(gradient|grads|second (matrix|operand|factor)|right[- ]hand)"
     r"|(gradient|grads|second) (matrix|operand|factor)\W+(\w+\W+){0,4}(not )?transpos"
     r"|(matmul|matrix product|@)\W+(\w+\W+){0,8}(transpos\w*|\.T\b|shapes? (do not|don't|cannot|can't) (match|be multiplied))"
     r"|mat1 and mat2",
     eap_matmul_without_transposing_the_gradients),
    ("check_eap_ig", "eapig_inplace_add_into_a_zero_dim_accumulator",
     r"(?i)in[- ]place\W+(\w+\W+){0,6}(add\w*|\+=|accumulat\w*|sum)"
     r"|\+=\W+(\w+\W+){0,8}(scalar|0-d|zero-dim\w*|0-dim\w*|broadcast\w*|resiz\w*)"
     r"|(scalar|0-d|zero-dim\w*|0-dim\w*|shape \[\]|torch\.zeros\(\(\)\)|torch\.tensor\(0\.?0?\))\W+(\w+\W+){0,6}(accumulator|total|running sum|\+=)"
     r"|(accumulator|total)\W+(\w+\W+){0,6}(cannot|can't|does not|doesn't) (grow|resize|broadcast|change shape)"
     r"|doesn't match the broadcast shape",
     eapig_inplace_add_into_a_zero_dim_accumulator),
    ("check_eap_ig", "eapig_gradients_interpolated_instead_of_inputs",
     r"(?i)interpolat\w* (between )?(the )?(two |endpoint |end[- ]point |clean and corrupt )?gradients"
     r"|gradients? (are|were|is|was) interpolated"
     r"|(mix\w*|blend\w*|weighted average|linear combination)\W+(\w+\W+){0,4}(the )?(clean and corrupt|two|endpoint|end[- ]point)s?('s)? gradients"
     r"|only (two|2) gradient (runs|passes|evaluations)"
     r"|(instead of|rather than|not) (interpolating|moving|replacing) the (input|embedding)",
     eapig_gradients_interpolated_instead_of_inputs),
    ("check_eap_ig", "eapig_point_missing_the_corrupt_start",
     r"(?i)(missing|without|forgot\w*|left out|dropp\w*|omitt?\w*|lacks?)\W+(\w+\W+){0,5}(e_corrupt|e_n\b|corrupt (embedding|start\w*|input|end ?point)|starting point|start(ing)? term)"
     r"|e_corrupt (term )?(is )?missing"
     r"|add(ed|ing)? (back )?(the )?(e_corrupt|corrupt embedding|starting point)"
     r"|(point|target) (is|was) (just |only )?(the )?(alpha|k ?/ ?m)\W+(\w+\W+){0,3}(difference|displacement|e_clean - e_corrupt)",
     eapig_point_missing_the_corrupt_start),
    ("check_eap_ig", "eapig_partial_binds_the_point_as_the_activation",
     r"(?i)partial\W+(\w+\W+){0,10}(positional\w*|first (argument|parameter)|keyword|target=)"
     r"|multiple values for (the )?argument"
     r"|(bound|binds?|bind|pass\w*) (the )?(point|target) positionally"
     r"|(point|target)\W+(\w+\W+){0,5}(fills|lands in|bound to|taken as|goes to) (the )?(hook's )?(first (argument|parameter)|activation|\bt\b)",
     eapig_partial_binds_the_point_as_the_activation),
    ("check_eap_ig", "eapig_linspace_between_tensors",
     r"(?i)linspace\W+(\w+\W+){0,8}(tensors?|0-d\w*|0-dim\w*|scalars?|multi-?dim\w*|numpy|np\b)"
     r"|(tensor|multi-?dim\w*) (start|end)(s| and end)?\W+(\w+\W+){0,4}linspace"
     r"|linspace only supports"
     r"|(np|numpy)\.linspace",
     eapig_linspace_between_tensors),
    ("check_gradpath", "gp_scaled_step_from_the_logit_distance",
     r"(?i)(scaled|step (length|size)s?|eta)\W+(\w+\W+){0,8}(from|of|on|by|with|using|in) (the )?(clean[- ]corrupt |clean and corrupt |corrupt[- ]clean )?(logits?|outputs?)( space| distance)?\b"
     r"|(logits?|output)[- ]space (distance|length|norm)\W+(\w+\W+){0,6}(step|eta|scaled)"
     r"|(distance|norm) between (the )?(clean and corrupt |corrupt and clean )?logits\W+(\w+\W+){0,6}(step|eta|scaled)"
     r"|(step|eta|scaled)\W+(\w+\W+){0,6}(embedding|input)[- ]space (distance|length|norm)",
     gp_scaled_step_from_the_logit_distance),
    ("check_gradpath", "gp_distance_made_a_float_before_the_gradient",
     r"(?i)\.item\(\)"
     r"|(distance|objective|loss)\W+(\w+\W+){0,6}(python (float|number)|plain (float|number)|float|number)\W+(\w+\W+){0,6}(grad\w*|differentiat\w*|autograd)"
     r"|(turn\w*|convert\w*|made|cast\w*)\W+(\w+\W+){0,4}(distance|objective)\W+(\w+\W+){0,4}(float|number|scalar)"
     r"|'float' object is not iterable",
     gp_distance_made_a_float_before_the_gradient),
    ("check_gradpath", "gp_trailing_comma_makes_the_point_a_tuple",
     r"(?i)trailing comma"
     r"|(gamma|point|update|new point)\W+(\w+\W+){0,6}(is|became|becomes|was) a (1-)?tuple"
     r"|tuple\W+(\w+\W+){0,6}(gamma|point|update)"
     r"|'tuple' object has no attribute",
     gp_trailing_comma_makes_the_point_a_tuple),
    ("check_gradpath", "gp_heavy_ball_momentum",
     r"(?i)momentum|velocity|heavy[- ]ball"
     r"|(previous|last|earlier) steps?\W+(\w+\W+){0,5}(carried|added|accumulat\w*|reused|kept|mixed)"
     r"|(carr\w*|accumulat\w*|add\w*) (over )?(the )?(previous|earlier|last) steps?",
     gp_heavy_ball_momentum),
    ("check_gradpath", "gp_gradient_clamped_instead_of_its_norm",
     r"(?i)clamp\w*\W+(\w+\W+){0,4}(the )?gradient (itself|values|components|entries|elements)"
     r"|clamp\w*\W+(\w+\W+){0,4}(g|the gradient) (instead of|rather than|not) (its|the) norm"
     r"|(negative|below[- ]zero) (gradient )?(components|entries|coordinates|values|elements)\W+(\w+\W+){0,6}(zeroed|dropped|clipped|removed|lost|cut|clamped)",
     gp_gradient_clamped_instead_of_its_norm),
    ("check_verify_top", "vt_effect_of_the_first_prompt_pair_only",
     r"(?i)(first|0th|single|one) (prompt )?(pair|example|row)('s)?\W+(\w+\W+){0,4}(effect|only|value)"
     r"|only (the )?(first|one) (prompt )?(pair|example|row)"
     r"|per_example\[0|example 0('s)? (effect|value)",
     vt_effect_of_the_first_prompt_pair_only),
    ("check_verify_top", "vt_python_floats_passed_to_torch_stack",
     r"(?i)torch\.stack\W+(\w+\W+){0,8}(floats?|numbers|scalars|python)"
     r"|(floats?|numbers|python scalars)\W+(\w+\W+){0,6}torch\.stack"
     r"|expected Tensor as element"
     r"|torch\.tensor\W+(\w+\W+){0,4}(not|instead of|rather than) torch\.stack",
     vt_python_floats_passed_to_torch_stack),
    ("check_verify_top", "vt_update_indented_under_the_node_branch",
     r"(?i)(indent\w*|inside|within|under)\W+(\w+\W+){0,6}(else|node|patch_nodes) (branch|block|clause)"
     r"|edges?('s|')? (effects|results)\W+(\w+\W+){0,3}(never|not) (stored|recorded|added|collected|saved|kept)"
     r"|(never|not) (stored|recorded|collected|saved) (for|the) edges?"
     r"|effects\.update\W+(\w+\W+){0,8}(edge|branch|indent\w*)",
     vt_update_indented_under_the_node_branch),
    ("check_verify_top", "vt_effects_divided_by_the_batch_size",
     r"(?i)(divided|dividing) (\w+ ){0,4}by (the )?(batch size|B\b|number of (prompt )?pairs|number of examples|task\.batch_size)"
     r"|(B|batch[- ]size|n) times too small|1 ?/ ?B (times )?too small"
     r"|(as if|thinking|assum\w*)\W+(\w+\W+){0,6}(patch\w*|it) (returns?|gives?|gave) (a |the )?sum",
     vt_effects_divided_by_the_batch_size),
    ("check_verify_top", "vt_kind_falls_through_to_none_for_heads",
     r"(?i)(kind|helper|function)\W+(\w+\W+){0,6}(returns?|gives?|falls? through to|yields?) None"
     r"|(missing|no|forgot\w*|without)( a| the)? (final |last |default )?return\W+(\w+\W+){0,6}(head|kind)"
     r"|what=None|kind None|node kind None"
     r"|falls? (off|through) (the end|to None)",
     vt_kind_falls_through_to_none_for_heads),
]
