"""Held-out set #29, written blind on 2026-12-07 (round 29): part c.

Exercises check_eap_ig (chapter 3), check_gradpath (chapter 4) and check_verify_top (chapter 5). Each
wrong function is the chapter's solution copied with one slip. Each was run next to the chapter's
solution on the chapter's own model and task (scratch: /work/scratch/round29/c/final_check.py):
check_eap_ig on build("flat_region") with steps 5, 3, 2 and 1; check_gradpath on
build("path_saturation") with steps 5 and 3, unit and scaled steps; check_verify_top on the mixture
model's IOI task (zoo.load_task("mixture", n=8, seed=0, task="ioi")) with EAP edge scores, AtP head
scores, QK-fix q/k scores and the concatenation of AtP and QK-fix scores, called one after another.
Only 3 or 4 mistakes per exercise are included: further candidates were either already planted ideas or
not detectable on these models (path_saturation has one prompt pair, so batch-axis slips vanish there).
"""

from __future__ import annotations

import torch
import workbook as wb
from workbook.arch.graph import Graph
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params
from workbook.attribution.eap_gp import output_distance, step_sizes


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_scores_accumulated_from_the_running_gradient_total(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    scores = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
        # add this point's contribution to the scores as I go
        scores = scores + torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_linspace_from_one_over_m_with_m_plus_one_points(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    # alphas 1/m ... 1 (linspace needs the number of points: steps + 1)
    for alpha in torch.linspace(1 / steps, 1, steps + 1).tolist():
        target = e_n + alpha * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_increment_taken_from_the_current_point(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    target = e_n
    for k in range(1, steps + 1):
        # walk one step of 1/m toward the clean embedding each time
        target = target + (e_c - target) / steps
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_alpha_column_missing_an_axis(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    alphas = torch.arange(1, steps + 1) / steps
    targets = e_n + alphas.view(-1, 1, 1) * (e_c - e_n)  # all the points at once, one per alpha
    for target in targets:
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_step_size_used_as_a_divisor(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            # normalise the step by eta and the gradient norm
            gamma = (leaf - g / (eta * g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1))).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_first_position_held_fixed(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            g = g.clone()
            g[:, 0] = 0  # the first token (BOS) is the same in both prompts, so it shouldn't move
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_norm_floored_at_one(model, task, steps: int, step_size="unit") -> torch.Tensor:
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            # guard the division: never divide by a norm smaller than 1
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1.0).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# ----------------------------------------------------------------------------- check_verify_top
def vt_ranking_kept_from_the_first_call(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    # sorting is the slow part: do it once and keep it on the function
    if not hasattr(vt_ranking_kept_from_the_first_call, "ranking"):
        vt_ranking_kept_from_the_first_call.ranking = scores.order(absolute=True)
    names = vt_ranking_kept_from_the_first_call.ranking[:k]

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


def vt_effect_read_at_the_position_in_the_top_k_list(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
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
        # values come back in the order I asked for them
        effects.update({n: float(res.values[names.index(n)]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_query_and_key_patched_together_for_either(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
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
            res = wb.patch_edges(model, task, edges=group)
            effects.update({n: float(res[n]) for n in group})
        elif what in ("q", "k"):
            # a head's attention input is its query and its key: patch both
            heads = [n.rsplit(".", 1)[0] for n in group]
            rq = wb.patch_nodes(model, task, "q", nodes=[h + ".q" for h in heads])
            rk = wb.patch_nodes(model, task, "k", nodes=[h + ".k" for h in heads])
            effects.update({n: float(rq[h + ".q"]) + float(rk[h + ".k"]) for n, h in zip(group, heads)})
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
            effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_eap_ig", "eapig_scores_accumulated_from_the_running_gradient_total",
     r"(?i)(cumulat|running (sum|total)|counted (several|multiple|many|more than once)|earl(y|ier) points?\W.{0,30}(weighted|counted) more|triangular|accumulat\w*.{0,30}(twice|inside the loop|in the loop|every (step|point|iteration)))",
     eapig_scores_accumulated_from_the_running_gradient_total),
    ("check_eap_ig", "eapig_linspace_from_one_over_m_with_m_plus_one_points",
     r"(?i)((m|steps) ?\+ ?1 (points|alphas|gradients)|one (point|step|gradient) too many|extra (point|step|gradient)|linspace|spacing|not (at|on) k ?/ ?m|alphas? (are|is) (not|wrong)|unevenly|uneven)",
     eapig_linspace_from_one_over_m_with_m_plus_one_points),
    ("check_eap_ig", "eapig_increment_taken_from_the_current_point",
     r"(?i)(remaining (distance|way|gap)|geometric|from the current point|never reach\w* (the )?clean|last point\W.{0,20}not (the |at the )?clean|clean end ?point\W.{0,20}(missing|never)|alphas? (are|is) (not|wrong)|not (at|on) k ?/ ?m|shrink\w* (step|increment))",
     eapig_increment_taken_from_the_current_point),
    ("check_eap_ig", "eapig_alpha_column_missing_an_axis",
     r"(?i)(view\(-1, ?1, ?1\)|(missing|one too few|lacks?) (an? )?(axis|dim)|broadcast\w*.{0,60}(batch|example|prompt|alpha|axis)|alphas?\W.{0,40}(batch|example) axis|(shape|size) mismatch|one alpha per (example|prompt))",
     eapig_alpha_column_missing_an_axis),
    ("check_gradpath", "gp_step_size_used_as_a_divisor",
     r"(?i)(divid\w* by (the )?(step size|step length|eta)|1 ?/ ?eta|inverse of (the )?(step|eta)|eta\W.{0,20}denominator|reciprocal|instead of multiply\w*)",
     gp_step_size_used_as_a_divisor),
    ("check_gradpath", "gp_first_position_held_fixed",
     r"(?i)((first|bos|0th) (position|token)|position 0)\W.{0,50}(fixed|frozen|never mov|not mov|zero|held|excluded|left out|does ?n.t move)|(fixed|frozen|zeroed|excluded|held)\W.{0,40}(first|bos) (position|token)|every position (should|must) move",
     gp_first_position_held_fixed),
    ("check_gradpath", "gp_norm_floored_at_one",
     r"(?i)(clamp\w*.{0,40}\b(1|one)\b|floor\w* (at|of|to) (1|one)\b|(norm|gradient)\w*.{0,40}(below|under|less than|smaller than) (1|one)\b|max\(.{0,30}\b1(\.0)?\)|(short|shorter|smaller|shrunk)\w* (step|than eta).{0,40}(small|weak|tiny)|not (a |of )?unit length)",
     gp_norm_floored_at_one),
    ("check_verify_top", "vt_ranking_kept_from_the_first_call",
     r"(?i)(previous call|earlier call|first call|across calls|between calls|stale|cached|memoi|state (kept|carried|left)|function attribute|reuses? (the )?(ranking|names|order) )",
     vt_ranking_kept_from_the_first_call),
    ("check_verify_top", "vt_effect_read_at_the_position_in_the_top_k_list",
     r"(?i)(by (its )?(position|index)|index (in|into|of) the (whole |full )?(top|list|names|ranking)|names\.index|by name|res(ult)?\[name\]|out of (range|bounds)|group'?s (own )?(order|index))",
     vt_effect_read_at_the_position_in_the_top_k_list),
    ("check_verify_top", "vt_query_and_key_patched_together_for_either",
     r"(?i)((query|\.q)\W.{0,30}(and|\+|plus)\W.{0,30}(key|\.k)|both (the )?(query and key|q and k|inputs)|sum of (the )?(query|q)|(add|sum)\w* (the )?(other input|key|query)|only (its|the node'?s) own (input|kind))",
     vt_query_and_key_patched_together_for_either),
]
