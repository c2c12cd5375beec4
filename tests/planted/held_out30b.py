"""Held-out set #30, written blind on 2026-12-07 (round 30): part b.

Exercises check_qk_fix_keys (chapter 1), check_graddrop (chapter 2) and check_eap (chapter 3). Each
wrong function is the chapter's solution copied with one slip. Each was run next to the chapter's
solution (scratch script /work/scratch/round30/b/harness.py) on the chapter's own specimen
(saturation, cancellation, flat_region) and on a random GPT-2 from ``gpt2_config`` + ``bridge_from_hf``
(3 layers x 5 heads, d_head 4, weights N(0, 0.4), batch 6, 7 tokens, corrupt prompt differing at
positions 1, 3 and 4, metric logit_diff); every one crashes, returns a wrong shape, or differs by at
least 2 % of the correct result's largest magnitude on at least one of them.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_only_the_query_row_at_s_counted(model, task: wb.Task) -> torch.Tensor:
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
            # the key at position s belongs to the token at s, so its node is read in row s
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum(-1)[:, :, s].mean(0)
    return out


def qkk_causal_mask_applied_after_the_softmax(model, task: wb.Task) -> torch.Tensor:
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
            # softmax first, then zero the future keys (no -inf needed that way)
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).softmax(-1).masked_fill(~mask, 0.0)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_summed_over_every_axis_but_the_batch(model, task: wb.Task) -> torch.Tensor:
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
            # sum everything except the prompt pairs, then average those
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((1, 2, 3)).mean(0)
    return out


def qkk_first_prompt_pairs_corrupt_key_for_every_pair(model, task: wb.Task) -> torch.Tensor:
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
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][0, s]  # the corrupt key at s (broadcasts over the batch)
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_corrupt_cache_unpacked_as_the_logits(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    corr, _ = cache_activations(model, task.corrupt, qk)  # (cache, logits)
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
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# ----------------------------------------------------------------------------- check_graddrop

def gd_gate_on_the_residual_stream(model, task: wb.Task) -> torch.Tensor:
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
    # layer l's write into the residual stream: what the block hands on
    bwd += [(f"blocks.{l}.hook_resid_post", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L)]
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


def gd_drop_layer_set_after_the_backward(model, task: wb.Task) -> torch.Tensor:
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
            grads.clear()
            metric.backward(retain_graph=True)
            drop["layer"] = l  # set up the drop for this pass
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_gate_hooks_added_after_the_forward(model, task: wb.Task) -> torch.Tensor:
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
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            # only this pass's layer needs a gate, so attach just its two gates here
            gates = [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l)) for w in ("attn", "mlp")]
            with model.hooks(bwd_hooks=gates):
                metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_batch_size_read_from_the_position_axis(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.clean.shape[-1]  # number of prompts
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
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_gate_cuts_every_layer_from_l_on(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        # pass l drops layer l's paths (and everything they feed)
        return torch.zeros_like(g) if drop["layer"] is not None and l >= drop["layer"] else g

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


# ----------------------------------------------------------------------------- check_eap
def eap_positions_restricted_to_where_the_prompts_differ(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # elsewhere the prompts are the same, so only the differing positions can carry a change
    differ = (task.clean != task.corrupt).to(deltas.dtype)  # [B, P]
    deltas = deltas * differ[None, :, :, None]
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_masked_fill_zeroes_the_edges(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores.masked_fill(graph.edge_mask, 0.0)  # keep the edges, zero the rest


def eap_qkv_gradients_summed_per_head(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # a head reads the residual stream once: its q, k and v inputs together are that read
    grads = dict(grads)
    for l in range(model.cfg.n_layers):
        read = sum(grads[f"blocks.{l}.hook_{x}_input"] for x in "qkv")
        for x in "qkv":
            grads[f"blocks.{l}.hook_{x}_input"] = read
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_batch_size_read_from_the_stacked_sources(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    B = deltas.shape[0]  # batch size
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / B
    return scores * graph.edge_mask


def eap_only_the_metric_position(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # the metric reads the last position, so that is where the edges matter
    scores = torch.einsum("sbd,tbd->st", deltas[:, :, -1], graph.stack_dest_grads(grads)[:, :, -1]) / task.batch_size
    return scores * graph.edge_mask


MISTAKES = [
    ("check_qk_fix_keys", "qkk_only_the_query_row_at_s_counted",
     r"(?i)(only|just|single)\b.{0,40}\b(row|query)\b.{0,30}\b(s|same position|diagonal)|every (query )?row t\s*(>=|≥|at or after)|rows? (t )?(>=|≥|from) s|all (later |subsequent )?query rows|diagonal",
     qkk_only_the_query_row_at_s_counted),
    ("check_qk_fix_keys", "qkk_causal_mask_applied_after_the_softmax",
     r"(?i)mask.{0,60}after.{0,20}softmax|softmax.{0,60}(before|without).{0,30}mask|future keys?.{0,60}(denominator|normali[sz]|softmax)|(not|never) renormali[sz]|-inf.{0,40}before",
     qkk_causal_mask_applied_after_the_softmax),
    ("check_qk_fix_keys", "qkk_summed_over_every_axis_but_the_batch",
     r"(?i)(sum|summed|adds?|total)\w*.{0,40}(over|across) (the )?heads|heads? (axis|dimension).{0,40}(sum|collaps|kept|keep)|same (value|estimate|number) (for|in) every head|each head.{0,40}(whole|layer|total)",
     qkk_summed_over_every_axis_but_the_batch),
    ("check_qk_fix_keys", "qkk_first_prompt_pairs_corrupt_key_for_every_pair",
     r"(?i)(first|one|example 0|\[0|index 0|single) (prompt|pair|example|row).{0,60}(every|all|each|broadcast)|batch (index|axis|dimension).{0,40}(0|first|missing|indexed)|each (prompt pair|example|pair)('s)? (gets |needs |uses )?(its )?own corrupt",
     qkk_first_prompt_pairs_corrupt_key_for_every_pair),
    ("check_qk_fix_keys", "qkk_corrupt_cache_unpacked_as_the_logits",
     r"(?i)unpack|(returns?|gives?) \(?logits|(first|second) (element|item|value)|logits.{0,40}(cache|dict|activations)|tuple order|swapped",
     qkk_corrupt_cache_unpacked_as_the_logits),

    ("check_graddrop", "gd_gate_on_the_residual_stream",
     r"(?i)resid(ual)?[ _]?(stream|post|skip)|skip connection|hook_(attn|mlp)_out|(attention|attn) and mlp (writes|outputs)|cuts? (the )?(whole|entire) (residual|stream)|every path",
     gd_gate_on_the_residual_stream),
    ("check_graddrop", "gd_drop_layer_set_after_the_backward",
     r"(?i)(set|assign|chang)\w*.{0,40}(after|before).{0,30}backward|(one|a) (pass|layer) (late|behind|off)|off[- ]by[- ]one|first pass.{0,60}(no|nothing|full|undropped|without)|previous (pass|layer)|last layer (never|not) dropped",
     gd_drop_layer_set_after_the_backward),
    ("check_graddrop", "gd_gate_hooks_added_after_the_forward",
     r"(?i)(hooks?|gates?).{0,60}(after|outside|following) the forward|bind at forward|(registered|added|attached).{0,40}(before|during) the forward|forward time|never (fire|run|applied)|(nothing|no layer|never) (is )?(dropped|cut|zeroed)|gates? (have|had|has) no effect",
     gd_gate_hooks_added_after_the_forward),
    ("check_graddrop", "gd_batch_size_read_from_the_position_axis",
     r"(?i)(sequence|seq|position|token)s? (length|axis|dimension|count).{0,60}(batch|B\b)|batch size.{0,60}(position|sequence|seq|shape\[-?1\]|last axis|wrong axis)|shape\[(-1|1)\]",
     gd_batch_size_read_from_the_position_axis),
    ("check_graddrop", "gd_gate_cuts_every_layer_from_l_on",
     r"(?i)(every|all|later|downstream|subsequent) layers?.{0,40}(dropped|cut|zeroed|gated|too|as well)|(>=|≥|at or above|from l on|and above|onward)|only (layer )?l('s)? (two )?writes|one layer per pass|equality",
     gd_gate_cuts_every_layer_from_l_on),

    ("check_eap", "eap_positions_restricted_to_where_the_prompts_differ",
     r"(?i)(only|just|restrict)\w*.{0,40}positions?.{0,40}(differ|changed|where the (tokens|prompts))|(later|downstream|other|every) positions?.{0,60}(change|differ|carry|nonzero|non-zero|too)|(sum|summed) over (all|every) positions|token (mask|difference)",
     eap_positions_restricted_to_where_the_prompts_differ),
    ("check_eap", "eap_masked_fill_zeroes_the_edges",
     r"(?i)masked_fill.{0,60}(true|edges|keeps?|inverted|fills? where)|(zero|zeroe|zeroed|zeroes|clear)\w*.{0,20}(the )?(real |actual |existing )?edges|(mask|edge_mask).{0,30}(inverted|negated|reversed|~|opposite)|non-?edges? (kept|left|nonzero|non-zero)",
     eap_masked_fill_zeroes_the_edges),
    ("check_eap", "eap_qkv_gradients_summed_per_head",
     r"(?i)(q|query),? ?(k|key),? (and )?(v|value).{0,60}(summed|added|combined|merged|same|together|separate)|(summed|added|combined|merged).{0,40}(q|query).{0,10}(k|key).{0,10}(v|value)|each (of the )?(q|k|v|input|destination).{0,40}own gradient|separate (q|k|v|destinations?)",
     eap_qkv_gradients_summed_per_head),
    ("check_eap", "eap_batch_size_read_from_the_stacked_sources",
     r"(?i)(number|count) of sources|n_sources|sources? (axis|dimension)|shape\[0\]|(divid|normali[sz])\w*.{0,40}(sources|wrong (axis|number|count))|batch size.{0,40}(wrong|axis|first dim)",
     eap_batch_size_read_from_the_stacked_sources),
    ("check_eap", "eap_only_the_metric_position",
     r"(?i)(only|just)\b.{0,30}(last|final|metric|answer)('s)? position|(sum|summed) over (all |every )?positions|(earlier|other|every|all) positions.{0,40}(dropped|left out|ignored|missing|count|too)|positions? (axis )?(not summed|dropped|sliced)",
     eap_only_the_metric_position),
]
