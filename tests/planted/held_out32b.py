"""Held-out set #32, written blind on 2026-12-08 (round 32): part b.

Exercises check_qk_fix_keys (chapter 1, ``qk_fix_keys``), check_graddrop (chapter 2,
``graddrop_heads``) and check_eap (chapter 3, ``my_eap``). Each wrong function is the chapter's
own solution copied with one slip. Each was run next to the chapter's solution in a scratch
script (/work/scratch/round32/b/verify.py) on the chapter's own specimen (saturation,
cancellation, flat_region) and on a random GPT-2 built with ``gpt2_config`` + ``bridge_from_hf``
(3 layers x 5 heads, d_head 4, batch 6, 7 tokens, weights N(0, 0.4), corrupt prompt differing at
positions 1, 3, 5, metric logit_diff); every one crashes, returns a wrong shape, or differs from
the solution by at least 2 % of the solution's largest magnitude on at least one of them.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_sum_dims_given_as_two_positional_args(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum(-1, -2).mean(0)  # sum over keys and rows
    return out


def qkk_head_loop_overwrites_every_heads_slot(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    H = model.cfg.n_heads
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, H, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for h in range(H):  # a key node is one head's key, so patch one head at a time
            for s in range(T):
                k2 = k.clone()
                k2[:, s, h] = corr[f"blocks.{l}.attn.hook_k"][:, s, h]
                out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_corrupt_key_read_at_the_key_input_hook(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    k_in = [f"blocks.{l}.hook_k_input" for l in range(L)]  # the key node's input on the corrupt run
    _, corr = cache_activations(model, task.corrupt, k_in)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.hook_k_input"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_mean_over_pairs_whose_key_changed(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            per_ex = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2))  # [B, H]
            # average only over the pairs where this key actually moved (the others are just zeros)
            moved = (k2[:, s] != k[:, s]).flatten(1).any(1)
            out[l, :, s] = per_ex.sum(0) / moved.sum().clamp(min=1)
    return out


def qkk_patched_key_prescaled_by_attn_scale(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s] / sc  # the corrupt key goes into the scores scaled
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# ----------------------------------------------------------------------------- check_graddrop
def gd_write_names_appended_to_the_head_names_list(model, task: wb.Task) -> torch.Tensor:
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

    writes = names  # start from the hook list and add the residual writes to it
    writes += [f"blocks.{l}.hook_{w}_out" for l in range(L) for w in ("attn", "mlp")]
    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: save(t, hook, n)) for n in names]
    bwd = [(n, lambda g, hook, n=n: grab(g, hook, n)) for n in names]
    bwd += [(n, lambda g, hook, l=int(n.split(".")[1]): gate(g, hook, l)) for n in writes if n.endswith("_out")]
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


def gd_batch_summed_and_passes_averaged(model, task: wb.Task) -> torch.Tensor:
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
    return (torch.stack(per_pass).abs().sum(1) / (L - 1)).mean(0)  # sum the passes, then the mean


def gd_grab_hook_indexes_the_gradient_like_a_tuple(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g[0].detach() * B  # backward hooks hand over grad_output as a tuple

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


def gd_product_of_norms_per_pass(model, task: wb.Task) -> torch.Tensor:
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
            # |delta . grad| per head: size of the change times size of the gradient
            per_pass.append(torch.stack([(corr[n] - acts[n]).norm(dim=(1, 3))
                                         * grads.get(n, torch.zeros_like(acts[n])).norm(dim=(1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_corrupt_output_taken_as_the_change(model, task: wb.Task) -> torch.Tensor:
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
            # the patched-in value is what the head would write, so weigh it by the gradient
            per_pass.append(torch.stack([(corr[n] * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


# ----------------------------------------------------------------------------- check_eap
def eap_q_input_gradient_stacked_for_k_and_v(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    parts = []  # destination gradients in graph.destinations order
    for l in range(graph.n_layers):
        for x in "qkv":
            parts.append(grads[f"blocks.{l}.hook_q_input"].permute(2, 0, 1, 3))
        parts.append(grads[f"blocks.{l}.hook_mlp_in"][None])
    parts.append(grads[f"blocks.{graph.n_layers - 1}.hook_resid_post"][None])
    scores = torch.einsum("sbpd,tbpd->st", deltas, torch.cat(parts, 0)) / task.batch_size
    return scores * graph.edge_mask


def eap_logits_gradient_appended_inside_the_layer_loop(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    parts = []  # destination gradients in graph.destinations order
    for l in range(graph.n_layers):
        for x in "qkv":
            parts.append(grads[f"blocks.{l}.hook_{x}_input"].permute(2, 0, 1, 3))
        parts.append(grads[f"blocks.{l}.hook_mlp_in"][None])
        parts.append(grads[f"blocks.{graph.n_layers - 1}.hook_resid_post"][None])
    dest = torch.cat(parts, 0)[: len(graph.destinations)]
    scores = torch.einsum("sbpd,tbpd->st", deltas, dest) / task.batch_size
    return scores * graph.edge_mask


def eap_head_destinations_stacked_head_by_head(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    parts = []  # destination gradients: each head's q, k, v, then the MLP
    for l in range(graph.n_layers):
        for h in range(graph.n_heads):
            for x in "qkv":
                parts.append(grads[f"blocks.{l}.hook_{x}_input"][:, :, h][None])
        parts.append(grads[f"blocks.{l}.hook_mlp_in"][None])
    parts.append(grads[f"blocks.{graph.n_layers - 1}.hook_resid_post"][None])
    scores = torch.einsum("sbpd,tbpd->st", deltas, torch.cat(parts, 0)) / task.batch_size
    return scores * graph.edge_mask


def eap_head_writes_permuted_batch_and_position_swapped(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))

    def sources(cache):  # [n_sources, batch, pos, d_model]
        parts = [cache["hook_embed"][None]]
        for l in range(graph.n_layers):
            parts.append(cache[f"blocks.{l}.attn.hook_result"].permute(2, 1, 0, 3))  # heads to the front
            parts.append(cache[f"blocks.{l}.hook_mlp_out"][None])
        return torch.cat(parts, 0)

    deltas = sources(corr) - sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_mlp_write_delta_divided_among_its_destinations(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    # a source's change is shared among everything it feeds, so split it over its out-edges
    scores = scores / graph.edge_mask.sum(1, keepdim=True).clamp(min=1)
    return scores * graph.edge_mask


MISTAKES = [
    ("check_qk_fix_keys", "qkk_sum_dims_given_as_two_positional_args",
     r"(?i)(sum\(-1, ?-2\)|keepdim|tuple of dim|dims? (as|given as|passed as) (two|separate)|two (positional )?arguments|second (positional )?argument)",
     qkk_sum_dims_given_as_two_positional_args),
    ("check_qk_fix_keys", "qkk_head_loop_overwrites_every_heads_slot",
     r"(?i)(head loop|loop over heads|every head('s)? (slot|entry|row)|whole head (axis|slice|row)|out\[l, ?:, ?s\]|overwrit|last head|only (the )?last head|other heads (are )?(zero|0))",
     qkk_head_loop_overwrites_every_heads_slot),
    ("check_qk_fix_keys", "qkk_corrupt_key_read_at_the_key_input_hook",
     r"(?i)(k_input|key input|input (to|of) the key|residual (input|stream)|pre-?projection|before (the )?(W_K|projection)|d_model)",
     qkk_corrupt_key_read_at_the_key_input_hook),
    ("check_qk_fix_keys", "qkk_mean_over_pairs_whose_key_changed",
     r"(?i)((pairs?|examples?) (whose|where|with) (the )?key (changed|moved|differs)|chang(ed|ing) (pairs|examples)|only (the )?(moved|changed)|denominator|divid\w* by (the )?(number|count) of|not (a |the )?(plain )?mean over (all )?(the )?(prompt pairs|batch|examples))",
     qkk_mean_over_pairs_whose_key_changed),
    ("check_qk_fix_keys", "qkk_patched_key_prescaled_by_attn_scale",
     r"(?i)((patched|corrupt|new) key\w* (is )?(pre-?)?(scaled|divided)|scal\w* (the )?(patched|corrupt|new) key|key .*(scaled|divided) twice|double[- ]scal|scale (applied )?twice)",
     qkk_patched_key_prescaled_by_attn_scale),
    ("check_graddrop", "gd_write_names_appended_to_the_head_names_list",
     r"(?i)(alias|same list|in[- ]place|\+=|names list (was )?(extended|mutated|modified)|(extends|mutates|modif\w*) (the )?(hook )?names|write (hooks|names) (added|appended) to|corrupt cache (also )?(holds|includes)|list (shared|aliased))",
     gd_write_names_appended_to_the_head_names_list),
    ("check_graddrop", "gd_batch_summed_and_passes_averaged",
     r"(?i)(sum\w* over (the )?(prompt pairs|batch|examples).*(mean|averag)\w* over (the )?passes|(mean|averag)\w* over (the )?passes|passes (are )?(averaged|meaned)|wrong axis|axis 1|batch and pass(es)? axes)",
     gd_batch_summed_and_passes_averaged),
    ("check_graddrop", "gd_grab_hook_indexes_the_gradient_like_a_tuple",
     r"(?i)(g\[0\]|tuple|first (example|prompt pair)'?s? gradient|gradient of (the )?first (example|prompt pair)|grad_output|one example's gradient (for|used for|broadcast))",
     gd_grab_hook_indexes_the_gradient_like_a_tuple),
    ("check_graddrop", "gd_product_of_norms_per_pass",
     r"(?i)(norm|cauchy|magnitudes?|lengths?).*(product|times|multipl)|(product|multipl\w*) of (the )?(norms|magnitudes|lengths)|instead of (the |a )?dot product|not (a |the )?dot product",
     gd_product_of_norms_per_pass),
    ("check_graddrop", "gd_corrupt_output_taken_as_the_change",
     r"(?i)(clean (activation|output|value|z)s? (is )?not subtracted|without subtracting (the )?clean|corrupt (activation|output|value|z)s? (itself|alone|instead of the (change|difference|delta))|no (clean )?(delta|difference)|not the (change|difference|delta)|delta missing)",
     gd_corrupt_output_taken_as_the_change),
    ("check_eap", "eap_q_input_gradient_stacked_for_k_and_v",
     r"(?i)((q|query)(_input)? gradient\w* (used|reused|stacked|taken) (for|as) (the )?(k|key)|k(ey)? and v(alue)? (inputs? )?(get|use|read|take)\w* (the )?(q|query)|hook_q_input (for|in place of|instead of)|(k|v)_input (missing|not used|never used))",
     eap_q_input_gradient_stacked_for_k_and_v),
    ("check_eap", "eap_logits_gradient_appended_inside_the_layer_loop",
     r"(?i)(logits? (gradient|destination|column)\w* .*(every|each) layer|inside the (layer )?loop|indent|(appended|stacked|added) (once )?per layer|destination (order|columns?) (shifted|misaligned|out of order)|columns? shifted)",
     eap_logits_gradient_appended_inside_the_layer_loop),
    ("check_eap", "eap_head_destinations_stacked_head_by_head",
     r"(?i)(interleav|head by head|per head (q, ?k, ?v|qkv)|(destination|column) order|order of (the )?destinations|graph\.destinations order|q/k/v (order|grouping)|(all )?q(ueries)? (of|for) (a|the) layer first)",
     eap_head_destinations_stacked_head_by_head),
    ("check_eap", "eap_head_writes_permuted_batch_and_position_swapped",
     r"(?i)(permute|batch and position|position and batch|(batch|position) axes? (swapped|transposed)|swap\w* (the )?(batch|position)|\(2, ?1, ?0, ?3\)|\(2, ?0, ?1, ?3\))",
     eap_head_writes_permuted_batch_and_position_swapped),
    ("check_eap", "eap_mlp_write_delta_divided_among_its_destinations",
     r"(?i)(out-?degree|divid\w* (by|among|over) (the )?(number of )?(its )?(out-?edges|destinations|readers|downstream)|split (over|among|across)|shared (among|across|between)|per out-?edge|number of (edges|destinations) (it|each source) (feeds|writes))",
     eap_mlp_write_delta_divided_among_its_destinations),
]
