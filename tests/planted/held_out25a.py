"""Held-out set #25, written blind on 2026-12-07 (round 25): part a.

Exercises: check_patch_heads and check_atp_heads (chapter 0, the zoo's induction model,
``zoo.load("induction", n=16, seed=0)``), check_qk_fix_queries and check_qk_fix_keys (chapter 1,
``saturation.build()``), check_graddrop (chapter 2, ``cancellation.build()``). Each function is the
chapter's solution copied and changed where a learner slips. Every one was run next to a copy of
the chapter's solution on that chapter's own model and task (scratch script
``/work/scratch/round25/a/verify.py``, ``OMP_NUM_THREADS=1``); each crashes, has a wrong shape or
differs from the solution by at least 2 % of the solution's largest magnitude (the table in the
report lists the numbers). No check function or check source was opened or called.
"""

from __future__ import annotations

import dataclasses

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_patch_heads
def ph_noising_and_denoising_averaged(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean = cache_activations(model, task.clean, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
        base_corr = task.metric_value(model(task.corrupt))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            def put_clean(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = clean[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                noising = task.metric_value(model(task.clean)) - base
            # I measure both directions and average them, so the effect does not depend on which run I start from
            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put_clean)]):
                denoising_as_noising = base_corr - task.metric_value(model(task.corrupt))
            out[l, h] = (noising + denoising_as_noising) / 2
    return out


def ph_stacked_copies_metric_averaged_over_all_copies(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    B = task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        # one forward per layer: copy h of the batch gets head h patched
        def put(act, hook, l=l):
            act = act.clone()
            for h in range(H):
                act[h * B:(h + 1) * B, :, h] = corr[names[l]][:, :, h]
            return act

        with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
            out[l, :] = task.metric_value(model(task.clean.repeat(H, 1))) - base
    return out


def ph_one_heads_corrupt_value_broadcast_to_every_head(model, task: wb.Task) -> torch.Tensor:
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
                act[:] = corr[names[l]][:, :, h:h + 1]  # keep the head axis so the shapes line up
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_effect_divided_by_the_number_of_heads(model, task: wb.Task) -> torch.Tensor:
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
                # each head is one of H in the layer, so I give it its share of the change
                out[l, h] = (task.metric_value(model(task.clean)) - base) / H
    return out


def ph_accuracy_instead_of_the_metric(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)

    def accuracy(logits):  # fraction of prompts where the answer is the top prediction
        return (logits[torch.arange(task.batch_size), task.pos].argmax(-1) == task.answer).float().mean()

    with torch.no_grad():
        base = accuracy(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = accuracy(model(task.clean)) - base
    return out


# ----------------------------------------------------------------------------- check_atp_heads
def atp_clean_subtracted_twice(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    for n in names:  # turn the corrupt cache into the deltas first
        corr[n] -= clean[n]
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_clean_activations_read_at_hook_q(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    q_names = [f"blocks.{l}.attn.hook_q" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, q_names, names)
    # same shape [B, pos, head, d_head], so I read the clean side from the q cache
    return torch.stack([((corr[n] - clean[qn]) * grads[n]).sum((1, 3)).mean(0) for n, qn in zip(names, q_names)])


def atp_metric_read_one_position_early(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    # the logits that predict the answer sit one position before it
    grad_task = dataclasses.replace(task, pos=task.pos - 1)
    _, clean, grads = cache_activations_and_grads(model, grad_task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_prompt_pairs_weighted_by_clean_metric(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    m_clean, clean, grads = cache_activations_and_grads(model, task, names, names)
    # prompt pairs the model solves more confidently should count more: softmax weights over the pairs
    w = m_clean.softmax(0)
    return torch.stack([(((corr[n] - clean[n]) * grads[n]).sum((1, 3)) * w[:, None]).sum(0) for n in names])


def atp_estimates_centred_per_layer(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    out = torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])
    return out - out.mean(1, keepdim=True)  # remove what the whole layer does, so each head stands out


# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_scores_clamped_for_stability(model, task: wb.Task) -> torch.Tensor:
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
        # keep the scores in a safe range before exp
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).clamp(-5, 5).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).clamp(-5, 5).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_hard_argmax_patterns(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()

    def hard(scores):  # a saturated softmax is one-hot on the top key anyway
        top = scores.masked_fill(~mask, float("-inf")).argmax(-1)
        return torch.nn.functional.one_hot(top, T).float()

    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = hard(torch.einsum("bthd,bshd->bhts", q, k) / sc)
        A_new = hard(torch.einsum("bthd,bshd->bhts", q_new, k) / sc)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_returns_only_the_correction_over_plain_atp(model, task: wb.Task) -> torch.Tensor:
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
        fix = ((A_new - A) * grads[pats[l]]).sum(-1).mean(0)  # [H, T]
        plain = ((q_new - q) * grads[qs[l]]).sum(-1).mean(0).T  # [H, T]
        # the fix is what AtP gets wrong, so I report the fix relative to plain AtP
        out.append(fix - plain)
    return torch.stack(out)


def qkq_only_the_clean_top_key_counted(model, task: wb.Task) -> torch.Tensor:
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
        # a saturated row is all on one key, so the change that matters is the one on that key
        top = A.argmax(-1, keepdim=True)
        out.append(((A_new - A) * grads[pats[l]]).gather(-1, top).squeeze(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_estimate_multiplied_back_by_the_scale(model, task: wb.Task) -> torch.Tensor:
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
        # the scores were divided by the scale, so I undo it on the estimate
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0) * sc)  # [H, T]
    return torch.stack(out)


# ----------------------------------------------------------------------------- check_qk_fix_keys
def _closed_form_key_fix(model, task, new_column):
    """The learner's closed-form version of the key loop; ``new_column`` is where the slip sits."""
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
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        g = grads[pats[l]]
        for s in range(T):
            # change of column s's score in every row, from the patched key alone
            d = torch.einsum("bthd,bhd->bht", q, k_corr[:, s] - k[:, s]) / sc
            a = A[..., s]
            a_new, others = new_column(a, d, q, k_corr, k, s, sc)
            A2 = A * others[..., None]
            A2[..., s] = a_new
            A2 = A2.masked_fill(~mask, 0.0)
            out[l, :, s] = ((A2 - A) * g).sum((-1, -2)).mean(0)
    return out


def qkk_closed_form_normaliser_keeps_the_old_key(model, task: wb.Task) -> torch.Tensor:
    def new_column(a, d, q, k_corr, k, s, sc):
        # new normaliser = old one plus the new key's weight
        r = 1 + a * torch.exp(d)
        return a * torch.exp(d) / r, 1 / r

    return _closed_form_key_fix(model, task, new_column)


def qkk_log_odds_taken_as_log_probability(model, task: wb.Task) -> torch.Tensor:
    def new_column(a, d, q, k_corr, k, s, sc):
        # shift the log-odds of key s by the score change, then rescale the other keys to fill the rest
        a_new = torch.sigmoid(torch.log(a) + d)
        return a_new, (1 - a_new) / (1 - a).clamp_min(1e-12)

    return _closed_form_key_fix(model, task, new_column)


def qkk_hard_argmax_patterns(model, task: wb.Task) -> torch.Tensor:
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

        def pattern(keys):  # saturated heads attend to one key, so I take the top key as a one-hot row
            scores = (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf"))
            return torch.nn.functional.one_hot(scores.argmax(-1), T).float()

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_closed_form_exp_linearised(model, task: wb.Task) -> torch.Tensor:
    def new_column(a, d, q, k_corr, k, s, sc):
        e = 1 + d  # exp(d) ~ 1 + d for a small score change
        r = 1 - a + a * e
        return a * e / r, 1 / r

    return _closed_form_key_fix(model, task, new_column)


def qkk_estimate_divided_by_the_keys_the_row_sees(model, task: wb.Task) -> torch.Tensor:
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
            # average over the s + 1 keys visible up to this key
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0) / (s + 1)
    return out


# ----------------------------------------------------------------------------- check_graddrop
def gd_random_layers_dropped_like_dropout(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layers": set()}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if l in drop["layers"] else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: save(t, hook, n)) for n in names]
    bwd = [(n, lambda g, hook, n=n: grab(g, hook, n)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    gen = torch.Generator().manual_seed(0)
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            # dropout: each pass drops every layer's writes with probability 1/2
            drop["layers"] = {i for i in range(L) if torch.rand(1, generator=gen).item() < 0.5}
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_one_pass_per_head_cutting_its_write(model, task: wb.Task) -> torch.Tensor:
    L, B, H = model.cfg.n_layers, task.batch_size, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"head": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        # the components are the heads, so each pass cuts one head's write to the residual stream
        if drop["head"] is None or drop["head"][0] != l:
            return g
        g = g.clone()
        g[:, :, drop["head"][1]] = 0
        return g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: save(t, hook, n)) for n in names]
    bwd = [(n, lambda g, hook, n=n: grab(g, hook, n)) for n in names]
    bwd += [(f"blocks.{l}.attn.hook_result", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L)]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            for h in range(H):
                drop["head"] = (l, h)
                grads.clear()
                metric.backward(retain_graph=True)
                per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                             for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L * H - 1)).mean(0)


def gd_dropped_writes_scaled_by_a_half(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        return 0.5 * g if drop["layer"] == l else g  # dropout keeps half, so I damp the path instead of cutting it

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


def gd_excess_over_abs_atp(model, task: wb.Task) -> torch.Tensor:
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
        for l in [None] + list(range(L)):  # pass None: nothing dropped, plain AtP
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    atp = per_pass[0].mean(0)
    score = (torch.stack(per_pass[1:]).abs().sum(0) / (L - 1)).mean(0)
    # what GradDrop adds on top of AtP is what flags cancellation
    return score - atp.abs()

def gd_score_divided_by_abs_atp(model, task: wb.Task) -> torch.Tensor:
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
        for l in [None] + list(range(L)):  # pass None: nothing dropped, plain AtP
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    atp = per_pass[0].mean(0)
    score = (torch.stack(per_pass[1:]).abs().sum(0) / (L - 1)).mean(0)
    # how much larger the dropped passes are than AtP is what flags cancellation
    return score / atp.abs().clamp_min(1e-6)


MISTAKES = [
    ("check_patch_heads", "ph_noising_and_denoising_averaged",
     r"(?i)(denois|both directions|revers\w* direction|average[ds]? .*(noising|direction)|clean (head|value|activation)s? (in|into) the corrupt|corrupt run)",
     ph_noising_and_denoising_averaged),
    ("check_patch_heads", "ph_stacked_copies_metric_averaged_over_all_copies",
     r"(?i)(same (value|effect|number) for (every|all|each) head|every head (of|in) (a|the|each) layer|identical across heads|one (number|value|effect) per layer|copies|stacked|averag\w* over (all )?(the )?(copies|heads)|layer.?wide|whole (stacked|repeated) batch)",
     ph_stacked_copies_metric_averaged_over_all_copies),
    ("check_patch_heads", "ph_one_heads_corrupt_value_broadcast_to_every_head",
     r"(?i)(every head|all (the )?heads|whole layer|entire layer|broadcast|other heads (are |were )?(also )?(patched|overwritten)|more than one head|not (just|only) head)",
     ph_one_heads_corrupt_value_broadcast_to_every_head),
    ("check_patch_heads", "ph_effect_divided_by_the_number_of_heads",
     r"(?i)(n_heads|number of heads|divided by (the )?(number of )?heads|divid\w* by h\b|/ ?h\b|per.head share|share of the layer|scaled by 1/ ?h|too small by a factor)",
     ph_effect_divided_by_the_number_of_heads),
    ("check_patch_heads", "ph_accuracy_instead_of_the_metric",
     r"(?i)(accuracy|argmax|top.?1|top prediction|fraction (of prompts )?correct|task\.metric_value|task'?s? metric|logit diff)",
     ph_accuracy_instead_of_the_metric),
    ("check_atp_heads", "atp_clean_subtracted_twice",
     r"(?i)(subtract\w* (the clean \w+ )?twice|twice|double.?subtract|in.?place|corr(upt)? cache (was )?(modified|mutated|edited|overwritten)|-=|corr - 2|2 ?\* ?clean)",
     atp_clean_subtracted_twice),
    ("check_atp_heads", "atp_clean_activations_read_at_hook_q",
     r"(?i)(hook_q|quer(y|ies)).*(clean|delta|activation)|(clean|delta|activation).*(hook_q|quer(y|ies))|mix\w* (node|hook)s?|different (hook|node)s?",
     atp_clean_activations_read_at_hook_q),
    ("check_atp_heads", "atp_metric_read_one_position_early",
     r"(?i)(position|pos)\b.*(early|earlier|before|off.by.one|-\s?1|shift|wrong)|(one|1) position (early|earlier|before|too early)|off.by.one|task\.pos|metric (read|taken) at the wrong",
     atp_metric_read_one_position_early),
    ("check_atp_heads", "atp_prompt_pairs_weighted_by_clean_metric",
     r"(?i)(weight\w*|plain (batch )?mean|unweighted|equal(ly)? weight|by (the|their|its) (clean )?metric|M\(clean\)|confiden)",
     atp_prompt_pairs_weighted_by_clean_metric),
    ("check_atp_heads", "atp_estimates_centred_per_layer",
     r"(?i)(cent(er|re)d?|mean (of|over) (the )?(layer|heads|row)|layer'?s? (mean|average) (subtracted|removed)|subtract\w* (the )?(layer|row|per.layer) (mean|average)|rows? sum to zero|shift\w* by a constant)",
     atp_estimates_centred_per_layer),
    ("check_qk_fix_queries", "qkq_scores_clamped_for_stability",
     r"(?i)(clamp|clip|cap(ped)?|limit\w* the scores|bounded|range of the scores)",
     qkq_scores_clamped_for_stability),
    ("check_qk_fix_queries", "qkq_hard_argmax_patterns",
     r"(?i)(argmax|one.hot|hard (max|attention|pattern)|not (a |the )?softmax|softmax (replaced|missing|not (used|applied))|max instead)",
     qkq_hard_argmax_patterns),
    ("check_qk_fix_queries", "qkq_returns_only_the_correction_over_plain_atp",
     r"(?i)(plain atp|atp (estimate )?(subtracted|removed)|minus (the )?(plain )?atp|subtract\w* (the )?(plain )?atp|difference (to|from|with) (plain )?atp|correction)",
     qkq_returns_only_the_correction_over_plain_atp),
    ("check_qk_fix_queries", "qkq_only_the_clean_top_key_counted",
     r"(?i)(only (the |one )?(top|largest|attended|argmax|single) key|one key|top key|argmax|gather|not summed over (all )?(the )?keys|sum over (all )?(the )?keys|other keys (ignored|left out|missing))",
     qkq_only_the_clean_top_key_counted),
    ("check_qk_fix_queries", "qkq_estimate_multiplied_back_by_the_scale",
     r"(?i)(scale|attn_scale|sqrt\(?d_head|times (the )?(score )?scale|multipl\w* by (the )?(score )?scale|too large by a (constant )?factor)",
     qkq_estimate_multiplied_back_by_the_scale),
    ("check_qk_fix_keys", "qkk_closed_form_normaliser_keeps_the_old_key",
     r"(?i)(normali[sz]\w*|denominator|partition|sum of exp|re.?softmax|renormali[sz]\w*).*(old|clean|original|replaced|removed|still|both|twice|includes?)|(old|clean|original) key'?s? (weight|term|score) (still |left |kept )|not (properly )?renormali[sz]ed|don'?t sum to (one|1)|rows? (do not|don'?t|no longer) sum",
     qkk_closed_form_normaliser_keeps_the_old_key),
    ("check_qk_fix_keys", "qkk_log_odds_taken_as_log_probability",
     r"(?i)(log.?odds|logit of|log\(?a\)? instead|log.?prob|log ?\(?a ?/ ?\(?1 ?- ?a|sigmoid|closed.form|not (properly )?renormali[sz]ed|rows? (do not|don'?t|no longer) sum)",
     qkk_log_odds_taken_as_log_probability),
    ("check_qk_fix_keys", "qkk_hard_argmax_patterns",
     r"(?i)(argmax|one.hot|hard (max|attention|pattern)|not (a |the )?softmax|softmax (replaced|missing|not (used|applied))|max instead)",
     qkk_hard_argmax_patterns),
    ("check_qk_fix_keys", "qkk_closed_form_exp_linearised",
     r"(?i)(1 ?\+ ?d|1 ?\+ ?(the )?(score )?(change|delta)|linear\w* (the )?exp|exp\w* (is |was )?(approximated|linearised|linearized)|first.order|taylor|not (the )?exact (softmax|exp)|instead of exp)",
     qkk_closed_form_exp_linearised),
    ("check_qk_fix_keys", "qkk_estimate_divided_by_the_keys_the_row_sees",
     r"(?i)(divid\w* by (s ?\+ ?1|the (number of )?(visible )?keys|the key (index|position))|s ?\+ ?1|averag\w* over (the )?keys|mean over (the )?keys|per.key average|scaled down with the (key )?position)",
     qkk_estimate_divided_by_the_keys_the_row_sees),
    ("check_graddrop", "gd_random_layers_dropped_like_dropout",
     r"(?i)(random|probabilit|bernoulli|dropout|rand\b|not (exactly )?one layer per pass|each layer (dropped )?(exactly )?once|layer l in pass l|pass l (must |should )?drop)",
     gd_random_layers_dropped_like_dropout),
    ("check_graddrop", "gd_one_pass_per_head_cutting_its_write",
     r"(?i)(per.head|each head|one pass per head|head'?s? (own )?write|hook_result|L ?\* ?H|layers?'?s? (two )?writes|attn_out and mlp_out|drops? heads? instead of layers|mlp (write|out)s? (never|not) (dropped|cut|gated))",
     gd_one_pass_per_head_cutting_its_write),
    ("check_graddrop", "gd_dropped_writes_scaled_by_a_half",
     r"(?i)(half|0\.5|scaled|damp\w*|not (fully )?(zero|cut|stopped)|partially|zeros_like|must (be )?zero|instead of zero)",
     gd_dropped_writes_scaled_by_a_half),
    ("check_graddrop", "gd_excess_over_abs_atp",
     r"(?i)(minus (the )?\|?atp|subtract\w* (the )?\|?atp|\|?atp\|? (is )?subtracted|excess|difference (to|from|with) (\|?atp|the atp)|relative to (the )?atp|- ?\|?atp)",
     gd_excess_over_abs_atp),
    ("check_graddrop", "gd_score_divided_by_abs_atp",
     r"(?i)(divid\w* by (the )?\|?atp|ratio|relative to (the )?atp|normali[sz]\w* by (\|?atp|the atp)|/ ?\|?atp|atp magnitude)",
     gd_score_divided_by_abs_atp),
]
