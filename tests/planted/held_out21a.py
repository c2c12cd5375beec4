"""Held-out set #21, written blind on 2026-12-07 (round 21): part a.

Five mistakes per exercise written inline (check_patch_heads, check_atp_heads,
check_qk_fix_queries, check_qk_fix_keys, check_graddrop): each function is the chapter's
solution copied and changed where the learner slips. None among the ideas already planted.
Each checked against the correct solution on the chapter's own model and task (chapter 0: the
induction model, zoo.load("induction", n=16, seed=0); chapter 1: the saturation specimen;
chapter 2: the cancellation specimen): it crashes, returns a wrong shape, or differs from the
correct result by at least 2 % of its largest magnitude.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_patch_heads
def ph_copies_built_with_repeat_interleave(model, task: wb.Task) -> torch.Tensor:
    L, H, B = model.cfg.n_layers, model.cfg.n_heads, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        def put(act, hook, l=l):
            act = act.clone()
            for h in range(H):
                act[h * B:(h + 1) * B, :, h] = corr[names[l]][:, :, h]
            return act

        with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
            # one copy of the batch per head, every head of the layer in one run (copies interleaved)
            logits = model(task.clean.repeat_interleave(H, dim=0))
        out[l] = task.per_example(logits).view(H, B).mean(1) - base
    return out


def ph_prompts_cut_like_lm_inputs(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    # inputs without the last token, as when training a language model
    clean_in, corrupt_in = task.clean[:, :-1], task.corrupt[:, :-1]
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, corrupt_in, names)
    with torch.no_grad():
        base = task.metric_value(model(clean_in))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(clean_in)) - base
    return out


def ph_baseline_is_the_mean_patched_run(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean))
    # baseline: the average over all the patched runs
    return out - out.mean()


def ph_clone_not_called(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                # clone written without the call
                act = act.clone
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_zeros_like_instead_of_clone(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                # a fresh tensor of act's shape instead of a copy of act
                new = torch.zeros_like(act)
                new[:, :, h] = corr[names[l]][:, :, h]
                return new

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# ----------------------------------------------------------------------------- check_atp_heads
def atp_names_from_list_sort(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    # keep the layers in order (list.sort sorts in place and returns None)
    names = names.sort()
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_heads_sorted_within_each_layer(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # each layer's estimates listed from the largest down
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0).sort(descending=True).values
                        for n in names])


def atp_under_inference_mode(model, task: wb.Task) -> torch.Tensor:
    # the whole function under inference mode, for speed
    with torch.inference_mode():
        names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
        _, corr = cache_activations(model, task.corrupt, names)
        _, clean, grads = cache_activations_and_grads(model, task, names, names)
        return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_token_zero_masked_as_padding(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    # padding mask built from token id 0
    pad_mask = (task.corrupt != 0).long()
    _, corr = cache_activations(model, task.corrupt, names, attention_mask=pad_mask)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_einsum_without_an_output_spec(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # dot product over positions and d_head written as an einsum with no "->" part
    return torch.stack([torch.einsum("bphd,bphd", corr[n] - clean[n], grads[n]) / task.batch_size for n in names])


# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_new_queries_rescaled_to_the_clean_norm(model, task: wb.Task) -> torch.Tensor:
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
        # keep each query's length, take only the corrupt query's direction
        q_new = q_new / q_new.norm(dim=-1, keepdim=True) * q.norm(dim=-1, keepdim=True)
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_pattern_change_clamped_at_zero(model, task: wb.Task) -> torch.Tensor:
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
        # attention weights cannot be negative: clamp the change at 0
        dA = (A_new - A).clamp(min=0)
        out.append((dA * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_sigmoid_instead_of_softmax(model, task: wb.Task) -> torch.Tensor:
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
        # probabilities from a sigmoid of each score
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).sigmoid()
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).sigmoid()
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_mask_inverted_with_one_minus(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    # future positions as 1 - mask
    future = 1 - mask
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(future, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(future, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_clean_pattern_read_from_hook_attn_scores(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    scores = [f"blocks.{l}.attn.hook_attn_scores" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk + scores, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        # the clean pattern taken from the model's cache
        A = clean[scores[l]]
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_softmax_applied_twice(model, task: wb.Task) -> torch.Tensor:
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

        # softmax taken again on pattern()'s output
        A = pattern(k).softmax(-1)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2).softmax(-1) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_position_test_broadcast_on_the_last_axis(model, task: wb.Task) -> torch.Tensor:
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
            # the corrupt key where the position is s, the clean key elsewhere
            at_s = torch.arange(T) == s
            k2 = torch.where(at_s, corr[f"blocks.{l}.attn.hook_k"], k)
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_patched_column_written_after_the_mask(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        k_corr = corr[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        scores = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf"))
        A = scores.softmax(-1)
        for s in range(T):
            # only column s changes: overwrite it in the masked scores
            s2 = scores.clone()
            s2[..., s] = torch.einsum("bthd,bhd->bht", q, k_corr[:, s]) / sc
            out[l, :, s] = ((s2.softmax(-1) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_rows_sliced_but_not_the_mask(model, task: wb.Task) -> torch.Tensor:
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
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            # only rows t >= s change: recompute those rows alone (mask rows taken from the top)
            rows = (torch.einsum("bthd,bshd->bhts", q[:, s:], k2) / sc).masked_fill(~mask[: T - s], float("-inf"))
            out[l, :, s] = ((rows.softmax(-1) - A[:, :, s:]) * grads[pats[l]][:, :, s:]).sum((-1, -2)).mean(0)
    return out


def qkk_trailing_comma_makes_a_tuple(model, task: wb.Task) -> torch.Tensor:
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
            # a stray comma after the clone
            k2 = k.clone(),
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# ----------------------------------------------------------------------------- check_graddrop
def gd_missing_comma_in_the_write_names(model, task: wb.Task) -> torch.Tensor:
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
    # the two writes listed without a comma between them
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L) for w in ("attn" "mlp")]
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


def gd_gate_index_from_enumerate(model, task: wb.Task) -> torch.Tensor:
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
    writes = [f"blocks.{l}.hook_{w}_out" for l in range(L) for w in ("attn", "mlp")]
    # each gate numbered by its place in the list of writes
    bwd += [(w, lambda g, hook, l=i: gate(g, hook, l)) for i, w in enumerate(writes)]
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


def gd_gradients_stacked_in_arrival_order(model, task: wb.Task) -> torch.Tensor:
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
            delta = torch.stack([corr[n] - acts[n] for n in names], 1)  # [B, L, pos, H, d_head]
            # the gradients in the order the dict holds them
            g = torch.stack(list(grads.values()), 1)
            per_pass.append((delta * g).sum((2, 4)))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_gate_returns_a_scalar_zero(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        # a zero gradient written as a single number
        return torch.tensor(0.0) if drop["layer"] == l else g

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


def gd_kept_gradients_rescaled_like_dropout(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        # the writes that are kept scaled up by 1 / (1 - 1/L), as dropout does
        return torch.zeros_like(g) if drop["layer"] == l else g * L / (L - 1)

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


MISTAKES = [
    ("check_patch_heads", "ph_copies_built_with_repeat_interleave",
     r"(?i)repeat_interleave|interleav|tile[sd]? .{0,20}(the )?(batch|copies)|copies of the batch.{0,40}(block|contiguous|one after (the|an)other)",
     ph_copies_built_with_repeat_interleave),
    ("check_patch_heads", "ph_prompts_cut_like_lm_inputs",
     r"(?i)(drop|trunc|cut|remov|slic|omit|strip|shorten)\w*.{0,50}(last|final) (token|position)|\[:, ?:-1\]|(prompts?|inputs?|tokens?) (are |is )?(too short|one (token )?short|shifted)|language.model(ing)? (training|inputs?)|teacher.forc",
     ph_prompts_cut_like_lm_inputs),
    ("check_patch_heads", "ph_baseline_is_the_mean_patched_run",
     r"(?i)(mean|average) (of |over )(all )?(the )?(patched (runs?|metrics?|values?)|effects|heads' (effects|metrics))|cent(er|re)d|baseline.{0,60}(not|instead of|rather than|should be).{0,30}(clean|M\(clean\)|unpatched)|subtract\w* (the )?(mean|average)",
     ph_baseline_is_the_mean_patched_run),
    ("check_patch_heads", "ph_clone_not_called",
     r"(?i)clone\b.{0,40}(not called|never called|without (the )?(call|paren)|missing (the )?(\(\)|paren|call))|(method|function) (object |itself ).{0,40}(instead of|not) (a |the )?(tensor|copy)|builtin_function_or_method|does not support item assignment",
     ph_clone_not_called),
    ("check_patch_heads", "ph_zeros_like_instead_of_clone",
     r"(?i)zeros_like|(other|remaining|rest of the) heads?.{0,50}(zero|ablat|wiped|erased|knocked out|set to 0)|(zero|ablat)\w*.{0,40}(the )?(other|remaining|every other|all other) heads?|fresh (zero )?tensor.{0,40}(instead of|not) (a )?(copy|clone)",
     ph_zeros_like_instead_of_clone),
    ("check_atp_heads", "atp_names_from_list_sort",
     r"(?i)\.sort\(\).{0,60}(returns? None|in.place)|list\.sort|sort\(\) returns|names (is|was|became|are) None|NoneType.{0,40}(not )?iterable|sorted\(",
     atp_names_from_list_sort),
    ("check_atp_heads", "atp_heads_sorted_within_each_layer",
     r"(?i)sort(ed|s|ing)?\b.{0,60}(head|layer|row|descending|order)|head order.{0,30}(lost|scrambl|permut|changed)|(permut|reorder|rearrang)\w*.{0,30}heads|heads? (are |is )?(out of|not in) (their )?order",
     atp_heads_sorted_within_each_layer),
    ("check_atp_heads", "atp_under_inference_mode",
     r"(?i)inference.?mode|autograd (is |was )?(disabled|off)|does not require grad|(gradients?|backward).{0,40}(disabled|cannot|impossible|not (be )?(computed|possible))",
     atp_under_inference_mode),
    ("check_atp_heads", "atp_token_zero_masked_as_padding",
     r"(?i)(attention|padding|pad) mask|token (id )?0.{0,40}(pad|mask)|(pad|mask)\w*.{0,40}token (id )?0|BOS.{0,40}(mask|pad)|mask\w* (out )?(the )?(first|BOS) (token|position)",
     atp_token_zero_masked_as_padding),
    ("check_atp_heads", "atp_einsum_without_an_output_spec",
     r"(?i)einsum.{0,60}(output|->|implicit|subscript|every (axis|index)|scalar)|(no|missing) (output|->).{0,30}einsum|(summed|sums|reduced) over (every|all) (axes|dimensions|indices)|one (number|value|scalar) per layer",
     atp_einsum_without_an_output_spec),
    ("check_qk_fix_queries", "qkq_new_queries_rescaled_to_the_clean_norm",
     r"(?i)(rescal|renormali[sz])\w*.{0,40}(corrupt|new|patched) quer|(corrupt|new|patched) quer\w*.{0,40}(rescal|renormali[sz]|(clean|original) (norm|length|magnitude))|(norm|length|magnitude) of the (clean|original) quer|quer\w* (norm|length|magnitude) (changed|altered|replaced|kept)",
     qkq_new_queries_rescaled_to_the_clean_norm),
    ("check_qk_fix_queries", "qkq_pattern_change_clamped_at_zero",
     r"(?i)clamp|relu|negative (pattern |attention )?(changes?|differences?|parts?|entries|values).{0,40}(dropped|discarded|zeroed|removed|ignored|cut)|only (the )?(positive|increases?|gains?)|(pattern|attention) (change|difference).{0,30}(non-?negative|positive only)",
     qkq_pattern_change_clamped_at_zero),
    ("check_qk_fix_queries", "qkq_sigmoid_instead_of_softmax",
     r"(?i)sigmoid|(elementwise|element-wise|per.entry|independent) (squash|probabilit|normali)|rows? (do not|don't|does not|doesn't|no longer) sum to (1|one)|without (a |the )?softmax|softmax (is )?(missing|never applied|replaced by)",
     qkq_sigmoid_instead_of_softmax),
    ("check_qk_fix_queries", "qkq_mask_inverted_with_one_minus",
     r"(?i)1 ?- ?mask|one minus (the )?mask|(subtract\w*|minus|the - operator).{0,30}bool|bool(ean)? (tensor|mask).{0,50}(subtract|minus|- operator|not supported)|(invert|negat)\w* (a |the )?(bool(ean)? )?mask.{0,40}(~|logical_not)",
     qkq_mask_inverted_with_one_minus),
    ("check_qk_fix_queries", "qkq_clean_pattern_read_from_hook_attn_scores",
     r"(?i)(clean|reference|cached|old) (pattern|A)\b.{0,60}(hook_attn_scores|attn_scores|scores|pre.?softmax|logits)|(attention )?scores (used|taken|read) as (the )?(clean |reference )?(pattern|probabilit)|(clean|reference) pattern (is|was) not (a )?(probabilit|softmax)|hook_attn_scores (used|taken|read) as",
     qkq_clean_pattern_read_from_hook_attn_scores),
    ("check_qk_fix_keys", "qkk_softmax_applied_twice",
     r"(?i)(softmax|normali[sz]\w*).{0,40}(twice|two times|again|double|second time|re-?applied)|double softmax|softmax of (the |a )?(softmax|pattern|probabilit)",
     qkk_softmax_applied_twice),
    ("check_qk_fix_keys", "qkk_position_test_broadcast_on_the_last_axis",
     r"(?i)broadcast\w*.{0,60}(last|trailing|d_head|wrong) (axis|dim)|arange.{0,60}(axis|dim|shape|broadcast)|(position|key) (mask|test|selector).{0,50}(d_head|last (axis|dim)|wrong (axis|dim)|not (the )?position)|\[:, None, None\]|unsqueeze",
     qkk_position_test_broadcast_on_the_last_axis),
    ("check_qk_fix_keys", "qkk_patched_column_written_after_the_mask",
     r"(?i)(column|scores?) (s )?(written|overwritten|replaced|updated) (after|over) (the )?mask|mask (is |was )?(not re-?applied|undone|overwritten|lost)|(patched|new|overwritten) (column|scores?).{0,40}(unmasked|not masked|without (the )?mask)|masked (entries|scores) (overwritten|replaced)",
     qkk_patched_column_written_after_the_mask),
    ("check_qk_fix_keys", "qkk_rows_sliced_but_not_the_mask",
     r"(?i)mask\w*.{0,60}(offset|misalign|rows? 0|from the top|first rows|\[: ?T ?- ?s\]|not sliced|same rows|\[s:\])|(rows?|quer\w*) (sliced|from s).{0,60}mask|mask rows.{0,40}(wrong|shifted|misaligned|do not match)",
     qkk_rows_sliced_but_not_the_mask),
    ("check_qk_fix_keys", "qkk_trailing_comma_makes_a_tuple",
     r"(?i)trailing comma|stray comma|comma.{0,40}tuple|tuple.{0,40}(instead of|not) (a )?tensor|'?tuple'? object does not support",
     qkk_trailing_comma_makes_a_tuple),
    ("check_graddrop", "gd_missing_comma_in_the_write_names",
     r"(?i)(missing|no|without a?) comma|implicit(ly)? (string )?concatenat|\"attn\" ?\"mlp\"|attnmlp|(iterat|loop)\w*.{0,30}(characters|letters|over a string)|hook_a_out",
     gd_missing_comma_in_the_write_names),
    ("check_graddrop", "gd_gate_index_from_enumerate",
     r"(?i)enumerat|gates? (are |were )?(numbered|indexed|keyed|labelled) by (their )?(position|place|index) in (the )?(list|writes)|(flat|flattened) (list )?index|index of the write (instead of|not|rather than) (its |the )?layer|(drop|gate)\w* (the )?(wrong|l-th|lth) write",
     gd_gate_index_from_enumerate),
    ("check_graddrop", "gd_gradients_stacked_in_arrival_order",
     r"(?i)(arriv|backward|firing|insertion|dict)\w* order|gradients? (are |come |arrive |were )?(stacked )?(in )?(the )?(reverse|reversed|opposite) (layer )?order|(layers?|gradients?) (are |were )?(paired|matched|mixed|crossed|mismatched).{0,40}(layer|delta|activation)|grads\.values\(\)|gradient of (the )?(other|wrong) layer",
     gd_gradients_stacked_in_arrival_order),
    ("check_graddrop", "gd_gate_returns_a_scalar_zero",
     r"(?i)(scalar|single number|0-d|zero-dim\w*|one number|tensor\(0\.?0?\)).{0,60}(gradient|zero|gate|shape)|(gate|hook)\w*.{0,50}(changed|wrong|different|mismatch\w*) (the )?(size|shape)|same shape as (the )?(gradient|g\b)|has changed the size",
     gd_gate_returns_a_scalar_zero),
    ("check_graddrop", "gd_kept_gradients_rescaled_like_dropout",
     r"(?i)dropout|rescal\w*.{0,50}(kept|remaining|other|undropped|surviving)|(kept|remaining|other|undropped|surviving) (writes?|layers?|gradients?).{0,40}(scaled|multiplied|rescaled|amplified)|L ?/ ?\(L ?- ?1\)|1 ?/ ?\(1 ?- ?(p|1/L)\)",
     gd_kept_gradients_rescaled_like_dropout),
]
