"""Held-out set #22, written blind on 2026-12-07 (round 22): part a.

Exercises: check_patch_heads and check_atp_heads (chapter 0, the zoo's induction model,
``zoo.load("induction", n=16, seed=0)``), check_qk_fix_queries and check_qk_fix_keys (chapter 1,
``saturation.build()``) and check_graddrop (chapter 2, ``cancellation.build()``), five mistakes
each. Every wrong function is the chapter's own solution copied with one slip. Each was run next
to the chapter's solution on that chapter's model and task (scratch script
``/work/scratch/round22/a/verify.py``, CPU, one thread): every one crashes, returns a wrong shape,
or differs from the solution by at least 2 % of the solution's largest magnitude (the smallest
margins: qkq_clean_pattern_left_unmasked 2.9 %, ph_accumulated_into_a_ones_tensor 5.5 %,
qkq_diagonal_key_left_out_of_the_sum 5.5 %). The solution's results were unchanged after every
wrong function had run (no side effects on the model).
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_patch_heads
def ph_hook_returns_the_head_slice(model, task: wb.Task) -> torch.Tensor:
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
                act[:, :, h] = corr[names[l]][:, :, h]
                return act[:, :, h]  # hand back the head I just patched

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_slice_end_patches_two_heads(model, task: wb.Task) -> torch.Tensor:
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
                act[:, :, h:h + 2] = corr[names[l]][:, :, h:h + 2]  # slice so the head axis stays
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_accumulated_into_a_ones_tensor(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.ones(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] += task.metric_value(model(task.clean)) - base  # add this head's effect
    return out


def ph_baseline_subtracted_from_the_row_inside_the_head_loop(model, task: wb.Task) -> torch.Tensor:
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
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean))
            out[l] -= base  # relative to the clean run, the whole layer at once
    return out


def ph_keys_patched(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_k" for l in range(L)]  # the head's [batch, pos, head, d_head] activation
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
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

# ----------------------------------------------------------------------------- check_atp_heads
def atp_d_head_left_unsummed(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum(1).mean(0) for n in names])  # sum over positions


def atp_running_total_across_layers(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    rows, est = [], 0
    for n in names:
        est += ((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0)  # this layer's estimate
        rows.append(est)
    return torch.stack(rows)


def atp_no_gradient_names_requested(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, [])  # the activations get their gradients
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_batch_mean_over_the_head_axis(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(1) for n in names])  # average the batch


def atp_gradient_change_times_clean_activation(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    _, _, corr_grads = cache_activations_and_grads(model, task, names, names, tokens=task.corrupt)
    # how much the gradient moves between the runs, applied to the clean activation
    return torch.stack([(clean[n] * (corr_grads[n] - grads[n])).sum((1, 3)).mean(0) for n in names])

# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_clean_pattern_left_unmasked(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).softmax(-1)  # the clean pattern as it is
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_diagonal_key_left_out_of_the_sum(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        earlier = torch.ones(T, T, dtype=torch.bool).tril(-1)  # the keys before the query
        out.append(((A_new - A) * grads[pats[l]] * earlier).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_scale_read_from_the_head_axis(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = q.shape[-2] ** 0.5  # sqrt(d_head)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_clean_scores_never_softmaxed(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf"))
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_softmax_of_the_score_change(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        S = torch.einsum("bthd,bshd->bhts", q, k) / sc
        S_new = torch.einsum("bthd,bshd->bhts", q_new, k) / sc
        dA = (S_new - S).masked_fill(~mask, float("-inf")).softmax(-1)  # the pattern change, exactly
        out.append((dA * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)

# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_key_position_indexed_on_d_head(model, task: wb.Task) -> torch.Tensor:
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
            k2[..., s] = corr[f"blocks.{l}.attn.hook_k"][..., s]  # key s, whatever the leading axes
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_activation_and_gradient_names_swapped(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, pats, qk)  # patterns, then q/k
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
    return out


def qkk_pattern_gradient_divided_by_the_scale(model, task: wb.Task) -> torch.Tensor:
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
        g = grads[pats[l]] / sc  # chain rule through the score scale
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * g).sum((-1, -2)).mean(0)
    return out


def qkk_patched_key_read_from_the_clean_cache(model, task: wb.Task) -> torch.Tensor:
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
            k2[:, s] = clean[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_sequence_length_read_from_the_head_axis(model, task: wb.Task) -> torch.Tensor:
    L = model.cfg.n_layers
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    T = clean["blocks.0.attn.hook_k"].shape[2]  # keys are [batch, head, pos, d_head]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, task.seq_len)
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

# ----------------------------------------------------------------------------- check_graddrop
def gd_normaliser_counts_downstream_layers(model, task: wb.Task) -> torch.Tensor:
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
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l))
            for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    # the passes that can change a layer-l head are the ones that drop a layer after it
    n_after = (L - 1 - torch.arange(L)).float()[:, None]  # [L, 1]
    return (torch.stack(per_pass).abs().sum(0) / n_after).mean(0)


def gd_batch_mean_over_the_head_axis(model, task: wb.Task) -> torch.Tensor:
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
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l))
            for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(-1)  # average over the prompt pairs


def gd_drop_layer_compared_not_assigned(model, task: wb.Task) -> torch.Tensor:
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
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l))
            for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] == l  # this pass drops layer l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_sign_of_the_summed_passes_restored(model, task: wb.Task) -> torch.Tensor:
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
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l))
            for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    passes = torch.stack(per_pass)
    sign = passes.sum(0).sign()  # keep the direction of the effect so it compares with the truth
    return (sign * passes.abs().sum(0) / (L - 1)).mean(0)


def gd_answer_logit_backpropagated(model, task: wb.Task) -> torch.Tensor:
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
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l))
            for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        logits = model(task.clean)
        metric = logits[torch.arange(B), task.pos, task.answer].mean()  # the logit the model should raise
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)



MISTAKES = [
    ("check_patch_heads", "ph_hook_returns_the_head_slice",
     r"(?i)hook\b.*\b(returns?|returned|gives? back|hands? back)\b"
     r"|returns?\b.*\b(slice|single head|one head|head h\b|patched head)"
     r"|(whole|full|entire|complete) (activation|tensor|hook_z)",
     ph_hook_returns_the_head_slice),
    ("check_patch_heads", "ph_slice_end_patches_two_heads",
     r"(?i)(two|2|neighbou?ring|next|adjacent|more than one|extra|several|following) heads?"
     r"|h ?: ?h ?\+ ?2|\bh ?\+ ?1\b|\bslice|off[- ]by[- ]one",
     ph_slice_end_patches_two_heads),
    ("check_patch_heads", "ph_accumulated_into_a_ones_tensor",
     r"(?i)torch\.ones|\bones\b"
     r"|(offset|shift(ed)?|off|higher|larger|too (big|large|high)) by (exactly )?(\+ ?)?(1|one)\b"
     r"|plus (1|one)\b|\+ ?1\b|initiali[sz]\w* (to|with|as) (1|one)\b|start\w* (from|at) (1|one)\b",
     ph_accumulated_into_a_ones_tensor),
    ("check_patch_heads", "ph_baseline_subtracted_from_the_row_inside_the_head_loop",
     r"(?i)(baseline|M\(clean\)|clean metric).{0,80}(more than once|several times|repeatedly|many times|twice|again)"
     r"|(baseline|M\(clean\)|clean metric).{0,80}(\d+ times|for every head|inside the (head )?loop|whole row)"
     r"|subtract\w* .{0,40}(more than once|repeatedly|multiple times|several times|once per head|whole row|entire row)"
     r"|(baseline|M\(clean\)|clean metric).{0,80}(each time|every time|per head|whole layer|all heads)"
     r"|indent",
     ph_baseline_subtracted_from_the_row_inside_the_head_loop),
    ("check_patch_heads", "ph_keys_patched",
     r"(?i)hook_k\b|\bkeys?\b",
     ph_keys_patched),
    ("check_atp_heads", "atp_d_head_left_unsummed",
     r"(?i)d_head|head dimension|(last|final|feature) (axis|dim)|axis 3|dim(ension)? 3|\(1, ?3\)"
     r"|dot product|contract",
     atp_d_head_left_unsummed),
    ("check_atp_heads", "atp_running_total_across_layers",
     r"(?i)cumulat|accumulat|running (sum|total)|carr(y|ies|ied) over|previous layers?|earlier layers?"
     r"|(add|sum)\w* (up )?(over|across) (the )?layers|not reset|in[- ]place|same (tensor|object)|alias"
     r"|(rows|layers) (are )?(all )?(identical|the same)",
     atp_running_total_across_layers),
    ("check_atp_heads", "atp_no_gradient_names_requested",
     r"(?i)grad_names|gradient names|no gradients?"
     r"|gradients? (were |was |are )?(not|never) (requested|asked for|taken|computed|cached|recorded)"
     r"|request\w* .{0,30}gradients?|empty (list|grad)",
     atp_no_gradient_names_requested),
    ("check_atp_heads", "atp_batch_mean_over_the_head_axis",
     r"(?i)(mean|averag\w*) over (the )?heads|heads? (axis|dim)|mean\(1\)|axis 1|dim ?= ?1"
     r"|batch (axis|dim\w*)|(instead of|not) (over )?the (batch|prompt pairs)|prompt[- ]pair axis",
     atp_batch_mean_over_the_head_axis),
    ("check_atp_heads", "atp_gradient_change_times_clean_activation",
     r"(?i)(change|difference|delta) (in|of|between) (the )?gradients?"
     r"|gradients?'? (change|difference|delta)|corrupt[- ](run )?gradients?"
     r"|activation (change|difference)|(z_corrupt|corrupt activation) ?- ?(z_clean|clean activation)"
     r"|Δ ?z|roles? (swapped|reversed)",
     atp_gradient_change_times_clean_activation),
    ("check_qk_fix_queries", "qkq_clean_pattern_left_unmasked",
     r"(?i)mask|future (keys?|positions?|tokens?)|s ?> ?t|causal|tril",
     qkq_clean_pattern_left_unmasked),
    ("check_qk_fix_queries", "qkq_diagonal_key_left_out_of_the_sum",
     r"(?i)diagonal|s ?=?= ?t\b|own (position|key|token)|\bitself\b|s ?(<=|≤) ?t|strict(ly)?|tril\(-1\)"
     r"|(current|same) position"
     r"|(left|leaves|leaving|drops?|dropped|skips?|skipped) .{0,30}(key|position|entry)"
     r"|(excludes?|excluded|misses|missing) .{0,30}(key|position|entry)",
     qkq_diagonal_key_left_out_of_the_sum),
    ("check_qk_fix_queries", "qkq_scale_read_from_the_head_axis",
     r"(?i)scal(e|ing)|sqrt|√|temperature|attn_scale|d_head|divi\w* (the )?scores",
     qkq_scale_read_from_the_head_axis),
    ("check_qk_fix_queries", "qkq_clean_scores_never_softmaxed",
     r"(?i)softmax|normali[sz]|raw scores|(scores|logits) (instead of|not) (the )?(pattern|probabilit)"
     r"|(not|never) (a )?(probabilit|distribution)",
     qkq_clean_scores_never_softmaxed),
    ("check_qk_fix_queries", "qkq_softmax_of_the_score_change",
     r"(?i)softmax.{0,40}(difference|change|delta|Δ)|(difference|change|delta|Δ).{0,40}softmax"
     r"|A'? ?- ?A\b|A_new ?- ?A|new pattern ?(minus|-) ?(the )?(clean|old)"
     r"|difference (of|between) (the )?(two )?patterns|subtract\w* (the )?clean pattern"
     r"|pattern (change|difference)",
     qkq_softmax_of_the_score_change),
    ("check_qk_fix_keys", "qkk_key_position_indexed_on_d_head",
     r"(?i)d_head|last (axis|dim)|(feature|channel|component|coordinate)s?\b|axis 1|dim(ension)? 1"
     r"|\[:, ?s\]|position axis|\.\.\.|ellipsis|(wrong|another) axis",
     qkk_key_position_indexed_on_d_head),
    ("check_qk_fix_keys", "qkk_activation_and_gradient_names_swapped",
     r"(?i)swap|(arguments?|names) (in the wrong order|reversed)|act_names|grad_names"
     r"|(activations?|gradients?) (requested|asked for|taken|cached) (at|for|on) (the )?(pattern|hook_pattern|q|k)\b"
     r"|order of (the )?(arguments|names)|(names|arguments).{0,30}wrong order|order (is )?reversed",
     qkk_activation_and_gradient_names_swapped),
    ("check_qk_fix_keys", "qkk_pattern_gradient_divided_by_the_scale",
     r"(?i)scal(e|ing)|sqrt|√|attn_scale|chain rule|d_head",
     qkk_pattern_gradient_divided_by_the_scale),
    ("check_qk_fix_keys", "qkk_patched_key_read_from_the_clean_cache",
     r"(?i)clean (cache|keys?|run|activations?)|corrupt(ed)? (keys?|cache|run)"
     r"|(not|never) (actually )?(patched|changed|replaced)"
     r"|(nothing|no key) (is |was |gets )?(actually )?(patched|changed|replaced)"
     r"|(same|identical|unchanged) (as the )?(clean )?(keys?|pattern)|from (the )?clean\b"
     r"|instead of (the )?corr",
     qkk_patched_key_read_from_the_clean_cache),
    ("check_qk_fix_keys", "qkk_sequence_length_read_from_the_head_axis",
     r"(?i)seq(uence)?[_ ]len|sequence length|number of (positions|tokens)"
     r"|mask.{0,40}(shape|size|\[2, ?2\])|shape\[2\]|head axis|axis 2|\[batch, ?head, ?pos|\[b, ?h, ?t",
     qkk_sequence_length_read_from_the_head_axis),
    ("check_graddrop", "gd_normaliser_counts_downstream_layers",
     r"(?i)L ?- ?1|n_layers ?- ?1|normali[sz]|divi\w* by (zero|0)|division by zero|later layers"
     r"|downstream|same (divisor|denominator)|divisor|denominator",
     gd_normaliser_counts_downstream_layers),
    ("check_graddrop", "gd_batch_mean_over_the_head_axis",
     r"(?i)(mean|averag\w*) over (the )?heads|heads? (axis|dim)|mean\(-1\)|(last|final) (axis|dim)"
     r"|axis (0|-1)|batch (axis|dim\w*)|(instead of|not) (over )?the (batch|prompt pairs)"
     r"|prompt[- ]pair axis",
     gd_batch_mean_over_the_head_axis),
    ("check_graddrop", "gd_drop_layer_compared_not_assigned",
     r"(?i)==|comparison|compar(es|ed) instead|assign\w*|never (set|dropped|zeroed|gated)"
     r"|nothing (is |was |gets )?(ever )?(dropped|gated|zeroed|cut)"
     r"|no (layer|gradient|write)s? (is |was |were |are )?(ever )?(dropped|gated|zeroed|cut|stopped)"
     r"|(gate|gating|hook)s? (never|don't|doesn't|does not|did not) (fire|zero|drop|apply|cut)"
     r"|every pass (is |gives )?(the same|identical|undropped)|undropped",
     gd_drop_layer_compared_not_assigned),
    ("check_graddrop", "gd_sign_of_the_summed_passes_restored",
     r"(?i)negative|\bsign|absolute value|\.abs|magnitudes?",
     gd_sign_of_the_summed_passes_restored),
    ("check_graddrop", "gd_answer_logit_backpropagated",
     r"(?i)answer logit|logit of the answer|answer'?s? logit|task\.metric|metric_value|logit[- ]diff"
     r"|wrong (token|logit|answer)|(task|course)'?s? metric"
     r"|(own|custom|different|hand[- ]written) metric|gradient of (the )?(answer|logit)"
     r"|not the (task )?metric",
     gd_answer_logit_backpropagated),
]
