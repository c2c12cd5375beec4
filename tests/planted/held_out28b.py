"""Held-out set #28, written blind on 2026-12-07 (round 28): part b.

Exercises check_eap and check_eap_ig (chapter 03, specimen ``flat_region``), check_gradpath
(chapter 04, specimen ``path_saturation``, unit and scaled steps) and check_verify_top (chapter 05,
zoo ``mixture`` model, its tasks, node and edge estimates). Each wrong function is the chapter's
solution with one inline slip; each was run next to the chapter's solution in a scratch script
(/work/scratch/round28/b/verify.py) and kept only when it crashed, changed the shape/names, or
moved the result by at least 2 % of the correct result's largest magnitude on at least one model and
task the chapter builds: chapter 03's ``flat_region`` specimen (steps 1 and 5) and its zoo ``mixture``
model on the ``ioi`` task (n=8, seed 0; steps 3 for EAP-IG); chapter 04's ``path_saturation``
specimen and its first 2-layer zoo model (``induction``, n=16, seed 0), unit and scaled steps;
chapter 05's ``mixture`` model on ``ioi`` and ``greater_than`` with AtP node and EAP edge estimates,
k=5. Several slips are invisible on the tiny 1-layer specimens (only one edge carries signal there)
and show only on the zoo models; the table in the writer's report says which.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params


def _stack_sources_mlp_first(graph, cache):
    parts = [cache["hook_embed"][None]]
    for l in range(graph.n_layers):
        # each block: its MLP write, then its heads
        parts.append(cache[f"blocks.{l}.hook_mlp_out"][None])
        parts.append(cache[f"blocks.{l}.attn.hook_result"].permute(2, 0, 1, 3))
    return torch.cat(parts, 0)


# ----------------------------------------------------------------------------- check_eap
def eap_dest_grads_read_on_the_residual_stream(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    L = graph.n_layers
    # a head reads the residual stream before its block and the MLP reads resid_mid, so I take the
    # gradients there
    resid = [f"blocks.{l}.hook_resid_pre" for l in range(L)] + [f"blocks.{l}.hook_resid_mid" for l in range(L)]
    resid.append(f"blocks.{L - 1}.hook_resid_post")
    _, clean, g = cache_activations_and_grads(model, task, list(graph.source_hooks), resid)
    parts = []
    for l in range(L):
        for _ in "qkv":
            parts.append(g[f"blocks.{l}.hook_resid_pre"][None].expand(graph.n_heads, *g[f"blocks.{l}.hook_resid_pre"].shape))
        parts.append(g[f"blocks.{l}.hook_resid_mid"][None])
    parts.append(g[f"blocks.{L - 1}.hook_resid_post"][None])
    grads = torch.cat(parts, 0)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, grads) / task.batch_size
    return scores * graph.edge_mask


def eap_mlp_write_read_at_resid_post(model, task):
    graph = Graph.from_model(model)
    L = graph.n_layers
    names = list(graph.source_hooks) + [f"blocks.{l}.hook_resid_post" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, list(graph.dest_hooks))
    for cache in (corr, clean):
        for l in range(L):
            # the MLP's write lands in resid_post, so I read it there
            cache[f"blocks.{l}.hook_mlp_out"] = cache[f"blocks.{l}.hook_resid_post"]
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_mask_with_less_or_equal_layers(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    # my own mask: a source feeds a destination in its own layer or later
    s = torch.tensor([graph.source_layer(n) for n in graph.sources])
    d = torch.tensor([graph.dest_layer(n) for n in graph.destinations])
    return scores * (s[:, None] <= d[None, :])


def eap_sources_stacked_mlp_before_heads(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = _stack_sources_mlp_first(graph, corr) - _stack_sources_mlp_first(graph, clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_layer_attention_output_as_each_heads_write(model, task):
    graph = Graph.from_model(model)
    L, H = graph.n_layers, graph.n_heads
    names = ["hook_embed"] + [f"blocks.{l}.hook_attn_out" for l in range(L)] + [f"blocks.{l}.hook_mlp_out" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, list(graph.dest_hooks))

    def stack(cache):
        parts = [cache["hook_embed"][None]]
        for l in range(L):
            # what a head writes into the residual stream is the attention output
            parts.append(cache[f"blocks.{l}.hook_attn_out"][None].expand(H, *cache[f"blocks.{l}.hook_attn_out"].shape))
            parts.append(cache[f"blocks.{l}.hook_mlp_out"][None])
        return torch.cat(parts, 0)

    deltas = stack(corr) - stack(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_direction_averaged_over_the_batch(model, task, steps: int):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    direction = (e_c - e_n).mean(0)  # the direction from corrupt to clean
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * direction
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_gradient_divided_by_alpha(model, task, steps: int):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        alpha = k / steps
        target = e_n + alpha * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        # chain rule through the point: d/d alpha brings a 1/alpha
        total = total + graph.stack_dest_grads(grads) / alpha
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_token_ids_truncated_toward_the_clean(model, task, steps: int):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    total = 0.0
    for k in range(1, steps + 1):
        # the path from the corrupt prompt to the clean prompt, as tokens
        tokens = (task.corrupt + (k / steps) * (task.clean - task.corrupt)).long()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), tokens=tokens)
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_displacement_added_to_the_clean_runs_embedding(model, task, steps: int):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        step = (k / steps) * (e_c - e_n)
        # move the embedding k/m of the way: add the displacement in the hook
        hook = lambda t, hook, step=step: t + step.detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_distance_over_the_answer_logits_only(model, task, steps: int, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    cols = torch.stack([task.answer, task.wrong]).unique()  # the logits the task reads
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            with model.hooks(fwd_hooks=[("hook_embed", lambda t, hook: leaf)]):
                logits = model(task.clean)
            dist = ((logits[..., cols] - target[..., cols]) ** 2).flatten(1).sum(1)
            (g,) = torch.autograd.grad(dist.sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_contrastive_objective_minus_the_clean_distance(model, task, steps: int, step_size="unit"):
    clean_logits, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            # toward the corrupt output and away from the clean one
            obj = output_distance(model, task.clean, leaf, target) - output_distance(model, task.clean, leaf, clean_logits)
            (g,) = torch.autograd.grad(obj.sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_dot_product_with_the_corrupt_logits(model, task, steps: int, step_size="unit"):
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
            # make the output line up with the corrupt output: minimise -<G, target>
            obj = -(logits * target).flatten(1).sum(1)
            (g,) = torch.autograd.grad(obj.sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_flattened_norm_kept_as_a_column(model, task, steps: int, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            norm = g.flatten(1).norm(dim=1, keepdim=True).clamp_min(1e-12)  # keepdim so it broadcasts
            gamma = (leaf - eta * g / norm).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_objective_made_scalar_with_the_first_entry(model, task, steps: int, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            # autograd.grad wants a scalar
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target)[0], leaf)
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


def vt_ranks_read_as_an_order(model, task, scores, k: int = 5):
    # ranks() gives the positions from most to least important
    names = [scores.names[int(r) - 1] for r in scores.ranks(absolute=True)[:k]]
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_heads_patched_through_their_attention_pattern(model, task, scores, k: int = 5):
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        # a head is its attention pattern
        return name.rsplit(".", 1)[1] if "." in name else "pattern"

    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_eap", "eap_dest_grads_read_on_the_residual_stream",
     r"(?i)(resid(ual)?[ _-]?(stream|pre|mid)|total (derivative|gradient)|hook_(q|k|v)_input|hook_mlp_in|destination'?s? (own )?input)",
     eap_dest_grads_read_on_the_residual_stream),
    ("check_eap", "eap_mlp_write_read_at_resid_post",
     r"(?i)(resid(ual)?[ _-]?(stream|post)|hook_mlp_out|mlp'?s? (own )?(write|output)|(source|mlp).{0,40}(write|output|delta|change))",
     eap_mlp_write_read_at_resid_post),
    ("check_eap", "eap_mask_with_less_or_equal_layers",
     r"(?i)(edge[_ ]mask|same layer|own layer|non-?edges?|not (an )?edges?|off the (edge )?mask|(<=|less.{0,10}equal))",
     eap_mask_with_less_or_equal_layers),
    ("check_eap", "eap_sources_stacked_mlp_before_heads",
     r"(?i)(source (order|rows?)|order of (the )?sources|stack_sources|rows? (are )?(swapped|permuted|in (the )?wrong order)|mlp.{0,30}heads?.{0,20}(order|swapped)|heads?.{0,30}mlp.{0,20}(order|swapped))",
     eap_sources_stacked_mlp_before_heads),
    ("check_eap", "eap_layer_attention_output_as_each_heads_write",
     r"(?i)(hook_result|hook_attn_out|attn_out|(per|each|individual)[- ]head|heads?'?s? (own )?(write|output|result)|whole (attention )?layer|layer'?s? (attention )?output|summed over heads)",
     eap_layer_attention_output_as_each_heads_write),
    ("check_eap_ig", "eapig_direction_averaged_over_the_batch",
     r"(?i)((averag|mean).{0,40}(batch|examples?|prompt pairs?)|(batch|examples?|prompt pairs?).{0,40}(averag|mean|shared)|own (clean|path|direction|endpoint)|per[- ]example (direction|path|endpoint))",
     eapig_direction_averaged_over_the_batch),
    ("check_eap_ig", "eapig_gradient_divided_by_alpha",
     r"(?i)((divid|scal|weigh).{0,40}(alpha|k ?/ ?m|the point)|alpha.{0,40}(divid|weigh|scal)|1 ?/ ?alpha|unweighted|equal weights?)",
     eapig_gradient_divided_by_alpha),
    ("check_eap_ig", "eapig_token_ids_truncated_toward_the_clean",
     r"(?i)(token ids?|tokens?.{0,30}(interpolat|trunc|round|cast)|interpolat.{0,40}(token|ids)|hook_embed|embedding (space|points?)|discrete)",
     eapig_token_ids_truncated_toward_the_clean),
    ("check_eap_ig", "eapig_displacement_added_to_the_clean_runs_embedding",
     r"(?i)(past (the )?clean|beyond (the )?clean|extrapolat|(start|base|begin)s?.{0,30}(clean|e_clean)|clean (run'?s? )?(embedding|tokens|input).{0,40}(added|base|start|instead)|e_corrupt \+|from (the )?corrupt (end|embedding|input))",
     eapig_displacement_added_to_the_clean_runs_embedding),
    ("check_gradpath", "gp_distance_over_the_answer_logits_only",
     r"(?i)(all (the )?logits|(whole|full|every|entire) (vocab|logit)|answer.{0,40}(logit|token|column)|(logit|vocab).{0,40}(subset|only|restricted)|output_distance)",
     gp_distance_over_the_answer_logits_only),
    ("check_gradpath", "gp_contrastive_objective_minus_the_clean_distance",
     r"(?i)((distance|away) (to|from) (the )?clean|clean (output|logits)|(extra|additional|second|contrastive).{0,30}(term|objective|distance)|objective)",
     gp_contrastive_objective_minus_the_clean_distance),
    ("check_gradpath", "gp_dot_product_with_the_corrupt_logits",
     r"(?i)(dot[- ]product|inner product|alignment|squared (l2 |euclidean )?(distance|difference)|output_distance|\|\|G.{0,20}\|\|\^?2|objective)",
     gp_dot_product_with_the_corrupt_logits),
    ("check_gradpath", "gp_flattened_norm_kept_as_a_column",
     r"(?i)(broadcast|keepdim|\[B, ?1\]|view\(-1, ?1, ?1\)|norm.{0,40}(shape|axis|dim|example)|per[- ]example norm|wrong (axis|dim))",
     gp_flattened_norm_kept_as_a_column),
    ("check_gradpath", "gp_objective_made_scalar_with_the_first_entry",
     r"(?i)(first (example|prompt|entry|element)|\[0\]|only (one|the first) (example|prompt)|sum (over|of) (the )?(batch|examples)|\.sum\(\)|other examples? (never|do not|don't) move|examples? .{0,20}(stay|never move|don't move))",
     gp_objective_made_scalar_with_the_first_entry),
    ("check_verify_top", "vt_ranks_read_as_an_order",
     r"(?i)(ranks?\(\)|ranks? (are|is|read|used|as)|order\(|inverse permutation|wrong (names|components)|not the top|(top|highest).{0,30}\|score\||(chose|picked|selected|verified) (the )?wrong)",
     vt_ranks_read_as_an_order),
    ("check_verify_top", "vt_heads_patched_through_their_attention_pattern",
     r"(?i)(pattern|what ?= ?.?head|whole head|head'?s? (output|result)|patched as (a )?heads?|kind.{0,30}head)",
     vt_heads_patched_through_their_attention_pattern),
]
