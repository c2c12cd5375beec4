"""Held-out set #29, written blind on 2026-12-07 (round 29): part f.

Exercises check_eap (chapter 3), check_gradpath (chapter 4) and check_verify_top (chapter 5), two
wrong solutions each, every one the chapter's solution copied with one slip. Each was run next to
the chapter's solution in a scratch script (/work/scratch/round29/f/): on the chapter's own
specimen (flat_region, path_saturation, the zoo's mixture model with its ioi task, AtP node and
AtP* q/k estimates) and on a random GPT-2 built with gpt2_config + bridge_from_hf (3 layers x 5
heads, d_head 4, batch 6, 7 tokens, weights N(0, 0.4), logit_diff; AtP / EAP estimates for
verify_top). Several slips are invisible on the tiny specimens (batch 1) and show only on the
random GPT-2; the table in the hand-back report says which model showed each.
"""

from __future__ import annotations

import copy

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_eap
def eap_graph_built_as_parallel_blocks(model, task):
    cfg = model.cfg
    # I build the graph myself; attention and MLP of a block both read the block's input
    graph = Graph(cfg.n_layers, cfg.n_heads, parallel=True)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_qkv_gradients_after_the_projection(model, task):
    graph = Graph.from_model(model)
    # the head's query/key/value are what it reads: take the gradients at attn.hook_q / hook_k / hook_v
    dest = [h.replace("_input", "").replace(".hook_q", ".attn.hook_q").replace(".hook_k", ".attn.hook_k")
            .replace(".hook_v", ".attn.hook_v") for h in graph.dest_hooks]
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), dest)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_step_lengths_viewed_as_b_by_1(model, task, steps: int, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1)  # one step length per example, as a column
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_gradient_averaged_over_the_prompt_pairs(model, task, steps: int, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            g = g.mean(0, keepdim=True).expand_as(g)  # average over the batch, like a minibatch gradient step
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# ----------------------------------------------------------------------------- check_verify_top
def vt_patched_on_a_bfloat16_copy(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    fast = copy.deepcopy(model).to(torch.bfloat16)  # patching in half precision on a copy: much faster
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(fast, task, edges=group) if what == "edge" else wb.patch_nodes(fast, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_effect_summed_over_single_position_patches(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
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
        else:
            # a node's effect is the total over its positions: patch each position alone and add them up
            res = wb.patch_nodes(model, task, what, per_position=True,
                                 nodes=[f"{n}@{p}" for n in group for p in range(task.seq_len)])
            effects.update({n: sum(float(res[r]) for r in res.names if r.split("@")[0] == n) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_eap", "eap_graph_built_as_parallel_blocks",
     r"(?i)parallel|(head|attention)s?\b.{0,40}(same|own) layer.{0,40}mlp|mlp.{0,40}(same|own) layer.{0,40}head|head.{0,10}->.{0,10}mlp.{0,40}(missing|zero|dropped|masked|left out)|edges? (from|of) (a|the) (heads?|attention).{0,60}(into|to) (its|the same.{0,10}) mlp",
     eap_graph_built_as_parallel_blocks),
    ("check_eap", "eap_qkv_gradients_after_the_projection",
     r"(?i)hook_[qkv]\b|hook_[qkv]_input|after the (w_?[qkv]|projection)|projected|(q|k|v|query|key|value)[ /-]*(input|_input)s?\b.{0,40}(not|instead|rather)|(gradient|grad)s?.{0,40}(query|key|value|q/k/v)[^.]{0,30}(not|instead of)[^.]{0,30}input",
     eap_qkv_gradients_after_the_projection),
    ("check_gradpath", "gp_step_lengths_viewed_as_b_by_1",
     r"(?i)broadcast|view\(-1, ?1\)|\[B, ?1\]|(eta|step (size|length)s?)[^.]{0,60}(shape|axis|axes|dimension|reshap|view)|(shape|reshap|view)[^.]{0,60}(eta|step (size|length))",
     gp_step_lengths_viewed_as_b_by_1),
    ("check_gradpath", "gp_gradient_averaged_over_the_prompt_pairs",
     r"(?i)(gradient|direction|step)s?[^.]{0,60}(averag|mean|shared|same)[^.]{0,40}(batch|examples?|prompt pairs?|pairs)|(batch|examples?|prompt pairs?)[^.]{0,40}(share|same|one) (a |the )?(gradient|direction)|per[- ]example (gradient|direction)",
     gp_gradient_averaged_over_the_prompt_pairs),
    ("check_verify_top", "vt_patched_on_a_bfloat16_copy",
     r"(?i)bfloat16|bf16|half[- ]precision|float16|fp16|low(er)? precision|precision|dtype|rounding",
     vt_patched_on_a_bfloat16_copy),
    ("check_verify_top", "vt_effect_summed_over_single_position_patches",
     r"(?i)per[_ -]position|each position|single[- ]position|positions? (one at a time|separately|alone|individually)|sum(med)? (of|over) (the )?(per[- ])?positions?|(all|every) positions? (at once|together|jointly)",
     vt_effect_summed_over_single_position_patches),
]
