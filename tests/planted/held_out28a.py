"""Held-out set #28, written blind on 2026-12-07 (round 28): part a.

Exercises: check_patch_heads and check_atp_heads (chapter 00, the ``induction`` zoo model, n=16,
seed=0), check_qk_fix_queries and check_qk_fix_keys (chapter 01, the ``saturation`` specimen),
check_graddrop (chapter 02, the ``cancellation`` specimen). Each wrong function is the chapter's
solution copied with one inline slip; each was run next to the chapter's solution on the chapter's
own model and task (scratch script /work/scratch/round28/a/verify.py) and kept only when it crashed,
returned a wrong shape, or differed by at least 2 % of the solution's largest magnitude.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_patch_heads
def ph_effect_as_log_ratio_of_metrics(model, task: wb.Task) -> torch.Tensor:
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
                # compare the runs on a log scale, like a fold change
                out[l, h] = torch.log(task.metric_value(model(task.clean)) / base)
    return out


def ph_layer_rows_normalised_to_unit_l1(model, task: wb.Task) -> torch.Tensor:
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
    return out / out.abs().sum(1, keepdim=True)  # each head's share of its layer, so layers compare


def ph_batch_chunks_drop_the_remainder(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    chunk = 6  # patched runs in small chunks to save memory
    for l in range(L):
        for h in range(H):
            vals = []
            for i in range(task.batch_size // chunk):
                sub = task.subset(slice(i * chunk, (i + 1) * chunk))
                c = corr[names[l]][i * chunk:(i + 1) * chunk]

                def put(act, hook, c=c, h=h):
                    act = act.clone()
                    act[:, :, h] = c[:, :, h]
                    return act

                with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                    vals.append(sub.per_example(model(sub.clean)))
            out[l, h] = torch.cat(vals).mean() - base
    return out


def ph_patch_guarded_by_hook_name(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                if hook.name != names[l]:  # safety: only touch the layer this hook is meant for
                    return act
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_effect_per_unit_of_head_change(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, clean = cache_activations(model, task.clean, names)
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
                # heads that moved more should not look bigger just for that: effect per unit of change
                size = (corr[names[l]][:, :, h] - clean[names[l]][:, :, h]).norm(dim=(-2, -1)).mean()
                out[l, h] = (task.metric_value(model(task.clean)) - base) / size
    return out


# ----------------------------------------------------------------------------- check_atp_heads
def atp_second_order_term_built_from_the_gradient(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    rows = []
    for n in names:
        d = corr[n] - clean[n]
        # Taylor: first-order term plus the 1/2 * delta^2 term
        rows.append((d * grads[n] + 0.5 * d ** 2 * grads[n]).sum((1, 3)).mean(0))
    return torch.stack(rows)


def atp_gradient_clipped_for_stability(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    grads = {n: g.clamp(-0.1, 0.1) for n, g in grads.items()}  # clip the gradients so no entry blows up
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_gradient_rescaled_to_unit_norm_per_example(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # put every prompt pair's gradient on the same scale before averaging
    grads = {n: g / g.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None, None] for n, g in grads.items()}
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_dicts_indexed_by_layer_number(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # cache["z", l]-style: look the layer up by its number
    return torch.stack([((corr[l] - clean[l]) * grads[l]).sum((1, 3)).mean(0) for l in range(model.cfg.n_layers)])


def atp_layer_rows_normalised_to_unit_l1(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    out = torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])
    return out / out.abs().sum(1, keepdim=True)  # share of each head within its layer, to compare layers


# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_stability_shift_taken_over_the_query_axis(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()

    def softmax(s):  # stable softmax by hand: subtract the max first
        s = s - s.max(-2, keepdim=True).values
        e = s.exp()
        return e / e.sum(-1, keepdim=True)

    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = softmax((torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")))
        A_new = softmax((torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")))
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_scores_floor_divided_by_the_scale(model, task: wb.Task) -> torch.Tensor:
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
        A = (torch.einsum("bthd,bshd->bhts", q, k) // sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) // sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_bos_key_left_out_of_the_sum(model, task: wb.Task) -> torch.Tensor:
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
        # key 0 is only the BOS token (an attention sink), skip it
        out.append(((A_new - A) * grads[pats[l]])[..., 1:].sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_pattern_gradient_clipped(model, task: wb.Task) -> torch.Tensor:
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
        g = grads[pats[l]].clamp(-1.0, 1.0)  # pattern gradients can be huge on saturated heads: clip them
        out.append(((A_new - A) * g).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_softmax_divided_by_the_row_max(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()

    def softmax(s):
        e = s.exp()
        return e / e.max(-1, keepdim=True).values  # normalise each row

    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = softmax((torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")))
        A_new = softmax((torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")))
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_query_at_s_patched_with_the_key(model, task: wb.Task) -> torch.Tensor:
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

        def pattern(queries, keys):
            return (torch.einsum("bthd,bshd->bhts", queries, keys) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(q, k)
        for s in range(T):
            k2, q2 = k.clone(), q.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            q2[:, s] = corr[f"blocks.{l}.attn.hook_q"][:, s]  # position s is the node: take its query along too
            out[l, :, s] = ((pattern(q2, k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_softmax_divided_by_the_row_max(model, task: wb.Task) -> torch.Tensor:
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
            s_ = (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf"))
            e = s_.exp()
            return e / e.max(-1, keepdim=True).values  # normalise the row

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_stability_max_taken_over_the_batch(model, task: wb.Task) -> torch.Tensor:
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
            s_ = (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf"))
            s_ = s_ - s_.max(0, keepdim=True).values  # subtract the max for a stable exp
            e = s_.exp()
            return e / e.sum(-1, keepdim=True)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_patterns_exponentiated_in_half_precision(model, task: wb.Task) -> torch.Tensor:
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
            s_ = (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf"))
            e = s_.half().exp()  # half precision is plenty for a softmax
            return (e / e.sum(-1, keepdim=True)).float()

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_scores_floor_divided_by_the_scale(model, task: wb.Task) -> torch.Tensor:
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
            return (torch.einsum("bthd,bshd->bhts", q, keys) // sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# ----------------------------------------------------------------------------- check_graddrop
def gd_root_mean_square_over_passes(model, task: wb.Task) -> torch.Tensor:
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
    # magnitude over the passes: root of the mean square
    return torch.stack(per_pass).pow(2).mean(0).sqrt().mean(0)


def gd_estimate_per_unit_of_head_change(model, task: wb.Task) -> torch.Tensor:
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
                                         / (corr[n] - acts[n]).norm(dim=(1, 3)).clamp_min(1e-12)  # per unit of change of the head
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_second_order_term_in_each_pass(model, task: wb.Task) -> torch.Tensor:
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
            per_pass.append(torch.stack([(lambda d, g: (d * g + 0.5 * d ** 2 * g).sum((1, 3)))(corr[n] - acts[n], grads.get(n, torch.zeros_like(acts[n])))  # Taylor to second order
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_gradient_rescaled_to_unit_norm_per_example(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        g = g.detach() * B
        grads[n] = g / g.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None, None]  # same scale for every prompt pair

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


def gd_gradients_clipped_for_stability(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = (g.detach() * B).clamp(-1.0, 1.0)  # clip so no single gradient entry dominates

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


_LOG = r"(?i)\blog\b|logarithm|ratio|fold|quotient|divid\w* (by )?(the )?(clean|baseline)|instead of (the |a )?difference"
_CHUNK = (r"(?i)remainder|chunk|whole batch|all (the )?(prompt|example|pair)s|every (prompt|example|pair)|"
          r"(some|last|remaining|missing|dropped|subset|fewer|not all|only part)\W+(\w+\W+){0,3}(prompt|example|pair|batch)")
_PER_UNIT = r"(?i)norm|per unit|divid\w* by (the )?(size|magnitude|change|delta)|normali[sz]|rescal"
_L1 = r"(?i)normali[sz]|share|fraction|divid\w* by (the )?(row|layer|total|sum)|sum(s)? to (one|1)|row.?wise|rescal"
_HOOK_NAME = (r"(?i)hook\.name|hook name|never (patch|appl|writ|chang)\w*|not patched|nothing (is |was )?(patched|changed)|"
              r"all zeros?|zero everywhere|unchanged|no effect")
_SECOND = r"(?i)second.order|squared?|\*\* ?2|\^2|quadratic|extra term|hessian|first.order"
_CLIP = r"(?i)clip|clamp|(capped|limited|bounded|truncated)"
_GRAD_NORM = r"(?i)norm(ali[sz]\w*)?|unit|rescal\w*|divid\w* (the )?grad"
_INT_KEY = (r"(?i)key ?error|hook names?|(by|with) (an? )?(int|integer|layer (number|index))|"
            r"(integer|int|layer number|layer index)\w* (as|for) (a |the )?key")
_QAXIS = (r"(?i)max\w* over (the )?(query|queries|rows|wrong)|query axis|over (the )?quer(y|ies)|wrong (axis|dim)|subtract\w* .*max|stab(le|ility)|shift|"
          r"per.column|dim(ension)? ?-?2|axis ?-?2")
_FLOOR = r"(?i)floor|//|integer division|round\w*|truncat\w*"
_BOS = (r"(?i)(key|position|column) 0|first (key|position|column)|\bbos\b|sink|all keys|every key|"
        r"keys? (is |are |was )?(missing|dropped|skipped|left out|excluded|omitted)")
_ROWMAX = (r"(?i)\bmax\b|maximum|largest|normali[sz]\w*|sum(s)? to (one|1)|does not sum|row sums?|denominator|"
           r"not a (proper )?(softmax|probabilit)")
_OWN_Q = (r"(?i)quer(y|ies)\W+(\w+\W+){0,4}(patched|replaced|corrupt|changed|swapped)|corrupt quer|own query|"
          r"query too|only the key|keys? (alone|on (its|their) own)")
_BATCH_MAX = (r"(?i)\bnan\b|max\w* over (the )?(batch|examples|prompt|wrong)|wrong (axis|dim)|\binf\b|infinit|stab(le|ility)|"
              r"non.?finite|not finite|dim(ension)? ?0|axis ?0")
_HALF = r"(?i)half|float16|fp16|precision|dtype|overflow|underflow|rounding"
_RMS = (r"(?i)root|rms|square|quadratic|\bl2\b|norm|(sum|add)\w* (of )?(the )?(absolute|abs)|"
        r"L ?- ?1|normali[sz]er")


MISTAKES = [
    ("check_patch_heads", "ph_effect_as_log_ratio_of_metrics", _LOG, ph_effect_as_log_ratio_of_metrics),
    ("check_patch_heads", "ph_layer_rows_normalised_to_unit_l1", _L1, ph_layer_rows_normalised_to_unit_l1),
    ("check_patch_heads", "ph_batch_chunks_drop_the_remainder", _CHUNK, ph_batch_chunks_drop_the_remainder),
    ("check_patch_heads", "ph_patch_guarded_by_hook_name", _HOOK_NAME, ph_patch_guarded_by_hook_name),
    ("check_patch_heads", "ph_effect_per_unit_of_head_change", _PER_UNIT, ph_effect_per_unit_of_head_change),
    ("check_atp_heads", "atp_second_order_term_built_from_the_gradient", _SECOND,
     atp_second_order_term_built_from_the_gradient),
    ("check_atp_heads", "atp_gradient_clipped_for_stability", _CLIP, atp_gradient_clipped_for_stability),
    ("check_atp_heads", "atp_gradient_rescaled_to_unit_norm_per_example", _GRAD_NORM,
     atp_gradient_rescaled_to_unit_norm_per_example),
    ("check_atp_heads", "atp_dicts_indexed_by_layer_number", _INT_KEY, atp_dicts_indexed_by_layer_number),
    ("check_atp_heads", "atp_layer_rows_normalised_to_unit_l1", _L1, atp_layer_rows_normalised_to_unit_l1),
    ("check_qk_fix_queries", "qkq_stability_shift_taken_over_the_query_axis", _QAXIS,
     qkq_stability_shift_taken_over_the_query_axis),
    ("check_qk_fix_queries", "qkq_scores_floor_divided_by_the_scale", _FLOOR, qkq_scores_floor_divided_by_the_scale),
    ("check_qk_fix_queries", "qkq_bos_key_left_out_of_the_sum", _BOS, qkq_bos_key_left_out_of_the_sum),
    ("check_qk_fix_queries", "qkq_pattern_gradient_clipped", _CLIP, qkq_pattern_gradient_clipped),
    ("check_qk_fix_queries", "qkq_softmax_divided_by_the_row_max", _ROWMAX, qkq_softmax_divided_by_the_row_max),
    ("check_qk_fix_keys", "qkk_query_at_s_patched_with_the_key", _OWN_Q, qkk_query_at_s_patched_with_the_key),
    ("check_qk_fix_keys", "qkk_softmax_divided_by_the_row_max", _ROWMAX, qkk_softmax_divided_by_the_row_max),
    ("check_qk_fix_keys", "qkk_stability_max_taken_over_the_batch", _BATCH_MAX, qkk_stability_max_taken_over_the_batch),
    ("check_qk_fix_keys", "qkk_patterns_exponentiated_in_half_precision", _HALF,
     qkk_patterns_exponentiated_in_half_precision),
    ("check_qk_fix_keys", "qkk_scores_floor_divided_by_the_scale", _FLOOR, qkk_scores_floor_divided_by_the_scale),
    ("check_graddrop", "gd_root_mean_square_over_passes", _RMS, gd_root_mean_square_over_passes),
    ("check_graddrop", "gd_gradients_clipped_for_stability", _CLIP, gd_gradients_clipped_for_stability),
    ("check_graddrop", "gd_second_order_term_in_each_pass", _SECOND, gd_second_order_term_in_each_pass),
    ("check_graddrop", "gd_gradient_rescaled_to_unit_norm_per_example", _GRAD_NORM,
     gd_gradient_rescaled_to_unit_norm_per_example),
    ("check_graddrop", "gd_estimate_per_unit_of_head_change", _PER_UNIT, gd_estimate_per_unit_of_head_change),
]
