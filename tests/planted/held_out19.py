"""Held-out set #19 of learner mistakes, written blind on 2026-12-07 (round 19).

Five wrong solutions per exercise (45 in all), each written inline as a learner would write it:
the chapter's correct solution copied into the function and changed where the learner slips (a
one-line comment above the slip says what the learner did). None of them repeats an idea among
the mistakes already planted (``known_ids.md`` of round 19).

Each was checked against the correct solution on the chapter's own model and task:
chapter 0 ``zoo.load("induction", n=16, seed=0)``; chapter 1 the ``saturation`` specimen;
chapter 2 the ``cancellation`` specimen; chapter 3 the ``flat_region`` specimen (``steps=5``);
chapter 4 the ``path_saturation`` specimen (``steps=5``, ``step_size`` "unit" and "scaled");
chapter 5 the ``mixture`` model on ``zoo.load_task("mixture", n=8, seed=0, task="ioi")`` with AtP
node, AtP q/k, EAP and EAP-IG (m=5) scores and ``k=5``. Each is kept only where it crashes, returns
a wrong shape or wrong names, or its largest |difference| from the correct result is at least 2 %
of the correct result's largest magnitude.

``MISTAKES`` lists ``(check name, id, cause regex, function)`` in exercise order; the regex
matches a plain-English message that names the mistake's cause.
"""

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, NO_LOGITS, cache_activations, cache_activations_and_grads, frozen_params


# ------------------------------------------------------------------------------------------ check_patch_heads


def ph_baseline_kept_per_example(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        # baseline kept as one value per prompt pair
        base = task.per_example(model(task.clean))
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


def ph_effects_stacked_as_floats(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    effects = []
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                # each effect kept as a Python float
                effects.append(float(task.metric_value(model(task.clean)) - base))
    return torch.stack(effects).view(L, H)


def ph_rows_built_by_list_multiplication(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    # table made as [[0.0] * H] * L
    rows = [[0.0] * H] * L
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                rows[l][h] = float(task.metric_value(model(task.clean)) - base)
    return torch.tensor(rows)


def ph_hook_name_string_passed_as_names(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        name = f"blocks.{l}.attn.hook_z"
        # one hook name given where a list of names is expected
        _, corr = cache_activations(model, task.corrupt, name)
        for h in range(H):
            def put(act, hook, h=h):
                act = act.clone()
                act[:, :, h] = corr[name][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(name, put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_return_inside_the_layer_loop(model, task):
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
        # return indented into the layer loop
        return out


# ------------------------------------------------------------------------------------------ check_atp_heads


def atp_delta_missing_parentheses(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # corr - clean * grad, no parentheses around the delta
    return torch.stack([(corr[n] - clean[n] * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_sum_axes_without_tuple(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # .sum(1, 3) for the positions and d_head
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum(1, 3).mean(0) for n in names])


def atp_generator_passed_to_stack(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # generator expression instead of a list
    return torch.stack(((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names)


def atp_einsum_output_heads_then_batch(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # einsum output "hb", then mean(0) as if batch came first
    return torch.stack([torch.einsum("bphd,bphd->hb", corr[n] - clean[n], grads[n]).mean(0) for n in names])


def atp_batch_mean_divides_by_len_names(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    # sum over prompt pairs divided by len(names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).sum(0) / len(names) for n in names])


# ------------------------------------------------------------------------------------------ check_qk_fix_queries


def qkq_future_filled_with_plus_infinity(model, task):
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
        # masked scores filled with float("inf")
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_append_after_the_layer_loop(model, task):
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
    # append dedented out of the layer loop
    out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_list_extended_with_plus_equals(model, task):
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
        # out += tensor instead of out.append(tensor)
        out += ((A_new - A) * grads[pats[l]]).sum(-1).mean(0)
    return torch.stack(out)


def qkq_keys_read_from_hook_v(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    # cached ("q", "v") and read the keys from hook_v
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "v")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_v"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_head_0_pattern_gradient_for_every_head(model, task):
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
        # pattern gradient sliced [:, :1] (head 0), broadcast over heads
        out.append(((A_new - A) * grads[pats[l]][:, :1]).sum(-1).mean(0))
    return torch.stack(out)


# ------------------------------------------------------------------------------------------ check_qk_fix_keys


def qkk_corrupt_key_sliced_with_s_to_s_plus_1(model, task):
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
            # k2[:, s] = k_corrupt[:, s:s + 1] (position axis kept)
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s:s + 1]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_item_on_the_per_head_estimate(model, task):
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
            # .item() on the [n_heads] estimate
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0).item()
    return out


def qkk_estimates_stored_with_reversed_key_index(model, task):
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
        # keys walked last to first, stored at the loop counter i
        for i, s in enumerate(reversed(range(T))):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, i] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_head_0_corrupt_key_for_every_head(model, task):
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
            # corrupt key sliced [:, s, :1] (head 0), broadcast over heads
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s, :1]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def qkk_scale_computed_before_the_layer_loop(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    # scale hoisted above the layer loop
    sc = attn_scale(model, l)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# ------------------------------------------------------------------------------------------ check_graddrop


def gd_each_layer_product_appended_as_a_pass(model, task):
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
            # one entry per layer's hook_z appended to the pass list
            for n in names:
                per_pass.append(((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3)))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def gd_each_layer_scored_in_its_own_pass(model, task):
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
    rows = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            # pass l used only for the heads of layer l
            n = names[l]
            rows.append(((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3)).abs() / (L - 1))
    return torch.stack(rows, 1).mean(0)


def gd_normaliser_floor_divided(model, task):
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
                                         for n in names], 1))
    # // (L - 1) for the normaliser
    return (torch.stack(per_pass).abs().sum(0) // (L - 1)).mean(0)


def gd_abs_delta_times_gradient_summed_over_passes(model, task):
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
    g_sum = {n: 0.0 for n in names}
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            for n in names:
                g_sum[n] = g_sum[n] + grads.get(n, torch.zeros_like(acts[n]))
    # |delta| times the pass-summed gradient
    per_head = torch.stack([((corr[n] - acts[n]).abs() * g_sum[n]).sum((1, 3)) for n in names], 1)
    return (per_head / (L - 1)).mean(0)


def gd_save_hook_returns_a_detached_copy(model, task):
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()
        # the caching hook returns what it stored
        return acts[n]

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
                                         for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


# ------------------------------------------------------------------------------------------ check_eap


def eap_cache_dicts_subtracted(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    # the two caches subtracted before stacking
    deltas = graph.stack_sources(corr - clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_no_clean_activations_requested(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    # act_names=[] in the gradient run
    _, clean, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_divided_by_each_destinations_in_degree(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    # each destination's gradient shared among its incoming edges
    return scores * graph.edge_mask / graph.edge_mask.sum(0)


def eap_tensordot_with_an_integer_dims(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # tensordot(..., dims=3) for the batch, position and d_model contraction
    scores = torch.tensordot(deltas, graph.stack_dest_grads(grads), dims=3) / task.batch_size
    return scores * graph.edge_mask


def eap_multiplied_by_the_batch_size(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    # * task.batch_size where / belongs
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) * task.batch_size
    return scores * graph.edge_mask


# ------------------------------------------------------------------------------------------ check_eap_ig


def eapig_path_along_the_unit_direction(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    # direction normalised to unit length per example
    direction = (e_c - e_n) / (e_c - e_n).flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * direction
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_alphas_indexed_with_k(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    alphas = torch.arange(1, steps + 1) / steps
    total = 0.0
    for k in range(1, steps + 1):
        # alphas[k] with k = 1..steps
        target = e_n + alphas[k] * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_point_written_into_the_last_example_only(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)

        def hook(t, hook, target=target):
            t = t.clone()
            # t[-1] = target[-1] (first axis is the batch)
            t[-1] = target[-1]
            return t

        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def eapig_divided_by_the_sum_of_alphas(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total, weight = 0.0, 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
        weight += k / steps
    # gradient sum divided by the summed alphas
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / weight) / task.batch_size
    return scores * graph.edge_mask


def eapig_batched_points_unfolded_as_pairs_by_steps(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    targets = torch.cat([e_n + (k / steps) * (e_c - e_n) for k in range(1, steps + 1)])
    hook = lambda t, hook: t + (targets - t).detach()
    _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), tokens=task.clean.repeat(steps, 1),
                                              extra_fwd_hooks=[("hook_embed", hook)])
    G = graph.stack_dest_grads(grads)
    # stacked rows unfolded as [batch, steps]
    mean_g = G.view(G.shape[0], task.batch_size, steps, *G.shape[2:]).mean(2)
    scores = torch.einsum("sbpd,tbpd->st", deltas, mean_g) / task.batch_size
    return scores * graph.edge_mask


# ------------------------------------------------------------------------------------------ check_gradpath


def gp_target_logits_cached_at_one_position(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    # corrupt logits cached with positions=NO_LOGITS
    target, n = cache_activations(model, task.corrupt, ["hook_embed"], positions=NO_LOGITS)
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_target_run_inside_the_embedding_hook(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    _, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            with model.hooks(fwd_hooks=[("hook_embed", lambda t, hook: leaf)]):
                logits = model(task.clean)
                # corrupt target logits computed inside the same hook context
                target = model(task.corrupt).detach()
            (g,) = torch.autograd.grad(((logits - target) ** 2).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_gradient_summed_over_positions(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            # gradient summed over positions (keepdim), one direction for every position
            g = g.sum(1, keepdim=True)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_absolute_gradient(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            # size of the gradient taken with abs
            g = g.abs()
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_scaled_length_from_the_squared_norm(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    if step_size == "scaled":
        # squared distance between the end points, split into steps
        eta = ((e_c - e_n) ** 2).flatten(1).sum(1).view(-1, 1, 1) / steps
    else:
        eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# ------------------------------------------------------------------------------------------ check_verify_top


def vt_first_groups_patch_reused(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    kinds = list(dict.fromkeys(map(kind, names)))
    # one patching call, made for the first kind, before the loop
    first = [n for n in names if kind(n) == kinds[0]]
    res = wb.patch_edges(model, task, edges=first) if kinds[0] == "edge" else wb.patch_nodes(model, task, kinds[0], nodes=first)
    effects = {}
    for what in kinds:
        group = [n for n in names if kind(n) == what]
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_scores_kind_passed_as_what(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    effects = {}
    # scores.kind ("node"/"edge") used as the patching kind
    what = scores.kind
    res = wb.patch_edges(model, task, edges=names) if what == "edge" else wb.patch_nodes(model, task, what, nodes=names)
    effects.update({n: float(res[n]) for n in names})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_item_called_on_a_float(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        # res[n].item()
        effects.update({n: res[n].item() for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_edges_out_of_the_embedding_skipped(model, task, scores, k=5):
    # edges leaving the embedding filtered out before ranking
    names = [n for n in scores.order(absolute=True) if not n.startswith("embed->")][:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_values_from_the_loops_last_group(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    # values listed for `group` (left over from the loop)
    return wb.Scores(names, torch.tensor([effects[n] for n in group]), method="activation patching", kind=scores.kind)


MISTAKES = [
    # ------------------------------------------------------------------ check_patch_heads
    ("check_patch_heads", "ph_baseline_kept_per_example",
     r"(?i)(baseline|M\(clean\)|clean metric|clean run'?s? metric).{0,80}(per[- ]example|per prompt|vector|not (a )?scalar|\[B\]|one value (per|for each)|batch[- ]mean(ed)?\b)"
     r"|(per[- ]example|per[- ]prompt[- ]pair|vector of).{0,60}(baseline|M\(clean\)|clean metric)",
     ph_baseline_kept_per_example),
    ("check_patch_heads", "ph_effects_stacked_as_floats",
     r"(?i)(torch\.stack|stack\(\)).{0,80}(floats?|python numbers?|not (a )?tensors?|scalars? instead)"
     r"|(python )?floats?.{0,60}(torch\.stack|stack(ed|ing)?\b)|expected Tensor as element",
     ph_effects_stacked_as_floats),
    ("check_patch_heads", "ph_rows_built_by_list_multiplication",
     r"(?i)\[\s*\[\s*0(\.0)?\s*\]\s*\*\s*H\s*\]\s*\*\s*L|list multiplication|multipl\w+ (a|the) (nested |inner )?list"
     r"|(same|one|a single) (inner )?(list|row) object|rows?.{0,30}alias|alias\w*.{0,30}rows?"
     r"|(every|each|all) (rows?|layers?).{0,40}(same|shared?|identical).{0,20}(list|row|values)",
     ph_rows_built_by_list_multiplication),
    ("check_patch_heads", "ph_hook_name_string_passed_as_names",
     r"(?i)(a |one |single )?(hook )?name string.{0,60}(instead of|not|where).{0,20}list|string.{0,60}(instead of|not|rather than) (a )?list( of names)?"
     r"|(iterat\w+|split|loop\w*) (over |into )?(its |the )?(characters|chars|letters)|hook name '?b'? does not exist"
     r"|wrap.{0,40}in a list|list of (hook )?names.{0,40}(got|given|passed) a (single )?(string|str\b)",
     ph_hook_name_string_passed_as_names),
    ("check_patch_heads", "ph_return_inside_the_layer_loop",
     r"(?i)return.{0,60}(inside|within|in) the (layer |outer |for[- ])?loop|return.{0,40}(indent|dedent)|indent\w*.{0,40}return"
     r"|(returns?|exits?|stops?|leaves?) (early|too early|after the first layer|after layer 0)"
     r"|only (the first layer|layer 0).{0,40}(filled|computed|patched)|(later|remaining|subsequent) layers? (are |stay |left |never )?(zero|computed|filled)",
     ph_return_inside_the_layer_loop),
    # ------------------------------------------------------------------ check_atp_heads
    ("check_atp_heads", "atp_delta_missing_parentheses",
     r"(?i)parenthes|brackets? (a?round|over) (the )?(delta|difference|subtraction)|precedence|(corr\w*|corrupt)\s*-\s*clean\w*\s*\*\s*grad"
     r"|only the clean (activation|term|value) (is )?multiplied|(delta|difference).{0,40}(not|never) (multiplied|grouped) as a whole",
     atp_delta_missing_parentheses),
    ("check_atp_heads", "atp_sum_axes_without_tuple",
     r"(?i)sum\(1,\s*3\)|(dims|axes|dimensions).{0,40}(as|in|into) a tuple|tuple of (dims|dimensions|axes)"
     r"|keepdim.{0,80}(int|3\b|second (positional )?argument)|second (positional )?argument.{0,40}keepdim",
     atp_sum_axes_without_tuple),
    ("check_atp_heads", "atp_generator_passed_to_stack",
     r"(?i)generator|square brackets|(list|tuple) (comprehension )?(rather than|instead of|not) (a )?(generator|bare parenthes)",
     atp_generator_passed_to_stack),
    ("check_atp_heads", "atp_einsum_output_heads_then_batch",
     r"(?i)einsum.{0,80}(output (order|axes|subscripts)|->\s*['\"]?hb|heads? (axis )?first|order of the output)"
     r"|(mean|averag\w+)\W{0,3}(\(0\) )?(over|across) (the )?heads?.{0,40}(instead of|not|rather than) (over )?(the )?(batch|prompt)"
     r"|(batch|prompt[- ]pair) (axis|dimension) (is )?(kept|left|survives)|\[n_layers,\s*(batch|B)\]",
     atp_einsum_output_heads_then_batch),
    ("check_atp_heads", "atp_batch_mean_divides_by_len_names",
     r"(?i)len\(names\)|(divid\w+|normali[sz]\w+|averag\w+).{0,60}(the )?(number of layers|n_layers|layer count|len\(names\))"
     r"|(number of layers|n_layers|layer count).{0,60}(instead of|not|where|rather than).{0,30}(batch|B\b|prompt|examples)",
     atp_batch_mean_divides_by_len_names),
    # ------------------------------------------------------------------ check_qk_fix_queries
    ("check_qk_fix_queries", "qkq_future_filled_with_plus_infinity",
     r"(?i)\+\s*inf|positive infinity|plus infinity|float\(\s*['\"]inf['\"]\s*\)"
     r"|(fill\w*|mask\w*).{0,60}\binf(inity)?\b.{0,40}(instead of|not|rather than) (-|minus |negative )\s*inf"
     r"|(missing|forgot\w*|dropped|without) (the )?(minus|negative) sign",
     qkq_future_filled_with_plus_infinity),
    ("check_qk_fix_queries", "qkq_append_after_the_layer_loop",
     r"(?i)(append\w*|out\.append).{0,60}(outside|after|out of|dedented (out of|from)|not (inside|in)) (the )?(layer )?loop"
     r"|(indent|dedent)\w*.{0,40}append|append\w*.{0,40}(indent|dedent)|only the last layer.{0,40}(appended|stored|returned|kept|stacked)"
     r"|(one|a single) layer (is )?(returned|stacked|kept)",
     qkq_append_after_the_layer_loop),
    ("check_qk_fix_queries", "qkq_list_extended_with_plus_equals",
     r"(?i)\+=|\.extend|extend\w*.{0,40}(the )?(list|rows|heads)|(instead of|not|rather than) (out\.)?append"
     r"|(list|out).{0,40}(iterat\w+|unpack\w+) (over |along )?(the )?(tensor|heads|rows|first axis)",
     qkq_list_extended_with_plus_equals),
    ("check_qk_fix_queries", "qkq_keys_read_from_hook_v",
     r"(?i)hook_v\b|values?\b.{0,40}(used |read |taken )?(as|for|instead of) (the )?keys?|keys?.{0,40}(from|read from|taken from) (the )?(values?|v (vectors?|activations?))"
     r"|\(\s*['\"]q['\"],\s*['\"]v['\"]\s*\)",
     qkq_keys_read_from_hook_v),
    ("check_qk_fix_queries", "qkq_head_0_pattern_gradient_for_every_head",
     r"(?i)(head 0|first head|one head)'?s? (pattern )?grad\w*.{0,60}(every|all|each|other) heads?"
     r"|(pattern )?grad\w* (of|from) (head 0|the first head).{0,60}(every|all|each|other) heads?"
     r"|(every|all|each) heads?.{0,60}(head 0|the first head)'?s? (pattern )?grad|\[:,\s*:1\]"
     r"|grad\w*.{0,60}(sliced|indexed|taken).{0,30}(first head|head 0|one head)",
     qkq_head_0_pattern_gradient_for_every_head),
    # ------------------------------------------------------------------ check_qk_fix_keys
    ("check_qk_fix_keys", "qkk_corrupt_key_sliced_with_s_to_s_plus_1",
     r"(?i)s\s*:\s*s\s*\+\s*1|slic\w+.{0,60}(keeps?|kept|extra|leftover) (the )?(position|key|sequence) (axis|dim\w*)"
     r"|(extra|leftover|singleton|length-1) (position |key )?(axis|dim\w*)|index (it )?with (an integer|s\b|the integer)"
     r"|number of sizes provided",
     qkk_corrupt_key_sliced_with_s_to_s_plus_1),
    ("check_qk_fix_keys", "qkk_item_on_the_per_head_estimate",
     r"(?i)\.?item\(\).{0,60}(tensor|heads?|elements|values)|\bitem\b.{0,60}(more than one|several|two|2|n_heads|multi)|(cannot|can't|can not) be converted to (a )?(python )?scalar"
     r"|(one|a) (python )?(number|scalar).{0,40}(per head|for (all|every|each) heads?)",
     qkk_item_on_the_per_head_estimate),
    ("check_qk_fix_keys", "qkk_estimates_stored_with_reversed_key_index",
     r"(?i)(revers\w+|mirror\w*|flip\w*|backwards?).{0,40}(keys?|positions?|order|index|loop)|(keys?|positions?|order|index).{0,40}(revers\w+|mirror\w*|flipped|backwards?)"
     r"|enumerate|loop counter|(stored|written|saved) (at|in|under) (the )?(counter|i\b|wrong (key|position|slot))",
     qkk_estimates_stored_with_reversed_key_index),
    ("check_qk_fix_keys", "qkk_head_0_corrupt_key_for_every_head",
     r"(?i)(head 0|first head|one head)'?s? (corrupt )?key.{0,60}(every|all|each|other) heads?"
     r"|(corrupt )?key (of|from) (head 0|the first head).{0,60}(every|all|each|other) heads?"
     r"|(every|all|each) heads?.{0,60}(head 0|the first head)'?s? (corrupt )?key|\[:,\s*s,\s*:1\]"
     r"|key.{0,60}(sliced|indexed|taken).{0,30}(first head|head 0|one head)",
     qkk_head_0_corrupt_key_for_every_head),
    ("check_qk_fix_keys", "qkk_scale_computed_before_the_layer_loop",
     r"(?i)(scale|attn_scale|\bsc\b).{0,60}(before|above|outside) the (layer )?loop|hoist\w*|unboundlocalerror|cannot access local variable"
     r"|(\bl\b|layer index|loop variable)['\"]?.{0,40}(not (yet )?(defined|assigned|bound)|undefined|unbound|before (it is|it's) (defined|assigned))",
     qkk_scale_computed_before_the_layer_loop),
    # ------------------------------------------------------------------ check_graddrop
    ("check_graddrop", "gd_each_layer_product_appended_as_a_pass",
     r"(?i)(each|every|per)[- ]layer.{0,60}(appended|added|pushed|stored) (as|like) (a |its own |a separate )?(pass|entr)"
     r"|append\w* (inside|in|within) the (names?|layer|inner|hook) loop|(not|never) stacked (per|into one|over the) pass"
     r"|one (list )?entry per (layer|hook|name)|L\s*\*\s*L (entries|passes)|(passes|pass list) (and|with) layers.{0,30}(mixed|merged|flattened)",
     gd_each_layer_product_appended_as_a_pass),
    ("check_graddrop", "gd_each_layer_scored_in_its_own_pass",
     r"(?i)only (in |from )?(its|their|the node'?s?|the heads'?) own (layer'?s? )?pass|(each|every) layer.{0,40}(scored|estimated|measured|taken) (only )?(in|from) (the|its|one) (single |matching )?pass"
     r"|(other|remaining|downstream|upstream) passes.{0,40}(ignored|left out|dropped|not (used|summed|counted))"
     r"|(instead of|not|never) summ\w+ (over|across) (all |the |every )?(other )?passes|pass that (drops|cuts|removes) (its|their) own layer",
     gd_each_layer_scored_in_its_own_pass),
    ("check_graddrop", "gd_normaliser_floor_divided",
     r"(?i)//|floor[- ]?(div\w*)?|integer division|(rounds?|rounded|truncat\w+) (down|the (values|scores)|to (whole|integers?))",
     gd_normaliser_floor_divided),
    ("check_graddrop", "gd_abs_delta_times_gradient_summed_over_passes",
     r"(?i)(\|\s*delta\s*\||\|\s*Δ\w*\s*\||abs(olute)?( value)? (of )?(the )?(delta|change|difference|Δ)).{0,80}(gradient|grad)"
     r"|(gradients?|grads).{0,40}summed (over|across) (the )?passes.{0,40}(before|then|first)"
     r"|(sum|summed|add\w*).{0,30}(the )?(pass(es)?'?s? )?gradients.{0,30}(before|inside) the (product|abs)"
     r"|abs(olute)?( value)? (taken )?(of|on) the (delta|change|difference) (only|alone|instead)",
     gd_abs_delta_times_gradient_summed_over_passes),
    ("check_graddrop", "gd_save_hook_returns_a_detached_copy",
     r"(?i)(sav\w+|cach\w+|forward|record\w*|activation) hook.{0,80}return\w*.{0,40}(detach|cop(y|ies)|stored|it)"
     r"|return\w* (a |the )?(detached|stored) (copy|tensor|activation).{0,60}(hook|output|graph)"
     r"|detach\w*.{0,60}(replac\w+|cuts?|stops?|breaks?|blocks?).{0,40}(the )?(gradient|graph|backward|output)"
     r"|hook should return (nothing|None)|(gradient|graph) (is )?cut at hook_z",
     gd_save_hook_returns_a_detached_copy),
    # ------------------------------------------------------------------ check_eap
    ("check_eap", "eap_cache_dicts_subtracted",
     r"(?i)dict\w*.{0,40}(subtract\w*|minus|-)|(subtract\w*|minus)\w*.{0,40}dict|unsupported operand.{0,40}dict"
     r"|stack (each|both|them|the (two )?caches?) (first|before)",
     eap_cache_dicts_subtracted),
    ("check_eap", "eap_no_clean_activations_requested",
     r"(?i)act_names\s*=?\s*\[\s*\]|empty (list (of|for) )?(act(ivation)?_?names|activation names|activations)"
     r"|(no|without) (clean )?(source )?activations? (requested|cached|asked for|recorded)"
     r"|(clean|source) activations?.{0,40}(never|not|weren't|were not) (requested|cached|recorded|asked for)|keyerror.{0,40}hook_embed",
     eap_no_clean_activations_requested),
    ("check_eap", "eap_divided_by_each_destinations_in_degree",
     r"(?i)in[- ]degree|(number|count) of (its |their )?(incoming|source|upstream) edges|incoming edges|edge_mask\.sum\(0\)"
     r"|(divid\w+|split\w*|shar\w+|normali[sz]\w+).{0,60}(among|between|by|over) (its|the|their) (incoming|sources|edges into|upstream)"
     r"|per[- ]destination normali[sz]",
     eap_divided_by_each_destinations_in_degree),
    ("check_eap", "eap_tensordot_with_an_integer_dims",
     r"(?i)tensordot|dims\s*=\s*3|contracted dimensions need to match|(last|first) (three|3) (dims|dimensions|axes)",
     eap_tensordot_with_an_integer_dims),
    ("check_eap", "eap_multiplied_by_the_batch_size",
     r"(?i)(multipl\w+|times|\*).{0,40}(the )?(batch size|B\b|task\.batch_size).{0,60}(instead of|rather than|not|where).{0,20}divid"
     r"|divid\w+.{0,40}(not|instead of|rather than).{0,10}multipl|\*\s*task\.batch_size|(\*|times) B where / ",
     eap_multiplied_by_the_batch_size),
    # ------------------------------------------------------------------ check_eap_ig
    ("check_eap_ig", "eapig_path_along_the_unit_direction",
     r"(?i)unit (length|vector|direction|norm)|normali[sz]\w+.{0,60}(the )?(direction|difference|e_clean\s*-\s*e_corrupt|path)"
     r"|(direction|difference).{0,40}(divided by|over) (its|the) (own )?norm|(fraction|proportion|share) of the (way|path|difference|distance)"
     r"|never reach\w* (the )?clean",
     eapig_path_along_the_unit_direction),
    ("check_eap_ig", "eapig_alphas_indexed_with_k",
     r"(?i)off[- ]by[- ]one|alphas?\[\s*k\s*\]|index(ed|ing)? (it )?(with|by) k\b|out of (bounds|range)|index \d+ is out|alphas?\[\s*k\s*-\s*1\s*\]|(zero|0)[- ]based",
     eapig_alphas_indexed_with_k),
    ("check_eap_ig", "eapig_point_written_into_the_last_example_only",
     r"(?i)t\[\s*-1\s*\]|(first|leading|batch) (axis|dim\w*).{0,40}(is the batch|batch|not (the )?positions?)|indexes the batch"
     r"|(only|just) the last (example|prompt( pair)?|row)|other (examples|prompt pairs|rows).{0,40}(clean|unchanged|untouched|not interpolated)",
     eapig_point_written_into_the_last_example_only),
    ("check_eap_ig", "eapig_divided_by_the_sum_of_alphas",
     r"(?i)sum of (the )?(alphas?|α|weights|interpolation (coefficients|fractions))|(divid\w+|normali[sz]\w+).{0,40}(by )?(the )?(summed|total) (alphas?|weights?|α)"
     r"|(alphas?|α) summed|weight\s*\+=|(instead of|not|rather than) (by )?(m\b|steps|the number of (points|steps))",
     eapig_divided_by_the_sum_of_alphas),
    ("check_eap_ig", "eapig_batched_points_unfolded_as_pairs_by_steps",
     r"(?i)(view|reshape|unfold\w*|split\w*).{0,80}(\[?\s*(B|batch)\s*,\s*steps|batch.{0,20}steps|(wrong|swapped|transposed) (order|axes|layout))"
     r"|(steps|points).{0,30}(and|with) (the )?(prompt pairs|batch|examples).{0,30}(mixed|swapped|interleaved|scrambled|crossed)"
     r"|(point|step)[- ]major|repeat\w*.{0,60}(layout|order)",
     eapig_batched_points_unfolded_as_pairs_by_steps),
    # ------------------------------------------------------------------ check_gradpath
    ("check_gradpath", "gp_target_logits_cached_at_one_position",
     r"(?i)NO_LOGITS|positions\s*=|(one|a single|only the first) position'?s? logits|target logits.{0,60}(one|single|first|position 0)"
     r"|(position 0|first position)'?s?.{0,40}(logits|target)|logits_to_keep",
     gp_target_logits_cached_at_one_position),
    ("check_gradpath", "gp_target_run_inside_the_embedding_hook",
     r"(?i)(target|corrupt) (logits|run|forward).{0,80}(inside|within|under) the (same )?(hook|hooks context|embedding hook|with block)"
     r"|(hook|hooked).{0,60}(still )?(active|on|applied).{0,60}(target|corrupt (run|logits|forward))"
     r"|target.{0,40}(equals?|is|becomes) (the )?(current|own) (point'?s? )?(logits|output)|distance (is )?(always )?zero",
     gp_target_run_inside_the_embedding_hook),
    ("check_gradpath", "gp_gradient_summed_over_positions",
     r"(?i)(gradient|grad|\bg\b).{0,40}(summed|sum|reduced|averaged|collapsed|pooled) (over|across) (the )?positions|sum\(1,\s*keepdim"
     r"|(sum\w*|pool\w*|reduc\w*|averag\w*|collaps\w*) (the )?(gradient|grad) (over|across) (the )?positions"
     r"|same (step|direction|update|gradient) (for|at|to) (every|each|all) positions?|(every|each|all) positions?.{0,40}(same|one|a shared|one shared) (step|direction)",
     gp_gradient_summed_over_positions),
    ("check_gradpath", "gp_absolute_gradient",
     r"(?i)abs(olute)?\W{0,3}(value )?(of )?(the )?(gradient|grad|\bg\b)|g\.abs\(\)|(gradient|grad).{0,30}signs? (is |are )?(lost|dropped|discarded)"
     r"|(loses?|drops?|discards?|throws? away) (the )?(gradient'?s? )?signs?",
     gp_absolute_gradient),
    ("check_gradpath", "gp_scaled_length_from_the_squared_norm",
     r"(?i)squared?.{0,40}(distance|norm|length)|(distance|norm|length).{0,20}squared|\*\*\s*2|square root"
     r"|(norm|length).{0,40}(not|instead of|rather than) (its|the) square",
     gp_scaled_length_from_the_squared_norm),
    # ------------------------------------------------------------------ check_verify_top
    ("check_verify_top", "vt_first_groups_patch_reused",
     r"(?i)(first|one) (kind|group)'?s? (patch\w*|result|call)|(patch\w*|call\w*) (once|only once|a single time)"
     r"|(outside|before) the (kind |group )?loop|res(ult)?.{0,40}(reused|stale|from the first)"
     r"|(other|later|remaining) (kinds|groups).{0,40}(never|not) patched",
     vt_first_groups_patch_reused),
    ("check_verify_top", "vt_scores_kind_passed_as_what",
     r"(?i)scores\.kind|['\"]node['\"].{0,40}(kind|what)|(kind|what).{0,40}['\"]node['\"]|unknown node kind"
     r"|(each|per)[- ]name'?s? kind|kind of (the )?(scores?|estimate)( object| set)?\b.{0,40}(not|instead)",
     vt_scores_kind_passed_as_what),
    ("check_verify_top", "vt_item_called_on_a_float",
     r"(?i)\.item\(\).{0,60}float|float.{0,60}\.item\(\)|already (returns? |is |gives )?a (python )?float|float.{0,40}(has )?no attribute"
     r"|(res|scores?|result)\[\w*\] (returns|is|gives) a (python )?float",
     vt_item_called_on_a_float),
    ("check_verify_top", "vt_edges_out_of_the_embedding_skipped",
     r"(?i)embed(ding)?\s*->|(edges?|names?) (out of|from|leaving) the embedding"
     r"|embed(ding)? edges?.{0,40}(skipped|dropped|filtered|left out|excluded|removed|ignored)"
     r"|(skip\w*|dropp\w*|filter\w*|left out|exclud\w*|remov\w*|ignor\w*).{0,40}embed",
     vt_edges_out_of_the_embedding_skipped),
    ("check_verify_top", "vt_values_from_the_loops_last_group",
     r"(?i)(leftover|left[- ]over|last|stale) (loop )?(variable|group)|\bgroup\b.{0,40}(instead of|not|rather than) (the )?names"
     r"|(values|effects).{0,40}(only )?(for|from) the last (group|kind)|\d+ names but \d+ values"
     r"|names (and|vs\.?) values.{0,20}(lengths? )?(differ|mismatch)",
     vt_values_from_the_loops_last_group),
]
