"""Held-out set #17, written blind (the writer never saw the checks, their messages or the other
held-out sets) on 2026-12-06 (round 17); measured once, unseen.

Five mistakes per exercise, each written out inline as a learner would (the chapter's solution copied
and changed on one line or a few), chosen against the list of ideas already planted and aimed at the
long tail. Each cause regex was written from the cause alone, before anything measured it.

Verified by hand once (/work/scratch/r17/verify.py): each wrong function and the chapter's own
solution ran on the chapter's own model and task: chapter 0 zoo induction (n=16, seed=0), chapter 1
the saturation specimen, chapter 2 the cancellation specimen, chapter 3 the flat_region specimen
(steps=5), chapter 4 the path_saturation specimen (steps=5, the chapter's unit steps; scaled steps
also run), chapter 5 the mixture model on its ioi task (n=8, seed=0) with the chapter's own
verify_top calls (its shortlists and EAP-IG's important edges) and the estimates at k=5. A mistake
was kept only where its largest |difference| from the correct result is at least 2 % of the correct
result's largest |value| (or its names or shape are wrong); 14 first drafts that fell below that on
these small models (or crashed in an uninformative way) were replaced before the measurement.
"""

import torch

import workbook as wb
from tests.planted._base import zs
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params

_NEG_INF = float("-inf")


# ----------------------------------------------------------------------------- check_patch_heads
def ph_effect_stored_one_head_to_the_left(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
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
                out[l, h - 1] = task.metric_value(model(task.clean)) - base  # off by one: head 0 lands last
    return out


def ph_corrupt_value_taken_from_head_l(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, l]  # the layer index on the head axis of the corrupt value
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_corrupt_value_from_another_prompt_pair(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]].roll(1, 0)[:, :, h]  # resample ablation: prompt b gets pair b-1's value
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_effect_divided_by_the_batch_size(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
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
                # "batch mean": divided by B although metric_value already averages over the prompt pairs
                out[l, h] = (task.metric_value(model(task.clean)) - base) / task.batch_size
    return out


def ph_abs_per_prompt_pair_before_the_mean(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.per_example(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = (task.per_example(model(task.clean)) - base).abs().mean()
    return out


# ----------------------------------------------------------------------------- check_atp_heads
def atp_layer_delta_summed_over_heads(model, task):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # the delta of the whole layer (all heads added up) dotted with each head's own gradient
    return torch.stack([((corr[n] - clean[n]).sum(2, keepdim=True) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_negative_estimates_clamped_to_zero(model, task):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    est = torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])
    return est.clamp(min=0)  # "an effect is a size, it can't be negative"


def atp_delta_squared(model, task):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) ** 2 * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_delta_against_the_batch_mean_clean_activation(model, task):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n].mean(0, keepdim=True)) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_gradient_of_the_negated_metric(model, task):
    names = zs(model)
    B = task.batch_size
    _, corr = cache_activations(model, task.corrupt, names)
    acts, grads = {}, {}
    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        loss = -task.metric_value(model(task.clean))  # "minimise the loss" habit: backward of -M
        loss.backward()
    return torch.stack([((corr[n] - acts[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_interleaved_names_indexed_by_layer(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[qk[l]], clean[qk[l + 1]]  # qk is [q0, k0, q1, k1]: right for layer 0 only
        q_new = corr[qk[l]]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, _NEG_INF).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, _NEG_INF).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_score_einsum_with_two_d_head_letters(model, task):
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
        # "bthd,bshe": d and e are summed separately, (sum_d q)(sum_e k), not the dot product q . k
        A = (torch.einsum("bthd,bshe->bhts", q, k) / sc).masked_fill(~mask, _NEG_INF).softmax(-1)
        A_new = (torch.einsum("bthd,bshe->bhts", q_new, k) / sc).masked_fill(~mask, _NEG_INF).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_reference_pattern_from_the_corrupt_run(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk + pats)
    _, clean, grads = cache_activations_and_grads(model, task, qk + pats, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        k = clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = corr[pats[l]]  # "the pattern to compare with": read from the corrupt cache, not the clean one
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, _NEG_INF).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_pattern_gradient_summed_over_heads(model, task):
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
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, _NEG_INF).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, _NEG_INF).softmax(-1)
        g = grads[pats[l]].sum(1, keepdim=True)  # "the layer's pattern gradient": every head gets the heads' total
        out.append(((A_new - A) * g).sum(-1).mean(0))
    return torch.stack(out)


def qkq_layer_0_never_estimated(model, task):
    L, T, H = model.cfg.n_layers, task.seq_len, model.cfg.n_heads
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = [torch.zeros(H, T)]
    for l in range(1, L):  # loop starts at layer 1
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, _NEG_INF).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, _NEG_INF).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_keys_prescaled_and_scores_scaled_again(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        sc = attn_scale(model, l)
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"] / sc  # scaled here ...
        k_corr = corr[f"blocks.{l}.attn.hook_k"] / sc

        def pattern(keys):  # ... and again in the scores
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, _NEG_INF).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = k_corr[:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_score_scale_left_out_of_the_patched_pattern(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk + pats)
    _, clean, grads = cache_activations_and_grads(model, task, qk + pats, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        A = clean[pats[l]]  # the clean pattern read from the cache (scaled by the model)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            A2 = torch.einsum("bthd,bshd->bhts", q, k2).masked_fill(~mask, _NEG_INF).softmax(-1)  # no / scale
            out[l, :, s] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_upper_triangular_mask(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).triu()  # each query sees itself and the later keys
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, _NEG_INF).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_queries_patched_instead_of_keys(model, task):
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

        def pattern(queries):
            return (torch.einsum("bthd,bshd->bhts", queries, k) / sc).masked_fill(~mask, _NEG_INF).softmax(-1)

        A = pattern(q)
        for s in range(T):
            q2 = q.clone()  # copied from the query exercise: position s's query is patched, not its key
            q2[:, s] = corr[f"blocks.{l}.attn.hook_q"][:, s]
            out[l, :, s] = ((pattern(q2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_softmax_over_the_head_axis(model, task):
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

        def pattern(keys):  # dim=1 of [batch, head, query, key] is the head axis
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, -1e9).softmax(dim=1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# ----------------------------------------------------------------------------- check_graddrop
def gd_gate_returns_the_detached_gradient(model, task):
    # "stop the gradient" written as .detach(): in a backward hook that hands back the same values
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        return g.detach() if drop["layer"] == l else g

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
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_gate_zeroes_the_gradient_in_place(model, task):
    # the gate zeroes the incoming gradient in place: autograd hands the same tensor to the residual skip
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        if drop["layer"] == l:
            g.zero_()
        return g

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
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_negative_passes_clamped_to_zero(model, task):
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
    return (torch.stack(per_pass).clamp(min=0).sum(0) / (L - 1)).mean(0)  # clamp(min=0) where abs belongs


def gd_passes_concatenated_not_stacked(model, task):
    # torch.cat gives [L*B, L, H]: passes and examples summed together, then a mean over layers
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
    return (torch.cat(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_first_passes_gradients_kept_for_every_pass(model, task):
    # the grab hook skips names it has already seen ("hooks may fire twice") and grads is never cleared
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        if n not in grads:
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
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


# ----------------------------------------------------------------------------- check_eap
def eap_negative_edges_clamped_to_zero(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores.relu() * graph.edge_mask  # only the edges that "help" are kept


def eap_mean_over_every_axis(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    per_example = torch.einsum("sbpd,tbpd->stb", deltas, graph.stack_dest_grads(grads))
    return per_example.mean() * graph.edge_mask  # .mean() without dim: one number on every edge


def eap_source_change_squared(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = (graph.stack_sources(corr) - graph.stack_sources(clean)) ** 2
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_non_edges_filled_with_minus_infinity(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores.masked_fill(~graph.edge_mask, float("-inf"))  # "so they sort last", instead of 0


def eap_source_change_paired_with_the_next_positions_gradient(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # "a destination reads what was written before it": the change at p is paired with the gradient at p + 1
    grads_next = graph.stack_dest_grads(grads)[:, :, 1:]
    scores = torch.einsum("sbpd,tbpd->st", deltas[:, :, :-1], grads_next) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_one_minus_k_without_parentheses(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = (1 - k) / steps * e_n + k / steps * e_c  # meant (1 - k / steps) * e_n + (k / steps) * e_c

        def hook(t, hook, target=target):
            return t + (target - t).detach()

        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_alphas_squared(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) ** 2 * (e_c - e_n)  # points bunched at the corrupt end

        def hook(t, hook, target=target):
            return t + (target - t).detach()

        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_loop_starts_at_two(model, task, steps):
    # k = 2..m: the point next to e_corrupt is never evaluated, the sum is still divided by m
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(2, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)

        def hook(t, hook, target=target):
            return t + (target - t).detach()

        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_floor_division_by_the_number_of_points(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)

        def hook(t, hook, target=target):
            return t + (target - t).detach()

        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    # // on a float tensor floors every gradient sum instead of dividing it
    scores = torch.einsum("sbpd,tbpd->st", deltas, total // steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_only_edges_out_of_the_embedding_integrated(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    deltas[1:] = 0  # "EAP-IG (inputs)" read as: only the input's (embedding's) edges are scored
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)

        def hook(t, hook, target=target):
            return t + (target - t).detach()

        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def gp_step_sizes_arguments_swapped(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(steps, e_c, e_n, step_size).view(-1, 1, 1)  # arguments in the wrong order: eta = steps
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            dist = output_distance(model, task.clean, leaf, target)
            (g,) = torch.autograd.grad(dist.sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_unit_step_per_coordinate(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1) * e_c.shape[-1] ** 0.5  # "unit" per coordinate
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            dist = output_distance(model, task.clean, leaf, target)
            (g,) = torch.autograd.grad(dist.sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_always_scaled_steps(model, task, steps, step_size="unit"):
    # step_size ignored: the paper's scaled rule hard-coded
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes("scaled", e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            dist = output_distance(model, task.clean, leaf, target)
            (g,) = torch.autograd.grad(dist.sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_step_length_times_the_step_index(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for i in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            dist = output_distance(model, task.clean, leaf, target)
            (g,) = torch.autograd.grad(dist.sum(), leaf)
            gamma = (leaf - (i + 1) * eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)  # "point i is i steps out": step i is (i + 1) eta long
    return torch.stack(points)


def gp_points_snapped_to_the_nearest_token(model, task, steps, step_size="unit"):
    # "the model only reads real tokens": every new point is replaced by the nearest token embedding
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            dist = output_distance(model, task.clean, leaf, target)
            (g,) = torch.autograd.grad(dist.sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            gamma = model.W_E[torch.cdist(gamma, model.W_E.expand(gamma.shape[0], -1, -1)).argmin(-1)]
            points.append(gamma)
    return torch.stack(points)


# ----------------------------------------------------------------------------- check_verify_top
def vt_negative_estimates_dropped(model, task, scores, k=5):
    names = [n for n in scores.order(absolute=True)[:k] if scores[n] > 0]  # "only components that help"

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_ranked_after_normalising_each_kind(model, task, scores, k=5):
    # each kind divided by its own largest |score| before ranking, "so heads and edges compare fairly"
    def kind_of(n):
        return "edge" if "->" in n else "mlp" if n.startswith("MLP") else n.rsplit(".", 1)[-1] if "." in n else "head"

    top = {}
    for n in scores.names:
        top[kind_of(n)] = max(top.get(kind_of(n), 0.0), abs(scores[n]))
    names = sorted(scores.names, key=lambda n: -abs(scores[n]) / max(top[kind_of(n)], 1e-12))[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_effects_as_shares_of_the_verified_total(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    total = sum(abs(v) for v in effects.values())
    vals = [effects[n] / total for n in names]  # "what fraction of the verified effect each one carries"
    return wb.Scores(names, torch.tensor(vals), method="activation patching", kind=scores.kind)


def vt_edges_keep_their_estimates(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":  # edges "are exact enough already": their estimates are kept, never patched
            effects.update({n: scores[n] for n in group})
            continue
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_effects_given_the_estimates_sign(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    vals = [abs(effects[n]) * (1.0 if scores[n] >= 0 else -1.0) for n in names]  # "same sign convention"
    return wb.Scores(names, torch.tensor(vals), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_patch_heads", "ph_effect_stored_one_head_to_the_left",
     r"(?i)(shift|roll|offset|off[- ]by[- ]one|misalign|displac)\w*[^.]{0,40}(head|column|slot)|(heads?|columns"
     r"?)\b[^.]{0,40}(shifted|rolled|off[- ]by[- ]one|misaligned)|\bh ?- ?1\b|wrong (head )?(slot|column)|(stor"
     r"ed|written|saved|lands?|put) (in|at|into) the (wrong|neighbou?ring|previous|next|last) (head|column|slot"
     r")|neighbou?ring head'?s? (slot|column)|rotat\w*[^.]{0,30}(head|column)|previous head'?s? (index|slot|pos"
     r"ition|column)",
     ph_effect_stored_one_head_to_the_left),
    ("check_patch_heads", "ph_corrupt_value_taken_from_head_l",
     r"(?i)(layer index|index of the layer|layer number|\bl\b)[^.]{0,60}(head (axis|index|slot|dimension)|as (t"
     r"he )?head|instead of (the )?\bh\b|in place of \bh\b)|(corrupt|source|patched|replacement|written) (value"
     r"|activation|output)s? (of|from|for) (the )?(wrong|another|a different|other) head|wrong head'?s? (corrup"
     r"t )?(value|output|activation)|\[:, ?:, ?l\]|\bhead l\b|index\w* (the )?heads? (axis )?(with|by) (the )?l"
     r"ayer",
     ph_corrupt_value_taken_from_head_l),
    ("check_patch_heads", "ph_corrupt_value_from_another_prompt_pair",
     r"(?i)(another|other|different|wrong|neighbou?ring|previous|next|shifted|rolled|mismatched|misaligned) (pr"
     r"ompt|example|pair|prompt pair|batch (row|element|index|entry)|sequence|input)s?\b|resampl\w*|roll\w*[^.]"
     r"{0,30}(batch|example|pair)|(batch|example|pair)s?[^.]{0,30}(roll|shift|shuffl|permut|misalign|mismatch)\w"
     r"*|pair(ed|ing)s? (are |is )?(mismatched|wrong|broken)|not (its|their) own (corrupt|pair|prompt)|\bb ?- ?"
     r"1\b",
     ph_corrupt_value_from_another_prompt_pair),
    ("check_patch_heads", "ph_effect_divided_by_the_batch_size",
     r"(?i)divid\w* (again |twice )?by (the )?(batch[ _]size|number of (prompt )?(pairs|examples|prompts)|B\b|t"
     r"ask\.batch_size)|/ ?(task\.)?(batch_size|B)\b|\b1/B\b|(batch )?mean (taken |applied )?twice|averag\w* tw"
     r"ice|double[- ]?(averag|count|divi|normali)\w*|already (a |the )?(batch[- ])?(mean|average)|too small by "
     r"(a factor of )?(B|the batch size)|(B|\d+|batch[- ]size) times too small",
     ph_effect_divided_by_the_batch_size),
    ("check_patch_heads", "ph_abs_per_prompt_pair_before_the_mean",
     r"(?i)(abs\w*|magnitude)[^.]{0,60}(per|each|every|individual) (example|prompt|pair|prompt pair|sample|row)"
     r"|(per|each|every|individual)[- ](example|prompt|pair|sample)s?[^.]{0,60}(abs|magnitude|sign)|\.abs\(\)\."
     r"mean|abs\w* (value )?before (the )?(batch )?(mean|averag)|signs? (is |are |was |were )?(lost|dropped|dis"
     r"carded|removed)|non-?negative|never negative|always positive",
     ph_abs_per_prompt_pair_before_the_mean),
    # the delta of the whole layer (all heads added up) dotted with each head's own gradient
    ("check_atp_heads", "atp_layer_delta_summed_over_heads",
     r"(?i)(delta|change|difference|Δ)s?[^.]{0,60}(sum\w*|add\w*|total\w*|combin\w*|pool\w*|aggregat\w*) (over|"
     r"across) (all )?(the )?heads|(sum|total) (of|over) (all )?(the )?heads'? (delta|change|difference)s?|(who"
     r"le|entire|full) layer'?s? (delta|change|difference)|layer[- ]level (delta|change|difference)|other heads"
     r"'? (delta|change|difference)s?|(delta|change)s? of (all|every|the other) heads|\.sum\(2|sum\(dim=2|heads"
     r"'? (deltas|changes) (are )?mixed|layer[- ]wide (delta|change|difference)",
     atp_layer_delta_summed_over_heads),
    ("check_atp_heads", "atp_negative_estimates_clamped_to_zero",
     r"(?i)clamp\w*|clip\w*|relu|max\w*\(0|negative (estimate|value|score|effect|entr|number)\w* (are |were |is"
     r" |set |become |turned )?(to )?(zero|0|dropped|removed|discarded|lost)|(zero|0)(ed|s)? (out )?(the |all )"
     r"?negative|only (the )?positive|positive part|floor(ed)? at (zero|0)",
     atp_negative_estimates_clamped_to_zero),
    ("check_atp_heads", "atp_delta_squared",
     r"(?i)squar\w*|\*\* ?2|\^ ?2|²|second[- ]order|(delta|difference|change) (times|multiplied by) itself|quad"
     r"ratic",
     atp_delta_squared),
    ("check_atp_heads", "atp_delta_against_the_batch_mean_clean_activation",
     r"(?i)(mean|average|averaged)\w* (clean )?(activation|value|hook_z|z|output)s? (over|across) (the )?(batch"
     r"|examples|prompts|pairs)|(batch|example)[- ](mean|average)d? clean|clean (activation|value|z|output)s? ("
     r"is |are |was )?(averaged|mean[- ]?ed|pooled)|(mean|average) clean (activation|value|run|z|output)|(not|i"
     r"nstead of) (each|every) (example|prompt|pair)'?s? own clean|clean\[?\w*\]?\.mean\(0|(subtract\w*|baselin"
     r"e|reference)[^.]{0,50}(mean|average)\w* (over|across) (the )?(batch|examples|prompts|pairs)|clean[^.]{0,"
     r"40}(averaged|mean) (over|across) (the )?(batch|examples|prompts|pairs)",
     atp_delta_against_the_batch_mean_clean_activation),
    ("check_atp_heads", "atp_gradient_of_the_negated_metric",
     r"(?i)(negat\w*|minus) (of )?(the )?metric|negated M\b|gradient of -M\b|loss (convention|instead)|(minimi["
     r"sz]\w*|descend\w*) (a |the )?loss|backward (of|on) (a |the )?(negative|negated|loss)|gradient of (the )?"
     r"(loss|negative)|(sign|direction) of the gradients? (is )?(flipped|reversed|wrong|inverted)|gradients? (h"
     r"ave|has|with) the (wrong|opposite|flipped) sign|flipped gradients?|backprop\w* (the )?(negative|negated|"
     r"minus)|loss ?= ?-",
     atp_gradient_of_the_negated_metric),
    # qk is [q0, k0, q1, k1, ...]: indexing it with the layer is right for layer 0 only
    ("check_qk_fix_queries", "qkq_interleaved_names_indexed_by_layer",
     r"(?i)interleav\w*|qk\[\s*l|2\s*\*\s*l|(q/k|qk|hook|name)s? list[^.]{0,60}(layer|index)|wrong (hook|name)s"
     r"? (for|at|in) (the )?(layer|later|deeper)|(later|deeper|other|second|higher) layers?[^.]{0,60}(wrong|ano"
     r"ther layer'?s|layer 0'?s|previous layer'?s) (hook|name|quer|key|activation)|(queries|keys|\bq\b|\bk\b) ("
     r"of|from) (the )?(wrong|another|previous|layer 0) layer",
     qkq_interleaved_names_indexed_by_layer),
    ("check_qk_fix_queries", "qkq_score_einsum_with_two_d_head_letters",
     r"(?i)(dot product|contract\w*|inner product)[^.]{0,60}(d_head|head dim\w*|last (axis|dim))|d_head (is |wa"
     r"s )?(not |never )?(contract|summ|paired|match)\w* (separately|independently)?|(not|no longer|isn'?t) a d"
     r"ot product|product of (the )?sums|(summed|sums) (separately|independently)|(separate|different|two|disti"
     r"nct) (einsum )?(letters|indices|subscripts)|bshe\b|\bd(_head)?\b[^.]{0,30}(letters?|indices|subscripts?)",
     qkq_score_einsum_with_two_d_head_letters),
    ("check_qk_fix_queries", "qkq_reference_pattern_from_the_corrupt_run",
     r"(?i)(clean|reference|baseline|subtracted|old|original|base) pattern[^.]{0,60}(corrupt|wrong run|wrong ca"
     r"che)|corrupt(ed)?( run'?s| cache'?s)? (attention )?pattern[^.]{0,60}(subtract|baseline|reference|instead"
     r" of (the )?clean|as (the )?(clean|reference|baseline))|(subtract\w*|minus) (the )?corrupt (run'?s? )?pat"
     r"tern|pattern (change|difference) (relative to|against|from) (the )?corrupt|corr\[pats|pattern (you |that"
     r" is |being )?subtract\w*[^.]{0,40}corrupt|subtract\w*[^.]{0,30}corrupt(ed)? (run'?s? |cache'?s? )?patter"
     r"n",
     qkq_reference_pattern_from_the_corrupt_run),
    ("check_qk_fix_queries", "qkq_pattern_gradient_summed_over_heads",
     r"(?i)gradients?[^.]{0,60}(sum\w*|add\w*|total\w*|pool\w*|aggregat\w*|combin\w*|averag\w*|mean) (over|acro"
     r"ss) (all )?(the )?heads|(every|each) head (gets|uses|receives) (the )?(same|layer'?s?|total|summed)|(lay"
     r"er'?s?|heads'?) (total|summed|combined) (pattern )?gradient|same gradient for (all|every) heads?|\.sum\("
     r"1, keepdim|gradient (is )?not (per|head)[- ]specific|other heads'? (pattern )?gradients?|head[- ]summed",
     qkq_pattern_gradient_summed_over_heads),
    ("check_qk_fix_queries", "qkq_layer_0_never_estimated",
     r"(?i)layer 0 (is |was )?(never|not|left|missing|skipped|zero|all zeros?|empty|omitted)|first layer (is |w"
     r"as )?(never|not|left|missing|skipped|zero|omitted)|(skips?|skipped|misses|missing|omits?|leaves? out) (t"
     r"he )?(first layer|layer 0)|range\(1, ?L\)|(loop )?(starts?|begins?) (at|from) layer 1|loop (starts|begin"
     r"s) (at|from) (1|one)\b|off[- ]by[- ]one[^.]{0,30}layer|(no|zero) estimates? for layer 0",
     qkq_layer_0_never_estimated),
    # the keys are divided by the scale when read, and the scores once more
    ("check_qk_fix_keys", "qkk_keys_prescaled_and_scores_scaled_again",
     r"(?i)(scal\w*|divid\w*|sqrt\(d_head\)|√d_head)[^.]{0,40}(twice|two times|double|again|second time)|(twice"
     r"|double)[- ]?(scal|divid)\w*|scale(d)? (is |was )?applied (twice|two times|again)|\bsc ?\*\* ?2|scale sq"
     r"uared|squared scale|scale²",
     qkk_keys_prescaled_and_scores_scaled_again),
    # the clean pattern is read from the cache (scaled by the model); the patched one is recomputed without the scale
    ("check_qk_fix_keys", "qkk_score_scale_left_out_of_the_patched_pattern",
     r"(?i)(scale|scaling|sqrt\(d_head\)|√d_head|attn_scale)\w*[^.]{0,60}(missing|left out|omitted|forgot\w*|no"
     r"t applied|absent|dropped|never applied)|(missing|no|without|forgot\w*|omit\w*)( the)? (score )?(scale|sc"
     r"aling|sqrt\(d_head\)|√d_head|attn_scale)|unscaled (scores|pattern)|(patched|new|recomputed) pattern[^.]{"
     r"0,60}(not scaled|unscaled|no scale|without (the )?scale)|(inconsistent|mismatch\w*) (scale|scaling)",
     qkk_score_scale_left_out_of_the_patched_pattern),
    ("check_qk_fix_keys", "qkk_upper_triangular_mask",
     r"(?i)triu|upper[- ]triang\w*|(mask|causal\w*)[^.]{0,40}(revers|flip|invert|transpos|backward|wrong direct"
     r"ion|upside)\w*|(future|later) (keys|positions|tokens)[^.]{0,40}(visible|allowed|attended|seen|kept|unmas"
     r"ked)|(past|earlier|previous) (keys|positions|tokens)[^.]{0,40}(masked|hidden|blocked)|(sees?|attends? to"
     r"|can see) (the )?(future|later) (keys|positions|tokens)|anti-?causal|s ?(>=|≥) ?t\b",
     qkk_upper_triangular_mask),
    ("check_qk_fix_keys", "qkk_queries_patched_instead_of_keys",
     r"(?i)(quer(y|ies)|\bq\b)[^.]{0,50}(instead of|rather than|in place of|not) (the )?keys?\b|keys?\b[^.]{0,4"
     r"0}(never|not|aren'?t|isn'?t) (patched|replaced|changed)|patch\w* (a |the )?quer(y|ies)[^.]{0,30}(not|ins"
     r"tead|rather)|query[- ]fix (code|formula|solution|loop) (reused|copied|applied)|copied from the query|\bq"
     r"2\b|the query at (position )?s\b",
     qkk_queries_patched_instead_of_keys),
    ("check_qk_fix_keys", "qkk_softmax_over_the_head_axis",
     r"(?i)softmax\w*[^.]{0,50}(heads?\b|dim ?= ?1\b|axis ?1\b|dimension 1\b|second (axis|dim))|(over|across|al"
     r"ong) (the )?heads?( axis| dim\w*)?[^.]{0,30}softmax|normali[sz]\w* (over|across) (the )?heads|softmax\(("
     r"dim=)?1\)|sum to (one|1) over (the )?heads",
     qkk_softmax_over_the_head_axis),
    ("check_graddrop", "gd_gate_returns_the_detached_gradient",
     r"(?i)detach\w*|(nothing|no (layer|gradient|path|write)s?) (is |are |gets |was )?(ever )?(dropped|stopped|"
     r"blocked|zeroed|removed)|(gate|hook)s?[^.]{0,40}(never|doesn'?t|does not|do not|don'?t) (zero|drop|stop|b"
     r"lock|remove)|gradients? (is |are )?(not|never) (actually )?(stopped|zeroed|dropped|blocked)|(every|each|"
     r"all) pass(es)? (is |are )?(the same|identical|undropped|unchanged)|same as (plain )?AtP",
     gd_gate_returns_the_detached_gradient),
    # g.zero_() in the gate: autograd hands the same gradient tensor to the residual skip, so that is zeroed too
    ("check_graddrop", "gd_gate_zeroes_the_gradient_in_place",
     r"(?i)in[- ]place|zero_\(\)|\.zero_|mutat\w*|(shared|same) (gradient )?tensor|residual (stream|skip|connec"
     r"tion|path)[^.]{0,60}(zeroed|dropped|cut|stopped|blocked|gated)|(skip|residual) (connection|path|stream)s"
     r"? (is |are |gets )?(also )?(zeroed|dropped|cut|stopped|blocked|gated)|(drops?|cuts?|stops?|zeroe?s?) (th"
     r"e )?(residual|skip)",
     gd_gate_zeroes_the_gradient_in_place),
    ("check_graddrop", "gd_negative_passes_clamped_to_zero",
     r"(?i)clamp\w*|clip\w*|relu|max\w*\(0|negative (pass(es)?|estimate|value|term|contribution|part)\w* (are |"
     r"is |were |get |set )?(to )?(zero|0|dropped|discarded|ignored|lost)|positive part|only (the )?positive",
     gd_negative_passes_clamped_to_zero),
    ("check_graddrop", "gd_passes_concatenated_not_stacked",
     r"(?i)torch\.cat|\bcat\b|concat\w*|(stack|stacked) (instead|rather)|(passes|pass axis|pass dimension)[^.]{"
     r"0,50}(merged|mixed|folded|flattened|combined) (with|into) (the )?(batch|examples|prompt)",
     gd_passes_concatenated_not_stacked),
    # the grab hook skips names it has already seen ("hooks may fire twice") and grads is never cleared
    ("check_graddrop", "gd_first_passes_gradients_kept_for_every_pass",
     r"(?i)(first|pass 0'?s?|initial|earliest|first pass'?s?) (pass'?s? )?gradients? (is |are )?(reused|kept|us"
     r"ed|stuck|repeated|never (updated|replaced|refreshed|overwritten))|gradients? (are |is |were )?(never|not"
     r") (updated|refreshed|replaced|overwritten|cleared|reset)|(stale|old|cached|previous) gradients?|(not|nev"
     r"er) clear\w*|clear\(\)|(every|each|all) pass(es)? (use|uses|get|gets|see|sees|reuses?) (the )?(same|firs"
     r"t|pass 0)|not in grads|setdefault",
     gd_first_passes_gradients_kept_for_every_pass),
    ("check_eap", "eap_negative_edges_clamped_to_zero",
     r"(?i)clamp\w*|clip\w*|relu|max\w*\(0|negative (edge|score|estimate|value|entr)\w* (are |is |were |set |be"
     r"come )?(to )?(zero|0|dropped|removed|discarded|lost)|(zero|0)(ed|s)? (out )?(the |all |every )?negative|"
     r"only (the )?positive|positive part|floor\w* at (zero|0)",
     eap_negative_edges_clamped_to_zero),
    ("check_eap", "eap_mean_over_every_axis",
     r"(?i)mean\(\)|mean without (a )?dim|(mean|averag\w*) (over|across) (all|every) (axes|axis|dimensions|dims"
     r"|entries|edges)|(single|one|same|constant|scalar) (value|number|score) (on|for|in|across) (all|every) (e"
     r"dges?|entries)|(every|all) edges? (get|have|share|receive) the same|scalar (broadcast|mean)|(collapsed|r"
     r"educed) to a scalar|(averag\w*|mean) (over|across) (the )?(sources|destinations)( and|,)|averag\w* (over"
     r" )?everything|mean of everything|(one|single) scalar|a scalar (is )?broadcast",
     eap_mean_over_every_axis),
    ("check_eap", "eap_source_change_squared",
     r"(?i)squar\w*|\*\* ?2|\^ ?2|²|second[- ]order|(delta|difference|change) (times|multiplied by) itself|quad"
     r"ratic",
     eap_source_change_squared),
    ("check_eap", "eap_non_edges_filled_with_minus_infinity",
     r"(?i)\binf\b|infinit\w*|−∞|-∞|(non-?edges?|masked|off[- ]mask|impossible edges?|invalid (edges|entries)|e"
     r"ntries outside)[^.]{0,60}(not (zero|0)|instead of (zero|0)|should be (zero|0)|must be (zero|0))|masked_f"
     r"ill|not zero off (the )?(edge )?mask|\bnan\b",
     eap_non_edges_filled_with_minus_infinity),
    # "a destination reads what was written before it": the change at position p meets the gradient at p + 1
    ("check_eap", "eap_source_change_paired_with_the_next_positions_gradient",
     r"(?i)(positions?|tokens?|sequence)[^.]{0,50}(shift\w*|offset|misalign\w*|off[- ]by[- ]one|mismatch\w*|rol"
     r"l\w*)|(shift\w*|offset|misalign\w*|off[- ]by[- ]one) (by one )?(position|token|in (the )?positions?|alon"
     r"g (the )?(position|sequence))|next position'?s? gradient|gradient (at|of|from) (the )?(next|following|la"
     r"ter) position|(previous|earlier) position'?s? (delta|change)|\bp ?\+ ?1\b",
     eap_source_change_paired_with_the_next_positions_gradient),
    # (1 - k) / m * e_corrupt + k / m * e_clean: the weights of the two endpoints no longer sum to one
    ("check_eap_ig", "eapig_one_minus_k_without_parentheses",
     r"(?i)precedence|parenthes\w*|bracket\w*|\(1 ?- ?k\) ?/|1 ?- ?k ?/ ?(m|steps)|(weights?|coefficients?) (of"
     r"|on) (the )?(corrupt|e_corrupt|endpoints?)[^.]{0,40}(wrong|negative|do not sum|don'?t sum|not sum)|(weig"
     r"hts?|coefficients?) (do not|don'?t|does not|doesn'?t) (sum|add up) to (one|1)|(points?|path) (is |are |l"
     r"ies |lie )?(not|off) (on )?(the )?(straight )?(line|path|segment)|negative (weight|coefficient)",
     eapig_one_minus_k_without_parentheses),
    ("check_eap_ig", "eapig_alphas_squared",
     r"(?i)squar\w*|\*\* ?2|\^ ?2|²|(non-?uniform|uneven\w*|unequal\w*|irregular\w*|quadratic\w*) (spac|distrib"
     r"ut|spread|step|point|alpha|schedul)\w*|(points?|alphas?|samples?) (are |is )?(not|aren'?t|isn'?t) (evenl"
     r"y|uniformly|equally) (spaced|distributed)|bunch\w*|cluster\w*|crowd\w*|alphas? (are |is )?(not|aren'?t|i"
     r"sn'?t) k ?/ ?m",
     eapig_alphas_squared),
    ("check_eap_ig", "eapig_loop_starts_at_two",
     r"(?i)range\(2|(starts?|begins?) (at|from) (k ?= ?)?2\b|\bk ?= ?2\b|(first|lowest|alpha ?= ?1/m|k ?= ?1|1/"
     r"m) (point|alpha|sample|step|term)?[^.]{0,40}(skipped|missing|dropped|omitted|never (evaluated|used|compu"
     r"ted)|left out)|(skips?|misses|missing|omits?|drops?|leaves? out) (the )?(first|k ?= ?1|1/m|alpha ?= ?1/m"
     r"|point (next|closest|nearest) to (the )?corrupt)|only m ?- ?1 (points|terms|gradients)|m ?- ?1 (points|g"
     r"radients|terms) (divided|averaged) by m",
     eapig_loop_starts_at_two),
    ("check_eap_ig", "eapig_floor_division_by_the_number_of_points",
     r"(?i)//|floor\w*|integer division|round\w* (down|toward)|truncat\w*|(divid\w*|division)[^.]{0,30}(rounds?"
     r"|integers?)",
     eapig_floor_division_by_the_number_of_points),
    # "EAP-IG (inputs)" read as: only the input's (the embedding's) edges are integrated, the other sources get 0
    ("check_eap_ig", "eapig_only_edges_out_of_the_embedding_integrated",
     r"(?i)only (the )?(edges? (out )?of |from )?(the )?(embed\w*|input)('s)? (edges?|source|row)|(other|non-?e"
     r"mbedding|remaining|all other|every other) (sources?|rows?|nodes?)('s)?[^.]{0,40}(zero|dropped|missing|ig"
     r"nored|left out|omitted|not scored)|(heads?|mlps?)('s)? (outgoing )?edges[^.]{0,40}(zero|missing|dropped)"
     r"|deltas?\[1:\]|(sources?|rows?) (other than|besides|except) (the )?embed\w*|misread\w*[^.]{0,20}inputs|o"
     r"nly (the )?input'?s? edges|edges (from|out of) (the )?(heads?|mlps?)[^.]{0,30}(zero|missing)",
     eapig_only_edges_out_of_the_embedding_integrated),
    ("check_gradpath", "gp_step_sizes_arguments_swapped",
     r"(?i)(argument|parameter|\barg)s?[^.]{0,40}(order|swapp\w*|switch\w*|mixed|wrong place)|(swapp\w*|switch\w"
     r"*|mixed up|transposed) (the )?(arguments|parameters|step_size and steps|steps and step_size)|step_sizes\("
     r"steps|eta ?(=|equals|is|of) ?(steps|the number of steps)\b|step (length|size) (equals|=|is) (the number "
     r"of )?steps|steps (passed|used|given) as (the )?step_size|step_size (passed|used|given) as (the )?steps",
     gp_step_sizes_arguments_swapped),
    ("check_gradpath", "gp_unit_step_per_coordinate",
     r"(?i)sqrt\(d_?model\)|√d_?model|d_model ?\*\* ?0?\.5|(unit|step|eta|length)[^.]{0,40}(per|each|every) (co"
     r"ordinate|component|dimension|entry|element)|(step|eta|length)[^.]{0,40}(times|multiplied by|scaled by) ("
     r"the )?(square root|sqrt|√)",
     gp_unit_step_per_coordinate),
    ("check_gradpath", "gp_always_scaled_steps",
     r"(?i)step_size (is |was )?(ignored|unused|never used|not used|overridden|hard[- ]?coded)|(ignor\w*|overri"
     r"d\w*|hard[- ]?cod\w*) (the )?step_size|always (uses? |takes? )?(the )?.?scaled|.?scaled.? (rule )?(hard[- "
     r"]?coded|always)|scaled (rule|steps?|step sizes?) (instead of|rather than|for|when) (the )?.?unit|unit (ste"
     r"ps? )?(requested|asked|given)[^.]{0,40}scaled",
     gp_always_scaled_steps),
    ("check_gradpath", "gp_step_length_times_the_step_index",
     r"(?i)(step|eta|length)s?[^.]{0,40}(grow\w*|increas\w*|lengthen\w*|scal\w* (with|by) (the )?(step )?(index"
     r"|number|count)|multiplied by (the )?(step )?(index|number|\(i ?\+ ?1\)))|\(i ?\+ ?1\) ?\* ?eta|\b(k|i) ?"
     r"\* ?eta|eta ?\* ?\(?(k|i)\b|accelerat\w*|(not|never) (a )?constant (step|length)|steps? (get|gets|gettin"
     r"g) (longer|larger|bigger)",
     gp_step_length_times_the_step_index),
    ("check_gradpath", "gp_points_snapped_to_the_nearest_token",
     r"(?i)(nearest|closest) (token|embedding|vocab\w*|row)|snap\w*|project\w* (back )?(on)?to (the )?(token|vo"
     r"cab\w*|embedding matrix|W_E)|W_E\[|argmin|discreti[sz]\w*|quanti[sz]\w*|(real|actual|valid) tokens?|roun"
     r"d\w* to (a )?token",
     gp_points_snapped_to_the_nearest_token),
    ("check_verify_top", "vt_negative_estimates_dropped",
     r"(?i)negative (estimates?|scores?|names?|components?|ones?|values?) (are |is |were |get )?(dropped|remove"
     r"d|filtered|discarded|skipped|excluded|left out|ignored|lost)|(drops?|remov\w*|filter\w*|discard\w*|skip\w"
     r"*|exclud\w*) (the |all )?(negative|names with (a )?negative)|only (the )?(positive|helpful)|> ?0\b|(posi"
     r"tive|sign)[- ]filter\w*|keeps? only (the )?positive",
     vt_negative_estimates_dropped),
    ("check_verify_top", "vt_ranked_after_normalising_each_kind",
     r"(?i)(normali[sz]\w*|rescal\w*|divid\w*|scal\w*)[^.]{0,60}(per|within|by|each|every|separately for each) "
     r"(kind|type|group|category)|(per|each)[- ](kind|type|group) (normali[sz]|max|maximum|scale)\w*|(kind|type"
     r"|group)'?s? (own )?(largest|max\w*|top) (\|?score\|?|value)|rank\w* (on|by) (a )?relative (score|scale)|"
     r"(compar\w*|rank\w*) (kinds|heads and (edges|mlps)) (on|at) (a )?(common|same) scale",
     vt_ranked_after_normalising_each_kind),
    ("check_verify_top", "vt_edges_keep_their_estimates",
     r"(?i)edges?[^.]{0,60}(not|never|aren'?t|isn'?t) (patched|verified|measured|run|checked)|edges?[^.]{0,40}("
     r"keep|kept|return\w*|use|uses|used|report\w*|copy|copied) (their|the) (own )?(estimates?|scores?|attribut"
     r"ion)|(estimates?|scores?) (returned|reported|kept|used) (for|as) (the )?edges?|(patch_edges|edge patchin"
     r"g) (is |was )?(never|not) (called|used|run)|skip\w* (the )?edges?",
     vt_edges_keep_their_estimates),
    ("check_verify_top", "vt_effects_as_shares_of_the_verified_total",
     r"(?i)(fraction|share|proportion|percent\w*|normali[sz]\w*|relative)\w*[^.]{0,60}(total|sum|verified (effe"
     r"cts|total)|all (the )?(verified|top)|the k effects)|divid\w* by (the )?(sum|total)( of)?|sums? to (one|1"
     r")\b|(fractions?|shares?|proportions?) (of|instead of) (the )?(total|sum|effect)",
     vt_effects_as_shares_of_the_verified_total),
    ("check_verify_top", "vt_effects_given_the_estimates_sign",
     r"(?i)sign (of|from) the (estimate|score|attribution)|(estimate|score)'?s? signs?|(copied|copies|takes?|to"
     r"ok|borrow\w*|forc\w*|impos\w*|align\w*|matched|matches) (the )?signs?|(abs|absolute|magnitude)\w*[^.]{0,"
     r"40}(times|multiplied by|with) (the |a )?sign|sign[- ]align\w*|same sign (convention )?as the (estimate|s"
     r"core)",
     vt_effects_given_the_estimates_sign),
]
