"""Held-out set #29, written blind on 2026-12-07 (round 29): part b.

Exercises check_qk_fix_keys (saturation specimen), check_graddrop (cancellation specimen) and
check_eap (flat_region specimen). Each wrong function is the chapter's solution copied with one
inline slip; each was run next to the chapter's solution on the chapter's own model and task
(scratch script /work/scratch/round29/b/verify.py) and kept only if it crashed, returned a wrong
shape/type, or differed by at least 2 % of the correct result's largest magnitude. Part b ran out
of its 30-minute budget, so it holds fewer than five mistakes per exercise.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.attribution.qk_fix import attn_scale
from workbook.arch.graph import Graph
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_patched_pattern_masked_by_the_key_index(model, task: wb.Task) -> torch.Tensor:
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

        def pattern(keys, m):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~m, float("-inf")).softmax(-1)

        A = pattern(k, mask)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            # the patched key is at s, so the keys after s are the "future" ones for this patch
            key_mask = (torch.arange(T) <= s)[None, :].expand(T, T)
            out[l, :, s] = ((pattern(k2, key_mask) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_estimate_stored_into_a_slice_up_to_s(model, task: wb.Task) -> torch.Tensor:
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
            est = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
            out[l, :, : s + 1] = est[:, None]  # fill in key s (the slice end is exclusive, so s + 1)
    return out


def qkk_per_key_sum_kept_with_keepdim(model, task: wb.Task) -> torch.Tensor:
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
            # keep the summed axes around so the shapes line up with the pattern
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2), keepdim=True).mean(0)
    return out


# ----------------------------------------------------------------------------- check_graddrop
def gd_returned_as_a_numpy_array(model, task: wb.Task) -> torch.Tensor:
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
    # hand back plain numbers so they print nicely
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0).numpy()


MISTAKES = [
    ("check_qk_fix_keys", "qkk_patched_pattern_masked_by_the_key_index",
     r"(?i)(mask\w*.{0,60}(key (index|position) s|patched key|relative to s|keys? (<=|up to|before) s)|causal.{0,40}(query|row) (index|position) t|s\s*<=\s*t|keys? after (the )?query)",
     qkk_patched_pattern_masked_by_the_key_index),
    ("check_qk_fix_keys", "qkk_estimate_stored_into_a_slice_up_to_s",
     r"(?i)(slice|every key (position )?(up to|before|<=)|keys? 0\s*\.\.\s*s|earlier keys?.{0,40}(overwritten|same value|copied)|same (value|estimate) (for|at) (several|all|every) keys?|written (into|to) (more than one|several|every) key)",
     qkk_estimate_stored_into_a_slice_up_to_s),
    ("check_qk_fix_keys", "qkk_per_key_sum_kept_with_keepdim",
     r"(?i)(keepdim|kept (the )?(summed|reduced) (axes|dims?|dimensions)|singleton (axes|dims?|dimensions)|shape.{0,40}\[?\s*\w+\s*,\s*1\s*,\s*1)",
     qkk_per_key_sum_kept_with_keepdim),
    ("check_graddrop", "gd_returned_as_a_numpy_array",
     r"(?i)(numpy|ndarray|\.numpy\(\)|not a (torch )?tensor|must (be|return) a (torch\.)?tensor)",
     gd_returned_as_a_numpy_array),
]
