"""Held-out set #20 of learner mistakes, written blind on 2026-12-07 (round 20).

Five mistakes per exercise, each written inline as a learner would (the chapter's solution copied
into the function and changed where the learner slips), none among the ideas already planted,
each checked against the correct solution on the chapter's own model and task (chapter 0: the
``induction`` zoo model, n=16, seed=0; chapter 1: the ``saturation`` specimen; chapter 2: the
``cancellation`` specimen; chapter 3: the ``flat_region`` specimen, steps=5; chapter 4: the
``path_saturation`` specimen, steps=5, unit and scaled steps; chapter 5: the mixture model on its
``ioi`` task, n=8, seed=0, with AtP node, AtP q/k, EAP and EAP-IG scores and k=5).
"""

from functools import partial
from itertools import groupby

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ============================================================== check_patch_heads (chapter 0)
def ph_cat_keeps_head_h_twice(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                c = corr[names[l]]
                # rebuilds the head axis by concatenation; the last slice starts at h, not h + 1
                return torch.cat([act[:, :, :h], c[:, :, h:h + 1], act[:, :, h:]], dim=2)

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_partial_binds_layer_and_head_positionally(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)

    def put(act, hook, l, h):
        act = act.clone()
        act[:, :, h] = corr[names[l]][:, :, h]
        return act

    for l in range(L):
        for h in range(H):
            # partial(put, l, h) fills the first two parameters (act, hook), not l and h
            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], partial(put, l, h))]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_zip_instead_of_nested_loops(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    # one loop over zip(layers, heads): only the pairs (0, 0), (1, 1), ...
    for l, h in zip(range(L), range(H)):
        def put(act, hook, l=l, h=h):
            act = act.clone()
            act[:, :, h] = corr[names[l]][:, :, h]
            return act

        with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
            out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_head_sliced_as_flat_d_model_block(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    dh = model.cfg.d_head
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                # treats hook_z as [batch, pos, n_heads * d_head] and slices head h's block of the last axis
                act[..., h * dh:(h + 1) * dh] = corr[names[l]][..., h * dh:(h + 1) * dh]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_patches_original_returns_clone(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                new = act.clone()
                # writes the corrupt value into act, then returns the untouched clone
                act[:, :, h] = corr[names[l]][:, :, h]
                return new

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# ============================================================== check_atp_heads (chapter 0)
def atp_gradient_taken_at_hook_result(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    # gradients requested at each head's result (d_model), multiplied with the hook_z change (d_head)
    gnames = [f"blocks.{l}.attn.hook_result" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, gnames)
    return torch.stack([((corr[n] - clean[n]) * grads[g]).sum((1, 3)).mean(0) for n, g in zip(names, gnames)])


def atp_sum_axes_not_shifted_after_stack(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # stacks first ([L, B, pos, head, d_head]) but keeps the per-layer axis numbers
    prod = torch.stack([(corr[n] - clean[n]) * grads[n] for n in names])
    return prod.sum((1, 3)).mean(0)


def atp_gradient_at_the_midpoint(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean0 = cache_activations(model, task.clean, names)
    # takes the gradient with every hook_z set halfway between clean and corrupt
    mid = [(n, lambda t, hook, n=n: t + ((clean0[n] + corr[n]) / 2 - t).detach()) for n in names]
    _, clean, grads = cache_activations_and_grads(model, task, names, names, extra_fwd_hooks=mid)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_builtin_sum_with_dim(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # Python's built-in sum, called like torch.sum
    return torch.stack([sum((corr[n] - clean[n]) * grads[n], dim=(1, 3)).mean(0) for n in names])


def atp_only_prompts_above_mean_metric(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    metric, clean, grads = cache_activations_and_grads(model, task, names, names)
    # averages only over the prompt pairs whose clean metric is above the batch mean
    keep = metric > metric.mean()
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3))[keep].mean(0) for n in names])


# ============================================================== check_qk_fix_queries (chapter 1)
def qkq_max_without_values(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()

    def softmax(s):
        # stable softmax by hand; max(dim) returns (values, indices)
        e = (s - s.max(-1, keepdim=True)).exp()
        return e / e.sum(-1, keepdim=True)

    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = softmax((torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")))
        A_new = softmax((torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")))
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_dot_T_on_4d_keys(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q = clean[f"blocks.{l}.attn.hook_q"].permute(0, 2, 1, 3)
        k = clean[f"blocks.{l}.attn.hook_k"].permute(0, 2, 1, 3)
        q_new = corr[f"blocks.{l}.attn.hook_q"].permute(0, 2, 1, 3)
        sc = attn_scale(model, l)
        # .T on a 4-d tensor reverses every axis, not the last two
        A = (q @ k.T / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (q_new @ k.T / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_multiplicative_mask_with_inf(model, task):
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
        s = torch.einsum("bthd,bshd->bhts", q, k) / sc
        s_new = torch.einsum("bthd,bshd->bhts", q_new, k) / sc
        # mask applied by arithmetic: allowed entries get 0 * -inf
        A = (s * mask + (~mask) * float("-inf")).softmax(-1)
        A_new = (s_new * mask + (~mask) * float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_plain_atp_added_as_a_correction(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    qs = [f"blocks.{l}.attn.hook_q" for l in range(L)]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats + qs)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        fix = ((A_new - A) * grads[pats[l]]).sum(-1).mean(0)
        # treats the QK fix as a correction added on top of plain AtP of the query
        atp = ((q_new - q) * grads[qs[l]]).sum(-1).mean(0).T
        out.append(atp + fix)
    return torch.stack(out)


def qkq_scale_truncated_to_int(model, task):
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
        # the score scale cast to int: sqrt(12) = 3.46 becomes 3
        sc = int(attn_scale(model, l))
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


# ============================================================== check_qk_fix_keys (chapter 1)
def qkk_pattern_ignores_its_argument(model, task):
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
            # uses the enclosing k instead of its argument
            return (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_loop_index_shadows_keys(model, task):
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
        # the key position is called k, the same name as the key tensor
        for k in range(T):
            k2 = k.clone()
            k2[:, k] = corr[f"blocks.{l}.attn.hook_k"][:, k]
            out[l, :, k] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_scale_written_without_parentheses(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        # sqrt(d_head) written d_head ** 1/2, which Python reads as (d_head ** 1) / 2
        sc = model.cfg.d_head ** 1/2

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_writes_into_original_keys(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"].clone()
        sc = attn_scale(model, l)

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            # the corrupt key is written into k, not into the copy k2
            k[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_mask_inverted_in_place(model, task):
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
            # in-place logical_not_ flips the shared mask on every call
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(mask.logical_not_(), float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# ============================================================== check_graddrop (chapter 2)
def gd_gate_negates_the_gradient(model, task):
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        # the dropped layer's gradient is reversed (-g) rather than stopped
        return -g if drop["layer"] == l else g

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
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_drop_name_rebound_to_an_int(model, task):
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
            # rebinds the name drop to the layer number instead of setting drop["layer"]
            drop = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_metric_taken_as_item(model, task):
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
        # .item() turns the metric into a Python float
        metric = task.metric_value(model(task.clean)).item()
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_gate_list_appended_not_extended(model, task):
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
    # append adds the list of gate hooks as one element instead of extending bwd with them
    bwd.append([(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L) for w in ("attn", "mlp")])
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_tensor_truthiness_in_or(model, task):
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
            # a missing gradient defaulted with `or`, which asks a tensor for its truth value
            per_pass.append(torch.stack([((corr[n] - acts[n]) * (grads.get(n) or torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


# ============================================================== check_eap (chapter 3)
def eap_mask_applied_with_matmul(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    # @ (matrix product) where the elementwise * belongs
    return scores @ graph.edge_mask.float()


def eap_deltas_cast_to_float64(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    # the deltas cast to float64 "for precision"; the gradients stay float32
    deltas = (graph.stack_sources(corr) - graph.stack_sources(clean)).double()
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_broadcast_product_summed_on_wrong_axes(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    dest = graph.stack_dest_grads(grads)
    # broadcast product [src, dst, batch, pos, d_model], summed over axes 1-3 (dst, batch, pos) instead of 2-4
    scores = (deltas[:, None] * dest[None]).sum((1, 2, 3)) / task.batch_size
    return scores * graph.edge_mask


def eap_edge_mask_called_like_a_method(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    # edge_mask is a property (a tensor), called with ()
    return scores * graph.edge_mask()


def eap_per_example_scores_masked_before_the_mean(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    per_ex = torch.einsum("sbpd,tbpd->stb", deltas, graph.stack_dest_grads(grads))
    # the [src, dst] mask multiplied into the [src, dst, batch] scores: the mask lines up with (dst, batch)
    return (per_ex * graph.edge_mask).mean(-1)


# ============================================================== check_eap_ig (chapter 3)
def eapig_misplaced_parenthesis_in_point(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        # parenthesis around the wrong product: k is divided by steps * (e_c - e_n)
        target = e_n + k / (steps * (e_c - e_n))
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_hook_built_once_before_the_loop(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    target = e_n + (1 / steps) * (e_c - e_n)
    # the hook is made once, before the loop; its default binds the first point
    hook = lambda t, hook, target=target: t + (target - t).detach()
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_destination_names_as_a_generator(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    # a generator expression: used up by the first gradient run
    dest = (n for n in graph.dest_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], dest, extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_divided_by_the_path_length(model, task, steps):
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
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    # the averaged gradient also divided by each example's embedding distance ||e_clean - e_corrupt||
    length = (e_c - e_n).flatten(1).norm(dim=1).clamp_min(1e-12).view(1, -1, 1, 1)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps / length) / task.batch_size
    return scores * graph.edge_mask


def eapig_path_starts_halfway(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    # baseline taken as the mean of the clean and corrupt embeddings
    base = (e_c + e_n) / 2
    total = 0.0
    for k in range(1, steps + 1):
        target = base + (k / steps) * (e_c - base)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# ============================================================== check_gradpath (chapter 4)
def gp_clamp_max_for_clamp_min(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            # clamp_max where the guard against a zero norm needs clamp_min
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_max(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_step_sizes_given_one_example(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    # step_sizes given one example's [pos, d_model] embeddings: it returns one length per position
    eta = step_sizes(step_size, e_c[0], e_n[0], steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_unit_step_as_python_float(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    # own step lengths: a Python float for unit steps, a tensor for scaled ones, then .view on both
    eta = 1.0 if step_size == "unit" else (e_c - e_n).flatten(1).norm(dim=1) / steps
    eta = eta.view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_points_written_one_slot_early(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma = e_c.clone()
    points = torch.zeros(steps + 1, *e_c.shape)
    points[0] = e_c
    with frozen_params(model), torch.enable_grad():
        for i in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            # step i's point stored at index i instead of i + 1
            points[i] = gamma
    return points


def gp_multiplied_by_the_gradient_norm(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            # * where / belongs
            gamma = (leaf - eta * g * g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# ============================================================== check_verify_top (chapter 5)
def _kind(name: str) -> str:
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def vt_groupby_without_sorting(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    effects: dict[str, float] = {}
    # itertools.groupby groups consecutive runs only; the dict keeps the last run of each kind
    groups = {what: list(group) for what, group in groupby(names, key=_kind)}
    for what, group in groups.items():
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_with_values_on_the_whole_estimate(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    # with_values on the full estimate (every name), given only the k verified values
    return scores.with_values(torch.tensor([effects[n] for n in names]), method="activation patching")


def vt_suffix_sliced_with_the_dot(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        # name[name.index("."):] keeps the dot: ".q", ".k"
        return name[name.index("."):] if "." in name else "head"

    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_names_reassigned_to_the_group(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(_kind, names)):
        # the group is stored back into `names`
        names = [n for n in names if _kind(n) == what]
        res = wb.patch_edges(model, task, edges=names) if what == "edge" else wb.patch_nodes(model, task, what, nodes=names)
        effects.update({n: float(res[n]) for n in names})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_scores_arguments_swapped(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    # values first, names second
    return wb.Scores(torch.tensor([effects[n] for n in names]), names, method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_patch_heads", "ph_cat_keeps_head_h_twice",
     r"(?i)(concat|torch\.cat|slice|slic).*(h\s*:\s*(instead|rather|not)|twice|duplicat|overlap|one head too many|extra head|h\s*\+\s*1\s*:)|(head|heads).*(axis|dim).*(grow|n_heads\s*\+\s*1|too (long|many)|extra)",
     ph_cat_keeps_head_h_twice),
    ("check_patch_heads", "ph_partial_binds_layer_and_head_positionally",
     r"(?i)partial.*(positional|first (two )?param|act.*hook|bind|keyword)|(keyword|named) arguments? (for|to) partial|partial\(.*l\s*=\s*l",
     ph_partial_binds_layer_and_head_positionally),
    ("check_patch_heads", "ph_zip_instead_of_nested_loops",
     r"(?i)zip.*(diagonal|pair|nested|every (head|combination)|product)|(only|just) (the )?diagonal|nested loops?.*(instead of|not) zip|itertools\.product|(only|just) (heads? )?\(?l\s*,\s*l\)?|off-diagonal .*(zero|never|not patched)",
     ph_zip_instead_of_nested_loops),
    ("check_patch_heads", "ph_head_sliced_as_flat_d_model_block",
     r"(?i)(h\s*\*\s*d_head|flat(tened)?|concatenat|n_heads\s*\*\s*d_head|block of (the )?(last|d_head)).*(slice|axis|dim|head)|(slic|index)\w* (the )?(last|d_head) (axis|dim).*(instead|not|rather).*head (axis|dim)|hook_z is (4|four)-?d|\[batch, pos, head, d_head\]",
     ph_head_sliced_as_flat_d_model_block),
    ("check_patch_heads", "ph_patches_original_returns_clone",
     r"(?i)(return\w*|hand\w* back).*(clone|copy).*(unpatched|untouched|unmodified|not the patched|without the patch|original)|(patch|writ|edit|modif)\w* .*(original|act\b|input).*(return|but).*(clone|copy)|(clone|copy) .*(never|not) (patched|written|modified)",
     ph_patches_original_returns_clone),

    ("check_atp_heads", "atp_gradient_taken_at_hook_result",
     r"(?i)(grad\w*).*(hook_result|result|d_model).*(hook_z|d_head)|hook_result.*(gradient|grad)|(gradient|grad\w*) (and|vs\.?|versus) (activation|delta|change).*(different|same|mismatch\w*) (hook|shape|point)|(same hook|one hook) for (the )?(gradient|delta)",
     atp_gradient_taken_at_hook_result),
    ("check_atp_heads", "atp_sum_axes_not_shifted_after_stack",
     r"(?i)(stack|layer axis|leading axis|new axis|extra axis).*(shift|renumber|axis numbers?|axes? (move|numbers?)|dim(ension)?s? (move|numbers?|off by one)|\(2,\s*4\)|\+\s*1)|(sum|reduc|mean)\w* (over )?(the )?wrong ax(is|es) after (stack|torch\.stack)",
     atp_sum_axes_not_shifted_after_stack),
    ("check_atp_heads", "atp_gradient_at_the_midpoint",
     r"(?i)(gradient|derivative|grad)\w* (taken |evaluated |computed )?(at|from) (the )?(mid-?point|halfway|half-?way|average of clean and corrupt|mean of clean and corrupt|\(clean \+ corrupt\) ?/ ?2)|mid-?point (gradient|rule|activation)|(gradient|grad)\w* .*(clean point|clean run|clean activations?)( only)?.*(not|instead).*(mid|halfway|patched)",
     atp_gradient_at_the_midpoint),
    ("check_atp_heads", "atp_builtin_sum_with_dim",
     r"(?i)built-?in\s+sum|python'?s? sum|sum\(\) takes no keyword|\bsum\(.*\bdim\s*=.*(torch\.sum|\.sum\()|(use|call) (torch\.sum|\.sum\(|tensor\.sum)",
     atp_builtin_sum_with_dim),
    ("check_atp_heads", "atp_only_prompts_above_mean_metric",
     r"(?i)(filter|select|drop|discard|keep|exclud|subset|only)\w* .*(prompt|example|pair)s? .*(metric|above|mean|threshold|correct|better)|(average|mean)\w* over (only )?(a )?(subset|some|part) of (the )?(prompt|example|pair)s|(every|all) (prompt )?(pair|example)s? (must|should) (count|be averaged|be included)",
     atp_only_prompts_above_mean_metric),

    ("check_qk_fix_queries", "qkq_max_without_values",
     r"(?i)\.max\(.*(returns?|gives?) .*(tuple|values.*indices|named ?tuple)|\.values|(values,? ?indices)|max\(-?1.*\.values|namedtuple|torch\.return_types",
     qkq_max_without_values),
    ("check_qk_fix_queries", "qkq_dot_T_on_4d_keys",
     r"(?i)\.T\b.*(4-?d|four|every ax|all (the )?ax|revers|more than 2|batch)|\.mT|transpose\(-1,\s*-2\)|transpose(s)? (only )?the last two|(revers\w*) (every|all) (the )?(axes|dims|dimensions)",
     qkq_dot_T_on_4d_keys),
    ("check_qk_fix_queries", "qkq_multiplicative_mask_with_inf",
     r"(?i)0\s*(\*|x|times)\s*-?inf|nan.*(mask|multipl|inf)|(mask|inf)\w*.*(multipl|arithmetic|product).*(nan|inf)|multiplicative mask|masked_fill .*(instead|rather|not).*(multipl|arithmetic)|(multipl|arithmetic)\w* .*mask.*(instead|rather|not).*masked_fill",
     qkq_multiplicative_mask_with_inf),
    ("check_qk_fix_queries", "qkq_plain_atp_added_as_a_correction",
     r"(?i)(add|adds|added|plus|sum|summ)\w* .*(plain |ordinary |vanilla )?atp.*(query|hook_q|q\b|on top|correction)|atp\s*\+\s*(qk|fix)|(qk|fix) .*\+\s*atp|(correction|on top of|in addition to) (plain |the )?atp|(replac\w*|instead of),? not add\w*.*atp|double[- ]count",
     qkq_plain_atp_added_as_a_correction),
    ("check_qk_fix_queries", "qkq_scale_truncated_to_int",
     r"(?i)\bint\(|integer|truncat|round(ed|s|ing)? (down )?(the )?scale|(scale|sqrt\(d_head\)|attn_scale)\w* .*(3 instead of 3\.46|cast|floor|whole number|rounded)|(keep|use) the (exact |float(ing[- ]point)? )?(scale|attn_scale)",
     qkq_scale_truncated_to_int),

    ("check_qk_fix_keys", "qkk_pattern_ignores_its_argument",
     r"(?i)(ignor|never uses?|doesn'?t use|does not use|unused)\w* (its |the )?(argument|parameter|keys\b|k2)|(closure|enclos|outer)\w* .*\bk\b.*(instead|not|rather).*(keys|argument|parameter|k2)|uses? (the )?(clean|outer|enclosing) k (instead|not|rather)|pattern\(k2\) (equals|==|is the same as) (pattern\(k\)|A)",
     qkk_pattern_ignores_its_argument),
    ("check_qk_fix_keys", "qkk_loop_index_shadows_keys",
     r"(?i)shadow\w*|(loop|index) (variable|name) .*(same name|overwrit|replac|clobber|reus)\w*.*(key|\bk\b)|(rename|different name for) (the )?(loop|index|key position)|\bk\b (is|becomes|was) (now )?an? (int|integer)|'int' object has no attribute 'clone'",
     qkk_loop_index_shadows_keys),
    ("check_qk_fix_keys", "qkk_scale_written_without_parentheses",
     r"(?i)precedence|parenthes[ie]s|\*\*\s*1\s*/\s*2|\*\*\s*\(1\s*/\s*2\)|\*\*\s*0\.5|d_head\s*/\s*2|half (of )?d_head|(scale|divisor)\w* .*(6(\.0)? instead of|d_head/2|not sqrt)|(scale|divide)\w* by d_head ?/ ?2",
     qkk_scale_written_without_parentheses),
    ("check_qk_fix_keys", "qkk_writes_into_original_keys",
     r"(?i)(writ|assign|patch|put)\w* .*(into|to|in) (the )?(original|clean|k\b|keys? tensor)\w*.*(not|instead|rather).*(k2|copy|clone)|(k2|copy|clone) .*(never|not) (patched|written|modified|changed)|k\[:, ?s\] ?=|(wrong|other) variable.*(k2|k\b)|cumulat\w*|(earlier|previous) keys? .*(patched|stay|remain|accumulat)",
     qkk_writes_into_original_keys),
    ("check_qk_fix_keys", "qkk_mask_inverted_in_place",
     r"(?i)in[- ]place.*(logical_not|not_|invert|negat|flip|mask)|logical_not_|(mask|it) (is )?(flip|invert|negat|toggl)\w* (on )?(every|each) call|(shared|the) mask (is )?(modified|changed|mutated|overwritten)|~mask|logical_not\(\)? (not|instead of) logical_not_",
     qkk_mask_inverted_in_place),

    ("check_graddrop", "gd_gate_negates_the_gradient",
     r"(?i)(negat|revers|flip|invert)\w* (the )?(gradient|sign)|-g\b|(gate|dropped layer|gating)\w* .*(negat|revers|minus|-g|sign)|(stop|zero)\w* .*(not|instead of|rather than) (negat|revers|flip)|(negat|revers|flip)\w* .*(instead of|not|rather than) (zero|stop)|gradient reversal",
     gd_gate_negates_the_gradient),
    ("check_graddrop", "gd_drop_name_rebound_to_an_int",
     r"(?i)(rebind|rebound|re-?bind|reassign|assign|overwr|replac)\w* .*\bdrop\b.*(int|number|layer|instead of|dict)|drop\[.layer.\]\s*=|drop\s*=\s*l\b|'int' object is not subscriptable|(mutat|updat|set)\w* the dict(ionary)?",
     gd_drop_name_rebound_to_an_int),
    ("check_graddrop", "gd_metric_taken_as_item",
     r"(?i)\.item\(\)|(python )?float.*(no|has no|cannot|can'?t) (attribute )?['\"]?backward|(metric|loss) (is|was|became) (a )?(python )?(float|number|scalar)|(keep|keeps) the (metric|loss) (as )?a tensor|detach\w* (from|the) (graph|metric)",
     gd_metric_taken_as_item),
    ("check_graddrop", "gd_gate_list_appended_not_extended",
     r"(?i)\bappend\w*.*(extend|\+=|one element|nested|list of (gate )?hooks|single element)|(extend|\+=) .*(instead of|not|rather than) append|nested list|list (inside|within|in) (a|the) list|(too many|not enough) values to unpack|(each|every) (hook|entry|element) (must|should) be a \(name, fn\) pair",
     gd_gate_list_appended_not_extended),
    ("check_graddrop", "gd_tensor_truthiness_in_or",
     r"(?i)\bor\b.*(tensor|truth|bool|ambiguous)|(truth|boolean) value of (a )?tensor|ambiguous|(tensor|grad\w*) .*(in|as) (a )?(boolean|truth|bool) (context|test)|grads\.get\(n,|default (argument|value) of (dict\.)?get|is None",
     gd_tensor_truthiness_in_or),

    ("check_eap", "eap_mask_applied_with_matmul",
     r"(?i)@|matmul|matrix (product|multipl)|mm\b|element-?wise (product|multipl)|(multiply|apply) the mask element|\* (instead of|not|rather than) @|@ (instead of|not|rather than) \*",
     eap_mask_applied_with_matmul),
    ("check_eap", "eap_deltas_cast_to_float64",
     r"(?i)float64|double|dtype\w* .*(mismatch|differ|same|match)|(mismatch|different|mixed)\w* (d)?types?|expected (scalar type|both operands)|(same|one) (dtype|precision) for both",
     eap_deltas_cast_to_float64),
    ("check_eap", "eap_broadcast_product_summed_on_wrong_axes",
     r"(?i)(sum|summ|reduc)\w* .*(wrong|destination|dst|off[- ]by[- ]one) ax(is|es)|ax(is|es) \(?1,\s*2,\s*3\)?|\(2,\s*3,\s*4\)|(broadcast|inserted|new|extra) ax(is|es).*(shift|renumber|off|wrong|sum)|sum(s|med)? over (the )?destinations?",
     eap_broadcast_product_summed_on_wrong_axes),
    ("check_eap", "eap_edge_mask_called_like_a_method",
     r"(?i)edge_mask\(\)|(edge_mask|mask) is (a |an )?(property|attribute|tensor)|(not|isn'?t) callable|(drop|remove) the (parenthes[ie]s|\(\))|call\w* (a|the) (tensor|property|mask)",
     eap_edge_mask_called_like_a_method),
    ("check_eap", "eap_per_example_scores_masked_before_the_mean",
     r"(?i)mask\w* .*(before|prior to) (the )?(batch )?(mean|average)|(mean|average)\w* .*(before|first).*(mask)|(mask|\[src, ?dst\]).*(line[sd]? up|align|broadcast)\w* .*(batch|dst|destination|trailing|last)|broadcast\w* .*(mask|edge_mask).*(wrong|batch|trailing|last) ax|mask (against|with|over) the (batch|wrong) ax",
     eap_per_example_scores_masked_before_the_mean),

    ("check_eap_ig", "eapig_misplaced_parenthesis_in_point",
     r"(?i)parenthes[ie]s|bracket|k\s*/\s*\(steps\s*\*|divid\w* by (steps \* )?\(?e_c(lean)? - e_n|divid\w* by (the )?(embedding )?difference|(inf|nan|non-?finite)\w* .*(point|target|interpolat|division by zero|divid)|division by zero",
     eapig_misplaced_parenthesis_in_point),
    ("check_eap_ig", "eapig_hook_built_once_before_the_loop",
     r"(?i)(hook|lambda|closure)\w* .*(built|created|defined|made) (only )?once|(hook|lambda)\w* .*(outside|before) the (point |k |alpha )?loop|(every|each|all) (point|step|run)s? .*(same|first) (point|target|alpha)|(stale|first) target|default (argument|binding) .*(first|once|stale)|(re)?(build|create|define) the hook (inside|in|for each|every)",
     eapig_hook_built_once_before_the_loop),
    ("check_eap_ig", "eapig_destination_names_as_a_generator",
     r"(?i)generator|exhaust\w*|(used|consumed) (up )?(by|after|on) (the )?first|(list|tuple)\(.*(instead|not)|iterat\w* (only )?once|(empty|no) (destination|gradient|hook|name)s? (on|after|from) the (second|later|next)",
     eapig_destination_names_as_a_generator),
    ("check_eap_ig", "eapig_divided_by_the_path_length",
     r"(?i)(divid|normali[sz]|scal)\w* .*(path|embedding|straight[- ]line|segment|input) (length|distance|norm)|\|\|?e_c(lean)?\s*-\s*e_(n|corrupt)\|\|?|(length|norm|distance) of (the )?(path|e_clean - e_corrupt|embedding difference)|no (division|normali[sz]ation) by (the )?(path|distance|length|norm)",
     eapig_divided_by_the_path_length),
    ("check_eap_ig", "eapig_path_starts_halfway",
     r"(?i)(baseline|start\w*|path|endpoint|begin\w*)\w* .*(mid-?point|halfway|half-?way|(mean|average) of (the )?(clean and corrupt|two|both) (embedding|endpoint|input)s?|\(e_c(lean)? \+ e_(n|corrupt)\) ?/ ?2)|(should|must) (start|begin) (at|from) (the )?corrupt|corrupt (embedding|input) (as|is) the (baseline|start)",
     eapig_path_starts_halfway),

    ("check_gradpath", "gp_clamp_max_for_clamp_min",
     r"(?i)clamp_max|clamp\(max|clamp_min .*(instead|not|rather)|(instead of|not|rather than) clamp_min|(norm|denominator)\w* (clamped|capped|limited) (to|at) (at most )?1e-12|(huge|enormous|exploding|giant) (step|point)s?",
     gp_clamp_max_for_clamp_min),
    ("check_gradpath", "gp_step_sizes_given_one_example",
     r"(?i)(one|single|first) example|e_c(lean)?\[0\]|(batch|example) (axis|dim)\w* .*(drop|remov|lost|missing|index)|(per|one) (step )?length per position|step_sizes\w* .*(whole|full|batched|\[b,|batch)|\[b, ?p(os)?, ?d(_model)?\]|one (step )?length per example",
     gp_step_sizes_given_one_example),
    ("check_gradpath", "gp_unit_step_as_python_float",
     r"(?i)(python |plain )?float.*(has no|no) (attribute )?['\"]?view|'float' object|(unit|1\.0).*(float|not a tensor|scalar).*(view|reshape|tensor)|(use|call) step_sizes|torch\.ones\(b|(eta|step length) (must|should) be a tensor",
     gp_unit_step_as_python_float),
    ("check_gradpath", "gp_points_written_one_slot_early",
     r"(?i)(index|slot|position|row)\w* (i|k) (instead of|not|rather than) (i|k) ?\+ ?1|points\[i\s*\+\s*1\]|off[- ]by[- ]one .*(index|slot|point|store)|(stored|written|put|saved)\w* (at|in|into) (the )?(previous|wrong|earlier) (index|slot|row)|(start|first) point overwritten|(last|final) (point|slot) (left|stays?|remains?) (at )?e_clean",
     gp_points_written_one_slot_early),
    ("check_gradpath", "gp_multiplied_by_the_gradient_norm",
     r"(?i)multipl\w* by (the |its |the gradient'?s? )?(norm|length|\|\|g\|\|)|\*\s*(the )?norm.*(instead|not|rather|/)|(instead of|not|rather than) divid\w* by (the |its )?(gradient'?s? )?norm|divid\w* by (the |its )?(gradient'?s? )?norm.*(not|instead|rather).*multipl|/ where \* |\* where /",
     gp_multiplied_by_the_gradient_norm),

    ("check_verify_top", "vt_groupby_without_sorting",
     r"(?i)groupby|group\w* (only )?(consecutive|adjacent|runs)|(sort|order)\w* (by kind )?before group|(later|last|second) (run|group) (of the same kind )?overwrit|(dict|dictionary) .*(overwrit|keeps (only )?the last)|(some|a) names? (never|not) (patched|verified)",
     vt_groupby_without_sorting),
    ("check_verify_top", "vt_with_values_on_the_whole_estimate",
     r"(?i)with_values .*(whole|full|all|every|entire|unselected|select)|(select|subset|restrict)\w* (the )?(scores|estimate|names)? ?(to|first|before)|(\d+|k) names but (\d+|k) values|names but .*values|length mismatch|(whole|full|entire) estimate",
     vt_with_values_on_the_whole_estimate),
    ("check_verify_top", "vt_suffix_sliced_with_the_dot",
     r"(?i)(keeps?|includ\w*|with) the (leading )?dot|['\"]\.q['\"]|['\"]\.k['\"]|index\(['\"]\.['\"]\)\s*\+\s*1|(slice|slic\w*) .*(dot|\.|off by one)|rsplit|after the dot|what\s*=\s*['\"]\.",
     vt_suffix_sliced_with_the_dot),
    ("check_verify_top", "vt_names_reassigned_to_the_group",
     r"(?i)(reassign|overwrit|rebind|replac|reus|shadow|clobber)\w* .*\bnames\b|\bnames\b .*(reassign|overwrit|rebound|replac|reus|shadow|clobber)|(separate|different|new) variable (for|name) (the )?group|(only|just) (the )?first (kind|group)'?s? names",
     vt_names_reassigned_to_the_group),
    ("check_verify_top", "vt_scores_arguments_swapped",
     r"(?i)(argument|parameter)s? (order|swapped|reversed|in the wrong order)|(names|values) (first|before),? (then )?(values|names)|scores\((names|values)\s*,|(swap|revers)\w* .*(names|values).*(values|names)|names (come|go|must come) first",
     vt_scores_arguments_swapped),
]
