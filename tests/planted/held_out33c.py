"""Held-out set #33, written blind on 2026-12-08 (round 33): part c.

Exercises check_eap_ig (chapter 3's ``my_eap_ig``), check_gradpath (chapter 4's ``my_gradpath``) and
check_verify_top (chapter 5's ``verify_top_k``). Each wrong function is the chapter's solution copied
with one slip. Each was run next to the chapter's solution in a scratch script
(/work/scratch/round33/c/verify.py): EAP-IG on the ``flat_region`` specimen (steps 5) and a random
GPT-2 (gpt2_config + bridge_from_hf, 3 layers x 5 heads, d_head 4, weights N(0, 0.4), batch 6, 7
tokens, logit_diff); GradPath on the ``path_saturation`` specimen and the same random GPT-2 (steps 5,
unit / scaled / numeric step sizes); verify_top_k on the zoo ``mixture`` model with its ioi task and
on the random GPT-2, with AtP node scores and EAP edge scores as the estimates.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_accumulator_started_at_one(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 1.0  # start the running total
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_steps_read_as_the_alpha_spacing(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    alphas = torch.arange(steps, 1.0 + 1e-6, steps)  # points every `steps` along the path, up to alpha = 1
    for alpha in alphas.tolist():
        target = e_n + alpha * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / len(alphas)) / task.batch_size
    return scores * graph.edge_mask


def eapig_simpson_rule_weights(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(0, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        w = 1 if k in (0, steps) else (4 if k % 2 else 2)  # Simpson's rule is more accurate than a plain average
        total = total + w * graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / (3 * steps)) / task.batch_size
    return scores * graph.edge_mask


def eapig_hook_name_without_the_hook_prefix(model, task, steps: int) -> torch.Tensor:
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
        # replace the embedding
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_numeric_step_size_falls_through_to_scaled(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    # unit steps, otherwise the straight length split into steps
    if step_size == "unit":
        eta = torch.ones(e_c.shape[0], dtype=e_c.dtype).view(-1, 1, 1)
    else:
        eta = ((e_c - e_n).flatten(1).norm(dim=1) / steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_step_vectors_appended_instead_of_points(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            step = (eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            gamma = leaf.detach() - step
            points.append(step)  # record this step of the path
    return torch.stack(points)


def gp_gradient_taken_with_respect_to_the_target(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            # gradient of the distance to G(e_corrupt)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), target)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# ----------------------------------------------------------------------------- check_verify_top
def vt_per_example_columns_kept_as_the_effect(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects: dict = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        # the effects of each patched component
        effects.update({n: res.per_example[:, res.names.index(n)] for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_noising_taken_as_minus_the_denoising_effect(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
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
        # restoring the clean value is the opposite of corrupting it, so flip the sign
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group, direction="denoising")
        else:
            res = wb.patch_nodes(model, task, what, nodes=group, direction="denoising")
        effects.update({n: -float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_several_kinds_passed_to_one_patch_nodes_call(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects: dict[str, float] = {}
    edges = [n for n in names if kind(n) == "edge"]
    nodes = [n for n in names if kind(n) != "edge"]
    if edges:
        res = wb.patch_edges(model, task, edges=edges)
        effects.update({n: float(res[n]) for n in edges})
    if nodes:
        # one call for all the node kinds, like wb.atp(model, task, ("head", "mlp"))
        res = wb.patch_nodes(model, task, tuple(dict.fromkeys(map(kind, nodes))), nodes=nodes)
        effects.update({n: float(res[n]) for n in nodes})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_eap_ig", "eapig_accumulator_started_at_one",
     r"(?i)(accumulat|running (sum|total)|total|sum)\w*.{0,60}(start|initiali[sz]|begin|init)\w*.{0,40}(\b1\b|one|1\.0)|(start|initiali[sz])\w*.{0,40}(at|to|with|from) (1|one)\b|(start|initiali[sz])\w*.{0,40}(at|to|from) (0|zero)",
     eapig_accumulator_started_at_one),
    ("check_eap_ig", "eapig_steps_read_as_the_alpha_spacing",
     r"(?i)(steps|m)\b.{0,60}(spacing|step (size|length)|increment|interval|distance between)|(spacing|step size|increment).{0,60}(instead of|not) .{0,30}(number|count)|number of (points|steps).{0,60}(not|instead of) .{0,20}(spacing|step size|increment)|arange",
     eapig_steps_read_as_the_alpha_spacing),
    ("check_eap_ig", "eapig_simpson_rule_weights",
     r"(?i)simpson|(unequal|non-?uniform|uneven|different|quadrature) weights?|weight(s|ed|ing)\b.{0,60}(points|gradients)|(plain|simple|uniform|equal(ly)?)[ -](weighted )?(average|mean)|k\s*=\s*0|alpha\s*=\s*0|includes? the corrupt (end ?point|point)",
     eapig_simpson_rule_weights),
    ("check_eap_ig", "eapig_hook_name_without_the_hook_prefix",
     r"(?i)hook[_ ]embed|hook name|(no|unknown|wrong|invalid|misspel\w*|nonexist\w*) hook|\"embed\"|'embed'|never (applied|fires|replac)",
     eapig_hook_name_without_the_hook_prefix),
    ("check_gradpath", "gp_numeric_step_size_falls_through_to_scaled",
     r"(?i)(numeric|number|numerical|float|constant|fixed|positive number).{0,60}step[ _]?size|step[ _]?size.{0,80}(numeric|number|float|constant|fixed)|step_sizes|treat\w*.{0,40}(as|like) .{0,10}scaled",
     gp_numeric_step_size_falls_through_to_scaled),
    ("check_gradpath", "gp_step_vectors_appended_instead_of_points",
     r"(?i)(step|increment|update|displacement|delta|difference)s?\b.{0,60}(instead of|not|rather than) .{0,30}(point|gamma|position|embedding)|(append|record|store|return)\w*.{0,40}(the )?(step|increment|update|displacement)s?\b|(points?|gamma).{0,40}(not|never) (accumulat|cumulat|advanc)",
     gp_step_vectors_appended_instead_of_points),
    ("check_gradpath", "gp_gradient_taken_with_respect_to_the_target",
     r"(?i)(gradient|grad|differentiat)\w*.{0,60}(with respect to|wrt|w\.r\.t\.|of) .{0,30}(target|corrupt logits|G\(e_corrupt\))|(target|corrupt logits).{0,60}(does not|doesn't|not) require[s]? grad|autograd\.grad.{0,60}(target|leaf|wrong (input|tensor))",
     gp_gradient_taken_with_respect_to_the_target),
    ("check_verify_top", "vt_per_example_columns_kept_as_the_effect",
     r"(?i)per[- ]example|per[- ]prompt|prompt pairs?.{0,40}(not|never) (averag|reduc|mean)|(batch|prompt[- ]pair)[- ]mean|(not|never) averag\w*.{0,40}(over|across) (the )?(batch|prompt|example)|\.values|mean over (the )?(batch|prompt|example)",
     vt_per_example_columns_kept_as_the_effect),
    ("check_verify_top", "vt_noising_taken_as_minus_the_denoising_effect",
     r"(?i)denois\w*|restor\w*.{0,40}clean|direction|(negat|minus|flip|sign)\w*.{0,60}(denois|restor)|noising (is|=) not .{0,30}(negat|minus|opposite)",
     vt_noising_taken_as_minus_the_denoising_effect),
    ("check_verify_top", "vt_several_kinds_passed_to_one_patch_nodes_call",
     r"(?i)(one|single|each|per)[- ]kind|kinds?.{0,60}(tuple|list|several|multiple|together|at once|one call)|(tuple|list|several|multiple).{0,40}kinds?|unknown node kind|group\w*.{0,40}by kind|what=.{0,20}(tuple|list)|(string|str)\b.{0,30}(what|kind)",
     vt_several_kinds_passed_to_one_patch_nodes_call),
]
