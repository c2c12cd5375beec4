"""Held-out set #26, written blind on 2026-12-07 (round 26): part a.

Exercises: check_patch_heads and check_atp_heads (chapter 0, ``zoo.load("induction", n=16, seed=0)``:
2 layers x 4 heads, 16 prompt pairs of length 12), check_qk_fix_queries and check_qk_fix_keys
(chapter 1, ``saturation.build()``: 2 x 2 heads, 4 pairs of length 6, only the last token differs),
check_graddrop (chapter 2, ``cancellation.build()``: 2 x 2 heads, 2 pairs of length 3). Each wrong
function is the chapter's own solution copied and changed where a learner slips, five per exercise,
none repeating an idea of ideas_already_planted.md. Each was run next to the chapter's solution
(copied verbatim into /work/scratch/round26/a/verify.py) on that chapter's model and task: every one
returns the right shape and differs from the solution by at least 2 % of the solution's largest
magnitude (the smallest margin is 17 %; two qk softmax-over-batch variants give NaN or a large
difference); the solution gives the same numbers when run again after all of them (no state leaks).
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_patch_heads
def ph_effect_exponentiated_to_an_odds_ratio(model, task: wb.Task) -> torch.Tensor:
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
                # a logit difference is a log-odds, so the effect is how much the odds change
                out[l, h] = torch.exp(task.metric_value(model(task.clean)) - base)
    return out


def ph_negative_head_index(model, task: wb.Task) -> torch.Tensor:
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
                # heads counted from the end of the head axis, like positions
                act[:, :, -h] = corr[names[l]][:, :, -h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_effects_softmaxed_over_heads(model, task: wb.Task) -> torch.Tensor:
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
    return out.softmax(-1)  # share of the layer's effect that each head has


def ph_resample_ablation_within_the_clean_batch(model, task: wb.Task) -> torch.Tensor:
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
                # resample the head: give each prompt the head's output from another clean prompt
                act[:, :, h] = act[:, :, h].roll(1, dims=0)
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_head_loop_bounded_by_the_layer_index(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(l + 1):  # triangular loop
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# ----------------------------------------------------------------------------- check_atp_heads
def atp_gradient_replaced_by_its_sign(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # only the direction the metric moves in matters
    return torch.stack([((corr[n] - clean[n]) * grads[n].sign()).sum((1, 3)).mean(0) for n in names])


def atp_std_over_prompt_pairs(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).std(0) for n in names])


def atp_delta_relative_to_the_clean_norm(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # relative change of the head's output, so heads of different size compare
    return torch.stack([((corr[n] - clean[n]) / clean[n].norm(dim=-1, keepdim=True).clamp_min(1e-6) * grads[n])
                        .sum((1, 3)).mean(0) for n in names])


def atp_logsumexp_over_positions(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # smooth combination over positions
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum(3).logsumexp(1).mean(0) for n in names])


def atp_gradient_averaged_over_layers(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    g = torch.stack([grads[n] for n in names]).mean(0)  # one gradient for the whole model
    return torch.stack([((corr[n] - clean[n]) * g).sum((1, 3)).mean(0) for n in names])


# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_output_change_norm_instead_of_the_gradient(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k", "v")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        v = clean[f"blocks.{l}.attn.hook_v"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        # how much the head's output moves when the pattern changes
        dz = torch.einsum("bhts,bshd->bhtd", A_new - A, v)
        out.append(dz.norm(dim=-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_pattern_gradient_averaged_over_query_rows(model, task: wb.Task) -> torch.Tensor:
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
        g = grads[pats[l]].mean(-2, keepdim=True)  # one gradient per key
        out.append(((A_new - A) * g).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_scores_normalised_without_the_exponential(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()

    def norm_rows(s):  # rows that sum to one
        s = s.masked_fill(~mask, 0.0)
        return s / s.sum(-1, keepdim=True)

    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = norm_rows(torch.einsum("bthd,bshd->bhts", q, k) / sc)
        A_new = norm_rows(torch.einsum("bthd,bshd->bhts", q_new, k) / sc)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_pattern_change_divided_by_the_clean_pattern(model, task: wb.Task) -> torch.Tensor:
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
        rel = torch.where(mask, (A_new - A) / A.clamp_min(1e-6), 0.0)  # relative change of each weight
        out.append((rel * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_softmax_over_the_batch_axis(model, task: wb.Task) -> torch.Tensor:
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
        # the new row: softmax along dim 0
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(0)
        out.append(((A_new.nan_to_num() - A) * grads[pats[l]]).sum(-1).mean(0))  # nan_to_num: got NaNs otherwise
    return torch.stack(out)


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_new_score_uses_query_s_for_every_row(model, task: wb.Task) -> torch.Tensor:
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
        scores = torch.einsum("bthd,bshd->bhts", q, k) / sc
        A = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        for s in range(T):
            # only column s changes: new score of key s, then re-softmax
            new_col = (q[:, s] * corr[f"blocks.{l}.attn.hook_k"][:, s]).sum(-1) / sc  # [B, H]
            s2 = scores.clone()
            s2[:, :, :, s] = new_col[:, :, None]
            A2 = s2.masked_fill(~mask, float("-inf")).softmax(-1)
            out[l, :, s] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_softmax_over_the_batch_axis(model, task: wb.Task) -> torch.Tensor:
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
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf")).softmax(0)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_std_over_prompt_pairs(model, task: wb.Task) -> torch.Tensor:
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
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).std(0)
    return out


# ----------------------------------------------------------------------------- check_graddrop
def gd_gate_keeps_only_the_positive_gradient(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        return g.clamp_min(0) if drop["layer"] == l else g  # drop the part that pushes the metric down

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


def gd_passes_drop_positions_not_layers(model, task: wb.Task) -> torch.Tensor:
    L, B, T = model.cfg.n_layers, task.batch_size, task.seq_len
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"pos": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook):
        # dropout on the backward pass: one sequence position is cut per pass
        g = g.clone()
        g[:, drop["pos"]] = 0
        return g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: save(t, hook, n)) for n in names]
    bwd = [(n, lambda g, hook, n=n: grab(g, hook, n)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", gate) for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for t in range(T):
            drop["pos"] = t
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (T - 1)).mean(0)


def gd_median_over_passes(model, task: wb.Task) -> torch.Tensor:
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
                                         for n in names], 1))  # [B, L, H]
    # a typical pass, robust to one outlying pass
    return torch.stack(per_pass).abs().median(0).values.mean(0)


def gd_std_over_prompt_pairs(model, task: wb.Task) -> torch.Tensor:
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
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).std(0)


def gd_pass_l_scores_only_heads_below_layer_l(model, task: wb.Task) -> torch.Tensor:
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
            # dropping layer l only matters for heads that write into it, i.e. heads below l
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         if i < l else torch.zeros(B, model.cfg.n_heads)
                                         for i, n in enumerate(names)], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def qkk_score_change_broadcast_across_the_whole_row(model, task: wb.Task) -> torch.Tensor:
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
        scores = torch.einsum("bthd,bshd->bhts", q, k) / sc
        A = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        for s in range(T):
            # change of each row's score for key s, added to the scores
            dk = corr[f"blocks.{l}.attn.hook_k"][:, s] - k[:, s]  # [B, H, d_head]
            delta = torch.einsum("bthd,bhd->bht", q, dk) / sc  # [B, H, T]
            A2 = (scores + delta[..., None]).masked_fill(~mask, float("-inf")).softmax(-1)
            out[l, :, s] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_relative_pattern_change(model, task: wb.Task) -> torch.Tensor:
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
            change = (pattern(k2) / A).nan_to_num(1.0) - 1  # how much each weight grew, as a fraction
            out[l, :, s] = (change * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


MISTAKES = [
    ("check_patch_heads", "ph_effect_exponentiated_to_an_odds_ratio", r"(?i)\bexp\b|exp\(|odds|ratio|exponentia", ph_effect_exponentiated_to_an_odds_ratio),
    ("check_patch_heads", "ph_negative_head_index", r"(?i)negative (head )?ind|-h\b|mirror|revers|wrong head|head.{0,30}(order|index)|counted from the end|from the end", ph_negative_head_index),
    ("check_patch_heads", "ph_effects_softmaxed_over_heads", r"(?i)softmax|normali[sz]|sums? to (one|1)|probabilit|share", ph_effects_softmaxed_over_heads),
    ("check_patch_heads", "ph_resample_ablation_within_the_clean_batch", r"(?i)resampl|(another|other|different) (clean )?(prompt|example)|roll|shuffl|clean (values?|activations?|outputs?) (of|from)|instead of (the )?corrupt|not (from )?the corrupt|no corrupt", ph_resample_ablation_within_the_clean_batch),
    ("check_patch_heads", "ph_head_loop_bounded_by_the_layer_index", r"(?i)(heads?|loop).{0,40}(layer index|range\(l|l ?\+ ?1|triang)|not every head|(missing|skipped) heads|heads? (are |were )?(never|not) patched|unfilled|only (the )?first (l|few) heads", ph_head_loop_bounded_by_the_layer_index),
    ("check_atp_heads", "atp_gradient_replaced_by_its_sign", r"(?i)\bsign\b.{0,40}gradient|gradient.{0,40}\bsign\b|sign\(\)|only the direction", atp_gradient_replaced_by_its_sign),
    ("check_atp_heads", "atp_std_over_prompt_pairs", r"(?i)\bstd\b|standard deviation|spread|varian|instead of (the|a) (batch )?mean|not (the|a) (batch )?mean|average over (the )?(prompt pairs|batch|examples)", atp_std_over_prompt_pairs),
    ("check_atp_heads", "atp_delta_relative_to_the_clean_norm", r"(?i)\bnorm\b|relative|divid(ed|es|ing)? .{0,30}(delta|difference|change)|rescal|normali[sz]", atp_delta_relative_to_the_clean_norm),
    ("check_atp_heads", "atp_logsumexp_over_positions", r"(?i)logsumexp|log.?sum.?exp|soft.?max over (the )?positions|positions.{0,40}(not summed|instead of (a |the )?(plain )?sum)|sum over (the )?positions", atp_logsumexp_over_positions),
    ("check_atp_heads", "atp_gradient_averaged_over_layers", r"(?i)(gradient|grad).{0,50}(averaged|mean|shared|same|single|one).{0,40}layers?|layer'?s own gradient|other layers'? gradients?", atp_gradient_averaged_over_layers),
    ("check_qk_fix_queries", "qkq_output_change_norm_instead_of_the_gradient", r"(?i)(no|without|missing|ignor\w*|never uses?) (the )?(metric'?s? )?(pattern )?gradient|not (multiplied|weighted) by (the )?(pattern )?gradient|norm of|output change|change (of|in) the (head'?s? )?output|values?|hook_v", qkq_output_change_norm_instead_of_the_gradient),
    ("check_qk_fix_queries", "qkq_pattern_gradient_averaged_over_query_rows", r"(?i)(gradient|grad).{0,50}(averaged|mean|shared|same).{0,40}(rows|quer)|row'?s own gradient|per.row gradient", qkq_pattern_gradient_averaged_over_query_rows),
    ("check_qk_fix_queries", "qkq_scores_normalised_without_the_exponential", r"(?i)\bexp\b|exp\(|exponent|softmax|normali[sz]ed? (the )?(raw )?scores|divid.{0,30}(row )?sum", qkq_scores_normalised_without_the_exponential),
    ("check_qk_fix_queries", "qkq_pattern_change_divided_by_the_clean_pattern", r"(?i)relative|divid.{0,40}(clean )?(pattern|attention|weight)|ratio|fraction|proportional", qkq_pattern_change_divided_by_the_clean_pattern),
    ("check_qk_fix_queries", "qkq_softmax_over_the_batch_axis", r"(?i)softmax.{0,50}(batch|dim(ension)? ?0|axis 0|first (axis|dim)|wrong (axis|dim))|(batch|first) (axis|dim).{0,40}softmax|softmax over (the )?keys", qkq_softmax_over_the_batch_axis),
    ("check_qk_fix_keys", "qkk_new_score_uses_query_s_for_every_row", r"(?i)quer(y|ies).{0,50}(position s\b|at s\b|of (the )?key|every row|each row|row t\b|own row)|q\[:, ?s\]|query s\b|wrong quer", qkk_new_score_uses_query_s_for_every_row),
    ("check_qk_fix_keys", "qkk_softmax_over_the_batch_axis", r"(?i)softmax.{0,50}(batch|dim(ension)? ?0|axis 0|first (axis|dim)|wrong (axis|dim))|(batch|first) (axis|dim).{0,40}softmax|softmax over (the )?keys", qkk_softmax_over_the_batch_axis),
    ("check_qk_fix_keys", "qkk_std_over_prompt_pairs", r"(?i)\bstd\b|standard deviation|spread|varian|instead of (the|a) (batch )?mean|not (the|a) (batch )?mean|average over (the )?(prompt pairs|batch|examples)", qkk_std_over_prompt_pairs),
    ("check_qk_fix_keys", "qkk_score_change_broadcast_across_the_whole_row", r"(?i)(whole|every|entire|all (the )?keys (of|in) the) row|column s\b|only (the )?(key'?s? )?column|only key s\b|broadcast|(shift|constant).{0,40}(cancel|invariant)|invariant", qkk_score_change_broadcast_across_the_whole_row),
    ("check_qk_fix_keys", "qkk_relative_pattern_change", r"(?i)relative|divid.{0,40}(clean )?(pattern|attention|weight)|ratio|fraction|proportional", qkk_relative_pattern_change),
    ("check_graddrop", "gd_gate_keeps_only_the_positive_gradient", r"(?i)clamp|positive (part|gradient)|negative (part|gradient)|relu|not (fully |completely )?zero|partial(ly)? (cut|drop|zero)|instead of zeros?|zeros_like|all of the gradient", gd_gate_keeps_only_the_positive_gradient),
    ("check_graddrop", "gd_passes_drop_positions_not_layers", r"(?i)position|sequence|seq_len|one (layer|pass) per (pass|layer)|(drop|cut)s? (a |one )?(whole )?layer|layer's (two )?writes|L passes", gd_passes_drop_positions_not_layers),
    ("check_graddrop", "gd_median_over_passes", r"(?i)median|instead of (the |a )?sum|sum (over|of) (the )?passes|passes.{0,30}(not summed|summed)|L ?- ?1", gd_median_over_passes),
    ("check_graddrop", "gd_std_over_prompt_pairs", r"(?i)\bstd\b|standard deviation|spread|varian|instead of (the|a) (batch )?mean|not (the|a) (batch )?mean|average over (the )?(prompt pairs|batch|examples)", gd_std_over_prompt_pairs),
    ("check_graddrop", "gd_pass_l_scores_only_heads_below_layer_l", r"(?i)(below|earlier|upstream|lower|before).{0,40}(layer|heads)|(later|higher|downstream)(-layer)? heads|every head in every pass|heads? (left out|skipped|zeroed)|left out of (the )?pass|pass.{0,40}(only|skips?).{0,30}heads", gd_pass_l_scores_only_heads_below_layer_l),
]
