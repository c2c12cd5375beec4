"""Held-out set #29, written blind on 2026-12-07 (round 29): part e.

Exercises check_qk_fix_keys (3 mistakes) and check_qk_fix_queries (2 mistakes) of chapter 1
(saturation / QK fix). Each wrong function is the chapter's solution copied with one inline slip.
Each was run next to the chapter's solution (scratch harness under /work/scratch/round29/e/) on the
chapter's saturation specimen and on a random 3-layer x 5-head GPT-2 (d_head 4, batch 6, 7 tokens,
weights N(0, 0.4), corrupt prompt differing at positions 2, 4 and 6, metric logit_diff) built with
gpt2_config + bridge_from_hf; every one crashes, returns a wrong shape, or differs from the solution
by at least 2 % of the solution's largest magnitude on at least one of them.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import cache_activations, cache_activations_and_grads


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_bos_key_left_out_of_the_output(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    # the BOS key is the same in both prompts, so there is nothing to estimate there: skip it
    out = torch.zeros(L, model.cfg.n_heads, T - 1)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(1, T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s - 1] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_patched_columns_gradient_for_the_whole_row(model, task: wb.Task) -> torch.Tensor:
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
            # the node is key s, so I take dM/dA at key s (kept as a column so it broadcasts over the row)
            g_s = grads[pats[l]][..., s : s + 1]
            out[l, :, s] = ((pattern(k2) - A) * g_s).sum((-1, -2)).mean(0)
    return out


def qkk_gradient_rows_not_aligned_with_the_sliced_rows(model, task: wb.Task) -> torch.Tensor:
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
            # only rows t >= s can see key s, so keep just those T - s rows
            dA = (pattern(k2) - A)[:, :, s:]
            out[l, :, s] = (dA * grads[pats[l]][:, :, : T - s]).sum((-1, -2)).mean(0)
    return out


# ----------------------------------------------------------------------------- check_qk_fix_queries
def qkq_key_at_t_patched_along_with_the_query(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new, k_new = corr[f"blocks.{l}.attn.hook_q"], corr[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        rows = []
        for t in range(T):
            # patching position t means token t's query -- and its key goes with it
            q2, k2 = q.clone(), k.clone()
            q2[:, t], k2[:, t] = q_new[:, t], k_new[:, t]
            A_new = (torch.einsum("bthd,bshd->bhts", q2, k2) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
            rows.append(((A_new - A) * grads[pats[l]]).sum((-1, -2)).mean(0))  # [H]
        out.append(torch.stack(rows, -1))  # [H, T]
    return torch.stack(out)


def qkq_clean_and_corrupt_batched_then_split_on_the_head_axis(model, task: wb.Task) -> torch.Tensor:
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
        # one einsum for both: stack clean and corrupt queries on the batch, split afterwards
        qq, kk = torch.cat([q, q_new]), torch.cat([k, k])
        P = (torch.einsum("bthd,bshd->bhts", qq, kk) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A, A_new = P.chunk(2, dim=1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)


MISTAKES = [
    ("check_qk_fix_keys", "qkk_bos_key_left_out_of_the_output",
     r"(?i)(bos|first (key )?position|position 0|key 0|one (key )?position (short|missing|too few)|seq(uence)?[ _-]?len(gth)?\s*-\s*1|T\s*-\s*1|\bshape\b.*(position|seq|key)|(position|key) axis.*(short|missing))",
     qkk_bos_key_left_out_of_the_output),
    ("check_qk_fix_keys", "qkk_patched_columns_gradient_for_the_whole_row",
     r"(?i)(gradient.*(column s|key s|patched (key|column)|one column|single column|whole row|every key|each key|all keys)|(column|key s).*gradient.*(row|every|each|all)|dM/dA.*(each|every|own) (key|entry)|sums? to (zero|0)|zero estimates?)",
     qkk_patched_columns_gradient_for_the_whole_row),
    ("check_qk_fix_keys", "qkk_gradient_rows_not_aligned_with_the_sliced_rows",
     r"(?i)(gradient.*(row|misalign|shift|offset|slice|first)|row.*(misalign|shift|offset|don'?t match|mismatch|align)|(misalign|shift|offset).*rows?|wrong rows? of the gradient)",
     qkk_gradient_rows_not_aligned_with_the_sliced_rows),
    ("check_qk_fix_queries", "qkq_key_at_t_patched_along_with_the_query",
     r"(?i)(key.*(position t|same position|as well|too|also|along)|(also|too|as well).*key|patch(es|ed|ing)? (the )?(query and (the )?key|key and (the )?query)|keys? (is|are|was|were) (also )?patched|corrupt keys?)",
     qkq_key_at_t_patched_along_with_the_query),
    ("check_qk_fix_queries", "qkq_clean_and_corrupt_batched_then_split_on_the_head_axis",
     r"(?i)(chunk|split|spl[ia]t.*(head|dim|axis)|head axis|dim(ension)?\s*=?\s*1|batch axis|concatenat|stack(ed)? (on|along) the batch|halves)",
     qkq_clean_and_corrupt_batched_then_split_on_the_head_axis),
]
