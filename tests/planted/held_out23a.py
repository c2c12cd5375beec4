"""Held-out set #23, written blind on 2026-12-07 (round 23): part a.

Five wrong solutions each for check_patch_heads and check_atp_heads (chapter 0, on the zoo's
"induction" model, ``zoo.load("induction", n=16, seed=0)``), check_qk_fix_queries and
check_qk_fix_keys (chapter 1, on ``saturation.build()``) and check_graddrop (chapter 2, on
``cancellation.build()``). Each function is the chapter's own solution copied and changed
inline at one slip. Every one was run next to the chapter's solution on that chapter's model
and task (scratch script /work/scratch/round23/a/verify.py): it crashes, returns a wrong
shape, returns NaN, or differs from the solution by at least 2 % of the solution's largest
magnitude. The measured outcome is noted above each function.
"""

from __future__ import annotations

from functools import partial

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_patch_heads
# max relative difference 0.99
def ph_later_layers_held_at_their_clean_outputs(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean = cache_activations(model, task.clean, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            def keep(act, hook, n=None):
                return clean[n]

            # hold every later layer's heads at their clean output, so only this head's change is measured
            hooks = [(names[l], put)] + [(names[m], partial(keep, n=names[m])) for m in range(l + 1, L)]
            with torch.no_grad(), model.hooks(fwd_hooks=hooks):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# max relative difference 0.95
def ph_hand_written_metric_indexes_every_answer(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)

    def metric(logits):  # my own logit difference at the last position
        last = logits[:, -1]
        return (last[:, task.answer] - last[:, task.wrong]).mean()

    with torch.no_grad():
        base = metric(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = metric(model(task.clean)) - base
    return out


# max relative difference 0.069
def ph_corrupt_head_rescaled_to_the_clean_norm(model, task: wb.Task) -> torch.Tensor:
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
                new = corr[names[l]][:, :, h]
                # take the corrupt direction but keep the clean head's size, so only the information changes
                act[:, :, h] = new / new.norm(dim=-1, keepdim=True).clamp_min(1e-8) * act[:, :, h].norm(dim=-1, keepdim=True)
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# max relative difference 1.31
def ph_kl_divergence_instead_of_the_task_metric(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = model(task.clean)[:, -1].log_softmax(-1)
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                logp = model(task.clean)[:, -1].log_softmax(-1)
            # how far the prediction moves: KL(clean || patched) at the last position
            out[l, h] = (base.exp() * (base - logp)).sum(-1).mean()
    return out


# max relative difference 1.0 (every effect on this model is negative: all zeros)
def ph_effects_clamped_at_zero(model, task: wb.Task) -> torch.Tensor:
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
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out.clamp(min=0)  # an importance can't be below zero


# ----------------------------------------------------------------------------- check_atp_heads
# max relative difference 0.99
def atp_every_hook_z_made_a_detached_leaf(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    leaves = {}

    def make_leaf(t, hook, n=None):  # each head output as a leaf, so I can read its .grad
        leaves[n] = t.detach().requires_grad_(True)
        return leaves[n]

    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=[(n, partial(make_leaf, n=n)) for n in names]):
        task.metric_value(model(task.clean)).backward()
    clean = {n: leaves[n].detach() for n in names}
    grads = {n: leaves[n].grad * task.batch_size for n in names}
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


# max relative difference 1.17
def atp_clean_and_corrupt_batched_then_split_interleaved(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    B = task.batch_size
    # one forward for both: clean rows then corrupt rows, split back into (clean, corrupt) per prompt pair
    _, both = cache_activations(model, torch.cat([task.clean, task.corrupt]), names)
    clean = {n: both[n].view(B, 2, *both[n].shape[1:])[:, 0] for n in names}
    corr = {n: both[n].view(B, 2, *both[n].shape[1:])[:, 1] for n in names}
    _, _, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


# max relative difference 0.080
def atp_estimates_rescaled_to_sum_to_the_metric_change(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    est = torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])
    m_clean, m_corr = task.baselines(model)
    return est * (m_corr - m_clean) / est.sum()  # make the heads add up to the whole clean -> corrupt change


# max relative difference 0.050
def atp_mean_of_ragged_chunk_means(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    parts = []
    for i in range(0, task.batch_size, 5):  # 5 prompt pairs at a time to save memory
        sub = task.subset(slice(i, i + 5))
        _, corr = cache_activations(model, sub.corrupt, names)
        _, clean, grads = cache_activations_and_grads(model, sub, names, names)
        parts.append(torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names]))
    return torch.stack(parts).mean(0)


# max relative difference 0.70
def atp_layernorm_scales_frozen(model, task: wb.Task) -> torch.Tensor:
    L = model.cfg.n_layers
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    # freeze the LayerNorm scales as in direct logit attribution, so the gradient is linear
    freeze = [(f"blocks.{l}.ln{i}.hook_scale", lambda t, hook: t.detach()) for l in range(L) for i in (1, 2)]
    freeze += [("ln_final.hook_scale", lambda t, hook: t.detach())]
    _, clean, grads = cache_activations_and_grads(model, task, names, names, extra_fwd_hooks=freeze)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


# ----------------------------------------------------------------------------- check_qk_fix_queries
# max relative difference 1.01
def qkq_pattern_change_matrix_multiplied_with_the_gradient(model, task: wb.Task) -> torch.Tensor:
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
        out.append(((A_new - A) @ grads[pats[l]]).sum(-1).mean(0))  # pattern change times its gradient
    return torch.stack(out)


# max relative difference 0.14
def qkq_corrupt_query_rescaled_to_the_clean_norm(model, task: wb.Task) -> torch.Tensor:
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
        q_new = q_new / q_new.norm(dim=-1, keepdim=True) * q.norm(dim=-1, keepdim=True)  # only the direction changes
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


# max relative difference 0.11
def qkq_pattern_gradient_taken_with_the_queries_patched(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)

    def put_q(t, hook, n=None):
        return corr[n]

    # linearise around the patched pattern: take the gradients with the corrupt queries already in place
    q_hooks = [(f"blocks.{l}.attn.hook_q", partial(put_q, n=f"blocks.{l}.attn.hook_q")) for l in range(L)]
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats, extra_fwd_hooks=q_hooks)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


# max relative difference 0.29 (same shape here: the specimen has as many layers as heads)
def qkq_layers_stacked_on_the_head_axis(model, task: wb.Task) -> torch.Tensor:
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
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out, 1)  # stack along dim 1, like the head axis of the pattern


# max relative difference 0.091
def qkq_keys_summed_over_the_batch_in_the_einsum(model, task: wb.Task) -> torch.Tensor:
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
        # c for the keys' batch index
        A_new = (torch.einsum("bthd,cshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


# ----------------------------------------------------------------------------- check_qk_fix_keys
# max relative difference 1.0 (keys 4 and 5 never estimated: 4 prompt pairs, 6 positions)
def qkk_key_loop_over_the_batch_size(model, task: wb.Task) -> torch.Tensor:
    L = model.cfg.n_layers
    B, T = task.clean.shape
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
        for s in range(B):  # one pass per key position
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# max relative difference 0.78
def qkk_patterns_computed_in_bfloat16(model, task: wb.Task) -> torch.Tensor:
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

        def pattern(keys):  # bfloat16: T re-softmaxes per layer, keep them cheap
            scores = (torch.einsum("bthd,bshd->bhts", q, keys) / sc).bfloat16()
            return scores.masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A).float() * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# max relative difference 3.2e2
def qkk_rows_concatenated_in_the_wrong_order(model, task: wb.Task) -> torch.Tensor:
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
            # rows before s cannot see key s: keep them clean, new rows from s on
            A2 = torch.cat([pattern(k2)[:, :, s:], A[:, :, :s]], 2)
            out[l, :, s] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# max relative difference 58
def qkk_last_corrupt_key_written_at_every_position(model, task: wb.Task) -> torch.Tensor:
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
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, -1]  # the corrupt prompt changes the last token
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# max relative difference 88
def qkk_keys_scaled_in_place_inside_the_pattern_function(model, task: wb.Task) -> torch.Tensor:
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
            keys /= sc  # scale the keys once instead of the whole score matrix
            return torch.einsum("bthd,bshd->bhts", q, keys).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# ----------------------------------------------------------------------------- check_graddrop
# crash: TypeError (the hook is called as fn(grad, hook=...))
def gd_gate_lambda_parameters_in_the_wrong_order(model, task: wb.Task) -> torch.Tensor:
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
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda hook, g, l=l: gate(g, hook, l)) for l in range(L) for w in ("attn", "mlp")]
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


# NaN for a head that is zero in every pass (L1H1 on the specimen)
def gd_normaliser_counts_the_nonzero_passes(model, task: wb.Task) -> torch.Tensor:
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
                                         for n in names], 1))
    passes = torch.stack(per_pass).abs()
    return (passes.sum(0) / (passes != 0).sum(0)).mean(0)  # average over the passes that actually count


# max relative difference 0.97
def gd_metric_taken_on_probabilities(model, task: wb.Task) -> torch.Tensor:
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
        metric = task.metric_value(model(task.clean).softmax(-1))  # softmax first, the metric reads probabilities
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


# max relative difference 0.63 (here M(clean) - M(corrupt) is about -2.7)
def gd_backward_of_the_normalised_metric(model, task: wb.Task) -> torch.Tensor:
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
    m_clean, m_corr = task.baselines(model)
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        # normalised metric (0 at corrupt, 1 at clean) so the scores are comparable across tasks
        metric = (task.metric_value(model(task.clean)) - m_corr) / (m_clean - m_corr)
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


# all zeros (gradients land in `acts`, nothing in `grads`)
def gd_grab_hook_copy_pasted_into_the_activations_dict(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        acts[n] = g.detach() * B  # same as save, for the gradients

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
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


MISTAKES = [
    ("check_patch_heads", "ph_later_layers_held_at_their_clean_outputs",
     r"(?i)(direct|indirect|downstream|later (layers?|heads?)|other layers?|(frozen|held|kept|fixed|pinned) (at|to) (their )?clean)",
     ph_later_layers_held_at_their_clean_outputs),
    ("check_patch_heads", "ph_hand_written_metric_indexes_every_answer",
     r"(?i)(\[B,\s*B\]|B\s*x\s*B|every (example'?s? |prompt'?s? )?answer|all (the )?answers|each row.*every|gather|arange|fancy|advanced index|broadcast|cross[- ]?pair|hand[- ]?written metric|own metric)",
     ph_hand_written_metric_indexes_every_answer),
    ("check_patch_heads", "ph_corrupt_head_rescaled_to_the_clean_norm",
     r"(?i)(norm|rescal|magnitude|length|only the direction|unit vector)",
     ph_corrupt_head_rescaled_to_the_clean_norm),
    ("check_patch_heads", "ph_kl_divergence_instead_of_the_task_metric",
     r"(?i)(\bKL\b|kullback|divergence|log[_ -]?softmax|log[- ]prob|output distribution)",
     ph_kl_divergence_instead_of_the_task_metric),
    ("check_patch_heads", "ph_effects_clamped_at_zero",
     r"(?i)(clamp|clip|relu|negative (effects?|values?) .{0,40}(zero|dropped|removed|discarded|lost)|non-?negative|max\(0|only positive)",
     ph_effects_clamped_at_zero),
    ("check_atp_heads", "atp_every_hook_z_made_a_detached_leaf",
     r"(?i)(detach|leaf|graph (is )?(cut|broken|severed)|cut.{0,20}graph|through later (heads?|layers?)|indirect|downstream (heads?|paths?))",
     atp_every_hook_z_made_a_detached_leaf),
    ("check_atp_heads", "atp_clean_and_corrupt_batched_then_split_interleaved",
     r"(?i)(interleav|view\(\s*B\s*,\s*2|split|unfold|halves|concatenat|torch\.cat|rows? (are |were )?(paired|mixed|mismatched)|pair(ed|ing) (the )?wrong|wrong (rows?|pairs?|examples?))",
     atp_clean_and_corrupt_batched_then_split_interleaved),
    ("check_atp_heads", "atp_estimates_rescaled_to_sum_to_the_metric_change",
     r"(?i)(rescal|renormali[sz]|normali[sz]\w* .{0,30}(sum|total)|sum to|add up|complete|total (effect|change)|M\(corrupt\)\s*-\s*M\(clean\)|metric (gap|change)|calibrat)",
     atp_estimates_rescaled_to_sum_to_the_metric_change),
    ("check_atp_heads", "atp_mean_of_ragged_chunk_means",
     r"(?i)(chunk|ragged|unequal|uneven|weight\w*|mean of (the )?(chunk|batch|group|sub-?batch|part)|sub-?sets?|sub-?batch)",
     atp_mean_of_ragged_chunk_means),
    ("check_atp_heads", "atp_layernorm_scales_frozen",
     r"(?i)(layer ?norm|\bLN\b|ln\d|hook_scale|norm(alisation|alization)? scales?|scales? (frozen|detached)|freez\w* .{0,20}scale)",
     atp_layernorm_scales_frozen),
    ("check_qk_fix_queries", "qkq_pattern_change_matrix_multiplied_with_the_gradient",
     r"(?i)(matmul|matrix (product|multipl)|@|element-?wise|hadamard|\* (instead of|not) @|multiplied entry by entry)",
     qkq_pattern_change_matrix_multiplied_with_the_gradient),
    ("check_qk_fix_queries", "qkq_corrupt_query_rescaled_to_the_clean_norm",
     r"(?i)(norm|rescal|magnitude|length|only the direction|unit vector)",
     qkq_corrupt_query_rescaled_to_the_clean_norm),
    ("check_qk_fix_queries", "qkq_pattern_gradient_taken_with_the_queries_patched",
     r"(?i)((gradient|grads?)\b.{0,80}(patched|corrupt quer|not (at|from|on|of) the clean|A'|new pattern)|linearis\w* (around|at) (the )?(patched|new|corrupt))",
     qkq_pattern_gradient_taken_with_the_queries_patched),
    ("check_qk_fix_queries", "qkq_layers_stacked_on_the_head_axis",
     r"(?i)(stack\w*.{0,40}(dim|axis)|transpos|swap\w*|layers? and heads?|heads? and layers?|\[\s*H\s*,\s*L|axis order|order of (the )?axes|axes (are )?(in the wrong order|swapped))",
     qkq_layers_stacked_on_the_head_axis),
    ("check_qk_fix_queries", "qkq_keys_summed_over_the_batch_in_the_einsum",
     r"(?i)(einsum|batch (index|letter|axis|dimension)|across (the )?(batch|examples|prompt pairs)|other (examples|prompt pairs)|cross\w* (examples|prompt pairs)|summed over (the )?batch|bthd,\s*cshd)",
     qkq_keys_summed_over_the_batch_in_the_einsum),
    ("check_qk_fix_keys", "qkk_key_loop_over_the_batch_size",
     r"(?i)(batch[_ ]?size|range\(\s*B\s*\)|number of (prompt pairs|examples|prompts)|loop\w* over (the )?(batch|examples)|(last|later|final) (key|position)s? .{0,40}(never|not|missing|skipped|zero)|seq(uence)?[_ ]len)",
     qkk_key_loop_over_the_batch_size),
    ("check_qk_fix_keys", "qkk_patterns_computed_in_bfloat16",
     r"(?i)(bfloat16|bf16|half|float16|low(er)? precision|precision|dtype|round(ing|ed)|cancell?ation)",
     qkk_patterns_computed_in_bfloat16),
    ("check_qk_fix_keys", "qkk_rows_concatenated_in_the_wrong_order",
     r"(?i)(torch\.cat|concatenat|rows? .{0,40}(order|shifted|misaligned|out of place|reversed)|wrong order|order of the rows)",
     qkk_rows_concatenated_in_the_wrong_order),
    ("check_qk_fix_keys", "qkk_last_corrupt_key_written_at_every_position",
     r"(?i)(last (corrupt )?key|\[:,\s*-1\]|-1 instead of s|key (at|from) (the )?last position|same corrupt key|every (key )?position gets)",
     qkk_last_corrupt_key_written_at_every_position),
    ("check_qk_fix_keys", "qkk_keys_scaled_in_place_inside_the_pattern_function",
     r"(?i)(in[- ]place|/=|mutat\w*|modif\w* (the )?(clean |caller'?s? )?keys|scal\w* .{0,30}(twice|again|repeatedly|compound|accumulat)|divid\w* .{0,30}(twice|again|repeatedly))",
     qkk_keys_scaled_in_place_inside_the_pattern_function),
    ("check_graddrop", "gd_gate_lambda_parameters_in_the_wrong_order",
     r"(?i)((argument|parameter)s? .{0,30}(order|swapped|reversed|wrong)|\(\s*hook\s*,\s*g\s*\)|\(\s*g\s*,\s*hook\s*\)|signature|multiple values for argument)",
     gd_gate_lambda_parameters_in_the_wrong_order),
    ("check_graddrop", "gd_normaliser_counts_the_nonzero_passes",
     r"(?i)(nan|0\s*/\s*0|divi\w* by (zero|0)|non-?zero (passes|estimates|entries)|count\w* (of )?(the )?(non-?zero )?passes|passes that (count|are non-?zero))",
     gd_normaliser_counts_the_nonzero_passes),
    ("check_graddrop", "gd_metric_taken_on_probabilities",
     r"(?i)(probabilit|softmax|prob\b)",
     gd_metric_taken_on_probabilities),
    ("check_graddrop", "gd_backward_of_the_normalised_metric",
     r"(?i)(normali[sz]|clean[- ]corrupt (gap|difference)|M\(clean\)\s*-\s*M\(corrupt\)|divided by (the )?(metric )?gap|rescaled metric)",
     gd_backward_of_the_normalised_metric),
    ("check_graddrop", "gd_grab_hook_copy_pasted_into_the_activations_dict",
     r"(?i)(copy[- ]?past|grab\w*.{0,60}(acts|activations)|gradients? (are )?(stored|written|saved|put) (in|into) (the )?(acts|activations)|(acts|activations) (dict )?(are |is )?overwritten|grads? (dict )?(stays?|left|is|are) empty|no gradients? (are )?(recorded|stored|captured|saved))",
     gd_grab_hook_copy_pasted_into_the_activations_dict),
]
