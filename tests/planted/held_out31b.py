"""Held-out set #31, written blind on 2026-12-07 (round 31): part b.

Exercises check_qk_fix_keys (chapter 1), check_graddrop (chapter 2) and check_eap (chapter 3).
Each wrong function is the chapter's solution copied and changed at one line. Each was run next to
the chapter's own solution (OMP_NUM_THREADS=1, scratch script /work/scratch/round31/b/verify.py) on the
chapter's specimen (saturation / cancellation / flat_region) and on a random GPT-2 built with
``gpt2_config`` + ``bridge_from_hf`` (3 layers x 5 heads, d_head 4, weights N(0, 0.4), batch 6,
7 tokens, corrupt prompt differing at positions 1, 3, 5, metric logit_diff); every one crashes,
returns a wrong shape or differs by at least 2 % of the reference's largest magnitude on at least
one of them (the table in the part's report says which).
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_resoftmax_over_keys_up_to_s_only(model, task: wb.Task) -> torch.Tensor:
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
            n = keys.shape[1]
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask[:, :n], float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            # only keys 0..s can be affected by key s, so I re-softmax just that block of columns
            k2 = k[:, : s + 1].clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            new = pattern(k2)
            out[l, :, s] = ((new - A[..., : s + 1]) * grads[pats[l]][..., : s + 1]).sum((-1, -2)).mean(0)
    return out


def qkk_pattern_closures_late_bound_to_the_last_layer(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    # first build every layer's pattern function and clean pattern, then do the key loop
    pattern_fns, clean_patterns = [], []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        pattern_fns.append(lambda keys: (torch.einsum("bthd,bshd->bhts", q, keys) / sc)
                           .masked_fill(~mask, float("-inf")).softmax(-1))
        clean_patterns.append(pattern_fns[l](k))
    for l in range(L):
        k, A = clean[f"blocks.{l}.attn.hook_k"], clean_patterns[l]
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern_fns[l](k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_abs_of_each_query_rows_contribution(model, task: wb.Task) -> torch.Tensor:
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
            # each affected query row moves the metric by some amount; add up how much each row moved
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum(-1).abs().sum(-1).mean(0)
    return out


def qkk_return_inside_the_layer_loop(model, task: wb.Task) -> torch.Tensor:
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
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
        return out  # indented one level too far
    return out


def qkk_vectorised_key_patch_without_moving_the_batch_axis(model, task: wb.Task) -> torch.Tensor:
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
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        # all T single-key patches at once: K2[s] is k with key s replaced
        K2 = k.unsqueeze(0).repeat(T, 1, 1, 1, 1)  # [S, B, T, H, d]
        idx = torch.arange(T)
        K2[idx, :, idx] = corr[f"blocks.{l}.attn.hook_k"]  # key s of every example, at position s of copy s
        A2 = (torch.einsum("bthd,nbshd->nbhts", q, K2) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out[l] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).mean(1).T
    return out


# ----------------------------------------------------------------------------- check_graddrop
def gd_corrupt_values_memoised_across_calls(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    # the corrupt run never changes, so I only do it once
    if not hasattr(gd_corrupt_values_memoised_across_calls, "corr"):
        gd_corrupt_values_memoised_across_calls.corr = cache_activations(model, task.corrupt, names)[1]
    corr = gd_corrupt_values_memoised_across_calls.corr
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


def gd_pass_keeps_only_layer_l(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        # pass l: keep layer l's writes and cut every other layer's
        return torch.zeros_like(g) if drop["layer"] != l else g

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


def gd_gate_zeroes_only_the_last_position(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        if drop["layer"] != l:
            return g
        g = g.clone()
        g[:, -1] = 0  # the metric is read at the last position, so that is the write to cut
        return g

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


def gd_batch_rescale_done_in_the_gate_hook(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach()

    def gate(g, hook, l=None):
        # the gate is the hook that hands gradients on, so the x B for per-example gradients goes here
        return torch.zeros_like(g) if drop["layer"] == l else g * B

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


def gd_max_of_graddrop_and_abs_atp(model, task: wb.Task) -> torch.Tensor:
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

    def estimate():
        return torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                            for n in names], 1)  # [B, L, H]

    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(estimate())
        drop["layer"] = None  # one more pass with nothing dropped: plain AtP
        grads.clear()
        metric.backward(retain_graph=True)
        atp = estimate()
    gd = torch.stack(per_pass).abs().sum(0) / (L - 1)
    # GradDrop is meant to catch what AtP misses, so never report less than AtP itself
    return torch.maximum(gd, atp.abs()).mean(0)


# ----------------------------------------------------------------------------- check_eap
def eap_graph_built_with_layers_and_heads_swapped(model, task) -> torch.Tensor:
    graph = Graph(model.cfg.n_heads, model.cfg.n_layers)  # (heads, layers)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_source_writes_detached_for_direct_edges(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    # an edge is only the direct path u -> v, so I stop the gradient at every source's write
    cut = [(h, lambda t, hook: t.detach()) for h in graph.source_hooks if h != "hook_embed"]
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks),
                                                  extra_fwd_hooks=cut)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_destination_gradient_at_its_output(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    L = model.cfg.n_layers
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks),
                                                  list(graph.source_hooks) + [f"blocks.{L - 1}.hook_resid_post"])
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # a component's gradient is where it writes: heads at hook_result, MLPs at hook_mlp_out
    parts = []
    for l in range(L):
        g_heads = grads[f"blocks.{l}.attn.hook_result"].permute(2, 0, 1, 3)
        parts += [g_heads, g_heads, g_heads, grads[f"blocks.{l}.hook_mlp_out"][None]]
    parts.append(grads[f"blocks.{L - 1}.hook_resid_post"][None])
    dest_grads = torch.cat(parts, 0)
    scores = torch.einsum("sbpd,tbpd->st", deltas, dest_grads) / task.batch_size
    return scores * graph.edge_mask


def eap_mask_from_whole_block_indices(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    # an edge goes from an earlier block to a later one
    s_block = torch.tensor([int(graph.source_layer(n)) for n in graph.sources])
    d_block = torch.tensor([int(graph.dest_layer(n)) for n in graph.destinations])
    return scores * (s_block[:, None] < d_block[None, :])


def eap_k_and_v_gradients_stacked_in_swapped_order(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    L = model.cfg.n_layers
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # my own stack of the destination gradients, one block per layer: q, v, k, then the MLP
    parts = []
    for l in range(L):
        for x in "qvk":
            parts.append(grads[f"blocks.{l}.hook_{x}_input"].permute(2, 0, 1, 3))
        parts.append(grads[f"blocks.{l}.hook_mlp_in"][None])
    parts.append(grads[f"blocks.{L - 1}.hook_resid_post"][None])
    scores = torch.einsum("sbpd,tbpd->st", deltas, torch.cat(parts, 0)) / task.batch_size
    return scores * graph.edge_mask


MISTAKES = [
    ("check_qk_fix_keys", "qkk_resoftmax_over_keys_up_to_s_only",
     r"(?i)(keys?|columns?)\s*(0\s*)?(\.\.|up to|<=|≤|through|before|until)\s*(key |position )?s\b|(later|higher|subsequent) (keys?|columns?)|keys? after|(truncat|sliced?|restrict|only part).{0,50}(keys?|columns?|softmax|row)|(denominator|normali[sz]).{0,60}(miss|omit|leav|drop|exclud|partial|truncat|only)",
     qkk_resoftmax_over_keys_up_to_s_only),
    ("check_qk_fix_keys", "qkk_pattern_closures_late_bound_to_the_last_layer",
     r"(?i)(last|final) layer'?s? (quer|q\b|pattern|scale)|late[- ]bind|closure|lambda|(quer(y|ies)|\bq\b).{0,50}(from|of) (the )?(last|final|wrong|another|a different|other) layer",
     qkk_pattern_closures_late_bound_to_the_last_layer),
    ("check_qk_fix_keys", "qkk_abs_of_each_query_rows_contribution",
     r"(?i)(abs|absolute|magnitude|sign).{0,80}(row|quer)|(row|quer).{0,80}(abs|absolute|magnitude|sign)",
     qkk_abs_of_each_query_rows_contribution),
    ("check_qk_fix_keys", "qkk_return_inside_the_layer_loop",
     r"(?i)(only|just) (the )?(first layer|layer ?0)|(later|other|remaining|higher|deeper|subsequent) layers?.{0,50}(zero|empty|missing|not (filled|computed|estimated))|return.{0,30}(inside|in|within) (the )?(layer )?loop|layers? (1|≥ ?1|>= ?1|after (the )?first).{0,40}(zero|missing|empty)",
     qkk_return_inside_the_layer_loop),
    ("check_qk_fix_keys", "qkk_vectorised_key_patch_without_moving_the_batch_axis",
     r"(?i)(batch|example|prompt).{0,60}(key position|position|axis|dimension|transpos)|(transpos|permut|swap|move).{0,40}(batch|axis|axes|dim)",
     qkk_vectorised_key_patch_without_moving_the_batch_axis),
    ("check_graddrop", "gd_corrupt_values_memoised_across_calls",
     r"(?i)(stale|cached|memoi[sz]|reus|previous|earlier|first|old).{0,60}(call|task|run|corrupt|prompt)|across calls|between calls|state",
     gd_corrupt_values_memoised_across_calls),
    ("check_graddrop", "gd_pass_keeps_only_layer_l",
     r"(?i)(every|all|other) (other )?(layers?|writes).{0,40}(but|except|other than|besides)|keeps? only|(invert|revers|opposite|complement|negat).{0,40}(gate|drop|condition|layer)|(gate|condition|drop).{0,40}(invert|!=|not equal|revers|opposite)",
     gd_pass_keeps_only_layer_l),
    ("check_graddrop", "gd_gate_zeroes_only_the_last_position",
     r"(?i)(only|just) (at |the )*(last|final|metric'?s?) position|(last|final) position only|(other|earlier|every|all|remaining) positions?.{0,60}(not|left|kept|still|uncut|pass|through)",
     gd_gate_zeroes_only_the_last_position),
    ("check_graddrop", "gd_batch_rescale_done_in_the_gate_hook",
     r"(?i)(batch|\bB\b).{0,60}(gate|each layer|every layer|per layer|compound|repeated|power|exponent|layer'?s? writes?)|(gate|gating hook).{0,60}(scal|multipl|\bB\b|batch)",
     gd_batch_rescale_done_in_the_gate_hook),
    ("check_graddrop", "gd_max_of_graddrop_and_abs_atp",
     r"(?i)(max|maximum|larger|floor|lower bound|at least).{0,60}(atp|attribution patching|plain|undropped|ungated|no layer dropped)|(atp|undropped|ungated|plain).{0,60}(max|combined|mixed|floor|larger)",
     gd_max_of_graddrop_and_abs_atp),
    ("check_eap", "eap_graph_built_with_layers_and_heads_swapped",
     r"(?i)(layers?|n_layers).{0,40}(heads?|n_heads).{0,40}(swap|revers|order|exchang|mix|transpos)|heads?.{0,30}layers?.{0,30}(swap|revers|order|exchang)|Graph\(.{0,40}(order|argument)|from_model",
     eap_graph_built_with_layers_and_heads_swapped),
    ("check_eap", "eap_source_writes_detached_for_direct_edges",
     r"(?i)detach|stop(ped|s)? (the )?gradient|gradient.{0,40}(cut|blocked|stopped|does not (reach|flow)|never reach|missing|none|zero)|(only|just) (the )?(logits?|direct)|indirect path",
     eap_source_writes_detached_for_direct_edges),
    ("check_eap", "eap_destination_gradient_at_its_output",
     r"(?i)(output|hook_result|mlp_out|write).{0,60}(instead of|not|rather than).{0,30}(input|hook_[qkv]_input|mlp_in)|(gradient|grad).{0,40}(at|of) (the )?(destination'?s? |component'?s? )?(output|write)|input.{0,40}(not|instead)",
     eap_destination_gradient_at_its_output),
    ("check_eap", "eap_mask_from_whole_block_indices",
     r"(?i)(heads?|attention).{0,60}mlp.{0,40}(same|own|its) (layer|block)|same[- ](layer|block).{0,60}(heads?|attention|mlp)|(within|inside|intra)[- ](layer|block)|head ?-> ?mlp|l\s*\+\s*0?\.5|half[- ]layer",
     eap_mask_from_whole_block_indices),
    ("check_eap", "eap_k_and_v_gradients_stacked_in_swapped_order",
     r"(?i)\bk\b.{0,40}\bv\b.{0,40}(swap|order|exchang|revers|mix)|(key|value).{0,40}(key|value).{0,40}(swap|order|exchang|revers|mix|confus)|(swap|exchang|revers).{0,40}(key|value|\bk\b|\bv\b)",
     eap_k_and_v_gradients_stacked_in_swapped_order),
]
