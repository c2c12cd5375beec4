"""Held-out set #32, written blind on 2026-12-08 (round 32): part a.

Exercises check_patch_heads, check_atp_heads and check_qk_fix_queries. Each mistake is the chapter's
solution copied and changed at one place; each was run next to the chapter's solution (scratch
scripts in /work/scratch/round32/a/) on the chapter's model and task (zoo "induction", n=16, seed=0 for
chapter 0; saturation.build() for chapter 1) and on a random GPT-2 built with gpt2_config + bridge_from_hf
(3 layers x 5 heads, d_head 4, weights N(0, 0.4), batch 6, 7 tokens, corrupt prompts differing at
positions 1, 3, 5, metric logit_diff), and kept only when it crashed or differed by >= 2 % of the
correct result's largest magnitude on one of them (or, where said, on the chapter's task with
metric="prob_diff"). The ideas list is saturated for these exercises: only 3, 3 and 3 new ideas
survived the checks against it within the time budget.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import cache_activations, cache_activations_and_grads, run_model


# ----------------------------------------------------------------------------- check_patch_heads
def ph_metric_of_the_logit_change(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        clean_logits = model(task.clean)
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                # the effect is the change of the logits, so I measure the metric on that change
                out[l, h] = task.metric_value(model(task.clean) - clean_logits)
    return out


def ph_heads_with_a_small_output_change_skipped(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean = cache_activations(model, task.clean, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            # speed-up: a head whose output barely changes cannot matter, no need to patch it
            dz = (corr[names[l]][:, :, h] - clean[names[l]][:, :, h]).norm()
            if dz < 0.1 * clean[names[l]][:, :, h].norm():
                continue

            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_logits_kept_only_where_the_metric_reads(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    P = task.logit_positions()  # faster: unembed only the positions the metric reads
    with torch.no_grad():
        base = task.metric_value(run_model(model, task.clean, task.attention_mask, P))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(run_model(model, task.clean, task.attention_mask, P)) - base
    return out


# ----------------------------------------------------------------------------- check_atp_heads
def atp_head_change_rebuilt_from_the_values_alone(model, task: wb.Task) -> torch.Tensor:
    L = model.cfg.n_layers
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    vs = [f"blocks.{l}.attn.hook_v" for l in range(L)]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, vs)
    _, clean, grads = cache_activations_and_grads(model, task, vs + pats, names)
    rows = []
    for l, n in enumerate(names):
        # z = pattern @ v, and what the corrupt prompt changes is what the head reads: the values
        dz = torch.einsum("bhts,bshd->bthd", clean[pats[l]], corr[vs[l]] - clean[vs[l]])
        rows.append((dz * grads[n]).sum((1, 3)).mean(0))
    return torch.stack(rows)


def atp_head_change_rebuilt_from_the_pattern_alone(model, task: wb.Task) -> torch.Tensor:
    L = model.cfg.n_layers
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    vs = [f"blocks.{l}.attn.hook_v" for l in range(L)]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, pats)
    _, clean, grads = cache_activations_and_grads(model, task, vs + pats, names)
    rows = []
    for l, n in enumerate(names):
        # the corrupt prompt changes where the head attends; z = pattern @ v, so dz = dpattern @ v
        dz = torch.einsum("bhts,bshd->bthd", corr[pats[l]] - clean[pats[l]], clean[vs[l]])
        rows.append((dz * grads[n]).sum((1, 3)).mean(0))
    return torch.stack(rows)


def atp_heads_with_a_small_output_change_skipped(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    rows = []
    for n in names:
        delta = corr[n] - clean[n]
        # heads whose output hardly moves get no credit (their product is just noise)
        small = delta.pow(2).sum((0, 1, 3)).sqrt() < 0.1 * clean[n].pow(2).sum((0, 1, 3)).sqrt()
        rows.append((delta * grads[n]).sum((1, 3)).mean(0).masked_fill(small, 0.0))
    return torch.stack(rows)


# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_head_output_change_built_with_the_corrupt_values(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qkv = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k", "v")]
    zs = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qkv)
    _, clean, grads = cache_activations_and_grads(model, task, qkv, zs)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k, v = (clean[f"blocks.{l}.attn.hook_{x}"] for x in "qkv")
        # the patched run's output: new pattern applied to the corrupt run's values
        q_new, v_new = corr[f"blocks.{l}.attn.hook_q"], corr[f"blocks.{l}.attn.hook_v"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        dz = torch.einsum("bhts,bshd->bthd", A_new, v_new) - torch.einsum("bhts,bshd->bthd", A, v)
        out.append((dz * grads[zs[l]]).sum(-1).mean(0).transpose(0, 1))  # [H, T]
    return torch.stack(out)


def qkq_pattern_route_and_output_route_added(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qkv = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k", "v")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    zs = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qkv)
    _, clean, grads = cache_activations_and_grads(model, task, qkv, pats + zs)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k, v = (clean[f"blocks.{l}.attn.hook_{x}"] for x in "qkv")
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        via_pattern = ((A_new - A) * grads[pats[l]]).sum(-1).mean(0)  # [H, T]
        # the new pattern also changes the head's output, so I add that effect as well
        dz = torch.einsum("bhts,bshd->bthd", A_new - A, v)
        via_output = (dz * grads[zs[l]]).sum(-1).mean(0).transpose(0, 1)  # [H, T]
        out.append(via_pattern + via_output)
    return torch.stack(out)


def qkq_clean_pattern_read_from_a_name_never_cached(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        k = clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = clean[pats[l]]  # the clean pattern is already in the clean cache, no need to recompute it
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


MISTAKES = [
    ("check_patch_heads", "ph_metric_of_the_logit_change",
     r"(?i)(metric (of|on|applied to|computed on) the (logit )?(change|difference)|logits? (were |are )?subtract|subtract\w* (the )?(clean )?logits|difference of (the )?logits|logit (change|difference) (passed|fed)|metric\(patched\) ?- ?metric\(clean\)|metric of each run|metric (values|of the two runs) (first|then subtract)|nonlinear metric)",
     ph_metric_of_the_logit_change),
    ("check_patch_heads", "ph_heads_with_a_small_output_change_skipped",
     r"(?i)(?=.*\b(skip\w*|threshold\w*|pruned?|left (at )?zero|not (patched|scored)|never (patched|scored)|set to zero|zero(es|ed)?|dropped|ignored)\b)(?=.*\b(small|little|barely|tiny|below|negligible)\b)",
     ph_heads_with_a_small_output_change_skipped),
    ("check_patch_heads", "ph_logits_kept_only_where_the_metric_reads",
     r"(?i)(logit_positions|positions=|only (at )?the (metric|read) positions?|logits (at|for) (one|a single|the last) position|positions? (argument|were) (passed|given) to (the )?(run_model|forward)|per_example.{0,40}positions|re-?index\w* pos|out of (bounds|range))",
     ph_logits_kept_only_where_the_metric_reads),
    ("check_atp_heads", "atp_head_change_rebuilt_from_the_values_alone",
     r"(?i)(values? (alone|only)|only the values?|clean (attention )?pattern (held|kept|fixed)|pattern (held|kept) (at )?clean|ignor\w* the (attention )?pattern('s)? change|hook_v|pattern change (is )?(missing|ignored|left out))",
     atp_head_change_rebuilt_from_the_values_alone),
    ("check_atp_heads", "atp_head_change_rebuilt_from_the_pattern_alone",
     r"(?i)(pattern (change )?(alone|only)|only the (attention )?pattern|values? (held|kept|fixed) (at )?clean|clean values?|ignor\w* the values?('s)? change|value change (is )?(missing|ignored|left out)|hook_pattern)",
     atp_head_change_rebuilt_from_the_pattern_alone),
    ("check_atp_heads", "atp_heads_with_a_small_output_change_skipped",
     r"(?i)(?=.*\b(skip\w*|threshold\w*|pruned?|left (at )?zero|not (patched|scored)|never (patched|scored)|set to zero|zero(es|ed)?|dropped|ignored)\b)(?=.*\b(small|little|barely|tiny|below|negligible)\b)",
     atp_heads_with_a_small_output_change_skipped),
    ("check_qk_fix_queries", "qkq_head_output_change_built_with_the_corrupt_values",
     r"(?i)(corrupt (run'?s? )?values?|values? (from|of) the corrupt|hook_v.{0,40}corrupt|only the query (is|should be) patched|values? (must|should) stay clean|v_corrupt|patch\w* the values? too)",
     qkq_head_output_change_built_with_the_corrupt_values),
    ("check_qk_fix_queries", "qkq_pattern_route_and_output_route_added",
     r"(?i)(counted twice|double[- ]count\w*|twice (the|as large)|(added|summed) (both|twice)|both (the )?(pattern|output) (route|path|effect)s?|pattern (gradient|route) and (the )?(output|hook_z|z) (gradient|route)|same (effect|change) (added|counted) (again|twice)|hook_z gradient (added|as well))",
     qkq_pattern_route_and_output_route_added),
    ("check_qk_fix_queries", "qkq_clean_pattern_read_from_a_name_never_cached",
     r"(?i)(never (requested|cached|recorded)|not (requested|cached|recorded|among the (activation|act)[ _]names)|act_names|activation names|KeyError|missing from the (clean )?(activations|cache)|only (its|the) gradients? (was|were) (requested|cached)|hook_pattern.{0,40}(not|never) (cached|requested))",
     qkq_clean_pattern_read_from_a_name_never_cached),
]
