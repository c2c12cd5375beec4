"""Held-out set #29, written blind on 2026-12-07 (round 29): part d.

Exercises check_graddrop (chapter 2, ``graddrop_heads``) and check_eap (chapter 3, ``my_eap``).
Each wrong function is the chapter's solution copied with one inline slip. Each was run next to
the chapter's solution (scratch script /work/scratch/round29/d/verify.py) on the chapter's own
specimen (cancellation / flat_region) and on a bigger random GPT-2 built with
``workbook.models.loading.gpt2_config`` + ``bridge_from_hf`` (3 layers x 5 heads, d_head 4,
weights N(0, 0.4), batch 6, 7 tokens, corrupt = last token changed, logit_diff), called in that
order (chapter first, then the bigger model) so state carried across calls shows.
"""

from __future__ import annotations

import torch

import workbook as wb  # noqa: F401
from workbook.arch.graph import Graph
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_graddrop
def gd_corrupt_values_cached_at_hook_result(model, task):
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    # the graph code reads head outputs at attn.hook_result, so I cache the corrupt heads there
    corr_names = [f"blocks.{l}.attn.hook_result" for l in range(L)]
    _, corr_cache = cache_activations(model, task.corrupt, corr_names)
    corr = {n: corr_cache[c] for n, c in zip(names, corr_names)}
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: save(t, hook, n)) for n in names]
    bwd = [(n, lambda g, hook, n=n: grab(g, hook, n)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_gradient_scaled_in_place_in_the_grab_hook(model, task):
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach().mul_(B)  # in place, saves a copy of every gradient

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: save(t, hook, n)) for n in names]
    bwd = [(n, lambda g, hook, n=n: grab(g, hook, n)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_passes_stacked_on_the_batch_axis(model, task):
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: save(t, hook, n)) for n in names]
    bwd = [(n, lambda g, hook, n=n: grab(g, hook, n)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    # batch first, like every other tensor here: [B, passes, L, H]
    return (torch.stack(per_pass, 1).abs().sum(0) / (L - 1)).mean(0)


# ----------------------------------------------------------------------------- check_eap
def eap_edges_only_into_the_next_layer(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    # an edge connects a component to the layer right after it, like a feed-forward net
    s = torch.tensor([graph.source_layer(n) for n in graph.sources])
    d = torch.tensor([graph.dest_layer(n) for n in graph.destinations])
    return scores * (graph.edge_mask & (d[None, :] - s[:, None] <= 1))


def eap_prompt_pair_loop_subsets_with_an_int(model, task):
    graph = Graph.from_model(model)
    scores = 0
    for b in range(task.batch_size):  # one prompt pair at a time, to keep the caches small
        sub = task.subset(b)
        _, corr = cache_activations(model, sub.corrupt, list(graph.source_hooks))
        _, clean, grads = cache_activations_and_grads(model, sub, list(graph.source_hooks), list(graph.dest_hooks))
        deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
        scores = scores + torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads))
    return scores / task.batch_size * graph.edge_mask


_GRAPH = {}


def eap_graph_built_once_across_calls(model, task):
    if "g" not in _GRAPH:  # the graph never changes, build it once
        _GRAPH["g"] = Graph.from_model(model)
    graph = _GRAPH["g"]
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


MISTAKES = [
    ("check_graddrop", "gd_corrupt_values_cached_at_hook_result",
     r"(?i)hook_result|attn(ention)?[ _]result|d_model.{0,40}d_head|d_head.{0,40}d_model|(corrupt|delta).{0,60}(wrong|different|other|mismatch\w*) (hook|activation|shape)|hook_z.{0,60}(corrupt|both)",
     gd_corrupt_values_cached_at_hook_result),
    ("check_graddrop", "gd_gradient_scaled_in_place_in_the_grab_hook",
     r"(?i)in[- ]?place|mul_|\.detach\(\).{0,40}(shar|alias|same (storage|memory))|(modif|chang|scal|alter|corrupt)\w*.{0,60}gradient.{0,60}(flow|propagat|upstream|backward|earlier)|upstream gradients?.{0,40}(scal|multipl|inflat)",
     gd_gradient_scaled_in_place_in_the_grab_hook),
    ("check_graddrop", "gd_passes_stacked_on_the_batch_axis",
     r"(?i)stack\w*.{0,60}(dim(ension)?|axis) ?(=)? ?1|(pass(es)?|batch).{0,40}ax(i|e)s.{0,40}(swap|mix|confus|wrong)|averag\w* over (the )?passes|mean over (the )?passes|sum\w* over (the )?(batch|prompt pairs|examples)|(batch|prompt.pair)\w*.{0,40}summed.{0,40}pass\w*.{0,20}averag",
     gd_passes_stacked_on_the_batch_axis),
    ("check_eap", "eap_edges_only_into_the_next_layer",
     r"(?i)(adjacent|next|consecutive|neighbou?ring) layers?|skip(ping)? (layers|connections?)|residual (stream|skip).{0,60}(every|all|later)|(edges?|sources?).{0,60}(more than|further than|beyond) one layer|long(-| )range edges|every (later|downstream) (destination|component|layer)",
     eap_edges_only_into_the_next_layer),
    ("check_eap", "eap_prompt_pair_loop_subsets_with_an_int",
     r"(?i)subset.{0,80}(int|integer|scalar|slice|list|\[b\]|b:b ?\+ ?1)|(int|integer|scalar) index.{0,60}(subset|batch)|1-?d tokens|2-?d.{0,30}(batch, ?seq|tokens)|drops? the batch (axis|dim)",
     eap_prompt_pair_loop_subsets_with_an_int),
    ("check_eap", "eap_graph_built_once_across_calls",
     r"(?i)(graph|edge.?mask).{0,80}(cache|memo|stale|reus|previous|earlier|first) (call|model)|(cache|memo|stor|reus)\w*.{0,40}graph|state.{0,40}(across|between) calls|another model'?s graph|graph of (a|the) (different|other|previous) model|Graph\.from_model.{0,40}(each|every) call",
     eap_graph_built_once_across_calls),
]
