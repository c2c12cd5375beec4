"""Held-out set #24, written blind on 2026-12-07 (round 24): part a.

Exercises: check_patch_heads and check_atp_heads (chapter 0, zoo "induction", n=16, seed=0),
check_qk_fix_queries and check_qk_fix_keys (chapter 1, saturation specimen), check_graddrop
(chapter 2, cancellation specimen); five wrong solutions each. Every function is the chapter's
own solution copied and changed where a learner slips. Each was run next to the chapter's
solution on the chapter's model and task (CPU, OMP_NUM_THREADS=1) without any check: it either
raises, or returns the right shape with a largest difference of at least 2 % of the correct
result's largest magnitude (the smallest here is about 20 %). Mistakes that were not detectable on
these models (clean head outputs are ~0 in the cancellation specimen; only the last query and
key change in the saturation specimen) were replaced.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_patch_heads
def ph_batch_axis_indexed_with_the_head(model, task):
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
                act[h] = corr[names[l]][h]  # one layer's cache: pick head h
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_gaussian_noise_added_to_the_head(model, task):
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
                # "noising": blur the head's output with noise, as in causal tracing
                act[:, :, h] = act[:, :, h] + 3 * act[:, :, h].std() * torch.randn_like(act[:, :, h])
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_hand_written_logit_diff_over_every_position(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)

    def logit_diff(logits):  # my own logit difference, batch mean
        b = torch.arange(logits.shape[0])
        return (logits[b, :, task.answer] - logits[b, :, task.wrong]).mean()

    with torch.no_grad():
        base = logit_diff(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = logit_diff(model(task.clean)) - base
    return out


def ph_patched_run_dedented_out_of_the_head_loop(model, task):
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

        with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):  # one run per layer
            out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_head_kept_as_a_slice_on_one_side(model, task):
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
                act[:, :, h] = corr[names[l]][:, :, h:h + 1]  # slice so the head axis stays
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# ----------------------------------------------------------------------------- check_atp_heads
def atp_gradient_at_the_final_residual_stream(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    final = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"  # what the unembedding reads
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, [final])
    return torch.stack([torch.einsum("bphd,hde,bpe->bh", corr[n] - clean[n], model.W_O[l], grads[final]).mean(0)
                        for l, n in enumerate(names)])


def atp_difference_of_gradient_times_activation_maps(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    # attribution = activation x its own run's gradient; compare the two runs
    _, corr, corr_grads = cache_activations_and_grads(model, task, names, names, tokens=task.corrupt)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([(corr[n] * corr_grads[n] - clean[n] * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_per_layer_rows_passed_to_torch_tensor(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.tensor([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])  # rows -> [L, H]


def atp_first_examples_gradient_broadcast(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # grads[n][0]: the gradient tensor out of the returned batch
    return torch.stack([((corr[n] - clean[n]) * grads[n][0]).sum((1, 3)).mean(0) for n in names])


def atp_gradient_at_the_blocks_input(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    inputs = [f"blocks.{l}.hook_resid_pre" for l in range(model.cfg.n_layers)]  # the stream each head works on
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, inputs)
    return torch.stack([torch.einsum("bphd,hde,bpe->bh", corr[n] - clean[n], model.W_O[l], grads[inputs[l]]).mean(0)
                        for l, n in enumerate(names)])


# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_sequence_length_from_len_of_the_prompts(model, task):
    L, T = model.cfg.n_layers, len(task.clean)  # number of positions
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
    return torch.stack(out)


def qkq_whole_head_change_credited_to_every_query(model, task):
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
        # one matmul patches every query: its total change is each query's estimate
        out.append(((A_new - A) * grads[pats[l]]).sum((-1, -2)).mean(0)[:, None].expand(-1, T))  # [H, T]
    return torch.stack(out)


def qkq_fix_only_for_saturated_heads(model, task):
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
        saturated = A[:, :, -1].amax(-1).mean(0) > 0.9  # [H]: only these heads need the fix
        est = ((A_new - A) * grads[pats[l]]).sum(-1).mean(0)
        out.append(torch.where(saturated[:, None], est, torch.zeros_like(est)))  # [H, T]
    return torch.stack(out)


def qkq_cached_pattern_used_as_its_gradient(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk + pats, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * clean[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_score_scale_from_the_config(model, task):
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
        sc = model.cfg.attn_scale  # TransformerLens keeps the score scale in the config
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_value_at_s_patched_with_the_key(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k", "v")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    vs = [f"blocks.{l}.attn.hook_v" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats + vs)
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
            # the key node is position s as the head reads it: its key and its value
            dv = ((corr[vs[l]][:, s] - clean[vs[l]][:, s]) * grads[vs[l]][:, s]).sum(-1)  # [B, H]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0) + dv.mean(0)
    return out


def qkk_key_knocked_out_instead_of_patched(model, task):
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

        def pattern(keys, cut=None):
            scores = torch.einsum("bthd,bshd->bhts", q, keys) / sc
            if cut is not None:
                scores[..., cut] = -1e9  # nothing may attend to key `cut`
            return scores.masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            out[l, :, s] = ((pattern(k, cut=s) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_renormalisation_only_patched_column_left_out(model, task):
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
            change = pattern(k2) - A
            change[..., s] = 0  # column s is AtP's job; the fix is the re-softmax of the other keys
            out[l, :, s] = (change * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_causal_mask_from_the_tasks_attention_mask(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = task.attention_mask.bool()  # which keys each query may see
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


def qkk_fix_only_for_saturated_heads(model, task):
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
        saturated = A[:, :, -1].amax(-1).mean(0) > 0.9  # [H]: AtP is fine where the softmax is not saturated
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0) * saturated
    return out


# ----------------------------------------------------------------------------- check_graddrop
def gd_clean_and_corrupt_in_one_stacked_forward(model, task):
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
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
        # clean and corrupt in one forward: first B rows clean, last B rows corrupt
        metric = task.metric_value(model(torch.cat([task.clean, task.corrupt])))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((acts[n][B:] - acts[n][:B]) * grads.get(n, torch.zeros_like(acts[n]))[:B]).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_attention_pattern_gated_not_the_attention_write(model, task):
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
    # drop the layer: its attention (the pattern) and its MLP
    bwd += [(h, lambda g, hook, l=l: gate(g, hook, l)) for l in range(L)
            for h in (f"blocks.{l}.attn.hook_pattern", f"blocks.{l}.hook_mlp_out")]
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


def gd_one_buffer_reused_for_every_pass(model, task):
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
    est = torch.zeros(B, L, model.cfg.n_heads)  # allocate once, fill each pass
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            for i, n in enumerate(names):
                est[:, i] = ((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
            per_pass.append(est)  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_every_layer_input_made_a_leaf(model, task):
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

    # every layer's input a gradient leaf, so every layer is in the graph
    fwd = [(f"blocks.{l}.hook_resid_pre", lambda t, hook: t.detach().requires_grad_(True)) for l in range(L)]
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


def gd_activations_dict_cleared_every_pass(model, task):
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
            acts.clear()  # fresh dicts for every pass
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


MISTAKES = [
    ("check_patch_heads", "ph_batch_axis_indexed_with_the_head",
     r"(?i)batch (axis|dim)|first (axis|dim)|axis 0|dim(ension)? 0|act\[h\]|example (number )?h\b|prompt( pair)? h\b|(one|a single) (example|prompt)|whole layer",
     ph_batch_axis_indexed_with_the_head),
    ("check_patch_heads", "ph_gaussian_noise_added_to_the_head",
     r"(?i)noise|random|gaussian|randn|corrupt (values?|activations?|run|cache)\b.{0,30}(never|not|unused|ignored)|instead of the corrupt",
     ph_gaussian_noise_added_to_the_head),
    ("check_patch_heads", "ph_hand_written_logit_diff_over_every_position",
     r"(?i)every position|all positions|(averag|mean)\w* over (the |all )?(sequence|positions)|answer position|read position|last position|task\.metric|metric_value|task'?s metric|own metric|hand[- ]?(written|made|rolled) metric",
     ph_hand_written_logit_diff_over_every_position),
    ("check_patch_heads", "ph_patched_run_dedented_out_of_the_head_loop",
     r"(?i)(only|just) (the )?last head|one (patched )?(run|forward) per layer|outside (of )?the head loop|indent|other heads.{0,40}(zero|0\b|never|unpatched|not (patched|computed|filled))|(never|not) (patched|computed|filled|measured) for (most|the other|every other)",
     ph_patched_run_dedented_out_of_the_head_loop),
    ("check_patch_heads", "ph_head_kept_as_a_slice_on_one_side",
     r"(?i)h ?: ?h ?\+ ?1|slic(e|ing)|singleton|keepdim|extra (head )?(axis|dim)|(4|four)[- ]?d(im|imensional)?\b.{0,40}(3|three)[- ]?d|expand|squeeze",
     ph_head_kept_as_a_slice_on_one_side),

    ("check_atp_heads", "atp_gradient_at_the_final_residual_stream",
     r"(?i)direct (path|effect|logit)|final residual|resid_post|unembed|logit lens|indirect (path|effect)|later (layers|heads|mlps?).{0,40}(miss|ignor|skip|left|bypass)|gradient (at|of|w\.?r\.?t\.?) (the )?(hook_z|head'?s? output)",
     atp_gradient_at_the_final_residual_stream),
    ("check_atp_heads", "atp_difference_of_gradient_times_activation_maps",
     r"(?i)(own|each|separate|both) runs?'? ?s? gradients?|corrupt[- ]run'?s? gradient|gradients? (of|from|on|at) the corrupt|(grad(ient)?|saliency) ?(x|×|\*|times) ?(input|activation)|(input|activation) ?(x|×|\*|times) ?grad|difference of (two )?(attributions|saliency|products)|clean gradient|(corrupt|Δ|delta).{0,30}(times|×|\*|multipl).{0,30}(clean )?gradient",
     atp_difference_of_gradient_times_activation_maps),
    ("check_atp_heads", "atp_per_layer_rows_passed_to_torch_tensor",
     r"(?i)torch\.tensor|torch\.stack|\bstack\b|list of tensors|only one element|convert",
     atp_per_layer_rows_passed_to_torch_tensor),
    ("check_atp_heads", "atp_first_examples_gradient_broadcast",
     r"(?i)(first|one|single|0th) (example|prompt|pair)|example 0|prompt 0|grads?\[n\]\[0\]|\[0\]|broadcast|per[- ]example gradients?|(every|each) (example|prompt)('s)? (own )?gradient",
     atp_first_examples_gradient_broadcast),
    ("check_atp_heads", "atp_gradient_at_the_blocks_input",
     r"(?i)resid(ual)?_?pre|block'?s? input|(layer|block) input|residual stream (before|entering|into|at the start)|(its|the head'?s?) own (layer'?s? )?attention|gradient (at|of|w\.?r\.?t\.?) (the )?(hook_z|head'?s? output)",
     atp_gradient_at_the_blocks_input),

    ("check_qk_fix_queries", "qkq_sequence_length_from_len_of_the_prompts",
     r"(?i)len\(|batch size|number of (prompts|examples|rows|prompt pairs)|seq(uence)?[_ ]len(gth)?|mask (shape|size|is \d)|(4|four) ?(x|×) ?(4|four)|first (axis|dim)",
     qkq_sequence_length_from_len_of_the_prompts),
    ("check_qk_fix_queries", "qkq_whole_head_change_credited_to_every_query",
     r"(?i)(sum|total|summed|added)\w* (over|across|of) (all |every |the )*(query )?(rows|queries|query positions)|every (query|position) (gets|receives|has) the same|same (value|estimate|number) (for|at|in) every|only (its own )?row t|row t only|whole head|not per (query|position)",
     qkq_whole_head_change_credited_to_every_query),
    ("check_qk_fix_queries", "qkq_fix_only_for_saturated_heads",
     r"(?i)saturat|threshold|0\.9|only (the |some |one )?(saturated )?heads?|other heads.{0,40}(zero|0\b|skipped|left out|missing)|every head|all heads|zeroed (for|out)",
     qkq_fix_only_for_saturated_heads),
    ("check_qk_fix_queries", "qkq_cached_pattern_used_as_its_gradient",
     r"(?i)pattern (itself|activation|values?)\b.{0,30}(as|instead of|in place of) (the |its )?gradient|(activation|clean pattern|clean\[).{0,30}instead of.{0,30}gradient|(no|without|missing|not the) (pattern )?gradient|grads\[|dM/dA|∂M/∂A|gradient (at|of) (the )?(hook_)?pattern",
     qkq_cached_pattern_used_as_its_gradient),
    ("check_qk_fix_queries", "qkq_score_scale_from_the_config",
     r"(?i)attn_scale|cfg\.|config|score scale|scal(e|ing) (factor|divisor)|sqrt ?\(?d_head|√ ?d_head|divided by -1|negative scale|(scores|sign).{0,20}(negated|flipped)",
     qkq_score_scale_from_the_config),

    ("check_qk_fix_keys", "qkk_value_at_s_patched_with_the_key",
     r"(?i)value (vectors?|change|term|path|node|delta|contribution)|values? at (position |key )?s\b|hook_v|\bv\b|extra (term|atp)|plain atp.{0,30}added|adds? .{0,30}atp|key (alone|only|on its own)",
     qkk_value_at_s_patched_with_the_key),
    ("check_qk_fix_keys", "qkk_key_knocked_out_instead_of_patched",
     r"(?i)knock(ed|s)?[- ]?out|remov(ed|es|ing) (the )?key|mask(ed|s|ing)? (out )?(the )?key|-1e9|-inf|ablat|instead of (patching|the corrupt key)|corrupt keys? (is |are )?(never|not) used|ignor(es|ed|ing) the corrupt",
     qkk_key_knocked_out_instead_of_patched),
    ("check_qk_fix_keys", "qkk_renormalisation_only_patched_column_left_out",
     r"(?i)column s|patched (column|entry)|(key'?s?|its) own (column|entry|probability)|left out|excluded|zeroed|renormali[sz]ation only|only the (other|remaining) (keys|columns)",
     qkk_renormalisation_only_patched_column_left_out),
    ("check_qk_fix_keys", "qkk_causal_mask_from_the_tasks_attention_mask",
     r"(?i)attention_mask|padding mask|causal mask|tril|lower[- ]triangular|\bNone\b",
     qkk_causal_mask_from_the_tasks_attention_mask),
    ("check_qk_fix_keys", "qkk_fix_only_for_saturated_heads",
     r"(?i)saturat|threshold|0\.9|only (the |some |one )?(saturated )?heads?|other heads.{0,40}(zero|0\b|skipped|left out|missing)|every head|all heads|zeroed (for|out)",
     qkk_fix_only_for_saturated_heads),

    ("check_graddrop", "gd_clean_and_corrupt_in_one_stacked_forward",
     r"(?i)(stacked|concatenated|joint|shared|combined|single|one) (forward|batch|run)|both halves|\b2 ?B\b|twice the batch|corrupt (rows|examples|half|prompts).{0,40}metric|metric.{0,40}(corrupt (rows|examples|half|prompts)|both)|halved|half|factor (of )?(2|two)",
     gd_clean_and_corrupt_in_one_stacked_forward),
    ("check_graddrop", "gd_attention_pattern_gated_not_the_attention_write",
     r"(?i)hook_pattern|attention pattern|\bpattern\b|hook_attn_out|attn_out|attention (write|output)|writes? of the attention|value path|hook_z",
     gd_attention_pattern_gated_not_the_attention_write),
    ("check_graddrop", "gd_one_buffer_reused_for_every_pass",
     r"(?i)alias|same (tensor|buffer|object)|reus(e|ed|es|ing)|in[- ]place|overwrit|(only|just) the last pass|every pass (is|holds|equals|repeats)|clone|copy",
     gd_one_buffer_reused_for_every_pass),
    ("check_graddrop", "gd_every_layer_input_made_a_leaf",
     r"(?i)leaf|detach|resid_pre|cut(s|ting)? (the )?(graph|backward|gradient)|graph (is )?(cut|broken)|no gradient (reaches|flows|arrives)|hook_embed|LEAF_HOOK|embedding",
     gd_every_layer_input_made_a_leaf),
    ("check_graddrop", "gd_activations_dict_cleared_every_pass",
     r"(?i)\bacts\b|activations? (dict|cache|dictionary)|\.clear|clear(ed|s|ing)? (the )?(activations|acts)|KeyError|empt(y|ied)|forward (is |was )?(not|never) (re)?run|saved activations",
     gd_activations_dict_cleared_every_pass),
]
