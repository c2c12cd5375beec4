"""Held-out set #29, written blind on 2026-12-07 (round 29): part a.

Exercises check_patch_heads, check_atp_heads (chapter 0: ``zoo.load("induction", n=16, seed=0)``)
and check_qk_fix_queries (chapter 1: ``saturation.build()``). Each wrong function is the chapter's
solution copied with one slip; each was run next to the chapter's solution on the chapter's own
model and task (scratch script /work/scratch/round29/a/verify.py) and is wrong by a crash, a wrong
shape or a max difference of at least 2 % of the correct result's largest magnitude.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import cache_activations, cache_activations_and_grads


# ----------------------------------------------------------------------------- check_patch_heads
def ph_effects_standardised_across_heads(model, task: wb.Task) -> torch.Tensor:
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
    # z-score the effects so the heads are comparable
    return (out - out.mean()) / out.std()


def ph_hand_written_metric_with_the_first_pairs_tokens(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)

    def metric(logits):  # my own logit difference at the last position
        return (logits[:, -1, task.answer[0]] - logits[:, -1, task.wrong[0]]).mean()

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


def ph_flat_index_l_plus_h(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    flat = torch.zeros(L * H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                flat[l + h] = task.metric_value(model(task.clean)) - base  # slot of head (l, h)
    return flat.view(L, H)


def ph_head_pushed_away_from_its_corrupt_value(model, task: wb.Task) -> torch.Tensor:
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
                # noising: take the corrupt difference off the clean head
                act[:, :, h] = act[:, :, h] - (corr[names[l]][:, :, h] - act[:, :, h])
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_positions_from_example_0s_first_difference(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    # before the first changed token the runs are identical, so only patch from there on
    start = int((task.clean[0] != task.corrupt[0]).nonzero()[0])
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, start:, h] = corr[names[l]][:, start:, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# ----------------------------------------------------------------------------- check_atp_heads
def atp_positions_from_example_0s_first_difference(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # nothing changes before the first corrupted token: skip those positions
    start = int((task.clean[0] != task.corrupt[0]).nonzero()[0])
    return torch.stack([((corr[n] - clean[n]) * grads[n])[:, start:].sum((1, 3)).mean(0) for n in names])


def atp_products_clamped_at_zero_elementwise(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # keep only the entries that push the metric up
    return torch.stack([((corr[n] - clean[n]) * grads[n]).clamp(min=0).sum((1, 3)).mean(0) for n in names])


def atp_hand_written_backward_with_the_first_pairs_tokens(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    # my own forward/backward instead of the helper
    clean, outs = {}, {}

    def keep(act, hook, name):
        outs[name] = act
        clean[name] = act.detach()
        return act

    from functools import partial

    fwd = [("hook_embed", lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, partial(keep, name=n)) for n in names]
    with torch.enable_grad(), model.hooks(fwd_hooks=fwd):
        logits = model(task.clean)
        m = (logits[:, -1, task.answer[0]] - logits[:, -1, task.wrong[0]]).sum()  # per-example gradients
        got = torch.autograd.grad(m, [outs[n] for n in names])
    grads = {n: g.detach() for n, g in zip(names, got)}
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_estimates_standardised_across_heads(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    est = torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])
    return (est - est.mean()) / est.std()  # put every head on one scale


def atp_flat_index_l_plus_h(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    flat = torch.zeros(L * H)
    for l, n in enumerate(names):
        per_head = ((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0)
        for h in range(H):
            flat[l + h] = per_head[h]  # slot of head (l, h)
    return flat.view(L, H)


# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_estimates_standardised_across_heads(model, task: wb.Task) -> torch.Tensor:
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
    est = torch.stack(out)
    return (est - est.mean()) / est.std()  # one scale for every query node


def qkq_products_clamped_at_zero_elementwise(model, task: wb.Task) -> torch.Tensor:
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
        # only keys whose change pushes the metric up count
        out.append(((A_new - A) * grads[pats[l]]).clamp(min=0).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_flat_index_l_plus_h(model, task: wb.Task) -> torch.Tensor:
    L, T, H = model.cfg.n_layers, task.seq_len, model.cfg.n_heads
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    flat = torch.zeros(L * H, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        est = ((A_new - A) * grads[pats[l]]).sum(-1).mean(0)  # [H, T]
        for h in range(H):
            flat[l + h] = est[h]  # row of head (l, h)
    return flat.view(L, H, T)


MISTAKES = [
    ("check_patch_heads", "ph_effects_standardised_across_heads",
     r"(?i)standardi[sz]|z[- ]?scor|(subtract|minus|centr|remov)\w*.{0,40}mean.{0,60}(divid|std|standard dev)|unit variance|std",
     ph_effects_standardised_across_heads),
    ("check_patch_heads", "ph_hand_written_metric_with_the_first_pairs_tokens",
     r"(?i)(first|example 0|0th|one|single|same).{0,50}(answer|wrong|token).{0,60}(every|all|each)|(answer|wrong)\w*\[0\]|every (example|prompt).{0,60}(first|one|same).{0,30}(answer|token)|own (answer|wrong|token)s?",
     ph_hand_written_metric_with_the_first_pairs_tokens),
    ("check_patch_heads", "ph_flat_index_l_plus_h",
     r"(?i)l\s*\+\s*h|l\s*\*\s*(h|n_heads)\s*\+\s*h|flat(tened)? index|overwrit|collid|(index|slot|position).{0,40}(wrong|clash|overlap)",
     ph_flat_index_l_plus_h),
    ("check_patch_heads", "ph_head_pushed_away_from_its_corrupt_value",
     r"(?i)(away|opposite|revers|negat|wrong direction|reflect|extrapolat|mirror).{0,60}(corrupt|delta|differen|change)|(corrupt|delta|differen).{0,60}(subtract|away|opposite|negat|reflect)|2\s*\*?\s*clean",
     ph_head_pushed_away_from_its_corrupt_value),
    ("check_patch_heads", "ph_positions_from_example_0s_first_difference",
     r"(?i)(first|example 0|one|single).{0,60}(example|prompt|pair).{0,80}(position|start|differ)|(position|start).{0,60}(first|example 0|one) (example|prompt|pair)|positions? (before|earlier).{0,60}(not|never|skip|left|miss)|(skip|miss|left out|unpatched).{0,40}(early|earlier|some) positions",
     ph_positions_from_example_0s_first_difference),
    ("check_atp_heads", "atp_positions_from_example_0s_first_difference",
     r"(?i)(first|example 0|one|single).{0,60}(example|prompt|pair).{0,80}(position|start|differ)|(position|start).{0,60}(first|example 0|one) (example|prompt|pair)|positions? (before|earlier).{0,60}(not|never|skip|left|miss|drop)|(skip|miss|left out|drop).{0,40}(early|earlier|some) positions",
     atp_positions_from_example_0s_first_difference),
    ("check_atp_heads", "atp_products_clamped_at_zero_elementwise",
     r"(?i)(clamp|clip|relu|positive|negative).{0,80}(product|entr|element|term|contribution|before (the )?sum)|(product|entr|element|term|contribution).{0,80}(clamp|clip|relu|positive only|negative.{0,20}(drop|zero|discard))",
     atp_products_clamped_at_zero_elementwise),
    ("check_atp_heads", "atp_hand_written_backward_with_the_first_pairs_tokens",
     r"(?i)(first|example 0|0th|one|single|same).{0,50}(answer|wrong|token).{0,60}(every|all|each)|(answer|wrong)\w*\[0\]|every (example|prompt).{0,60}(first|one|same).{0,30}(answer|token)|own (metric|answer|wrong|token)s?",
     atp_hand_written_backward_with_the_first_pairs_tokens),
    ("check_atp_heads", "atp_estimates_standardised_across_heads",
     r"(?i)standardi[sz]|z[- ]?scor|(subtract|minus|centr|remov)\w*.{0,40}mean.{0,60}(divid|std|standard dev)|unit variance|std",
     atp_estimates_standardised_across_heads),
    ("check_atp_heads", "atp_flat_index_l_plus_h",
     r"(?i)l\s*\+\s*h|l\s*\*\s*(h|n_heads)\s*\+\s*h|flat(tened)? index|overwrit|collid|(index|slot|position).{0,40}(wrong|clash|overlap)",
     atp_flat_index_l_plus_h),
    ("check_qk_fix_queries", "qkq_estimates_standardised_across_heads",
     r"(?i)standardi[sz]|z[- ]?scor|(subtract|minus|centr|remov)\w*.{0,40}mean.{0,60}(divid|std|standard dev)|unit variance|std",
     qkq_estimates_standardised_across_heads),
    ("check_qk_fix_queries", "qkq_products_clamped_at_zero_elementwise",
     r"(?i)(clamp|clip|relu|positive|negative).{0,80}(product|entr|element|term|contribution|key|before (the )?sum)|(product|entr|element|term|contribution).{0,80}(clamp|clip|relu|positive only|negative.{0,20}(drop|zero|discard))",
     qkq_products_clamped_at_zero_elementwise),
    ("check_qk_fix_queries", "qkq_flat_index_l_plus_h",
     r"(?i)l\s*\+\s*h|l\s*\*\s*(h|n_heads)\s*\+\s*h|flat(tened)? index|overwrit|collid|(index|slot|row).{0,40}(wrong|clash|overlap)",
     qkq_flat_index_l_plus_h),
]
