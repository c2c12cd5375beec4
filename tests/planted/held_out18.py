"""Held-out set #18, written blind (the writer never saw the checks, their messages or the other held-out
sets) on 2026-12-06 (round 18); measured once, unseen.

Five mistakes per exercise, none of them an id already planted (checked against the list of ideas planted so
far), each wrong solution written out inline as a learner would: the correct solution copied into the function
and changed where the learner slips, so the mistake sits on a line of the learner's own code. Each was run once
by hand beside the correct solution on the chapter's own model and task (chapter 0:
``zoo.load("induction", n=16, seed=0)``; chapter 1: ``saturation.build()``; chapter 2: ``cancellation.build()``;
chapter 3: ``build("flat_region")`` with ``steps=5``; chapter 4: ``build("path_saturation")`` with ``steps=5``
and both step sizes; chapter 5: the mixture model on ``zoo.load_task("mixture", n=8, seed=0, task="ioi")``,
verifying AtP node, AtP query/key, EAP and EAP-IG edge scores with ``k=5``), and kept only where the largest
|difference| is at least 2 % of the correct result's largest magnitude, or where it crashes or returns a wrong
shape or wrong names. Each cause regex was written from the cause alone, before any check saw the mistake.
"""

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params

NEG = float("-inf")


# ---------------------------------------------------------------------------------------------- patch_heads
def ph_heads_from_h_to_the_end(model, task):
    # act[:, :, h:] instead of act[:, :, h]: head h and every later head of the layer are patched together
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
                act[:, :, h:] = corr[names[l]][:, :, h:]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_language_model_loss(model, task):
    # the effect is measured on the model's next-token loss, not on the task metric
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = model(task.clean, return_type="loss")
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = model(task.clean, return_type="loss") - base
    return out


def ph_effect_squared(model, task):
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
                out[l, h] = (task.metric_value(model(task.clean)) - base) ** 2
    return out


def ph_corrupt_value_averaged_over_heads(model, task):
    # the value written into head h is the mean of the layer's corrupt heads
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
                act[:, :, h] = corr[names[l]].mean(2)
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_row_stored_one_layer_up(model, task):
    # out[l - 1, h]: each layer's effects land in the previous row (layer 0's in the last row)
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
                out[l - 1, h] = task.metric_value(model(task.clean)) - base
    return out


# ------------------------------------------------------------------------------------------------ atp_heads
def atp_second_sum_axis_not_renumbered(model, task):
    # .sum(1).sum(3): after the first sum the d_head axis is 2, so axis 3 is out of range
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum(1).sum(3).mean(0) for n in names])


def atp_norm_instead_of_sum(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([torch.linalg.vector_norm((corr[n] - clean[n]) * grads[n], dim=(1, 3)).mean(0)
                        for n in names])


def atp_layer_0_gradient_for_every_layer(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[names[0]]).sum((1, 3)).mean(0) for n in names])


def atp_max_over_prompt_pairs(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).max(0).values for n in names])


def atp_integer_output_tensor(model, task):
    # out built from Python zeros is an int64 tensor: every estimate is truncated toward zero
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    out = torch.tensor([[0] * H for _ in range(L)])
    for l, n in enumerate(names):
        out[l] = ((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0)
    return out


# ------------------------------------------------------------------------------------------- qk_fix_queries
def _qk_caches(model, task):
    L = model.cfg.n_layers
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    return corr, clean, grads, pats


def qkq_keys_not_summed(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).mean(0))
    return torch.stack(out)


def qkq_corrupt_query_one_position_late(model, task):
    # the corrupt queries are rolled one position along the sequence before the patched pattern
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"].roll(1, dims=1)
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_exp_without_normalisation(model, task):
    # the patched "pattern" is exp(scores) with no division by the row sum (softmax without its denominator)
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, NEG).exp()
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, NEG).exp()
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_batch_mean_keepdim(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0, keepdim=True))
    return torch.stack(out)


def qkq_queries_aliased_without_clone(model, task):
    # q_new = q (no clone), then q_new[:] = corrupt: the clean queries are overwritten too, so A' == A
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = q
        q_new[:] = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


# ---------------------------------------------------------------------------------------------- qk_fix_keys
def qkk_abs_per_prompt_pair(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            A2 = (torch.einsum("bthd,bshd->bhts", q, k2) / sc).masked_fill(~mask, NEG).softmax(-1)
            out[l, :, s] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).abs().mean(0)
    return out


def qkk_heads_crossed_in_the_score_einsum(model, task):
    # "bthd,bsgd->bhts": the key's head gets its own letter, so every query head is scored against all key heads
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bsgd->bhts", q, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            A2 = (torch.einsum("bthd,bsgd->bhts", q, k2) / sc).masked_fill(~mask, NEG).softmax(-1)
            out[l, :, s] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_corrupt_key_s_written_into_every_position(model, task):
    # k2[:] = k_corrupt[:, s:s + 1] instead of k2[:, s] = k_corrupt[:, s]: key s's corrupt value fills every position
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        for s in range(T):
            k2 = k.clone()
            k2[:] = corr[f"blocks.{l}.attn.hook_k"][:, s:s + 1]
            A2 = (torch.einsum("bthd,bshd->bhts", q, k2) / sc).masked_fill(~mask, NEG).softmax(-1)
            out[l, :, s] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_max_over_prompt_pairs(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, NEG).softmax(-1)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            A2 = (torch.einsum("bthd,bshd->bhts", q, k2) / sc).masked_fill(~mask, NEG).softmax(-1)
            out[l, :, s] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).max(0).values
    return out


def qkk_exp_without_normalisation(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    corr, clean, grads, pats = _qk_caches(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, NEG).exp()
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            A2 = (torch.einsum("bthd,bshd->bhts", q, k2) / sc).masked_fill(~mask, NEG).exp()
            out[l, :, s] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# ------------------------------------------------------------------------------------------------- graddrop
def gd_normaliser_without_parentheses(model, task):
    # / L - 1 written without parentheses: (sum / L) - 1
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
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
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / L - 1).mean(0)


def gd_mean_without_dim(model, task):
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
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
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean()


def gd_batch_mean_over_b_minus_1(model, task):
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
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
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).sum(0) / (B - 1)


def gd_normaliser_counts_the_other_heads(model, task):
    # divided by the number of other heads in the model (L * H - 1), not by the L - 1 other layers' passes
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
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
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L * model.cfg.n_heads - 1)).mean(0)


def gd_passes_numbered_from_one(model, task):
    # for l in range(1, L + 1): layer 0 is never dropped and the last pass drops nothing
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l))
            for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(1, L + 1):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


# ------------------------------------------------------------------------------------------------------ eap
def _eap_caches(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    return graph, corr, clean, grads


def eap_batch_kept_then_mean_over_sources(model, task):
    # the batch letter is kept in the output ("stb") and .mean(0) then averages the sources, not the batch
    graph, corr, clean, grads = _eap_caches(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->stb", deltas, graph.stack_dest_grads(grads)).mean(0)
    return scores * graph.edge_mask


def eap_batch_mean_over_b_minus_1(model, task):
    graph, corr, clean, grads = _eap_caches(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / (task.batch_size - 1)
    return scores * graph.edge_mask


def eap_abs_inside_the_d_model_sum(model, task):
    # |delta_d * grad_d| summed over d_model (and positions): the dot product loses its cancellations
    graph, corr, clean, grads = _eap_caches(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    prod = (deltas[:, None] * graph.stack_dest_grads(grads)[None]).abs()
    scores = prod.sum((2, 3, 4)) / task.batch_size
    return scores * graph.edge_mask


def eap_cast_to_integer(model, task):
    graph, corr, clean, grads = _eap_caches(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores.long() * graph.edge_mask


def eap_divided_by_the_corrupt_metric(model, task):
    graph, corr, clean, grads = _eap_caches(model, task)
    m_corrupt = task.baselines(model)[1]
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size / m_corrupt
    return scores * graph.edge_mask


# --------------------------------------------------------------------------------------------------- eap_ig
def eapig_both_endpoints_corrupt(model, task, steps):
    # copy-paste slip: e_c is read from the corrupt cache too, so every point of the path is the corrupt input
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = corr["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_accumulator_shaped_like_the_sources(model, task, steps):
    # total = torch.zeros_like(deltas): the accumulator has the sources' shape, not the destinations'
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = torch.zeros_like(deltas)
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_first_point_counted_twice(model, task, steps):
    # the sum is started with the k = 1 gradient and the loop then runs k = 1..m again
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]

    def grad_at(alpha):
        target = e_n + alpha * (e_c - e_n)
        hook = lambda t, hook: t + (target - t).detach()  # noqa: E731
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        return graph.stack_dest_grads(grads)

    total = grad_at(1 / steps)
    for k in range(1, steps + 1):
        total = total + grad_at(k / steps)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_alpha_never_multiplied_by_k(model, task, steps):
    # alpha = 1 / steps is written once and k never enters it: every point sits at the first point
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    alpha = 1 / steps
    total = 0.0
    for _k in range(1, steps + 1):
        target = e_n + alpha * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_batch_mean_over_b_minus_1(model, task, steps):
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
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / (task.batch_size - 1)
    return scores * graph.edge_mask


# ------------------------------------------------------------------------------------------------- gradpath
def gp_norm_over_positions_per_channel(model, task, steps, step_size="unit"):
    # g.norm(dim=1, keepdim=True) without flattening: each d_model channel is normalised over the positions
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_one_added_to_the_norm(model, task, steps, step_size="unit"):
    # g / (||g|| + 1) "to avoid dividing by zero": the step is no longer of length eta
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / (g.flatten(1).norm(dim=1).view(-1, 1, 1) + 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_distance_between_log_probabilities(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            with model.hooks(fwd_hooks=[("hook_embed", lambda t, hook, leaf=leaf: leaf)]):
                logits = model(task.clean)
            dist = ((logits.log_softmax(-1) - target.log_softmax(-1)) ** 2).sum()
            (g,) = torch.autograd.grad(dist, leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_first_point_recorded_as_e_corrupt(model, task, steps, step_size="unit"):
    # points = [e_n.clone()]: the walk starts at e_clean but the recorded first point is e_corrupt
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_n.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_scaled_length_per_position(model, task, steps, step_size="unit"):
    # the scaled length written by hand with .norm(dim=-1): one length per position, not one per example
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    if step_size == "scaled":
        eta = (e_c - e_n).norm(dim=-1, keepdim=True) / steps
    else:
        eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# ----------------------------------------------------------------------------------------------- verify_top
def _kind(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def vt_slice_from_k(model, task, scores, k=5):
    names = scores.order(absolute=True)[k:]
    effects = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_mlp_test_in_lower_case(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("mlp"):
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


def vt_dot_test_before_the_edge_test(model, task, scores, k=5):
    # edges into a .q/.k/.v input ("embed->L0H0.q") are classified by their suffix as q/k/v nodes
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "." in name:
            return name.rsplit(".", 1)[1]
        if "->" in name:
            return "edge"
        return "mlp" if name.startswith("MLP") else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_effects_rounded(model, task, scores, k=5):
    # round(x, 1), copied from the print-out format
    names = scores.order(absolute=True)[:k]
    effects = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: round(float(res[n]), 1) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_topk_indices_into_the_sorted_list(model, task, scores, k=5):
    # the topk indices are positions in scores.names, but they are looked up in the already sorted list
    idx = torch.topk(scores.values.abs(), k).indices.tolist()
    ranked = scores.order(absolute=True)
    names = [ranked[i] for i in idx]
    effects = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


_B_MINUS_1 = (r"(?i)\bB ?- ?1\b|\bn ?- ?1\b|batch.?size ?- ?1|unbiased|bessel|(batch size|number of (prompt )?pairs) "
              r"minus (one|1)|one (fewer|less) than the (batch size|number of (prompt )?pairs)")

MISTAKES = [
    ("check_patch_heads", "ph_heads_from_h_to_the_end",
     r"(?i)heads? h (and|to|through|onwards?)|from (head )?h (on|onwards?|to the (end|last))|h ?: ?\]|"
     r"(every|all|each) (later|following|subsequent|remaining|higher) heads?|heads? (after|above|beyond) h\b|"
     r"h and (all |every )?(the )?(later|following|subsequent|remaining)|slice (of|over|across) (the )?heads|"
     r"more than one head|several heads|(a )?range of heads", ph_heads_from_h_to_the_end),
    ("check_patch_heads", "ph_language_model_loss",
     r"(?i)\bloss\b|cross.?entropy|return_type|next.?token (prediction )?(loss|objective)|log.?likelihood",
     ph_language_model_loss),
    ("check_patch_heads", "ph_effect_squared",
     r"(?i)squar\w*|\*\* ?2|\bpow\b|second power", ph_effect_squared),
    ("check_patch_heads", "ph_corrupt_value_averaged_over_heads",
     r"(?i)(averag\w*|mean\w*) (of |over |across )?(the |all |every )?(layer'?s )?(corrupt )?heads|"
     r"heads? (are )?(averaged|pooled|mixed)|head.?(averaged|mean)|mean\((dim ?= ?)?2|"
     r"same (corrupt )?(value|output) (for|into|in) (every|each|all) heads?|"
     r"(other|all) heads'? (corrupt )?(values|outputs)", ph_corrupt_value_averaged_over_heads),
    ("check_patch_heads", "ph_row_stored_one_layer_up",
     r"(?i)\bl ?- ?1\b|off.by.one|(rows?|layers?) (are |is )?(shifted|rolled|rotated|offset|displaced)|"
     r"one (row|layer) (up|down|early|late|off|too (low|high))|wrong row|wraps? (a)?round|"
     r"(previous|preceding|wrong) (row|layer'?s row)|layer 0'?s? (effects? )?(end up |land |are )?(in|into|written to|"
     r"stored (in|at)) the last (row|layer)", ph_row_stored_one_layer_up),
    ("check_atp_heads", "atp_second_sum_axis_not_renumbered",
     r"(?i)(dimension|axis|axes|dims?) (index )?(out of range|shift\w*|renumber\w*|moves?|moved|changes?)|"
     r"after the first (sum|reduction)|(axis|dim(ension)?) numbers? (change|shift)|chained (sums?|reductions?)|"
     r"sum\(1\)\.sum\(3\)|indexerror|only (3|three) (dims|dimensions|axes)",
     atp_second_sum_axis_not_renumbered),
    ("check_atp_heads", "atp_norm_instead_of_sum",
     r"(?i)\bnorms?\b|vector_norm|linalg|\bl2\b|sqrt|square root|sum of squares|euclidean|magnitude of the product",
     atp_norm_instead_of_sum),
    ("check_atp_heads", "atp_layer_0_gradient_for_every_layer",
     r"(?i)(layer 0|layer zero|first layer)'?s? gradients?|gradients? (of|from|at) "
     r"(layer 0|layer zero|the first layer)|"
     r"names\[0\]|same gradient (for|in|across|at) (every|all|each) layers?|"
     r"gradients? (from|of) (another|a different|the wrong|one) layer|wrong layer'?s gradient|"
     r"gradient (is )?not (matched|paired) (to|with) (its|the) (own )?layer", atp_layer_0_gradient_for_every_layer),
    ("check_atp_heads", "atp_max_over_prompt_pairs",
     r"(?i)\bmax(imum)?\b.{0,20}(over|across) (the )?(batch|prompt.?pairs?|examples|pairs|prompts)|amax|\.max\(0|"
     r"(largest|biggest) (value|estimate)? ?(over|across|of) (the )?(batch|prompt pairs|examples)|"
     r"max(imum)? instead of (the )?(batch )?mean", atp_max_over_prompt_pairs),
    ("check_atp_heads", "atp_integer_output_tensor",
     r"(?i)\bint(eger|64|32)?s?\b|\blong\b|dtype|truncat\w*|rounded (down|toward|to (whole|integers?))|"
     r"whole numbers|fractional part", atp_integer_output_tensor),
    ("check_qk_fix_queries", "qkq_keys_not_summed",
     r"(?i)(not|never|no|without) sum\w* over (the )?keys?|keys? (axis |dimension )?(is |are |was )?(not|never) "
     r"(summed|reduced|contracted)|(sum|reduction) over (the )?keys? (is )?missing|missing (the )?(sum|reduction) over "
     r"(the )?keys?|extra (key|last) (axis|dimension)|(key|source) (axis|dimension) (is )?(kept|left)|"
     r"one (value|number|estimate) per (query.)?key|\[L, ?H, ?T, ?[ST]\]", qkq_keys_not_summed),
    ("check_qk_fix_queries", "qkq_corrupt_query_one_position_late",
     r"(?i)shift\w*|roll\w*|off.by.one|one position (late|early|later|earlier|off|too (late|early)|to the "
     r"(left|right))|(previous|preceding|next|neighbou?ring|adjacent) position'?s (corrupt )?quer|\bt ?[-+] ?1\b|"
     r"(query|queries) (from|of|at) the wrong position|misaligned", qkq_corrupt_query_one_position_late),
    ("check_qk_fix_queries", "qkq_exp_without_normalisation",
     r"(?i)(not|never|un|without|no) ?normali[sz]\w*|exp\w* (instead of|without|not|rather than) (a |the )?softmax|"
     r"softmax (is )?missing|missing (the )?softmax|(rows?|weights|pattern) (do not|don't|doesn't|does not|no longer|"
     r"never) sum to (1|one)|denominator|partition function|row sum|\.exp\(\)", qkq_exp_without_normalisation),
    ("check_qk_fix_queries", "qkq_batch_mean_keepdim",
     r"(?i)keepdim|extra (singleton |size.?1 |length.?1 )?(axis|dimension)|singleton (axis|dimension)|"
     r"(axis|dimension) of (size|length) (1|one)|size.?1 (axis|dimension)|\[L, ?1, ?H, ?T\]|unsqueez|squeez",
     qkq_batch_mean_keepdim),
    ("check_qk_fix_queries", "qkq_queries_aliased_without_clone",
     r"(?i)clone|alias\w*|in.?place|same (underlying )?(tensor|storage|memory|object)|\bcopy\b|"
     r"(overwr\w*|modif\w*|mutat\w*|edit\w*|chang\w*) (the )?(clean )?(cache|queries|query)|"
     r"clean (queries|query|cache) (is |are |was |were |get |gets )?(also )?(modified|overwritten|changed|edited|"
     r"mutated|replaced)|(both|the two) patterns? (are )?(identical|the same|equal)|A' ?(==|equals) ?A",
     qkq_queries_aliased_without_clone),
    ("check_qk_fix_keys", "qkk_abs_per_prompt_pair",
     r"(?i)\babs\w*|absolute|magnitude|sign (is |gets |was )?(lost|dropped|discarded|removed|thrown away)|"
     r"non.?negative|unsigned|\|[^|]{1,40}\|", qkk_abs_per_prompt_pair),
    ("check_qk_fix_keys", "qkk_heads_crossed_in_the_score_einsum",
     r"(?i)(cross\w*|mix\w*|contract\w*) (over |across )?(the )?heads|heads? (are |is )?(crossed|mixed|"
     r"contracted)|(different|two|separate|distinct) (head )?(letters|indices|labels|subscripts) for (the )?heads?|"
     r"(every|each) (query )?head (sees|with|against|scored against|paired with) (every|all|each) (key )?heads?|"
     r"(query|queries) of one head (with|against|times) (the )?keys? of (another|other|every|all)|bsgd|"
     r"head (index|letter) (not shared|differs)", qkk_heads_crossed_in_the_score_einsum),
    ("check_qk_fix_keys", "qkk_corrupt_key_s_written_into_every_position",
     r"(?i)(every|all|each) (the )?(key )?positions|(written|copied|broadcast|put|repeated) (into|to|over|across|at) "
     r"(every|all|each) (other )?(key )?positions?|(whole|entire) (key )?(tensor|sequence)|k2\[:\]|broadcast\w*|"
     r"(key|position) s'?s? (corrupt )?(value|key) (is )?(written|copied|broadcast|repeated|"
     r"put) (into|to|over|across|at) "
     r"(every|all|each)|same (corrupt )?key (at|in|for) (every|all|each) positions?|(not only|not just|more than) "
     r"(position|key) s\b|(every|all) keys? (are |is )?(replaced|overwritten|patched)",
     qkk_corrupt_key_s_written_into_every_position),
    ("check_qk_fix_keys", "qkk_max_over_prompt_pairs",
     r"(?i)\bmax(imum)?\b.{0,20}(over|across) (the )?(batch|prompt.?pairs?|examples|pairs|prompts)|amax|\.max\(0|"
     r"(largest|biggest) (value|estimate)? ?(over|across|of) (the )?(batch|prompt pairs|examples)|"
     r"max(imum)? instead of (the )?(batch )?mean", qkk_max_over_prompt_pairs),
    ("check_qk_fix_keys", "qkk_exp_without_normalisation",
     r"(?i)(not|never|un|without|no) ?normali[sz]\w*|exp\w* (instead of|without|not|rather than) (a |the )?softmax|"
     r"softmax (is )?missing|missing (the )?softmax|(rows?|weights|pattern) (do not|don't|doesn't|does not|no longer|"
     r"never) sum to (1|one)|denominator|partition function|row sum|\.exp\(\)", qkk_exp_without_normalisation),
    ("check_graddrop", "gd_normaliser_without_parentheses",
     r"(?i)parenthes\w*|bracket\w*|precedence|order of operations|/ ?L ?- ?1\b|(minus|subtract\w*) (one|1) (is )?"
     r"(applied |done )?after (the )?divi\w*|(divided by L|/ ?L),? then (minus|subtract\w*)|1 (is )?subtracted from "
     r"the (result|quotient|score)", gd_normaliser_without_parentheses),
    ("check_graddrop", "gd_mean_without_dim",
     r"(?i)(mean|averag)\w* (over|of|across) (every|all|everything|the whole|each) (axes|axis|dim\w*|elements?|entries|"
     r"values)|without (a |the )?dim|no dim\w*|single (number|value)|one number|scalar|"
     r"\.mean\(\)|0.?d(im)?\b|shape \(\)|"
     r"collapsed", gd_mean_without_dim),
    ("check_graddrop", "gd_batch_mean_over_b_minus_1", _B_MINUS_1, gd_batch_mean_over_b_minus_1),
    ("check_graddrop", "gd_normaliser_counts_the_other_heads",
     r"(?i)(other|remaining) heads|L ?\* ?H ?- ?1|n_layers ?\* ?n_heads|number of (other )?heads|"
     r"heads (instead of|not) "
     r"(the )?(layers|passes)|(normali[sz]er|divisor|denominator) (counts|uses|is) (the )?(heads|nodes)|"
     r"(all|every) (other )?nodes|number of (other )?nodes", gd_normaliser_counts_the_other_heads),
    ("check_graddrop", "gd_passes_numbered_from_one",
     r"(?i)range\(1, ?L ?\+ ?1\)|from (1|one)\b|off.by.one|\b1 ?\.\. ?L\b|layer (0|zero) (is )?(never|not) dropped|"
     r"(first|0th) layer (is )?(never|not) dropped|(last|one|a|extra) pass (drops|gates|stops) nothing|no layer L\b|"
     r"(nonexistent|non-existent|missing) layer|layer L\b|(passes|loop|layers?) (are )?(shifted|start(s|ed)? at 1)|"
     r"undropped pass", gd_passes_numbered_from_one),
    ("check_eap", "eap_batch_kept_then_mean_over_sources",
     r"(?i)(mean|averag)\w* over (the )?(sources?|first axis|axis 0|dim(ension)? 0)|(averag|mean)\w* (of )?(the |all )?"
     r"sources|(batch|prompt.?pair) (axis|dimension)? ?(is |was )?(kept|left|not (averaged|reduced|removed))|"
     r"wrong (axis|dimension) (for|of|in) the (batch )?mean|\[(n_)?dest\w*, ?B\]|\[T, ?B\]|mean\(0\)",
     eap_batch_kept_then_mean_over_sources),
    ("check_eap", "eap_batch_mean_over_b_minus_1", _B_MINUS_1, eap_batch_mean_over_b_minus_1),
    ("check_eap", "eap_abs_inside_the_d_model_sum",
     r"(?i)(abs\w*|absolute|magnitude)( value)?s? (of|on|inside|per|before|within|for) (each|every|"
     r"the)? ?(individual )?"
     r"(component|element|term|coordinate|product|d_model|entr(y|ies)|elementwise|summand)|(inside|within|before) the "
     r"(dot product|sum over d_model|contraction|sum)|per.?(component|element|coordinate) (abs|absolute)|cancel\w*|"
     r"elementwise abs", eap_abs_inside_the_d_model_sum),
    ("check_eap", "eap_cast_to_integer",
     r"(?i)\bint(eger|64|32)?s?\b|\blong\b|dtype|truncat\w*|rounded (down|toward|to (whole|integers?))|whole numbers|"
     r"fractional part|\bcast\w*", eap_cast_to_integer),
    ("check_eap", "eap_divided_by_the_corrupt_metric",
     r"(?i)(divided|normali[sz]ed|relative|scaled|rescaled) (by|to) (the )?(corrupt (metric|baseline|value|score)|"
     r"m\(corrupt\)|baseline)|/ ?m\(corrupt\)|relative (effect|change|score)|fraction of (the )?corrupt (metric|"
     r"value|score|baseline)|percent", eap_divided_by_the_corrupt_metric),
    ("check_eap_ig", "eapig_both_endpoints_corrupt",
     r"(?i)(both|two) (endpoints|end.?points|ends) (are )?(the )?corrupt|(every|all|each) (the )?points? (is |are |at |"
     r"sit at |equals? )?(the )?corrupt|clean (endpoint|end point|end|embedding|input) (is )?(never|not|missing|"
     r"replaced by|taken from|read from) (used|the corrupt)|e_c(lean)? (is )?(taken |read )?from the corrupt|"
     r"copy.?paste|(path|interpolation) (never moves|is constant|has (zero|no) length|of length 0|collapses)|"
     r"never reaches? (the )?clean", eapig_both_endpoints_corrupt),
    ("check_eap_ig", "eapig_accumulator_shaped_like_the_sources",
     r"(?i)(accumulator|total|running sum|sum) (is )?(initiali[sz]ed|started|starts|created) (with|as|from|like) "
     r"(the )?(sources|deltas|zeros_like\(deltas)|zeros_like\(deltas|(sources'?|deltas'?) shape|shape of (the )?"
     r"(sources|deltas)|(sources|n_sources) (instead of|where|not) (the )?(n_)?destinations|shape mismatch|"
     r"(cannot|can't|could not) (be )?broadcast|size of tensor", eapig_accumulator_shaped_like_the_sources),
    ("check_eap_ig", "eapig_first_point_counted_twice",
     r"(?i)(first|k ?= ?1|alpha ?= ?1/m|smallest.alpha) (point|gradient|term|step)('s gradient)? (is )?(counted|added|"
     r"included|used|summed) twice|twice|double.?count\w*|m ?\+ ?1 (points|gradients|terms)|extra (point|gradient|"
     r"term)|one (point|gradient|term) too many|(initiali[sz]ed|starts?|started) (with|from) (the )?(first )?"
     r"(point'?s )?gradient", eapig_first_point_counted_twice),
    ("check_eap_ig", "eapig_alpha_never_multiplied_by_k",
     r"(?i)(alpha|the point|interpolation (weight|coefficient)|fraction) (is )?(never|not) (multiplied by|scaled by|"
     r"depends? on|changes? with|uses?|updated with) (the (step|loop) (index|counter) )?k|(every|all|each) (the )?"
     r"points? (is |are |at |sit at )?(the )?same|"
     r"same (point|alpha|target|interpolation point)|(constant|fixed|single) "
     r"(alpha|point|target)|\bk (is )?(never used|unused|ignored|missing)|(loop|step) (index|counter|variable) "
     r"(is )?(never used|unused|ignored)|never moves along", eapig_alpha_never_multiplied_by_k),
    ("check_eap_ig", "eapig_batch_mean_over_b_minus_1", _B_MINUS_1, eapig_batch_mean_over_b_minus_1),
    ("check_gradpath", "gp_norm_over_positions_per_channel",
     r"(?i)(norm|normali[sz]\w*) (is )?(over|along|across|taken over) (the )?(positions?|sequence|dim(ension)? ?1|"
     r"axis 1)|per (channel|feature|d_model (component|coordinate|channel)|coordinate|column|embedding dimension)|"
     r"dim ?= ?1|keepdim|(not|never|without) flatten\w*|each (channel|feature|coordinate|embedding dimension) "
     r"(separately|on its own|independently)", gp_norm_over_positions_per_channel),
    ("check_gradpath", "gp_one_added_to_the_norm",
     r"(?i)\+ ?1\b|plus (one|1)\b|(epsilon|eps|offset|constant|stabili[sz]er) (of |is |equal to )?(1|one|too (big|"
     r"large))|(too (big|large)|large|huge) (an )?(epsilon|eps|offset|constant)|(not|no longer) (a )?unit (step|length|"
     r"vector|direction)|soft.?normali\w*|step (length|size) (is )?(not|no longer) eta", gp_one_added_to_the_norm),
    ("check_gradpath", "gp_distance_between_log_probabilities",
     r"(?i)log.?(softmax|prob\w*|likelihood)|(normali[sz]ed|shifted) logits|(instead of|not|rather than) (the )?"
     r"(raw )?logits|per.position (constant|shift|offset)|probabilit(y|ies) space",
     gp_distance_between_log_probabilities),
    ("check_gradpath", "gp_scaled_length_per_position",
     r"(?i)(one |a )?(length|eta|step (size|length)) (per|for each|for every) position|(length|eta|step)\w*.{0,30}"
     r"\bper position|"
     r"per.position (lengths?|eta|steps?|"
     r"norms?|distances?)|norm\(dim ?= ?-1|(norm|distance|length) (over|along) (the )?(d_model|last) (axis|dim\w*)|"
     r"(not|instead of) (one|a single) (length|eta|step) per example|(each|every) position (gets|has|takes|moves) "
     r"(its own|a different)|(not|never|without) flatten\w*", gp_scaled_length_per_position),
    ("check_gradpath", "gp_first_point_recorded_as_e_corrupt",
     r"(?i)(first|start(ing)?|initial|recorded) point (is |recorded as |stored as |appended as |listed as |= ?)?(the )?"
     r"(e_)?corrupt|e_n\.clone|points ?= ?\[e_n|(records?|stores?|appends?|"
     r"lists?) (the )?(e_)?corrupt (embedding|point|"
     r"input)|(path|points|list) (starts?|begins?) (with|at) (the )?(e_)?corrupt|(start|first) point (is )?(not|isn't) "
     r"(e_)?clean|copy.?paste", gp_first_point_recorded_as_e_corrupt),
    ("check_verify_top", "vt_slice_from_k",
     r"(?i)\[k ?:\]|(after|beyond|past|below|outside|except) (the )?top.?k|every (name|component) (but|except|after) "
     r"the (top|first)|complement|skips? the (top|first)|(rest|remaining|lower.?ranked|tail) (of the )?(names|"
     r"components|ranking)|not the top.?k|slice (from|starts? at|begins? at) k|wrong (end|side) of the slice",
     vt_slice_from_k),
    ("check_verify_top", "vt_mlp_test_in_lower_case",
     r"(?i)lower.?case|upper.?case|case.?(in)?sensitiv\w*|capital\w*|[\"']mlp[\"']|MLPs? (names? )?(are |is )?"
     r"(patched|treated|verified|classified|sent|handled|taken) as (a )?heads?|MLPs? (are |is )?(never|not) "
     r"(detected|recogni[sz]ed|matched|found)|startswith\(.mlp", vt_mlp_test_in_lower_case),
    ("check_verify_top", "vt_dot_test_before_the_edge_test",
     r"(?i)edges? (names? )?(with|ending (in|with)|into) (a )?\.?(q|k|v)\b|"
     r"edges? (names? )?(are |is )?(classified|treated|"
     r"patched|sent|taken|mistaken) as (a )?(q|k|v|quer\w*|keys?|values?|nodes?)|(edge|->|arrow) (test|check) "
     r"(comes? |is )?(after|too late|second)|(dot|suffix|\.) (test|check) (comes? |is )?(before|first)|order of "
     r"the (kind )?(tests|checks)|misclassif\w* (the )?edges?|edge names? (go|goes|sent|passed|given) to "
     r"patch_nodes", vt_dot_test_before_the_edge_test),
    ("check_verify_top", "vt_effects_rounded",
     r"(?i)round\w*|decimal|precision|truncat\w*|significant (figures|digits)|quanti[sz]\w*",
     vt_effects_rounded),
    ("check_verify_top", "vt_topk_indices_into_the_sorted_list",
     r"(?i)indices? (from (the )?topk )?(are |is )?(into|index|looked up in|applied to|used (on|in|"
     r"with)) (the )?(sorted|ordered|"
     r"ranked) (list|names|order)|(stored|original|unsorted) (positions|indices|order) (used|applied|looked up) "
     r"(on|to|in) the (sorted|ranked|ordered) (list|order|names)|order\(.{0,20}\)\[i\]|(two|different) "
     r"(orderings?|orders) (mixed|combined|confused)|index (mix.?up|mismatch)|(wrong|other) names (picked|chosen|"
     r"selected|verified)", vt_topk_indices_into_the_sorted_list),
]
