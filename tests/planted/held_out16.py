"""Held-out set #16, written blind (the writer never saw the checks, their messages or the other
held-out sets) on 2026-12-06 (round 16); measured once, unseen.

Five mistakes per exercise, each written inline as a learner would (a copy of the chapter's solution
with the mistake on one of its own lines), aiming at the long tail of realistic first-attempt slips
that are not in the list of ideas already planted. The cause regexes were written from the causes
alone, before anything measured them.

Verified once by hand (/work/scratch/r16/verify.py) against the chapter's own solution on the
models and tasks the chapters build: chapter 0, induction n=16 seed=0; chapter 1, the saturation
specimen and induction n=16 seed=0; chapter 2, the cancellation specimen and the mixture model's
IOI task n=16 seed=0; chapter 3, the flat-region specimen and mixture IOI n=8 seed=0 (steps=5);
chapter 4, the path-saturation specimen and induction n=16 seed=0 (steps=5, unit steps); chapter 5,
mixture IOI n=8 seed=0 with k=5 and three estimates (AtP of heads and MLPs, AtP of q/k, EAP).
A mistake was kept when on at least one of them its max |difference| is >= 2 % of the correct
result's largest magnitude, or it crashes, or it returns a wrong shape or wrong names. Several are
invisible on a specimen (one changed token, one or two layers) and show on the trained model only.
"""

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params

NEG = float("-inf")


# ----------------------------------------------------------------------------- check_patch_heads
def ph_last_layer_never_patched(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L - 1):  # the loop bound stops one layer short
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_median_over_prompt_pairs(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
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
                out[l, h] = (task.per_example(model(task.clean)) - base).median()  # median, not mean
    return out


def ph_hook_pair_not_in_a_list(model, task):
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

            with torch.no_grad(), model.hooks(fwd_hooks=(names[l], put)):  # one pair, no list around it
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_effect_divided_by_seq_len(model, task):
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
                # "per patched position": every position was patched, so the learner divides by them
                out[l, h] = (task.metric_value(model(task.clean)) - base) / task.seq_len
    return out


def ph_hooks_context_not_entered(model, task):
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

            model.hooks(fwd_hooks=[(names[l], put)])  # called, never used in a `with`
            with torch.no_grad():
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# ----------------------------------------------------------------------------- check_atp_heads
def atp_batch_mean_divides_by_seq_len(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    n = len(task.clean[0])  # meant the number of prompt pairs: this is the sequence length
    return torch.stack([((corr[k] - clean[k]) * grads[k]).sum((0, 1, 3)) / n for k in names])


def atp_cache_tuple_not_unpacked(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    corr = cache_activations(model, task.corrupt, names)  # (logits, cache), not the cache
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_keepdim_extra_axes(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3), keepdim=True).mean(0) for n in names])


def atp_last_position_dropped(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # a next-token habit: [:, :-1] drops the last position, where the metric is read
    return torch.stack([((corr[n] - clean[n]) * grads[n])[:, :-1].sum((1, 3)).mean(0) for n in names])


def atp_attn_out_gradient_split_into_heads(model, task):
    # hook_attn_out taken for the concatenated head outputs: its gradient is reshaped into heads
    L, H, d = model.cfg.n_layers, model.cfg.n_heads, model.cfg.d_head
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    outs = [f"blocks.{l}.hook_attn_out" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, outs)
    est = []
    for n, o in zip(names, outs):
        g = grads[o].reshape(*grads[o].shape[:2], H, d)
        est.append(((corr[n] - clean[n]) * g).sum((1, 3)).mean(0))
    return torch.stack(est)


# ----------------------------------------------------------------------------- check_qk_fix_queries
def _qk_caches(model, task):
    L = model.cfg.n_layers
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    return corr, clean, grads, pats


def qkq_query_copy_made_once_outside_the_loop(model, task):
    # a loop over query positions, with the patched copy made once per layer: patches pile up
    L, H, T = model.cfg.n_layers, model.cfg.n_heads, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, H, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new, sc = corr[f"blocks.{l}.attn.hook_q"], attn_scale(model, l)

        def pattern(queries):
            return (torch.einsum("bthd,bshd->bhts", queries, k) / sc).masked_fill(~mask, NEG).softmax(-1)

        A = pattern(q)
        q2 = q.clone()
        for t in range(T):
            q2[:, t] = q_new[:, t]
            out[l, :, t] = ((pattern(q2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkq_masked_fill_result_discarded(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new, sc = corr[f"blocks.{l}.attn.hook_q"], attn_scale(model, l)
        s_old = torch.einsum("bthd,bshd->bhts", q, k) / sc
        s_new = torch.einsum("bthd,bshd->bhts", q_new, k) / sc
        s_old.masked_fill(~mask, NEG)  # out of place: the masked copy is thrown away
        s_new.masked_fill(~mask, NEG)
        out.append(((s_new.softmax(-1) - s_old.softmax(-1)) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_new_pattern_from_clean_queries(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new, sc = corr[f"blocks.{l}.attn.hook_q"], attn_scale(model, l)  # noqa: F841 -- q_new is never used below
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, NEG).softmax(-1)  # q, not q_new
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_square_root_of_attn_scale(model, task):
    # attn_scale is already sqrt(d_head); the learner takes its square root again
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l) ** 0.5
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_matmul_without_moving_the_head_axis(model, task):
    # q @ k^T on [B, pos, head, d_head] tensors: the batch dims are (B, pos), so it crosses heads
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new, sc = corr[f"blocks.{l}.attn.hook_q"], attn_scale(model, l)
        A = ((q @ k.transpose(-1, -2)) / sc).masked_fill(~mask, NEG).softmax(-1)
        A_new = ((q_new @ k.transpose(-1, -2)) / sc).masked_fill(~mask, NEG).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_exact_key_patching(model, task):
    # activation patching of each key (one forward per layer, head and key) instead of the QK fix
    L, H, T = model.cfg.n_layers, model.cfg.n_heads, task.seq_len
    names = [f"blocks.{l}.attn.hook_k" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H, T)
    for l in range(L):
        for h in range(H):
            for s in range(T):
                def put(act, hook, l=l, h=h, s=s):
                    act = act.clone()
                    act[:, s, h] = corr[names[l]][:, s, h]
                    return act

                with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                    out[l, h, s] = task.metric_value(model(task.clean)) - base
    return out


def qkk_rows_before_s_zero_in_new_pattern(model, task):
    # only rows t >= s are re-softmaxed; rows t < s of the new pattern are left at zero
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, NEG).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            A2 = torch.zeros_like(A)
            A2[:, :, s:] = pattern(k2)[:, :, s:]
            out[l, :, s] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_clean_pattern_from_the_corrupt_cache(model, task):
    # the clean pattern read from the cache of the wrong run (corr, not clean)
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk + pats)
    _, clean, grads = cache_activations_and_grads(model, task, qk + pats, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = corr[pats[l]]
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            A2 = (torch.einsum("bthd,bshd->bhts", q, k2) / sc).masked_fill(~mask, NEG).softmax(-1)
            out[l, :, s] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_mask_lets_each_query_see_the_next_key(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril(1)  # diagonal=1: one future key visible
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, NEG).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_batch_mean_missing(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, NEG).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2))  # [B, H] into an [H] slot
    return out


# ----------------------------------------------------------------------------- check_graddrop
def gd_abs_after_batch_mean(model, task):
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
    return torch.stack(per_pass).mean(1).abs().sum(0) / (L - 1)  # batch mean first, abs after


def gd_forward_under_no_grad(model, task):
    # the forward context copied from patch_heads: no_grad where enable_grad belongs
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
    with frozen_params(model), torch.no_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_abs_per_position_before_summing(model, task):
    # |.| taken per position (after the d_head sum), then summed over positions
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
            prods = [(corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n])) for n in names]
            per_pass.append(torch.stack([p.sum(3).abs().sum(1) for p in prods], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_grab_hook_returns_the_scaled_gradient(model, task):
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B
        return grads[n]  # handed back to autograd: replaces the gradient flowing upstream
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
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_gate_condition_inverted(model, task):
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B
    def gate(g, hook, l=None):
        return g if drop["layer"] == l else torch.zeros_like(g)  # the test the wrong way round
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


# ----------------------------------------------------------------------------- check_eap
def eap_edge_mask_not_applied(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size


def eap_mean_ablation_baseline(model, task):
    # the corrupt writes averaged over the prompt pairs (mean ablation), not each pair's own
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr).mean(1, keepdim=True) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_positions_summed_before_product(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = (graph.stack_sources(corr) - graph.stack_sources(clean)).sum(2)
    scores = torch.einsum("sbd,tbd->st", deltas, graph.stack_dest_grads(grads).sum(2)) / task.batch_size
    return scores * graph.edge_mask


def eap_first_prompt_pair_only(model, task):
    # a debugging index b = 0 left in: one prompt pair's edges stand for the batch
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("spd,tpd->st", deltas[:, 0], graph.stack_dest_grads(grads)[:, 0])
    return scores * graph.edge_mask


def eap_node_names_used_as_hook_names(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.sources))  # "embed", "L0H0", ...: nodes
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.sources), list(graph.destinations))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_eap_ig
def ig_point_written_into_resid_pre(model, task, steps):
    # the point (token embeddings only) replaces blocks.0.hook_resid_pre: the positions are lost
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("blocks.0.hook_resid_pre", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def ig_point_passed_as_tokens(model, task, steps):
    # the interpolated embedding handed to the run as its tokens
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), tokens=target)
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def ig_edge_mask_not_applied(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores


def ig_alpha_is_k_not_k_over_m(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + k * (e_c - e_n)  # the /steps forgotten
        hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def ig_absolute_scores_returned(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return (scores * graph.edge_mask).abs()  # "importance" as a magnitude: the sign is lost



# ----------------------------------------------------------------------------- check_gradpath
def gp_spectral_norm_not_frobenius(model, task, steps, step_size="unit"):
    # torch.linalg.norm(g, 2, dim=(1, 2)) is the largest singular value, not the L2 norm of the entries
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            nrm = torch.linalg.norm(g, 2, dim=(1, 2)).clamp_min(1e-12).view(-1, 1, 1)  # matrix 2-norm
            gamma = (leaf - eta * g / nrm).detach()
            points.append(gamma)
    return torch.stack(points)


def _kl_to_target(model, tokens, embed, target_logits):
    with model.hooks(fwd_hooks=[(LEAF_HOOK, lambda t, hook: embed.to(t.dtype))]):
        logits = model(tokens)
    p = target_logits.log_softmax(-1)
    return (p.exp() * (p - logits.log_softmax(-1))).sum(-1).sum(-1)  # KL(target || G) per example


def gp_kl_divergence_not_squared_logit_distance(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(_kl_to_target(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_autograd_grad_tuple_not_unpacked(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            g = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_only_the_differing_positions_move(model, task, steps, step_size="unit"):
    # only the positions whose tokens differ are allowed to move
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    moves = (task.clean != task.corrupt)[..., None].to(e_c.dtype)  # [B, P, 1]
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            g = g * moves  # positions whose tokens agree are held fixed
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def _per_position_norms(model, tokens, embed, target_logits):
    with model.hooks(fwd_hooks=[(LEAF_HOOK, lambda t, hook: embed.to(t.dtype))]):
        logits = model(tokens)
    return (logits - target_logits).norm(dim=-1).sum(-1)  # sum of per-position norms, never squared


def gp_sum_of_per_position_norms(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(_per_position_norms(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)



# ----------------------------------------------------------------------------- check_verify_top
def _kind(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def _patch(model, task, what, group):
    if what == "edge":
        return wb.patch_edges(model, task, edges=group)
    return wb.patch_nodes(model, task, what, nodes=group)


def vt_loop_variable_shadows_the_kind_function(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        return _kind(name)

    effects = {}
    for kind in dict.fromkeys(map(kind, names)):  # noqa: B020 -- the loop variable replaces kind()
        group = [n for n in names if kind(n) == kind]
        res = _patch(model, task, kind, group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_order_called_with_k(model, task, scores, k=5):
    names = scores.order(k)  # k lands in `absolute`: no cut at k
    effects = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        res = _patch(model, task, what, group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_ranked_by_mean_abs_per_example(model, task, scores, k=5):
    # |score| per prompt pair averaged, instead of |batch-mean score|
    size = scores.per_example.abs().mean(0)
    names = [scores.names[i] for i in size.argsort(descending=True)[:k].tolist()]
    effects = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        res = _patch(model, task, what, group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_nodes_verified_by_their_edge_to_the_logits(model, task, scores, k=5):
    # every exact effect from patch_edges: a node is patched through its direct edge to the logits
    names = scores.order(absolute=True)[:k]
    edges = [n if "->" in n else f"{n}->logits" for n in names]
    res = wb.patch_edges(model, task, edges=edges)
    return wb.Scores(names, torch.tensor([float(res[e]) for e in edges]), method="activation patching",
                     kind=scores.kind)


def vt_values_written_at_the_group_index(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    values = torch.zeros(len(names))
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        res = _patch(model, task, what, group)
        for i, n in enumerate(group):  # i counts within the group, not within names
            values[i] = float(res[n])
    return wb.Scores(names, values, method="activation patching", kind=scores.kind)


# ----------------------------------------------------------------------------- the list
PH, ATP, QKQ, QKK = "check_patch_heads", "check_atp_heads", "check_qk_fix_queries", "check_qk_fix_keys"
GD, EAP, IG, GP, VT = "check_graddrop", "check_eap", "check_eap_ig", "check_gradpath", "check_verify_top"

MISTAKES = [
    (PH, "ph_last_layer_never_patched",
     r"(?i)last layer|final layer|top layer|range\(L ?- ?1\)|range\(n_layers ?- ?1\)|stops? (one|a) layer (early|short)"
     r"|one layer short|every layer but the last|all but the last layer|layer loop bound",
     ph_last_layer_never_patched),
    (PH, "ph_median_over_prompt_pairs",
     r"(?i)median|middle value",
     ph_median_over_prompt_pairs),
    (PH, "ph_hook_pair_not_in_a_list",
     r"(?i)list of (\(name, ?fn\) |\(name, ?hook\) )?(pairs|tuples)|not (in|wrapped in|inside) a list"
     r"|one (\(name, ?fn\) )?pair|single (\(name, ?fn\) )?(pair|tuple)|bare (pair|tuple)|square brackets"
     r"|fwd_hooks ?= ?\[",
     ph_hook_pair_not_in_a_list),
    (PH, "ph_effect_divided_by_seq_len",
     r"(?i)(divid\w*|normali[sz]\w*|scal\w*) by (the )?(seq(uence)?[ _-]?len(gth)?|number of (patched )?positions"
     r"|positions|tokens|prompt length)|/ ?(task\.)?seq_len|effect per (patched )?position"
     r"|per-position (average|mean|effect)|1 ?/ ?(seq|T\b)",
     ph_effect_divided_by_seq_len),
    (PH, "ph_hooks_context_not_entered",
     r"(?i)context manager|without (a |the )?`?with`?|(never|not) entered|with model\.hooks"
     r"|hooks? (are|were|is|was) never (registered|applied|active|attached|installed|used)"
     r"|no hooks? (is |was |were |are )?(registered|applied|active|attached)|hooks?\(\) (is )?(only )?called"
     r"|return value of model\.hooks",
     ph_hooks_context_not_entered),
    (ATP, "atp_batch_mean_divides_by_seq_len",
     r"(?i)(divid\w*|normali[sz]\w*) by (the )?(seq(uence)?[ _-]?len(gth)?|number of positions|prompt length|T\b)"
     r"|seq(uence)?[ _-]?len(gth)? (instead of|not|rather than) (the )?(batch|B\b|number of (prompt pairs|examples))"
     r"|len\(task\.clean\[0\]\)|shape\[1\]|instead of (the )?batch size|not the batch size",
     atp_batch_mean_divides_by_seq_len),
    (ATP, "atp_cache_tuple_not_unpacked",
     r"(?i)(not|never|forg[oe]t\w* to) unpack\w*|without unpacking"
     r"|cache_activations returns (a )?\(?logits, ?(cache|acts)|(indexes|indexing|index) (the |a )?tuple"
     r"|tuple (is )?indexed (by|with) (a )?(name|string)"
     r"|whole (return value|tuple) (is )?(used|taken) as (the )?(cache|dict)|_, ?corr ?=",
     atp_cache_tuple_not_unpacked),
    (ATP, "atp_keepdim_extra_axes",
     r"(?i)keepdim|extra (size-1 |singleton )?(axis|axes|dim\w*)|singleton (axis|axes|dim\w*)|size-1 (axis|axes|dim\w*)"
     r"|squeeze|\[\d+, ?1, ?\d+, ?1\]",
     atp_keepdim_extra_axes),
    (ATP, "atp_last_position_dropped",
     r"(?i)last (token|position)('s)? (is |are )?(dropped|missing|left out|excluded|skipped|cut|never (summed|counted"
     r"|included))|:-1\]|every position but the last|all but the last position|without the last position"
     r"|drops? the (final|last) (position|token)"
     r"|(final|last) (position|token) (is )?(not|never) (summed|included|counted)",
     atp_last_position_dropped),
    (ATP, "atp_attn_out_gradient_split_into_heads",
     r"(?i)attn_out|attention (block |layer )?output|after (the )?W_?O|output projection|layer'?s? (attention )?output"
     r"|concatenat\w* (of )?(the )?heads?"
     r"|(reshap|split|view)\w* (the )?(layer|attention|block)\w* (output|gradient)s? into heads",
     atp_attn_out_gradient_split_into_heads),
    (QKQ, "qkq_query_copy_made_once_outside_the_loop",
     r"(?i)cumulativ\w*|accumulat\w*"
     r"|(earlier|previous|prior) (query |queries|positions?)('s)? (patches? )?(stay|remain|still|left|kept|persist)"
     r"|not (reset|re-?cloned|restored|copied afresh)|clon\w* (only )?(once|outside|before the (position |t )?loop)"
     r"|patches? (pile|build) up|queries 0 ?(\.\.|to|-) ?t|positions 0 ?(\.\.|to|-) ?t"
     r"|every (earlier|previous) (query|position)",
     qkq_query_copy_made_once_outside_the_loop),
    (QKQ, "qkq_masked_fill_result_discarded",
     r"(?i)masked_fill (returns|is not in[- ]place|is out[- ]of[- ]place|makes a (new|copy))"
     r"|result (of (the )?masked_fill )?(is )?(discarded|thrown away|never assigned|not assigned|ignored|dropped)"
     r"|masked_fill_|not in[- ]place|(causal )?mask (is )?(never|not) (applied|used|assigned|taking effect)"
     r"|no causal mask|without (the |a )?causal mask|unmasked"
     r"|future (keys|positions) (are )?(not masked|visible|attended)",
     qkq_masked_fill_result_discarded),
    (QKQ, "qkq_new_pattern_from_clean_queries",
     r"(?i)(clean|original|unpatched) quer(y|ies) (is |are )?(used )?(for|in|to (build|compute|recompute)) (the )?(new"
     r"|patched)|corrupt quer(y|ies) (is |are )?never used|never uses? the corrupt quer|q_new (is )?(never used|unused)"
     r"|A'? ?(==|equals|is the same as|is identical to) ?A\b"
     r"|new pattern (equals|is identical to|is the same as) the clean"
     r"|(pattern change|A_new ?- ?A|A' ?- ?A) (is )?(identically )?(zero|0)",
     qkq_new_pattern_from_clean_queries),
    (QKQ, "qkq_square_root_of_attn_scale",
     r"(?i)sqrt (taken |applied )?twice|square root (taken |applied )?twice|square root of (the )?(attn_)?scale"
     r"|fourth root|d_head ?\*\* ?0?\.25|(attn_)?scale (is|was) already (a |the )?(sqrt|square root)"
     r"|attn_scale ?\*\* ?0?\.5|sqrt\(attn_scale|scale too small",
     qkq_square_root_of_attn_scale),
    (QKQ, "qkq_matmul_without_moving_the_head_axis",
     r"(?i)head (axis|dim\w*) (is )?(not |never )?(moved|permuted|transposed|brought forward)"
     r"|without (moving|permuting|transposing) (the )?heads?"
     r"|heads? (are )?(crossed|mixed|contracted|multiplied together)|matmul|q ?@ ?k"
     r"|(scores|products?) (over|across|between) (the )?heads|\(B, ?pos\) (as|are) (the )?batch dim",
     qkq_matmul_without_moving_the_head_axis),
    (QKK, "qkk_exact_key_patching",
     r"(?i)activation[- ]patch\w*|exact(ly)? patch\w*|actually patch\w*"
     r"|patch(es|ed|ing)? (the )?keys? (itself|in the model|directly|in a forward)"
     r"|forward (pass|run)s? (per|for each) key|metric after patching|re-?runs? the model"
     r"|not (a|the) (first-order|linear|linearised) (estimate|approximation)"
     r"|instead of (the )?(estimate|QK[- ]fix formula)"
     r"|real (patched )?(effect|metric)|patched (metric|forward run)",
     qkk_exact_key_patching),
    (QKK, "qkk_rows_before_s_zero_in_new_pattern",
     r"(?i)rows? (t ?< ?s|before s|above s|earlier than s|before (the )?key)|earlier (query )?rows"
     r"|(new|patched) pattern('s rows)? (is |are )?(zero|empty|left at zero|0)"
     r"|rows? (are )?(left|set|kept) (at|to) (zero|0)|zeros_like|(initiali[sz]ed|starts?) (as|at|with|from) zeros?"
     r"|instead of (copying|keeping) the clean rows",
     qkk_rows_before_s_zero_in_new_pattern),
    (QKK, "qkk_clean_pattern_from_the_corrupt_cache",
     r"(?i)(clean|baseline|reference|old) pattern (is |was )?(taken |read |comes )?from the corrupt"
     r"|corrupt (run'?s? )?pattern (is )?(used|subtracted) (as|for) (the )?(clean|baseline|A\b)|A ?= ?corr"
     r"|subtracts? the corrupt (run'?s? )?pattern|corr\[pats|wrong (cache|dict)|pattern (of|from) the corrupt run",
     qkk_clean_pattern_from_the_corrupt_cache),
    (QKK, "qkk_mask_lets_each_query_see_the_next_key",
     r"(?i)tril\(1\)|tril\(diagonal ?= ?1\)|diagonal ?= ?1|(one|a|the next) (future|later) (key|position|token)"
     r"|next (key|position|token) (is )?(visible|allowed|unmasked)|key t ?\+ ?1"
     r"|off[- ]by[- ]one (in|on) the (causal )?mask|mask (is )?(shifted|one (step|position) (too far|off))"
     r"|peeks? (one|a) (step|token|position) ahead",
     qkk_mask_lets_each_query_see_the_next_key),
    (QKK, "qkk_batch_mean_missing",
     r"(?i)(no|missing|without (the |a )?|forg[oe]t\w* (the )?)batch[- ]mean"
     r"|mean over (the )?(batch|prompt pairs|examples) (is )?(missing|forgotten|never taken)"
     r"|(per[- ](example|prompt pair)) (values|estimates)|\[B, ?H\]|\.mean\(0\)"
     r"|(not|never) averag\w* over (the )?(batch|prompt pairs|examples)",
     qkk_batch_mean_missing),
    (GD, "gd_abs_after_batch_mean",
     r"(?i)abs\w* (value )?(is )?(taken |applied )?after (the )?(batch|averag\w*|mean)"
     r"|(mean|averag\w*) (over|across) (the )?(batch|prompt pairs|examples) (is )?(taken )?before (the )?abs"
     r"|abs\w* of the (batch[- ])?mean|\|mean|abs\(mean|abs per (example|prompt pair)"
     r"|before averaging over (the )?(batch|prompt pairs|examples)"
     r"|(averag\w*|mean)[\w ]{0,30}before (taking )?(the )?abs",
     gd_abs_after_batch_mean),
    (GD, "gd_forward_under_no_grad",
     r"(?i)no_grad|no[ -]grad|gradient (tracking|recording) (is )?(off|disabled)|grad(ient)? mode (is )?(off|disabled)"
     r"|enable_grad|autograd (is )?(off|disabled)|inside a no.grad",
     gd_forward_under_no_grad),
    (GD, "gd_abs_per_position_before_summing",
     r"(?i)abs\w* (value )?(per|at each|for each|of each|on each) (position|token)"
     r"|abs\w* before (the )?sum\w* (over|across) (the )?positions|positions? (are )?summed after (the )?abs"
     r"|sum of (the )?abs\w* (values )?(over|across) (the )?positions|per-position abs",
     gd_abs_per_position_before_summing),
    (GD, "gd_grab_hook_returns_the_scaled_gradient",
     r"(?i)(grab|record\w*|sav\w*|captur\w*|stor\w*)[\w ]{0,20}hook (also )?returns"
     r"|returns? (the )?(scaled|multiplied|modified|rescaled) grad"
     r"|hook (that )?returns a (value|tensor) (replaces|overwrites|changes)"
     r"|(replaces|rescales|overwrites|changes|modifies) the (upstream |flowing |backward |propagated )?gradient"
     r"|upstream gradients? (are |get )?(scaled|multiplied|rescaled)"
     r"|(scal\w*|multipl\w*) by B (propagates|flows|upstream|compounds)",
     gd_grab_hook_returns_the_scaled_gradient),
    (GD, "gd_gate_condition_inverted",
     r"(?i)invert\w* (the )?(gate|condition|test|drop)"
     r"|(gate|condition|test|drop)\w* (is )?(invert\w*|the wrong way round|backwards|flipped|negated|reversed)"
     r"|revers\w* (condition|gate|test)|keeps? (only )?layer l('s writes)?|drops? every (other )?layer (but|except)"
     r"|all (other )?layers? (but|except) (l|one|the pass'?s?) (are )?dropped|everything but layer|(==|!=) swapped",
     gd_gate_condition_inverted),
    (EAP, "eap_edge_mask_not_applied",
     r"(?i)(edge[_ ])?mask (is )?(not|never|n't) (applied|used|multiplied)|without (the |applying the )?(edge[_ ])?mask"
     r"|forg[oe]t\w* (the |to apply the )?(edge[_ ])?mask"
     r"|non-?edges? (have|get|are given|keep) (non-?zero )?(scores|values)|(source|sources) (is |are )?not upstream"
     r"|impossible edges|multiply by (the )?(edge[_ ])?mask"
     r"|(not|never) masked (by|with) (the )?(edge[_ ])?mask|no (edge[_ ])?mask (is )?(applied|at all)",
     eap_edge_mask_not_applied),
    (EAP, "eap_mean_ablation_baseline",
     r"(?i)mean[- ]ablat\w*|batch[- ]mean (of the )?corrupt"
     r"|corrupt (activations?|values?|writes?|run|sources?) (are |is )?(averaged|meaned|pooled) (over"
     r"|across) (the )?(batch|prompt pairs|examples)"
     r"|averag\w* (the )?corrupt \w+ (over|across) (the )?(batch|prompt pairs|examples)"
     r"|mean (over|across) (the )?(batch|prompt pairs|examples) (of|for) the corrupt"
     r"|each (example|prompt pair)'s own corrupt",
     eap_mean_ablation_baseline),
    (EAP, "eap_positions_summed_before_product",
     r"(?i)positions? (are )?summed (before|first|separately)|sum\w* (over )?(the )?positions (before|first)"
     r"|(product|dot) (of|between) (the )?sums|cross[- ]position (terms|products)|positions? (are )?(crossed|mixed)"
     r"|different positions (multiplied|paired)|(delta|change) at one position (times|with) (the )?gradient at another",
     eap_positions_summed_before_product),
    (EAP, "eap_first_prompt_pair_only",
     r"(?i)first (prompt pair|example|pair|item|batch element)|example 0|\[:, ?0\]|only one (prompt pair|example)"
     r"|(single|one) (prompt pair|example) only|batch (element|index) 0|rest of the batch"
     r"|other (prompt pairs|examples) (are )?(ignored|dropped|left out)",
     eap_first_prompt_pair_only),
    (EAP, "eap_node_names_used_as_hook_names",
     r"(?i)node names?|component names?|graph\.sources|graph\.destinations|(names like|such as) ['\"]?(embed|L0H0)"
     r"|not hook names|source_hooks|dest_hooks|(source|destination) names (are|aren't|are not) hooks?",
     eap_node_names_used_as_hook_names),
    (IG, "ig_point_written_into_resid_pre",
     r"(?i)(written|writ\w*|replac\w*|hook\w*|interpolat\w*|put) (in|into|at|on) (blocks\.0\.)?hook_resid_pre"
     r"|resid_pre (is )?(replaced|overwritten|hooked)"
     r"|positional (embedding|information|encoding)s? (is |are )?(dropped|lost|missing|removed|left out|never added)"
     r"|without (the )?positional|no position(al)? (embedding|information)"
     r"|pos(ition)?(al)?[ _]embed\w* (is |are )?(missing|dropped|lost)",
     ig_point_written_into_resid_pre),
    (IG, "ig_point_passed_as_tokens",
     r"(?i)tokens ?=|as (the )?tokens"
     r"|(embedding|point|float tensor|interpolat\w*) (is )?(passed|given|fed|used) as (the )?(tokens|input ids|input)"
     r"|token ids|not (token|integer) (ids|indices)|float tokens|(embedding|point) (instead of|for) (the )?tokens",
     ig_point_passed_as_tokens),
    (IG, "ig_edge_mask_not_applied",
     r"(?i)(edge[_ ])?mask (is )?(not|never|n't) (applied|used|multiplied)|without (the |applying the )?(edge[_ ])?mask"
     r"|forg[oe]t\w* (the |to apply the )?(edge[_ ])?mask"
     r"|non-?edges? (have|get|are given|keep) (non-?zero )?(scores|values)|(source|sources) (is |are )?not upstream"
     r"|impossible edges|multiply by (the )?(edge[_ ])?mask"
     r"|(not|never) masked (by|with) (the )?(edge[_ ])?mask|no (edge[_ ])?mask (is )?(applied|at all)",
     ig_edge_mask_not_applied),
    (IG, "ig_alpha_is_k_not_k_over_m",
     r"(?i)alpha ?= ?k\b|alphas? (is|are|=) k (instead of|not|rather than) k ?/ ?m"
     r"|k ?/ ?(m|steps) (is )?(missing|forgotten)"
     r"|(interpolation |path )?(weights?|coefficients?|fractions?|alphas?) (are |is )?(not|never) divided by (m|steps)"
     r"|(points?|path) (go|goes|run|runs|reach\w*|extend\w*|lie|lies) (far )?(beyond|past) (the )?clean"
     r"|(m|steps) times (the )?(clean[- ]corrupt )?(difference|gap|distance)"
     r"|k (clean-corrupt )?steps? of the full difference"
     r"|(weight|coefficient|fraction|alpha) (is|of) k,? (not|instead of|rather than) k ?/ ?(m|steps)",
     ig_alpha_is_k_not_k_over_m),
    (IG, "ig_absolute_scores_returned",
     r"(?i)abs\w* (value )?(of|on) the (final |returned )?(scores|matrix|result|edge scores)"
     r"|returns? (the )?(magnitudes|absolute values)|sign (is |was )?(lost|dropped|discarded|removed|thrown away)"
     r"|unsigned|all (scores )?non-?negative|\.abs\(\) (at the end|on the (result|scores|matrix))",
     ig_absolute_scores_returned),
    (GP, "gp_spectral_norm_not_frobenius",
     r"(?i)spectral|ord ?= ?2|matrix (2-)?norm|largest singular value|singular value|operator norm|not (the )?frobenius"
     r"|induced (2-)?norm|linalg\.norm\(g, ?2",
     gp_spectral_norm_not_frobenius),
    (GP, "gp_kl_divergence_not_squared_logit_distance",
     r"(?i)\bKL\b|kullback|divergence|kl_div|cross[- ]entropy",
     gp_kl_divergence_not_squared_logit_distance),
    (GP, "gp_autograd_grad_tuple_not_unpacked",
     r"(?i)autograd\.grad (returns|gives) a (tuple|sequence)|(tuple|sequence) (of|from) (torch\.)?autograd\.grad"
     r"|unpack\w* (the )?(gradient|result of autograd|autograd)|\(g,\) ?=|g is a tuple"
     r"|gradient (is )?(still )?(a|in a) (one-element )?tuple",
     gp_autograd_grad_tuple_not_unpacked),
    (GP, "gp_only_the_differing_positions_move",
     r"(?i)(only|just) (the )?(positions?|tokens?) (that|which|whose tokens?|where (the )?tokens?) (differ|change"
     r"|are corrupted)|(differing|changed|corrupted) (positions?|tokens?) only"
     r"|other positions (are |stay |kept )?(frozen|fixed|never move|don't move|do not move|masked|held)"
     r"|mask\w* (the )?gradient (to|at|by) (the )?(differing|changed|corrupted)"
     r"|positions? where (the )?tokens (agree|match|are the same) (never|don't|do not) move",
     gp_only_the_differing_positions_move),
    (GP, "gp_sum_of_per_position_norms",
     r"(?i)(sum of|summed) (the )?(per[- ]position|positionwise|per-token) (norms|distances|L2 norms)"
     r"|norms? per position|per[- ]position (L2 )?norms?|(norm|distance) (is )?(never|not) squared|without squaring"
     r"|unsquared|\.norm\(dim ?= ?-1\)",
     gp_sum_of_per_position_norms),
    (VT, "vt_loop_variable_shadows_the_kind_function",
     r"(?i)shadow\w*|loop variable (named |called )?`?kind|kind\(\) is (replaced|overwritten|a string)"
     r"|(replaces|rebinds|overwrites|reuses) (the (function |name )?)?`?kind|'str' object is not callable"
     r"|same name (as|for) the function",
     vt_loop_variable_shadows_the_kind_function),
    (VT, "vt_order_called_with_k",
     r"(?i)order\(k\)|k (is )?(passed|given|lands|goes) (in|to|as|into) `?absolute|absolute ?= ?k"
     r"|order\(\) (takes|has) no k|(never|not) (cut|sliced|truncated) (at|to) k|\[:k\] (is )?(missing|forgotten)"
     r"|no \[:k\]|without (a |the )?\[:k\]|slice (to|at) k (is )?missing",
     vt_order_called_with_k),
    (VT, "vt_ranked_by_mean_abs_per_example",
     r"(?i)per[- ](example|prompt pair)|mean of (the )?\|(per[- ]example|score)"
     r"|(mean|average) (absolute|\|.\|) (value|score)|abs\w* (before|inside) (the )?(batch )?(mean|averag\w*)"
     r"|mean \|per|\.per_example|not (the )?\|(batch[- ]?)?mean",
     vt_ranked_by_mean_abs_per_example),
    (VT, "vt_nodes_verified_by_their_edge_to_the_logits",
     r"(?i)direct (effect|path|edge)|->logits|edge (in)?to (the )?logits|only the (direct|logit) (path|edge)"
     r"|indirect (effects?|paths?) (are )?(missing|ignored|dropped|left out)|patch_edges (for|on) (the )?nodes"
     r"|nodes? (are )?(patched|verified) (as|through|via) (an |their )?edges?",
     vt_nodes_verified_by_their_edge_to_the_logits),
    (VT, "vt_values_written_at_the_group_index",
     r"(?i)index (with)?in (the|each|its) group|group('s)? (index|position)|enumerate\(group\)|position in the group"
     r"|(overwrit\w*|clobber\w*) (earlier|previous|other) (values|entries|kinds?|groups?)|values\[i\]|i restarts"
     r"|restarts? (at|from) (0|zero)|(values|effects) (are )?(written|stored|placed|put) (at|in|to|into) the wrong"
     r" (positions?|slots?|index|indices)",
     vt_values_written_at_the_group_index),
]
