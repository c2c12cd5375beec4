"""Held-out set #27, written blind on 2026-12-07 (round 27): part a.

Exercises check_patch_heads and check_atp_heads (chapter 00, induction zoo model, n=16, seed=0),
check_qk_fix_queries and check_qk_fix_keys (chapter 01, the saturation specimen) and
check_graddrop (chapter 02, the cancellation specimen). Each wrong function is the chapter's
solution copied with one inline slip. Each was run next to the chapter's solution on the chapter's
own model and task (scratch script /work/scratch/round27/a/verify.py): every one crashes, returns a
wrong shape, or differs from the solution by at least 2 % of the solution's largest magnitude.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_patch_heads
def ph_head_slice_rebound_not_written(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                head = act[:, :, h]
                head = corr[names[l]][:, :, h]  # take head h's slice and put the corrupt value in it
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_corrupt_hook_v_written_into_z(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    v_names = [f"blocks.{l}.attn.hook_v" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, v_names)  # the head's corrupt "values"
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[v_names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_hook_arguments_in_the_wrong_order(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(hook, act, l=l, h=h):  # hook first, then the activation
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_baseline_midway_between_clean_and_corrupt(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    corr_logits, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        # reference point halfway between the two runs
        base = (task.metric_value(model(task.clean)) + task.metric_value(corr_logits)) / 2
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_returns_the_transposed_view(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone().transpose(1, 2)  # heads first, so act[:, h] is one head
                act[:, h] = corr[names[l]].transpose(1, 2)[:, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# ----------------------------------------------------------------------------- check_atp_heads
def atp_corrupt_pairs_misaligned_by_one(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # line the corrupt batch up with the clean one
    return torch.stack([((corr[n].roll(1, 0) - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_gradient_at_hook_v_delta_at_hook_z(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    v_names = [f"blocks.{l}.attn.hook_v" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, v_names)  # grads of the head's values
    return torch.stack([((corr[n] - clean[n]) * grads[v]).sum((1, 3)).mean(0) for n, v in zip(names, v_names)])


def atp_gradient_batch_mean_delta_per_example(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # the metric is a batch mean, so use the batch-mean gradient
    return torch.stack([((corr[n] - clean[n]) * grads[n].mean(0, keepdim=True)).sum((1, 3)).mean(0) for n in names])


def atp_hook_name_without_attn(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.hook_z" for l in range(model.cfg.n_layers)]  # the head outputs of block l
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_positions_weighted_by_the_clean_pattern(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names + pats, names)
    out = []
    for n, p in zip(names, pats):
        # weight each position by how much the last position attends to it
        w = clean[p][:, :, -1].transpose(1, 2)  # [B, pos, head]
        out.append((((corr[n] - clean[n]) * grads[n]).sum(3) * w).sum(1).mean(0))
    return torch.stack(out)


# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_query_moved_halfway(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = (q + corr[f"blocks.{l}.attn.hook_q"]) / 2  # between the clean and the corrupt query
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_corrupt_query_of_layer_0_for_every_layer(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr["blocks.0.attn.hook_q"]  # the corrupt query
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_pattern_gradient_averaged_with_the_corrupt_run(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    # slope at both ends of the segment, averaged
    _, _, grads_corr = cache_activations_and_grads(model, task, qk, pats, tokens=task.corrupt)
    grads = {n: (grads[n] + grads_corr[n]) / 2 for n in pats}
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_corrupt_query_averaged_over_heads(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"].mean(2, keepdim=True).expand_as(q)  # the corrupt query of the layer
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_layers_processed_in_reverse_order(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in reversed(range(L)):  # backward pass order: last layer first
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_corrupt_key_of_layer_0_for_every_layer(model, task: wb.Task) -> torch.Tensor:
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
            k2[:, s] = corr["blocks.0.attn.hook_k"][:, s]  # the corrupt key at s
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_key_moved_halfway(model, task: wb.Task) -> torch.Tensor:
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
            k2[:, s] = (k[:, s] + corr[f"blocks.{l}.attn.hook_k"][:, s]) / 2  # step from clean toward corrupt
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_corrupt_keys_from_the_neighbouring_prompt(model, task: wb.Task) -> torch.Tensor:
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
        k_corr = corr[f"blocks.{l}.attn.hook_k"].roll(1, 0)  # corrupt keys, lined up with the clean batch
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = k_corr[:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_integer_output_buffer(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T, dtype=torch.long)  # [layer, head, position] indices
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
    return out


def qkk_pattern_change_times_the_clean_pattern(model, task: wb.Task) -> torch.Tensor:
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
            # chain rule through the softmax: weight by the clean probabilities
            out[l, :, s] = ((pattern(k2) - A) * A * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# ----------------------------------------------------------------------------- check_graddrop
def gd_gradient_list_indexed_one_layer_back(model, task: wb.Task) -> torch.Tensor:
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
            # gradients come back from the last layer first
            g_list = [grads.get(n, torch.zeros_like(acts[n])) for n in names]
            per_pass.append(torch.stack([((corr[n] - acts[n]) * g_list[i - 1]).sum((1, 3))
                                         for i, n in enumerate(names)], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_gate_zeroes_every_position_but_the_last(model, task: wb.Task) -> torch.Tensor:
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
        g[:, :-1] = 0  # cut the write everywhere the metric does not read it
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


def gd_corrupt_values_from_hook_v(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, [n.replace("hook_z", "hook_v") for n in names])
    corr = {n.replace("hook_v", "hook_z"): a for n, a in corr.items()}  # the heads' corrupt values, by head name
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


def gd_corrupt_output_averaged_over_heads(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    corr = {n: a.mean(2, keepdim=True) for n, a in corr.items()}  # one corrupt output per layer
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


def gd_attention_write_gated_at_hook_v(model, task: wb.Task) -> torch.Tensor:
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
    # layer l writes its heads' values and its MLP output
    bwd += [(w.format(l), lambda g, hook, l=l: gate(g, hook, l)) for l in range(L)
            for w in ("blocks.{}.attn.hook_v", "blocks.{}.hook_mlp_out")]
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


_HALF = r"half|midpoint|middle|interpolat|mix(ed|ture)? of (the )?clean and (the )?corrupt|between (the )?clean and (the )?corrupt|average of (the )?clean and (the )?corrupt|(full|whole|entire) corrupt|all the way"
_PAIRS = (r"(misalign|mismatch|line[sd]? up|lined up|pairing|paired with|rolled|shifted).{0,40}(prompts?|examples?|pairs?|rows?|batch)"
          r"|(another|different|wrong|neighbou?ring|next|previous|other) (corrupt )?(prompt|example|pair|row)s?"
          r"|(prompts?|examples?|pairs?|rows?) (are |is )?(misaligned|mismatched|shifted|rolled|out of order)")
_HEADS_POOLED = r"(averag|mean|pool|shared|same).{0,40}(over|across|for (all|every)) (the )?heads|head'?s? own|per[- ]head|each head'?s"
_VALUES = r"hook_v|value vectors?|values? instead of|instead of (the )?(head('s)? )?outputs?|wrong (corrupt )?(activation|hook|cache)"

MISTAKES = [
    ("check_patch_heads", "ph_head_slice_rebound_not_written",
     r"(?i)nothing (is |was |gets )?(patched|written|changed|replaced)|never (writes?|patch|modif|change)|not (actually )?(patched|written|modified|changed)|unchanged|(returns?|hands back) the (clean|original|unmodified)|all[- ]zeros?|every effect is (zero|0)|rebind|rebound|no effect",
     ph_head_slice_rebound_not_written),
    ("check_patch_heads", "ph_corrupt_hook_v_written_into_z", r"(?i)" + _VALUES, ph_corrupt_hook_v_written_into_z),
    ("check_patch_heads", "ph_hook_arguments_in_the_wrong_order",
     r"(?i)(argument|parameter|signature).{0,40}(order|swap|first)|(order|swap).{0,40}(argument|parameter)|\(act, hook\)|multiple values for (argument )?'?hook",
     ph_hook_arguments_in_the_wrong_order),
    ("check_patch_heads", "ph_baseline_midway_between_clean_and_corrupt",
     r"(?i)(baseline|reference|subtract).{0,60}(M\(clean\)|clean (run|metric|baseline|logits|value)|corrupt|average|mean|midpoint|halfway)|(M\(clean\)|clean metric).{0,40}(baseline|subtract)|average of (the )?clean and (the )?corrupt",
     ph_baseline_midway_between_clean_and_corrupt),
    ("check_patch_heads", "ph_returns_the_transposed_view",
     r"(?i)transpos|permut|(axis|axes) (order|swapped|moved)|head axis|\[batch, head|layout|wrong shape|contiguous|view",
     ph_returns_the_transposed_view),
    ("check_atp_heads", "atp_corrupt_pairs_misaligned_by_one", r"(?i)" + _PAIRS, atp_corrupt_pairs_misaligned_by_one),
    ("check_atp_heads", "atp_gradient_at_hook_v_delta_at_hook_z",
     r"(?i)hook_v|value vectors?|gradient.{0,40}(wrong|different|another|other) (hook|node|activation|point)|(delta|activation) and (the )?gradient.{0,40}(different|same) (hook|node)|mismatch.{0,30}(hook|node)",
     atp_gradient_at_hook_v_delta_at_hook_z),
    ("check_atp_heads", "atp_gradient_batch_mean_delta_per_example",
     r"(?i)(batch[- ]mean|batch[- ]averaged?|averaged? over (the )?(batch|examples|prompt pairs)|mean over (the )?(batch|examples)|per[- ]example|each example'?s own).{0,60}gradient|gradient.{0,60}(batch[- ]mean|averaged?|mean over|per[- ]example|each example'?s own)",
     atp_gradient_batch_mean_delta_per_example),
    ("check_atp_heads", "atp_hook_name_without_attn",
     r"(?i)hook name|attn\.hook_z|\.attn\.|does not exist|no such hook|unknown hook|KeyError",
     atp_hook_name_without_attn),
    ("check_atp_heads", "atp_positions_weighted_by_the_clean_pattern",
     r"(?i)(weight|pattern|attention (probabilit|weight)|hook_pattern).{0,60}(positions?|sum)|(unweighted|plain|simple) sum over (the )?positions|sum over (all |the )?positions.{0,30}(without|no|not) weight",
     atp_positions_weighted_by_the_clean_pattern),
    ("check_qk_fix_queries", "qkq_query_moved_halfway", r"(?i)" + _HALF, qkq_query_moved_halfway),
    ("check_qk_fix_queries", "qkq_corrupt_query_of_layer_0_for_every_layer",
     r"(?i)(layer 0|first layer|layer zero|wrong layer|same layer|another layer|other layer|own layer|every layer|each layer).{0,60}(quer|hook_q)|(quer|hook_q).{0,60}(layer 0|first layer|wrong layer|each layer|every layer|own layer)",
     qkq_corrupt_query_of_layer_0_for_every_layer),
    ("check_qk_fix_queries", "qkq_pattern_gradient_averaged_with_the_corrupt_run",
     r"(?i)corrupt(-run| run'?s?)? (pattern )?gradients?|gradients? (from|of|on) (the )?corrupt|average of (the )?(clean and corrupt|two) gradients|averaged? (pattern )?gradients?|only the clean(-run)? gradient|gradient.{0,30}clean run only",
     qkq_pattern_gradient_averaged_with_the_corrupt_run),
    ("check_qk_fix_queries", "qkq_corrupt_query_averaged_over_heads", r"(?i)" + _HEADS_POOLED, qkq_corrupt_query_averaged_over_heads),
    ("check_qk_fix_queries", "qkq_layers_processed_in_reverse_order",
     r"(?i)layers?.{0,30}(revers|order|swap|flip|backward)|(revers|swap|flip).{0,30}layers?|layer order|wrong layer|last layer first",
     qkq_layers_processed_in_reverse_order),
    ("check_qk_fix_keys", "qkk_corrupt_key_of_layer_0_for_every_layer",
     r"(?i)(layer 0|first layer|layer zero|wrong layer|same layer|another layer|other layer|own layer|every layer|each layer).{0,60}(key|hook_k)|(key|hook_k).{0,60}(layer 0|first layer|wrong layer|each layer|every layer|own layer)",
     qkk_corrupt_key_of_layer_0_for_every_layer),
    ("check_qk_fix_keys", "qkk_key_moved_halfway", r"(?i)" + _HALF, qkk_key_moved_halfway),
    ("check_qk_fix_keys", "qkk_corrupt_keys_from_the_neighbouring_prompt", r"(?i)" + _PAIRS, qkk_corrupt_keys_from_the_neighbouring_prompt),
    ("check_qk_fix_keys", "qkk_integer_output_buffer",
     r"(?i)integer|int64|\blong\b|dtype|truncat|rounded|whole numbers|float (tensor|buffer|output)",
     qkk_integer_output_buffer),
    ("check_qk_fix_keys", "qkk_pattern_change_times_the_clean_pattern",
     r"(?i)(extra|additional|spurious|unneeded|superfluous|multipl\w* by|weight\w* by|times|factor of) (the )?(clean )?(pattern|attention|probabilit|\bA\b)|jacobian|chain rule|double[- ]count|p\(1 ?- ?p\)|pattern (factor|weight)",
     qkk_pattern_change_times_the_clean_pattern),
    ("check_graddrop", "gd_gradient_list_indexed_one_layer_back",
     r"(?i)gradients?.{0,60}(wrong|another|other|different|neighbou?ring|next|previous|shifted|mismatched) layer|layers?.{0,40}(mismatch|misalign|shift|offset|off[- ]by[- ]one|rolled|swapped)|(paired|matched) with the wrong|each layer'?s own gradient|same layer",
     gd_gradient_list_indexed_one_layer_back),
    ("check_graddrop", "gd_gate_zeroes_every_position_but_the_last",
     r"(?i)((every|all|each) positions?|last position|some positions).{0,60}(gate|gated|drop|zero|cut|stop)|(gate|gated|drop|zero|cut|stop).{0,60}((every|all|each) positions?|last position|some positions|part of)|partially (dropped|gated|cut)",
     gd_gate_zeroes_every_position_but_the_last),
    ("check_graddrop", "gd_corrupt_values_from_hook_v", r"(?i)" + _VALUES, gd_corrupt_values_from_hook_v),
    ("check_graddrop", "gd_corrupt_output_averaged_over_heads", r"(?i)" + _HEADS_POOLED, gd_corrupt_output_averaged_over_heads),
    ("check_graddrop", "gd_attention_write_gated_at_hook_v",
     r"(?i)hook_v|values?\b.{0,40}(gate|gated|stop|drop|cut)|(gate|gated|stop|drop|cut).{0,60}(hook_attn_out|attn_out|attention (write|output))|attention (write|output).{0,40}(not|never|isn'?t) (gated|dropped|stopped|cut)|own[- ]layer pass",
     gd_attention_write_gated_at_hook_v),
]
