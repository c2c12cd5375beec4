"""Held-out set #31, written blind on 2026-12-07 (round 31): part a.

Exercises: check_patch_heads and check_atp_heads (chapter 0, the trained ``induction`` zoo model,
2 layers x 4 heads, 16 prompt pairs of 12 tokens) and check_qk_fix_queries (chapter 1, the hand-built
``saturation`` specimen). Each wrong function is the chapter's solution copied with one slip. Each was
run next to the chapter's solution (scratch script /work/scratch/round31/a/verify.py, OMP_NUM_THREADS=1)
on the chapter's model and task, and where the specimen hides the slip also on a random GPT-2 built with
``gpt2_config`` + ``bridge_from_hf`` (3 layers x 5 heads, d_head 4, weights N(0, 0.4), 6 prompt pairs of
7 tokens whose corrupt twin differs at several positions including position 0, metric logit_diff; for
the score-scale slip the same GPT-2 with ``scale_attn_by_inverse_layer_idx=True``), or on a second call
with another model/task for the slips that carry state across calls. Each crashes, returns a wrong
shape/type, or differs from the solution by at least 2 % of the solution's largest magnitude.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import cache_activations, cache_activations_and_grads


# ----------------------------------------------------------------------------- check_patch_heads
_PH_CORRUPT_CACHE: dict[str, torch.Tensor] = {}


def ph_corrupt_cache_memoised_across_calls(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    # the corrupt run never changes, so I cache it once and reuse it on later calls
    if not _PH_CORRUPT_CACHE:
        _, acts = cache_activations(model, task.corrupt, names)
        _PH_CORRUPT_CACHE.update(acts)
    corr = _PH_CORRUPT_CACHE
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


def ph_logits_log_softmaxed_over_the_batch_axis(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        # work with log-probabilities rather than raw logits
        base = task.metric_value(model(task.clean).log_softmax(0))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean).log_softmax(0)) - base
    return out


def ph_logits_averaged_over_prompt_pairs_before_the_metric(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)

    def averaged(logits):  # average the runs first, then read the metric off the average
        return logits.mean(0, keepdim=True).expand_as(logits)

    with torch.no_grad():
        base = task.metric_value(averaged(model(task.clean)))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(averaged(model(task.clean))) - base
    return out


def ph_baselines_tuple_used_as_the_clean_metric(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    base = task.baselines(model)  # M(clean) from the task's helper
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


def ph_heads_restacked_on_the_position_axis(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                # rebuild the heads, taking head h from the corrupt run
                heads = [corr[names[l]][:, :, i] if i == h else act[:, :, i] for i in range(H)]
                return torch.stack(heads, dim=1).reshape(act.shape)

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# ----------------------------------------------------------------------------- check_atp_heads
def atp_hook_names_missing_the_f_prefix(model, task: wb.Task) -> torch.Tensor:
    names = ["blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]  # one name per layer
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_first_position_skipped_as_bos(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # position 0 is the BOS token, it never carries anything: leave it out
    return torch.stack([((corr[n] - clean[n]) * grads[n])[:, 1:].sum((1, 3)).mean(0) for n in names])


def atp_batch_and_position_reductions_swapped(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # sum over axes 0 and 3, then mean over what's left in front
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((0, 3)).mean(0) for n in names])


def atp_returns_a_scores_object(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    est = torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])
    # return it like wb.atp does, with the head names
    heads = [f"L{l}H{h}" for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]
    return wb.Scores(heads, est.flatten(), method="AtP")


_ATP_CACHE: dict[str, dict[str, torch.Tensor]] = {}


def atp_activations_and_gradients_memoised_across_calls(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    # the three passes are the slow part: keep them around after the first call
    if not _ATP_CACHE:
        _, corr = cache_activations(model, task.corrupt, names)
        _, clean, grads = cache_activations_and_grads(model, task, names, names)
        _ATP_CACHE.update(corr=corr, clean=clean, grads=grads)
    corr, clean, grads = _ATP_CACHE["corr"], _ATP_CACHE["clean"], _ATP_CACHE["grads"]
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


# ----------------------------------------------------------------------------- check_qk_fix_queries
_QKQ_MASK: list[torch.Tensor] = []


def qkq_causal_mask_cached_from_the_first_call(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    if not _QKQ_MASK:  # build the causal mask once
        _QKQ_MASK.append(torch.ones(T, T, dtype=torch.bool).tril())
    mask = _QKQ_MASK[0]
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_act_and_grad_names_swapped_in_the_call(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, pats, qk)  # patterns, then q/k
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


def qkq_only_the_metric_positions_query_estimated(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = q.clone()
        # the metric is read at the last position, so only that query can matter
        q_new[:, -1] = corr[f"blocks.{l}.attn.hook_q"][:, -1]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_mask_unsqueezed_on_the_wrong_axis(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()[:, None]  # add the head axis for broadcasting
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


def qkq_attn_scale_of_layer_plus_one(model, task: wb.Task) -> torch.Tensor:
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
        sc = attn_scale(model, l + 1)  # the docstring says "times layer + 1"
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


MISTAKES = [
    ("check_patch_heads", "ph_corrupt_cache_memoised_across_calls",
     r"(?i)(previous|earlier|first|stale|other|another|different) (call|run|task|model|prompts?)|(cach|memo|stor|kept|reus)\w* (across|between|from (an? )?(earlier|previous)) call|state|global|module[- ]level|stale",
     ph_corrupt_cache_memoised_across_calls),
    ("check_patch_heads", "ph_logits_log_softmaxed_over_the_batch_axis",
     r"(?i)(log_?softmax|log[- ]?prob|softmax|normali[sz]\w*)\W+(\w+\W+){0,6}(batch|dim(ension)?\W*0|axis\W*0|prompt pairs|examples)|(batch|dim\W*0|axis\W*0)\W+(\w+\W+){0,6}(log_?softmax|normali[sz])",
     ph_logits_log_softmaxed_over_the_batch_axis),
    ("check_patch_heads", "ph_logits_averaged_over_prompt_pairs_before_the_metric",
     r"(?i)(logits?|runs?|outputs?)\W+(\w+\W+){0,5}(averag|mean)\w*\W+(\w+\W+){0,5}(before|then)|(averag|mean)\w* (of )?(the )?(logits|outputs|runs)|metric of the (mean|averag)",
     ph_logits_averaged_over_prompt_pairs_before_the_metric),
    ("check_patch_heads", "ph_baselines_tuple_used_as_the_clean_metric",
     r"(?i)tuple|baselines\(\)|both baselines|\(M\(clean\), ?M\(corrupt\)\)|pair of (baselines|metrics|values)|two (values|baselines|numbers)|unpack",
     ph_baselines_tuple_used_as_the_clean_metric),
    ("check_patch_heads", "ph_heads_restacked_on_the_position_axis",
     r"(?i)(stack|cat|rebuil|reassembl|reshap)\w*\W+(\w+\W+){0,8}(wrong|position|dim(ension)?\W*1|axis\W*1)|(heads?|head axis) (\w+ ){0,4}(on|along|into) the (position|sequence|wrong)|scrambl|mix(es|ed)? (up )?(heads|positions)",
     ph_heads_restacked_on_the_position_axis),
    ("check_atp_heads", "atp_hook_names_missing_the_f_prefix",
     r"(?i)f-?string|format(ted)? string|\{l\}|literal|placeholder|not (an? )?(valid|existing|known) hook|unknown hook|no (such )?hook|hook names?\W+(\w+\W+){0,5}(wrong|invalid|same|identical|not (filled|formatted))",
     atp_hook_names_missing_the_f_prefix),
    ("check_atp_heads", "atp_first_position_skipped_as_bos",
     r"(?i)(first|0th|zeroth|bos|position 0|start)\W+(\w+\W+){0,5}(position|token)?\W*(\w+\W+){0,4}(skip|drop|left out|missing|exclud|omit|ignor)|(skip|drop|leav|exclud|omit|ignor)\w*\W+(\w+\W+){0,5}(first|bos|position 0|0th)",
     atp_first_position_skipped_as_bos),
    ("check_atp_heads", "atp_batch_and_position_reductions_swapped",
     r"(?i)(sum|summ)\w*\W+(\w+\W+){0,5}(batch|prompt pairs|examples)\W+(\w+\W+){0,8}(mean|averag)\w*\W+(\w+\W+){0,5}(position|sequence)|(batch|position)\w* and (the )?(position|batch)\w* (axes|reductions|dims|dimensions) (are )?(swapped|exchanged|mixed)|(axes|axis|dims) (0|zero) and (1|one) swapped|(mean|averag)\w* over (the )?positions\W+(\w+\W+){0,6}(sum\w*) over (the )?(batch|prompt pairs)",
     atp_batch_and_position_reductions_swapped),
    ("check_atp_heads", "atp_returns_a_scores_object",
     r"(?i)scores (object|instance)|wb\.Scores|type Scores|not a (plain |torch )?tensor|instead of a (plain |torch )?tensor|expected a (torch\.)?tensor|wrong (return )?type|return(s|ed)? (a|an) \w+ (object|instance)",
     atp_returns_a_scores_object),
    ("check_atp_heads", "atp_activations_and_gradients_memoised_across_calls",
     r"(?i)(previous|earlier|first|stale|other|another|different) (call|run|task|model|prompts?)|(cach|memo|stor|kept|reus)\w* (across|between|from (an? )?(earlier|previous)) call|state|global|module[- ]level|stale",
     atp_activations_and_gradients_memoised_across_calls),
    ("check_qk_fix_queries", "qkq_causal_mask_cached_from_the_first_call",
     r"(?i)(previous|earlier|first|stale|other|another|different) (call|run|task|model|sequence length|length)|(cach|memo|stor|kept|reus)\w* (across|between|from (an? )?(earlier|previous)) call|state|global|module[- ]level|stale|mask\W+(\w+\W+){0,6}(size|length|shape|seq)",
     qkq_causal_mask_cached_from_the_first_call),
    ("check_qk_fix_queries", "qkq_act_and_grad_names_swapped_in_the_call",
     r"(?i)(act(ivation)?_?names|grad(ient)?_?names|arguments?|names)\W+(\w+\W+){0,6}(swap|order|exchang|revers|wrong way)|(swap|exchang|revers)\w*\W+(\w+\W+){0,6}(act|grad|argument|names)|gradients? (taken |requested )?(at|on|of) (the )?(hook_)?q\b|no (cached )?(hook_)?q",
     qkq_act_and_grad_names_swapped_in_the_call),
    ("check_qk_fix_queries", "qkq_only_the_metric_positions_query_estimated",
     r"(?i)only (the )?(last|final|metric|answer)\W+(\w+\W+){0,3}(position|query|row|token)|(other|earlier|every other|remaining|non-?last) (query )?(positions|queries|rows)\W+(\w+\W+){0,6}(zero|missing|never|not (estimated|patched))|(last|final) (query|position)\W+(\w+\W+){0,4}only",
     qkq_only_the_metric_positions_query_estimated),
    ("check_qk_fix_queries", "qkq_mask_unsqueezed_on_the_wrong_axis",
     r"(?i)mask\W+(\w+\W+){0,8}(shape|broadcast|axis|dimension|unsqueez|None|\[T, ?1, ?T\])|(broadcast|unsqueez|shape)\w*\W+(\w+\W+){0,6}mask",
     qkq_mask_unsqueezed_on_the_wrong_axis),
    ("check_qk_fix_queries", "qkq_attn_scale_of_layer_plus_one",
     r"(?i)(scale|attn_scale|divisor)\W+(\w+\W+){0,8}(next|wrong|another|other|following|l ?\+ ?1|layer \+ ?1|off[- ]by[- ]one)|(next|wrong|l ?\+ ?1|following) layer'?s? (score )?scale|off[- ]by[- ]one\W+(\w+\W+){0,5}(scale|layer)",
     qkq_attn_scale_of_layer_plus_one),
]
