"""Held-out set #33, written blind on 2026-12-08 (round 33): part a.

Exercises check_patch_heads, check_atp_heads and check_qk_fix_queries (chapters 00 and 01). Each
wrong function is the chapter's own solution copied with one learner slip. Each was run next to the
chapter's solution (scratch script, CPU, float32) on the chapter's models (the zoo's trained
induction model, n=16 seed 0; the saturation specimen) and on a random GPT-2 built with
``gpt2_config`` + ``bridge_from_hf`` (3 layers x 5 heads, d_head 4, weights N(0, 0.4), batch 6,
7 tokens, 3 corrupted positions per prompt); the state-carrying slips were shown by a second call
with another task or model, the two logit-difference-instead-of-the-task-metric slips by the same
task with metric ``prob_diff`` / ``answer_logprob``, the bfloat16 slip on the random GPT-2 only.
Every one crashes, returns the wrong type or shape, or differs from the solution by at least 2 % of
the solution's largest magnitude.
"""

from __future__ import annotations

import dataclasses

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import cache_activations, cache_activations_and_grads


# ----------------------------------------------------------------------------- check_patch_heads
_CLEAN_METRIC: dict[int, torch.Tensor] = {}


def ph_clean_metric_cached_per_model(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    # the clean run never changes for a model, so I compute it once per model and reuse it
    if id(model) not in _CLEAN_METRIC:
        with torch.no_grad():
            _CLEAN_METRIC[id(model)] = task.metric_value(model(task.clean))
    base = _CLEAN_METRIC[id(model)]
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_patched_runs_in_a_faster_dtype(model, task: wb.Task) -> torch.Tensor:
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
                act[:, :, h] = corr[names[l]][:, :, h].to(act.dtype)
                return act

            # L*H forward passes: run them in bfloat16 to make the loop faster
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean).float()) - base
    return out


def ph_logit_difference_written_by_hand(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    rows = torch.arange(task.batch_size)

    def metric(logits):  # the task is a logit difference at the answer position
        return (logits[rows, task.pos, task.answer] - logits[rows, task.pos, task.wrong]).mean()

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


def ph_task_passed_to_cache_activations(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    # I want the corrupt run of this task
    _, corr = cache_activations(model, task, names)
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
    return out


def ph_returns_effects_and_baseline(model, task: wb.Task) -> torch.Tensor:
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
    return out, base  # the baseline too, so the effects can be read against it


# ----------------------------------------------------------------------------- check_atp_heads
def atp_layer_names_built_lazily(model, task: wb.Task) -> torch.Tensor:
    names = (f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers))  # no need for a list
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_clean_tokens_passed_for_the_task(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    # clean forward + backward, so it gets the clean tokens like the corrupt call above
    _, clean, grads = cache_activations_and_grads(model, task.clean, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_metric_switched_to_logit_difference(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    # a probability saturates and a logit difference does not, so I linearise the logit difference
    ld_task = dataclasses.replace(task, metric="logit_diff")
    _, clean, grads = cache_activations_and_grads(model, ld_task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


_ATP_ROWS: list[torch.Tensor] = []


def atp_rows_collected_in_a_module_level_list(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    for n in names:  # one row per layer, collected in the list I made in an earlier cell
        _ATP_ROWS.append(((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0))
    return torch.stack(_ATP_ROWS)


# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_causal_mask_multiplied_into_the_pattern(model, task: wb.Task) -> torch.Tensor:
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
        # softmax first, then zero the future keys with the causal mask
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).softmax(-1) * mask
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).softmax(-1) * mask
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_clean_pattern_averaged_over_prompts(model, task: wb.Task) -> torch.Tensor:
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
        # one clean reference pattern per head, averaged over the prompts
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1).mean(0)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


_SCALES: dict[int, float] = {}


def qkq_score_scales_kept_between_calls(model, task: wb.Task) -> torch.Tensor:
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
        if l not in _SCALES:  # look each layer's scale up only once
            _SCALES[l] = attn_scale(model, l)
        sc = _SCALES[l]
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)



MISTAKES = [
    ("check_patch_heads", "ph_clean_metric_cached_per_model",
     r"(?i)(cach|memo|stale|reus|kept|stor|remember)\w*\W+(\w+\W+){0,8}(call|task|prompt|baseline|clean (run|metric))"
     r"|(baseline|clean metric|M\(clean\))\W+(\w+\W+){0,8}(previous|earlier|another|other|first|older?|stale) (call|task|prompt)",
     ph_clean_metric_cached_per_model),
    ("check_patch_heads", "ph_patched_runs_in_a_faster_dtype",
     r"(?i)bfloat16|bf16|float16|half[- ]precision|low(er)?[- ]precision|reduced precision|autocast|mixed precision",
     ph_patched_runs_in_a_faster_dtype),
    ("check_patch_heads", "ph_logit_difference_written_by_hand",
     r"(?i)(hard[- ]?cod\w*|hand[- ]?(written|made|rolled)|own|fixed)\W+(\w+\W+){0,4}(logit[ _-]?diff\w*|metric)"
     r"|ignor\w*\W+(\w+\W+){0,3}metric|task\.metric(_value)?|task'?s (own |chosen |configured )?metric",
     ph_logit_difference_written_by_hand),
    ("check_patch_heads", "ph_task_passed_to_cache_activations",
     r"(?i)(task|Task object)\W+(\w+\W+){0,8}(instead of|where|rather than|not)\W+(\w+\W+){0,4}tokens"
     r"|tokens\W+(\w+\W+){0,4}(not|instead of) (the |a )?task|task\.corrupt|'Task' object has no attribute",
     ph_task_passed_to_cache_activations),
    ("check_patch_heads", "ph_returns_effects_and_baseline",
     r"(?i)tuple|returns? (two|a pair|more than one|the baseline|extra)|baseline\W+(\w+\W+){0,6}return|not a (single )?tensor",
     ph_returns_effects_and_baseline),
    ("check_atp_heads", "atp_layer_names_built_lazily",
     r"(?i)generator|exhaust|consum|iterat\w* (only )?once|one[- ]shot|used up|empty (list|names|stack|dict)|non-empty",
     atp_layer_names_built_lazily),
    ("check_atp_heads", "atp_clean_tokens_passed_for_the_task",
     r"(?i)(task\.clean|tokens|tensor)\W+(\w+\W+){0,8}(instead of|where|rather than|in place of)\W+(\w+\W+){0,3}task"
     r"|expects? (a|the) (Task|task)|pass(ed)? the (whole )?task|'Tensor' object has no attribute",
     atp_clean_tokens_passed_for_the_task),
    ("check_atp_heads", "atp_metric_switched_to_logit_difference",
     r"(?i)logit[ _-]?diff\w*\W+(\w+\W+){0,8}(instead|rather|replac\w*|switch\w*|overrid\w*|forc\w*)"
     r"|(ignor\w*|replac\w*|overrid\w*|switch\w*|chang\w*)\W+(\w+\W+){0,4}metric|task'?s (own |chosen |configured )?metric",
     atp_metric_switched_to_logit_difference),
    ("check_atp_heads", "atp_rows_collected_in_a_module_level_list",
     r"(?i)(list|rows?|results?|estimates?)\W+(\w+\W+){0,8}(previous|earlier|last|other|every|each|across|between|first) (call|run|time)"
     r"|(global|module[- ]level|outside the function|never (cleared|reset|emptied)|not (cleared|reset|emptied)|accumulat\w*)",
     atp_rows_collected_in_a_module_level_list),
    ("check_qk_fix_queries", "qkq_causal_mask_multiplied_into_the_pattern",
     r"(?i)mask\w*\W+(\w+\W+){0,6}(after|post)[- ]?(the )?softmax|softmax\W+(\w+\W+){0,6}(before|without) (the )?(causal )?mask"
     r"|renormali|not (re)?normali|(rows?|pattern)\W+(\w+\W+){0,6}(not|n't|no longer) sum to (1|one)"
     r"|future\W+(\w+\W+){0,6}(denominator|normali)",
     qkq_causal_mask_multiplied_into_the_pattern),
    ("check_qk_fix_queries", "qkq_clean_pattern_averaged_over_prompts",
     r"(?i)(clean (attention )?pattern|reference pattern)\W+(\w+\W+){0,8}(averag|mean|shared|same)\w*\W+(\w+\W+){0,4}(batch|prompt|example|pair)"
     r"|(batch|prompt|example)[- ](averag|mean)\w*\W+(\w+\W+){0,3}pattern|per[- ](example|prompt) (clean )?pattern",
     qkq_clean_pattern_averaged_over_prompts),
    ("check_qk_fix_queries", "qkq_score_scales_kept_between_calls",
     r"(?i)(scale|attn_scale)\W+(\w+\W+){0,10}(cach|stale|previous|earlier|another|other|first|kept|memo|reus|old)"
     r"|(cach|stale|memo|kept|reus|old)\w*\W+(\w+\W+){0,6}scale|(wrong|stale|old) (score |attention )?scale",
     qkq_score_scales_kept_between_calls),
]
