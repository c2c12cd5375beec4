"""Held-out set #30, written blind on 2026-12-07 (round 30): part a.

Exercises check_patch_heads and check_atp_heads (chapter 0, induction model from the zoo) and
check_qk_fix_queries (chapter 1, the saturation specimen). Each wrong function is the chapter's
solution copied with one inline slip. Each was run next to the chapter's solution in a scratch
script (/work/scratch/round30/a/verify.py) on the chapter's own model and task. A few slips only
show on a bigger random GPT-2 built with ``gpt2_config`` + ``bridge_from_hf`` (3 layers x 5 heads,
d_head 4, batch 6, 7 tokens, weights N(0, 0.4), corrupt prompt differing at 3 positions,
logit_diff); one of those uses the HF option ``scale_attn_by_inverse_layer_idx=True``. Each
result crashes, has the wrong shape, or differs from the solution by at least 2 % of the
solution's largest magnitude.
"""

from __future__ import annotations

from dataclasses import replace

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import cache_activations, cache_activations_and_grads


# ----------------------------------------------------------------------------- check_patch_heads
def ph_output_reinitialised_in_every_layer(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    for l in range(L):
        out = torch.zeros(L, H)  # fresh table for this layer's heads
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_patched_run_scored_against_the_corrupt_answer(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    # the patched head carries the corrupt information, so the patched run should be scored
    # with the corrupt prompt's answer (task.wrong) against the clean one
    corrupt_view = replace(task, answer=task.wrong, wrong=task.answer)
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = corrupt_view.metric_value(model(task.clean)) - base
    return out


def ph_positions_argument_passed_to_per_example(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        # tell the metric where to read: the answer positions
        base = task.per_example(model(task.clean), task.pos).mean()
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.per_example(model(task.clean), task.pos).mean() - base
    return out


def ph_assignment_written_the_wrong_way_round(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                patched = corr[names[l]]
                patched[:, :, h] = act[:, :, h]  # head h gets swapped in, hand back the patched layer
                return patched

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_head_mask_broadcast_along_d_head(model, task: wb.Task) -> torch.Tensor:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                pick = torch.arange(H) == h  # True on head h
                return torch.where(pick, corr[names[l]], act)

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# ----------------------------------------------------------------------------- check_atp_heads
def atp_per_example_loop_overwrites_instead_of_accumulating(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    B = task.batch_size
    for b in range(B):  # one prompt pair at a time, easier to read
        for l, n in enumerate(names):
            out[l] = ((corr[n][b] - clean[n][b]) * grads[n][b]).sum((0, 2))
    return out / B


_N_LAYERS = 2  # the course models have two layers


def atp_layer_count_hard_coded(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(_N_LAYERS)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_attention_patterns_frozen_in_the_backward(model, task: wb.Task) -> torch.Tensor:
    L = model.cfg.n_layers
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    # AtP linearises around the clean run: keep every attention pattern at its clean value
    freeze = [(f"blocks.{l}.attn.hook_pattern", lambda t, hook: t.detach()) for l in range(L)]
    _, clean, grads = cache_activations_and_grads(model, task, names, names, extra_fwd_hooks=freeze)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_corrupt_run_masked_where_the_prompts_differ(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    # only the tokens the two prompts share should be attended to in the corrupt run
    same = (task.clean == task.corrupt).long()
    _, corr = cache_activations(model, task.corrupt, names, attention_mask=same)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_corrupt_cache_name_reused_for_the_clean_cache(model, task: wb.Task) -> torch.Tensor:
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, cache = cache_activations(model, task.corrupt, names)
    _, cache, grads = cache_activations_and_grads(model, task, names, names)
    # delta = corrupt activation - clean activation, from the two caches above
    return torch.stack([((cache[n] - cache[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_mask_lets_one_future_key_through(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril(1)  # keys up to and including t
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_scale_hoisted_out_of_the_layer_loop(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    sc = attn_scale(model, 0)  # the scale is a model constant, compute it once
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_causal_mask_applied_to_the_gradient_not_the_scores(model, task: wb.Task) -> torch.Tensor:
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
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).softmax(-1)
        g = grads[pats[l]] * mask  # future keys contribute nothing
        out.append(((A_new - A) * g).sum(-1).mean(0))
    return torch.stack(out)


def qkq_new_patterns_read_from_one_run_with_every_layers_queries_patched(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    # let the model do the softmax: one clean run with the corrupt queries written in, read its patterns
    put_q = [(f"blocks.{l}.attn.hook_q", lambda t, hook, l=l: corr[f"blocks.{l}.attn.hook_q"]) for l in range(L)]
    with model.hooks(fwd_hooks=put_q):
        _, new_pats = cache_activations(model, task.clean, pats)
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = new_pats[pats[l]]
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_score_einsum_output_kept_in_the_input_layout(model, task: wb.Task) -> torch.Tensor:
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
        # same axis order as hook_q: batch, query position, head, then the key position
        A = (torch.einsum("bthd,bshd->bths", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bths", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


MISTAKES = [
    ("check_patch_heads", "ph_output_reinitialised_in_every_layer",
     r"(?i)(re-?(initiali[sz]|creat|alloc|set)|zeros?\b.*inside|inside.*(layer )?loop|overwrit\w* (each|every|per) layer|only the last layer('s)? row|earlier (layers?|rows?) (are |stay )?(zero|lost|wiped))",
     ph_output_reinitialised_in_every_layer),
    ("check_patch_heads", "ph_patched_run_scored_against_the_corrupt_answer",
     r"(?i)(answer and wrong|wrong and answer|answer/wrong|corrupt (prompt'?s? )?answer|swapped answer|answers? swapped|scor\w+ (the patched run )?(with|against) (a |the )?(different|other|swapped|corrupt)|different metric for the (patched|two) runs?|-M\(patched\)|negat\w+ (patched|M\(patched))",
     ph_patched_run_scored_against_the_corrupt_answer),
    ("check_patch_heads", "ph_positions_argument_passed_to_per_example",
     r"(?i)(positions?\b.*(argument|per_example|metric)|per_example\(.*pos|logit_positions|pass(ed)? (the )?(full )?logits)",
     ph_positions_argument_passed_to_per_example),
    ("check_patch_heads", "ph_assignment_written_the_wrong_way_round",
     r"(?i)(wrong way round|revers\w+ assign|assign\w* (the )?(other|wrong) way|backwards|clean (head|value|activation)s? (written |copied )?into the corrupt|(corrupt|cached) (cache|activations?|values?) (is |are |was |were )?(edited|modified|overwritten|mutated|changed) in.?place|returns? the corrupt (layer|cache|activation)|every (other )?head but)",
     ph_assignment_written_the_wrong_way_round),
    ("check_patch_heads", "ph_head_mask_broadcast_along_d_head",
     r"(?i)(broadcast|mask\w* .*(last|d_head|trailing) (axis|dim)|d_head (axis|dim)|torch\.where|\[:, None\]|align\w* with (the )?d_head)",
     ph_head_mask_broadcast_along_d_head),
    ("check_atp_heads", "atp_per_example_loop_overwrites_instead_of_accumulating",
     r"(?i)(overwrit|=\s*instead of\s*\+=|\+=|accumulat|only the last (prompt|example|pair)|last (prompt pair|example)('s)? (estimate|value|term))",
     atp_per_example_loop_overwrites_instead_of_accumulating),
    ("check_atp_heads", "atp_layer_count_hard_coded",
     r"(?i)(hard.?cod|fixed (number of )?layers|n_layers|number of layers|layers? missing|too few (layers|rows)|only (the first )?(two|2) layers|every layer)",
     atp_layer_count_hard_coded),
    ("check_atp_heads", "atp_attention_patterns_frozen_in_the_backward",
     r"(?i)((attention )?patterns? (are |were )?(frozen|detached|held|fixed)|detach\w* .*pattern|stop.?grad\w* .*(pattern|attention)|gradient .*(through|via) (the )?(attention|softmax|q|k|queries|keys)|frozen attention)",
     atp_attention_patterns_frozen_in_the_backward),
    ("check_atp_heads", "atp_corrupt_run_masked_where_the_prompts_differ",
     r"(?i)(attention.?mask|mask\w* .*(corrupt|differ|tokens)|padding|corrupt (run|activations?|cache) (is |are |was )?(wrong|changed|masked|not the plain)|corrupt activations? .*(another|different|modified) run)",
     atp_corrupt_run_masked_where_the_prompts_differ),
    ("check_atp_heads", "atp_corrupt_cache_name_reused_for_the_clean_cache",
     r"(?i)(shadow|overwr\w+|reus\w+|same (variable|name|cache)|delta (is |was )?(zero|0)|all zero|zero (delta|difference)|corrupt (cache|activations?) (is |was |were |are )?(lost|replaced|overwritten|never used)|clean minus clean|clean activations? (subtracted|minus) (from )?(itself|the clean))",
     atp_corrupt_cache_name_reused_for_the_clean_cache),
    ("check_qk_fix_queries", "qkq_mask_lets_one_future_key_through",
     r"(?i)(tril\(1\)|diagonal\s*=?\s*1|off.by.one .*mask|mask .*off.by.one|(one|next|a) future key|future (key|token|position)s? (is |are )?(visible|leak|attend|unmasked|not masked)|leak\w*|s\s*<=\s*t\s*\+\s*1|causal mask .*(wrong|shifted|one too))",
     qkq_mask_lets_one_future_key_through),
    ("check_qk_fix_queries", "qkq_scale_hoisted_out_of_the_layer_loop",
     r"(?i)(layer 0'?s? scale|scale (of|from) (layer 0|the first layer)|per.?layer scale|scale (differs|varies|depends) (by|per|with|on) (the )?layer|attn_scale\(model, ?0\)|same scale for every layer|inverse.?layer|layer.?(dependent|specific) scale|scale .*(outside|before) the (layer )?loop)",
     qkq_scale_hoisted_out_of_the_layer_loop),
    ("check_qk_fix_queries", "qkq_causal_mask_applied_to_the_gradient_not_the_scores",
     r"(?i)(no causal mask|without (the |a )?(causal )?mask|mask\w* (the )?gradient|unmasked (scores|pattern|softmax)|softmax over (all|future|every) (keys|positions)|future keys? (in|inside) the softmax|mask .*(before|on) the (scores|softmax))",
     qkq_causal_mask_applied_to_the_gradient_not_the_scores),
    ("check_qk_fix_queries", "qkq_new_patterns_read_from_one_run_with_every_layers_queries_patched",
     r"(?i)((all|every|several) layers?'? queries (patched|corrupted|written) (together|at once|jointly|in one run)|queries of (all|every) layers? (patched|at once)|later layers?'? (keys|patterns?|inputs?|residual) (change|changed|are changed|come from)|(joint|simultaneous|cumulative)\w* patch\w*|one (patched )?run for all layers|keys? (are |were )?not (the )?clean|upstream (patch|change))",
     qkq_new_patterns_read_from_one_run_with_every_layers_queries_patched),
    ("check_qk_fix_queries", "qkq_score_einsum_output_kept_in_the_input_layout",
     r"(?i)(bths|\[B,\s*T,\s*H,\s*S\]|einsum output|(axis|axes|dimension) order|layout|head axis .*(third|wrong place|position)|(scores|pattern) .*(not|instead of) \[?B,\s*H,\s*T,\s*S|bhts|heads? and (query )?positions? (axes )?swapped|mask .*(heads?|wrong axes))",
     qkq_score_einsum_output_kept_in_the_input_layout),
]
