"""Held-out set #33, written blind on 2026-12-08 (round 33): part b.

Exercises check_qk_fix_keys (chapter 1), check_graddrop (chapter 2) and check_eap (chapter 3).
Each wrong function is the chapter's solution copied with one slip. Each was run next to the
chapter's solution in /work/scratch/round33/b/verify.py on the chapter's own specimen
(saturation / cancellation / flat_region) and on a random 3-layer x 5-head GPT-2 (d_head 4,
batch 6, 7 tokens, weights N(0, 0.4), corrupt prompt differing at 3 positions, logit_diff);
every one crashes or differs from the solution by >= 2 % of its largest magnitude on at
least one of them (see the round-33 reply for the table).
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_qk_fix_keys
def qkk_gradient_row_s_for_every_query_row(model, task: wb.Task) -> torch.Tensor:
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
            g = grads[pats[l]][:, :, s : s + 1, :]  # the gradient that belongs to key s
            out[l, :, s] = ((pattern(k2) - A) * g).sum((-1, -2)).mean(0)
    return out


def qkk_reference_pattern_with_every_key_corrupt(model, task: wb.Task) -> torch.Tensor:
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

        A = pattern(corr[f"blocks.{l}.attn.hook_k"])  # baseline: the pattern with the corrupt keys
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_closed_form_other_keys_not_divided_by_old_remainder(model, task: wb.Task) -> torch.Tensor:
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        kc = corr[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        g = grads[pats[l]]
        for s in range(T):
            # closed form: only the score of key s moves, so its probability goes through a sigmoid
            dscore = torch.einsum("bthd,bhd->bht", q, kc[:, s] - k[:, s]) / sc  # [B, H, T]
            seen = mask[:, s]  # rows t >= s see key s
            a = A[..., s].clamp(1e-12, 1 - 1e-12)
            a_new = torch.sigmoid(torch.log(a) - torch.log1p(-a) + dscore)
            a_new = torch.where(seen, a_new, torch.zeros_like(a_new))
            A2 = A * (1 - a_new)[..., None]  # the other keys share what key s gives up
            A2[..., s] = a_new
            A2 = torch.where(seen[None, None, :, None], A2, A)
            out[l, :, s] = ((A2 - A) * g).sum((-1, -2)).mean(0)
    return out


def qkk_new_score_column_read_from_the_corrupt_run(model, task: wb.Task) -> torch.Tensor:
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
        scores = torch.einsum("bthd,bshd->bhts", q, k) / sc
        # the corrupt run already has the patched key's scores: take column s from there
        corr_scores = torch.einsum("bthd,bshd->bhts", corr[f"blocks.{l}.attn.hook_q"], corr[f"blocks.{l}.attn.hook_k"]) / sc
        A = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        for s in range(T):
            s2 = scores.clone()
            s2[..., s] = corr_scores[..., s]
            A2 = s2.masked_fill(~mask, float("-inf")).softmax(-1)
            out[l, :, s] = ((A2 - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# ----------------------------------------------------------------------------- check_graddrop
def gd_gate_returns_ones_not_zeros(model, task: wb.Task) -> torch.Tensor:
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        return torch.ones_like(g) if drop["layer"] == l else g  # blank out the dropped layer's gradient

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


def gd_leaf_made_at_the_second_blocks_input(model, task: wb.Task) -> torch.Tensor:
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

    # the graph only has to start somewhere before the layers I drop
    fwd = [("blocks.1.hook_resid_pre", lambda t, hook: t.detach().requires_grad_(True))]
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


def gd_gradient_dict_subtracted_for_the_clean_activation(model, task: wb.Task) -> torch.Tensor:
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
            g = {n: grads.get(n, torch.zeros_like(acts[n])) for n in names}
            per_pass.append(torch.stack([((corr[n] - g[n]) * g[n]).sum((1, 3))  # change of the head times its gradient
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


# ----------------------------------------------------------------------------- check_eap
def eap_mlp_destination_gradient_after_its_layernorm(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    # the MLP reads the normalised residual, so that is its input
    dest = [h if not h.endswith("hook_mlp_in") else h.replace("hook_mlp_in", "ln2.hook_normalized")
            for h in graph.dest_hooks]
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), dest)
    grads = {(h.replace("ln2.hook_normalized", "hook_mlp_in")): v for h, v in grads.items()}
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_each_destination_column_normalised(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    scores = scores * graph.edge_mask
    # share of each destination's input that comes from each source
    return scores / scores.abs().sum(0, keepdim=True).clamp_min(1e-12)


def eap_logits_destination_stacked_first(model, task) -> torch.Tensor:
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    L = model.cfg.n_layers
    parts = [grads[f"blocks.{L - 1}.hook_resid_post"][None]]  # the logits first, then layer by layer
    for l in range(L):
        for x in "qkv":
            parts.append(grads[f"blocks.{l}.hook_{x}_input"].permute(2, 0, 1, 3))
        parts.append(grads[f"blocks.{l}.hook_mlp_in"][None])
    scores = torch.einsum("sbpd,tbpd->st", deltas, torch.cat(parts, 0)) / task.batch_size
    return scores * graph.edge_mask


MISTAKES = [
    ("check_qk_fix_keys", "qkk_gradient_row_s_for_every_query_row",
     r"(?i)(gradient|grad).{0,60}(row|query).{0,20}\bs\b|row s|query (row|position|axis).{0,40}(key|s\b)|key (index|position).{0,40}(query|row) (axis|dimension)|broadcast.{0,40}(gradient|rows)",
     qkk_gradient_row_s_for_every_query_row),
    ("check_qk_fix_keys", "qkk_reference_pattern_with_every_key_corrupt",
     r"(?i)(baseline|reference|subtract|minus|relative to).{0,60}(corrupt (keys|pattern)|all.{0,20}corrupt)|(clean pattern|clean keys).{0,40}(baseline|subtract|reference|instead)|A\s*=.*corrupt",
     qkk_reference_pattern_with_every_key_corrupt),
    ("check_qk_fix_keys", "qkk_closed_form_other_keys_not_divided_by_old_remainder",
     r"(?i)1\s*-\s*(a|A|p)|renormali|(divid|rescal|scal).{0,40}(other|remaining).{0,20}(keys|entries|probabilit)|(other|remaining) (keys|entries|probabilit).{0,60}(divid|rescal|normali)|rows? (do not|don't|no longer) sum to (1|one)",
     qkk_closed_form_other_keys_not_divided_by_old_remainder),
    ("check_qk_fix_keys", "qkk_new_score_column_read_from_the_corrupt_run",
     r"(?i)corrupt (quer|run'?s? (score|pattern))|(score|column).{0,40}corrupt (run|scores|query)|clean quer(y|ies).{0,40}(with|and|against).{0,20}(patched|corrupt) key|query.{0,30}(also|too).{0,20}corrupt",
     qkk_new_score_column_read_from_the_corrupt_run),
    ("check_graddrop", "gd_gate_returns_ones_not_zeros",
     r"(?i)ones|(gradient|grad).{0,40}(replaced|set) (by|to|with) (1|one)|(not|never|instead of) (zero|0)(s|ed)?\b.{0,40}(gradient|drop)|(drop|gate|stop).{0,60}(zeros?|zeroes)",
     gd_gate_returns_ones_not_zeros),
    ("check_graddrop", "gd_leaf_made_at_the_second_blocks_input",
     r"(?i)leaf|(embedding|hook_embed|LEAF_HOOK).{0,60}(graph|gradient|requires_grad)|layer 0.{0,60}(no|zero|without) (gradient|score)|detach.{0,40}(resid|block|layer)",
     gd_leaf_made_at_the_second_blocks_input),
    ("check_graddrop", "gd_gradient_dict_subtracted_for_the_clean_activation",
     r"(?i)(delta|change|difference).{0,60}(gradient|grads)|(gradient|grads).{0,40}(subtract|in place of|instead of|as).{0,30}(clean|activation)|clean (activation|value|hook_z).{0,40}(missing|not subtracted|replaced)|corrupt minus (the )?grad",
     gd_gradient_dict_subtracted_for_the_clean_activation),
    ("check_eap", "eap_mlp_destination_gradient_after_its_layernorm",
     r"(?i)(layer ?norm|ln2|normali[sz]ed).{0,60}(mlp|gradient|input)|(mlp).{0,60}(layer ?norm|ln2|normali[sz])|hook_mlp_in",
     eap_mlp_destination_gradient_after_its_layernorm),
    ("check_eap", "eap_each_destination_column_normalised",
     r"(?i)normali[sz]|(divid|scal).{0,40}(column|destination|per destination|sum)|fraction|share|proportion",
     eap_each_destination_column_normalised),
    ("check_eap", "eap_logits_destination_stacked_first",
     r"(?i)(logits?).{0,60}(first|order|front|position|column|misaligned|shifted)|(destination|dest).{0,40}(order|misaligned|shifted|permut|columns? (are )?(in the )?wrong)|stack_dest_grads",
     eap_logits_destination_stacked_first),
]
