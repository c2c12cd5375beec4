"""Held-out set #13, written blind (the writer never saw the checks, their messages or the other
held-out sets) on 2026-12-06; measured once, unseen.

Five mistakes per exercise. Each was run once against the chapter's own solution on the chapter's
own model and task (00: induction n=16 seed=0; 01: saturation specimen; 02: cancellation specimen;
03: flat_region specimen, steps=5; 04: path_saturation specimen, steps=5, unit and scaled steps;
05: mixture model, ioi task n=8 seed=0, AtP node / q-k screens, k=5) and kept only where
max |difference| >= 2% of the correct result's largest magnitude, or where it crashes or returns a
wrong shape or wrong names (/work/scratch/r13/verify.py).
"""

import torch

import workbook as wb
from tests.planted._base import eap_parts, qk_parts, zs
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params

# ---------------------------------------------------------------- check_patch_heads


def _patch(model, task, write, base_inside=False, d_head_loop=False, hook=None):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    n_h = model.cfg.d_head if d_head_loop else H
    out = torch.zeros(L, n_h)
    for l in range(L):
        for h in range(n_h):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                write(act, corr[names[l]], h)
                return act

            name = hook(l) if hook else names[l]
            fn = (lambda act, hook, l=l, h=h: _resid_put(act, corr, l)) if hook else put
            with torch.no_grad(), model.hooks(fwd_hooks=[(name, fn)]):
                if base_inside:
                    base = task.metric_value(model(task.clean))
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


_RESID = {}


def _resid_put(act, corr, l):
    return _RESID[l]


def ph_only_first_example_patched(model, task):
    def write(act, c, h):
        act[0, :, h] = c[0, :, h]
    return _patch(model, task, write)


def ph_heads_loop_over_d_head(model, task):
    def write(act, c, h):
        act[:, :, h] = c[:, :, h]
    return _patch(model, task, write, d_head_loop=True)


def ph_residual_stream_patched(model, task):
    L = model.cfg.n_layers
    names = [f"blocks.{l}.hook_resid_post" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _RESID.clear()
    _RESID.update({l: corr[names[l]] for l in range(L)})
    return _patch(model, task, None, hook=lambda l: names[l])


def ph_baseline_inside_hook_context(model, task):
    def write(act, c, h):
        act[:, :, h] = c[:, :, h]
    return _patch(model, task, write, base_inside=True)


def ph_last_position_corrupt_value_everywhere(model, task):
    def write(act, c, h):
        act[:, :, h] = c[:, -1:, h]
    return _patch(model, task, write)


# ---------------------------------------------------------------- check_atp_heads


def _atp_terms(model, task, L=None):
    names = zs(model)[:L]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return names, corr, clean, grads


def atp_positions_not_summed(model, task):
    names, corr, clean, grads = _atp_terms(model, task)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum(3).mean(0).T for n in names])


def atp_d_head_summed_before_product(model, task):
    names, corr, clean, grads = _atp_terms(model, task)
    return torch.stack([((corr[n] - clean[n]).sum(3) * grads[n].sum(3)).sum(1).mean(0) for n in names])


def atp_last_layer_missing(model, task):
    names, corr, clean, grads = _atp_terms(model, task, L=model.cfg.n_layers - 1)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_gradient_averaged_over_positions(model, task):
    names, corr, clean, grads = _atp_terms(model, task)
    return torch.stack([((corr[n] - clean[n]) * grads[n].mean(1, keepdim=True)).sum((1, 3)).mean(0)
                        for n in names])


def atp_median_over_prompt_pairs(model, task):
    names, corr, clean, grads = _atp_terms(model, task)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).median(0).values for n in names])


# ---------------------------------------------------------------- check_qk_fix_queries


def _qkq(model, task, new_pattern, keys_layer0=False, diff=lambda a, b: a - b, join=torch.stack, add_query=False):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q = clean[f"blocks.{l}.attn.hook_q"]
        k = clean[f"blocks.{0 if keys_layer0 else l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = new_pattern(q, k, sc, mask)
        q_new = corr[f"blocks.{l}.attn.hook_q"] + (q if add_query else 0)
        A_new = new_pattern(q_new, k, sc, mask)
        out.append((diff(A_new, A) * grads[pats[l]]).sum(-1).mean(0))
    return join(out)


def _pat(q, k, sc, mask):
    return (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)


def qkq_keys_from_layer_0(model, task):
    return _qkq(model, task, _pat, keys_layer0=True)


# new query = clean query + corrupt query
def qkq_corrupt_query_added_not_replaced(model, task):
    return _qkq(model, task, _pat, add_query=True)


def qkq_absolute_pattern_change(model, task):
    return _qkq(model, task, _pat, diff=lambda a, b: (a - b).abs())


# mask built as a float tensor: ~mask raises on float
def qkq_float_mask(model, task):
    def pat(q, k, sc, mask):
        m = torch.ones(mask.shape).tril()
        return (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~m, float("-inf")).softmax(-1)
    return _qkq(model, task, pat)


def qkq_cat_instead_of_stack(model, task):
    return _qkq(model, task, _pat, join=torch.cat)


# ---------------------------------------------------------------- check_qk_fix_keys


def _qkk(model, task, layers=None, scale=None, diff=lambda a, b: a - b, q_layer0=False, next_grad=False):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L if layers is None else layers):
        q, k = clean[f"blocks.{0 if q_layer0 else l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l) if scale is None else scale
        gp = grads[pats[min(l + 1, L - 1) if next_grad else l]]

        def pattern(kk):
            return (torch.einsum("bthd,bshd->bhts", q, kk) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = (diff(pattern(k2), A) * gp).sum((-1, -2)).mean(0)
    return out


def qkk_queries_from_layer_0(model, task):
    return _qkk(model, task, q_layer0=True)


# pattern gradient of the next layer (l + 1, capped at the last)
def qkk_next_layers_pattern_gradient(model, task):
    return _qkk(model, task, next_grad=True)


def qkk_last_layer_never_filled(model, task):
    return _qkk(model, task, layers=model.cfg.n_layers - 1)


def qkk_scale_d_head_not_sqrt(model, task):
    return _qkk(model, task, scale=float(model.cfg.d_head))


def qkk_absolute_pattern_change(model, task):
    return _qkk(model, task, diff=lambda a, b: (a - b).abs())


# ---------------------------------------------------------------- check_graddrop


def _gd(model, task, late=False, term=None, reduce=None):
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
    if late:  # gates built in a loop without binding l: every gate sees the last layer
        bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook: gate(g, hook, l)) for l in range(L)
                for w in ("attn", "mlp")]
    else:
        bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L)
                for w in ("attn", "mlp")]
    term = term or (lambda x: x.sum((1, 3)))
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([term((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n])))
                                         for n in names], 1))
    stacked = torch.stack(per_pass)  # [L passes, B, L, H, ...]
    if reduce is not None:
        return reduce(stacked, L)
    return (stacked.abs().sum(0) / (L - 1)).mean(0)


def gd_gate_late_binding_last_layer(model, task):
    return _gd(model, task, late=True)


# per-pass terms stacked on dim 2: [B, H, L] per pass, so heads and layers change places
def gd_heads_and_layers_swapped(model, task):
    return _gd(model, task, reduce=lambda st, L: (st.abs().sum(0) / (L - 1)).mean(0).T)


# [passes, B, L, H] -> after summing the passes, .mean(1) averages the layers, not the batch
def gd_mean_over_the_layer_axis(model, task):
    return _gd(model, task, reduce=lambda st, L: (st.abs().sum(0) / (L - 1)).mean(1))


def gd_positions_not_summed(model, task):
    return _gd(model, task, term=lambda x: x.sum(3).transpose(1, 2))


def gd_heads_summed(model, task):
    return _gd(model, task, term=lambda x: x.sum((1, 2, 3))[:, None])


# ---------------------------------------------------------------- check_eap


def _eap(model, task, delta_fn=None, grad_fn=None, spec="sbpd,tbpd->st"):
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    g = graph.stack_dest_grads(grads)
    deltas = delta_fn(deltas) if delta_fn else deltas
    g = grad_fn(g) if grad_fn else g
    return torch.einsum(spec, deltas, g) / task.batch_size * graph.edge_mask


def eap_gradient_averaged_over_positions(model, task):
    return _eap(model, task, grad_fn=lambda g: g.mean(2, keepdim=True))


# d_model summed in each factor before the product (no dot product)
def eap_d_model_summed_before_product(model, task):
    return _eap(model, task, spec="sbp,tbp->st", delta_fn=lambda d: d.sum(-1), grad_fn=lambda g: g.sum(-1))


# the destination's clean input (activation) in place of the metric's gradient
def eap_destination_activation_not_gradient(model, task):
    graph, corr, clean, _ = eap_parts(model, task)
    _, dest = cache_activations(model, task.clean, list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(dest)) / task.batch_size * graph.edge_mask


def eap_absolute_gradient(model, task):
    return _eap(model, task, grad_fn=lambda g: g.abs())


def eap_embedding_source_dropped(model, task):
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = (graph.stack_sources(corr) - graph.stack_sources(clean))[1:]
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask[1:]


# ---------------------------------------------------------------- check_eap_ig


def _ig(model, task, steps, hook_rule="st", use_max=False, inside=False, per_point_abs=False, alias=False):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"].clone()
    total = 0.0
    for k in range(1, steps + 1):
        if alias:  # target = e_n; target += ...: the corrupt end point moves every step
            target = e_n
            target += (k / steps) * (e_c - e_n)
        else:
            target = e_n + (k / steps) * (e_c - e_n)
        def hook(t, hook, target=target):
            return t + (target - t).detach() if hook_rule == "st" else t + target.detach()

        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        g = graph.stack_dest_grads(grads)
        if per_point_abs:
            total = total + torch.einsum("sbpd,tbpd->st", deltas, g).abs()
        elif use_max:
            total = g * steps if k == 1 else torch.maximum(total, g * steps)
        else:
            total = total + g
        if inside:
            total = total / steps
    if per_point_abs:
        scores = total / steps / task.batch_size
    else:
        scores = torch.einsum("sbpd,tbpd->st", deltas, total if inside else total / steps) / task.batch_size
    return scores * graph.edge_mask


# the largest gradient over the points (elementwise max), not their average
def ig_max_over_points(model, task, steps):
    return _ig(model, task, steps, use_max=True)


# hook returns t + point instead of replacing t by the point
def ig_hook_adds_point_to_embedding(model, task, steps):
    return _ig(model, task, steps, hook_rule="add")


# total / steps indented into the loop
def ig_division_inside_the_loop(model, task, steps):
    return _ig(model, task, steps, inside=True)


def ig_abs_per_point(model, task, steps):
    return _ig(model, task, steps, per_point_abs=True)


def ig_corrupt_endpoint_mutated_in_place(model, task, steps):
    return _ig(model, task, steps, alias=True)


# ---------------------------------------------------------------- check_gradpath


def _gp(model, task, steps, step_size, normalise=None, eta_fn=None, append_leaf=False, straight=False):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps)
    if eta_fn is not None and step_size == "scaled":
        eta = eta_fn(e_c, e_n)
    eta = eta.view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            dist = output_distance(model, task.clean, leaf, target)
            (g,) = torch.autograd.grad(dist.sum(), leaf)
            if append_leaf:
                points.append(leaf.detach())
            if straight:
                step = g / (e_c - e_n).flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
            elif normalise is None:
                step = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
            else:
                step = normalise(g)
            gamma = (leaf - eta * step).detach()
            points.append(gamma)
    return torch.stack(points)


# "scaled" step length computed from ||e_clean|| instead of ||e_clean - e_corrupt||
def gp_scaled_length_from_the_clean_embedding_norm(model, task, steps, step_size="unit"):
    return _gp(model, task, steps, step_size, eta_fn=lambda e_c, e_n: e_c.flatten(1).norm(dim=1) / steps)


# norm taken over the batch axis (per feature) instead of per example
def gp_gradient_norm_over_the_batch_axis(model, task, steps, step_size="unit"):
    return _gp(model, task, steps, step_size, normalise=lambda g: g / g.norm(dim=0, keepdim=True).clamp_min(1e-12))


def gp_gradient_divided_by_l1_norm(model, task, steps, step_size="unit"):
    return _gp(model, task, steps, step_size,
               normalise=lambda g: g / g.flatten(1).abs().sum(1).clamp_min(1e-12).view(-1, 1, 1))


# the leaf is appended as well as the new point: 2 * steps + 1 points
def gp_leaf_and_new_point_both_appended(model, task, steps, step_size="unit"):
    return _gp(model, task, steps, step_size, append_leaf=True)


# gradient divided by ||e_clean - e_corrupt|| instead of its own norm
def gp_gradient_divided_by_the_straight_distance(model, task, steps, step_size="unit"):
    return _gp(model, task, steps, step_size, straight=True)


# ---------------------------------------------------------------- check_verify_top


def _kind(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def _vt_patch(model, task, what, group):
    if what == "edge":
        return wb.patch_edges(model, task, edges=group)
    return wb.patch_nodes(model, task, what, nodes=group)


def _vt_result(names, effects, scores):
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


# assumes every top-k name has the kind of the first one
def vt_kind_of_first_name_for_all(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    res = _vt_patch(model, task, _kind(names[0]), names)
    return _vt_result(names, {n: float(res[n]) for n in names}, scores)


# patch call placed after the grouping loop: only the last kind's group is patched
def vt_patch_after_the_kind_loop(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
    res = _vt_patch(model, task, what, group)
    return _vt_result(names, {n: float(res[n]) for n in names}, scores)


# kind read from the part before the dot ("L1H2" of "L1H2.q")
def vt_kind_from_the_part_before_the_dot(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]

    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.split(".")[0] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = _vt_patch(model, task, what, group)
        effects.update({n: float(res[n]) for n in group})
    return _vt_result(names, effects, scores)


def vt_mlps_left_out(model, task, scores, k=5):
    names = [n for n in scores.order(absolute=True) if not n.startswith("MLP")][:k]
    effects = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        res = _vt_patch(model, task, what, group)
        effects.update({n: float(res[n]) for n in group})
    return _vt_result(names, effects, scores)


# one number per kind: the group's mean effect written for every name of the group
def vt_group_mean_for_every_name(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    effects = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        res = _vt_patch(model, task, what, group)
        effects.update({n: float(res.values.mean()) for n in group})
    return _vt_result(names, effects, scores)


PH, ATP, QKQ, QKK = "check_patch_heads", "check_atp_heads", "check_qk_fix_queries", "check_qk_fix_keys"
GD, EAP, IG, GP, VT = "check_graddrop", "check_eap", "check_eap_ig", "check_gradpath", "check_verify_top"

MISTAKES = [
    (PH, "ph_only_first_example_patched",
     r"(?i)(only|just) (the )?first (example|prompt|pair|row|sequence|item)|first (example|prompt pair|prompt)"
     r"('s)? (only|alone)|(other|rest of the|remaining) (examples|prompts|prompt pairs)\W+(are |stay |left )?"
     r"(clean|unpatched|not patched)|act\[0|batch (index|element) 0|one example (is )?patched",
     ph_only_first_example_patched),
    (PH, "ph_heads_loop_over_d_head",
     r"(?i)(loop\w*|iterat\w*|range)\W+(\w+\W+){0,4}d_head|d_head (heads|iterations|rows|columns)|d_head wh"
     r"ere n_heads|n_heads.{0,20}d_head|(number of|count of) heads\W+(\w+\W+){0,4}d_head|\[L, ?d_head\]|\[n"
     r"_layers, ?d_head\]|too many heads|head dimension (used )?as (the )?(number|count) of heads",
     ph_heads_loop_over_d_head),
    (PH, "ph_residual_stream_patched",
     r"(?i)resid\w*|residual( stream)?|whole (layer|stream)|all heads (of|in) the layer|entire layer"
     r"|same (value|effect) for every head|not (a single|one|the) head", ph_residual_stream_patched),
    (PH, "ph_baseline_inside_hook_context",
     r"(?i)baseline\W+(\w+\W+){0,6}(inside|within|under|in) the hook|(inside|within|under) the (hooks?|patching) "
     r"context|baseline (is |was )?(also )?(patched|computed with the hook)|clean run (is |was )?(also )?patched"
     r"|(both|two) runs? (are )?patched|M\(patched\) ?- ?M\(patched\)|baseline equals the patched|all zeros?",
     ph_baseline_inside_hook_context),
    (PH, "ph_last_position_corrupt_value_everywhere",
     r"(?i)last (position|token)('s)? (corrupt )?(value|activation|output)|(value|activation|output) (of|at|from) "
     r"the last (position|token)|broadcast\w* (over|across|to) (all |every )?positions|-1:|every position "
     r"(gets|receives) the (same|last)|position (mismatch|misalign\w*)", ph_last_position_corrupt_value_everywhere),
    (ATP, "atp_positions_not_summed",
     r"(?i)(positions?|sequence|pos) (axis |dimension )?(is |are |was )?(not|never) (summed|reduced|contracted)"
     r"|(no|missing|forgot\w*( the)?) (sum|reduction) over (the )?(positions|sequence)|per[- ]position"
     r"|extra (position|sequence) (axis|dimension)|\[L, ?H, ?T\]|\[n_layers, n_heads, (pos|seq)",
     atp_positions_not_summed),
    (ATP, "atp_d_head_summed_before_product",
     r"(?i)(summed|sums?|reduc\w*|collaps\w*) (over )?(the )?d_head (separately |first )?before (the )?"
     r"(product|multipl|dot)"
     r"|product of (the )?sums|sum of products|not (a|the) dot product|dot product over d_head|d_head (is |was )?"
     r"(summed|reduced) (on each|for each|separately)|each factor (summed|reduced)", atp_d_head_summed_before_product),
    (ATP, "atp_last_layer_missing",
     r"(?i)last layer (is )?(missing|skipped|never|left out|dropped)|range\(\w*(L|n_layers) ?- ?1\)|stops? (one|a) "
     r"layer early|one layer (short|too few|fewer)|every layer but the last|loop bound|n_layers ?- ?1 (layers|rows)"
     r"|\[L ?- ?1, ?H\]|missing (a |one )?(layer|row)", atp_last_layer_missing),
    (ATP, "atp_gradient_averaged_over_positions",
     r"(?i)gradients? (is |are |was )?(averaged|meaned|mean) over (the )?(positions|sequence|tokens)|"
     r"(position|sequence)[- ]?(averaged|mean) gradient|mean gradient (over|across) positions|gradient.{0,30}"
     r"(same|one|shared) (for|at|across) (every|each|all) positions?|grads?\[\w*\]\.mean\(1",
     atp_gradient_averaged_over_positions),
    (ATP, "atp_median_over_prompt_pairs",
     r"(?i)median", atp_median_over_prompt_pairs),
    (QKQ, "qkq_keys_from_layer_0",
     r"(?i)(keys?|hook_k)\W+(\w+\W+){0,5}(from|of) (layer 0|the first layer|block 0)|layer[- ]0('s)? (clean )?keys?"
     r"|blocks\.0\.attn\.hook_k|same keys? (for|in) every layer|keys? (not|never) (re)?(indexed|taken) (by|per|for "
     r"each) layer|wrong layer('s)? keys?", qkq_keys_from_layer_0),
    (QKQ, "qkq_corrupt_query_added_not_replaced",
     r"(?i)(added|adds?|adding|sum(med)?|plus)\W+(\w+\W+){0,5}(to|with|and) the clean (query|queries|q)|(no"
     r"t|instead of|rather than) (replac\w*|overwrit\w*|swapp\w*)|q ?\+ ?q_?(corr|new|corrupt)|clean (query"
     r"|queries|q) (is |are )?(kept|still there|not removed)|(query|queries) (counted|included) twice|q_cle"
     r"an ?\+ ?q_corr",
     qkq_corrupt_query_added_not_replaced),
    (QKQ, "qkq_absolute_pattern_change",
     r"(?i)abs(olute)?( value)?\W+(\w+\W+){0,4}(pattern|attention|A'? ?- ?A|change|difference)|\|A'? ?- ?A\||"
     r"\|Δ ?A\||\|pattern (change|difference)\||(sign|direction) of the (pattern|attention) change|\.abs\(\)",
     qkq_absolute_pattern_change),
    (QKQ, "qkq_float_mask",
     r"(?i)(float|floating)\W+(\w+\W+){0,4}mask|mask\W+(\w+\W+){0,5}(float|not (a )?bool\w*|bool(ean)? "
     r"(tensor|dtype))|bitwise[_ ]not|~ (is |only )?(works |defined |valid )?(only )?(for|on) (bool|integer)|"
     r"dtype=torch\.bool|logical_not", qkq_float_mask),
    (QKQ, "qkq_cat_instead_of_stack",
     r"(?i)torch\.cat|cat\w* instead of stack|concatenat\w*|\[L ?\* ?H|n_layers ?\* ?n_heads|"
     r"(layers?|heads?) (axis|dimension) (merged|flattened|collapsed)|flattened|stack\w* (not|instead)",
     qkq_cat_instead_of_stack),
    (QKK, "qkk_queries_from_layer_0",
     r"(?i)(quer(y|ies)|hook_q)\W+(\w+\W+){0,5}(from|of) (layer 0|the first layer|block 0)|layer[- ]0('s)? "
     r"(clean )?quer(y|ies)|blocks\.0\.attn\.hook_q|same quer(y|ies) (for|in) every layer|quer(y|ies) (not|"
     r"never) (re)?(indexed|taken) (by|per|for each) layer|wrong layer('s)? quer(y|ies)",
     qkk_queries_from_layer_0),
    (QKK, "qkk_next_layers_pattern_gradient",
     r"(?i)(next|following|later|subsequent|downstream) layer('s)?\W+(\w+\W+){0,4}(pattern )?grad\w*|grad\w"
     r"*\W+(\w+\W+){0,5}(of|from|at) (the )?(next|following|later|wrong) layer|(l|layer) ?\+ ?1|layer (inde"
     r"x )?off by one|(pattern )?gradients? (and|vs\.?) (patterns?|attention) (from|of|in) different layers"
     r"|mismatched layers?",
     qkk_next_layers_pattern_gradient),
    (QKK, "qkk_last_layer_never_filled",
     r"(?i)last layer (is )?(missing|skipped|never|left|zero|empty|not filled|all zeros?)"
     r"|range\(\w*(L|n_layers) ?- ?1\)"
     r"|stops? (one|a) layer early|one layer short|every layer but the last|loop bound|final layer (is )?"
     r"(zero|missing|empty|never|skipped)", qkk_last_layer_never_filled),
    (QKK, "qkk_scale_d_head_not_sqrt",
     r"(?i)(scal\w*|divid\w*)\W+(\w+\W+){0,4}(by )?d_head\b(?! ?\*\* ?0?\.5)|sqrt\(d_head\)|square root|"
     r"d_head instead of|not (the )?sqrt|temperature|scale (is |was )?(too (large|big|small)|wrong|squared)"
     r"|1/d_head", qkk_scale_d_head_not_sqrt),
    (QKK, "qkk_absolute_pattern_change",
     r"(?i)abs(olute)?( value)?\W+(\w+\W+){0,4}(pattern|attention|A'? ?- ?A|change|difference)|\|A'? ?- ?A\||"
     r"\|Δ ?A\||\|pattern (change|difference)\||(sign|direction) of the (pattern|attention) change|\.abs\(\)",
     qkk_absolute_pattern_change),
    (GD, "gd_heads_and_layers_swapped",
     r"(?i)\[(n_)?heads?, ?(n_)?layers?\]|\[H, ?L\]|(heads?|layers?) and (layers?|heads?) (are )?(swapped|t"
     r"ransposed|exchanged|mixed up|confused|change places|interchanged)|transpos\w*|swapped (axes|dimensio"
     r"ns)|(rows?|columns?) (are|hold) (heads|layers)|stack\w* on the wrong (axis|dim\w*)",
     gd_heads_and_layers_swapped),
    (GD, "gd_mean_over_the_layer_axis",
     r"(?i)(mean|averag\w*)\W+(\w+\W+){0,4}(over|across|along) (the )?(layers?|layer axis|wrong axis|axis 1"
     r"|dim(ension)? 1)|\.mean\(1\)|layers? (axis|dimension) (averaged|reduced|collapsed)|(batch|prompt[- ]"
     r"pair|example) (axis|dimension) (kept|left|not averaged)|(no|not|never|missing) (the )?(batch|prompt["
     r"- ]pair) (mean|averag\w*)|\[B, ?H\]|wrong axis",
     gd_mean_over_the_layer_axis),
    (GD, "gd_positions_not_summed",
     r"(?i)(positions?|sequence|pos) (axis |dimension )?(is |are |was )?(not|never) (summed|reduced|contrac"
     r"ted)|(no|missing|forgot\w*( the)?) (sum|reduction) over (the )?(positions|sequence)|per[- ]position|"
     r"extra (position|sequence) (axis|dimension)|\[L, ?H, ?T\]|\[n_layers, n_heads, (pos|seq)",
     gd_positions_not_summed),
    (GD, "gd_gate_late_binding_last_layer",
     r"(?i)late[- ]binding|closure|lambda\W+(\w+\W+){0,5}(default|bind|binds|bound|captur\w*)|l=l|(loop|last) "
     r"(variable|value of l)|every (pass|gate) (drops|gates|sees|uses) the last layer|only the last layer "
     r"(is )?(ever )?(dropped|gated)|always (drops|gates) the last", gd_gate_late_binding_last_layer),
    (GD, "gd_heads_summed",
     r"(?i)(summed|sums?|reduc\w*|collaps\w*|added) (over|across) (the )?heads|heads? (axis |dimension )?(i"
     r"s |are |was )?(summed|reduced|collapsed|lost)|one (value|number|score) per layer|no (per-?)?head (ax"
     r"is|dimension|scores?)|\[n_layers\]|\[L\]|\[L, ?1\]|not per head",
     gd_heads_summed),
    (EAP, "eap_gradient_averaged_over_positions",
     r"(?i)gradients? (is |are |was )?(averaged|meaned|mean) over (the )?(positions|sequence|tokens)|(posit"
     r"ion|sequence)[- ]?(averaged|mean) gradient|mean gradient (over|across) positions|gradient.{0,30}(sam"
     r"e|one|shared) (for|at|across) (every|each|all) positions?|\.mean\(2",
     eap_gradient_averaged_over_positions),
    (EAP, "eap_d_model_summed_before_product",
     r"(?i)(summed|sums?|reduc\w*|collaps\w*) (over )?(the )?(d_model|model dimension|residual dimension|hi"
     r"dden dimension) (separately |first )?before (the )?(product|multipl|dot)|product of (the )?sums|sum "
     r"of products|not (a|the) dot product|dot product over d_model|(d_model|residual dimension) (is |was )"
     r"?(summed|reduced) (on each|for each|separately)|each factor (summed|reduced)",
     eap_d_model_summed_before_product),
    (EAP, "eap_destination_activation_not_gradient",
     r"(?i)activations? (of|at) the destination|destination('s)? (input|activation)s?\W+(\w+\W+){0,4}(inste"
     r"ad of|not|in place of|rather than) (the )?gradient|(instead of|not|rather than|in place of) (the )?("
     r"metric's |metric )?gradient|no gradient|gradients? (is |are |was |were )?(never|not) (used|taken|com"
     r"puted)|activation (times|x|×) (activation|delta)|input ?(×|x|times) ?(delta|activation)",
     eap_destination_activation_not_gradient),
    (EAP, "eap_embedding_source_dropped",
     r"(?i)(embedding|hook_embed|first) source (is |was )?(missing|dropped|left out|skipped|removed)|no emb"
     r"edding (source|row)|embed\w* (row|source)\W+(\w+\W+){0,3}(missing|dropped|left out|skipped)|source 0"
     r"|\[1:\]|n_sources ?- ?1|(one|a) source (short|missing|too few)|missing (the first|a) (row|source)|(s"
     r"kips?|drops?|omits?|excludes?|leaves? out) the embedding",
     eap_embedding_source_dropped),
    (EAP, "eap_absolute_gradient",
     r"(?i)abs\w*( value)?\W+(\w+\W+){0,3}(of )?(the )?(gradients?|grads?|destination gradients?)|\|grad\w*"
     r"\||\|∂M|gradient (magnitude|size)|(sign|direction) of the gradient|grads?\.abs",
     eap_absolute_gradient),
    (IG, "ig_max_over_points",
     r"(?i)\bmax\w*|largest|(not|instead of) (the |their )?(average|mean|sum) (over|of|across) (the )?(poin"
     r"ts|steps|alphas)|torch\.maximum|elementwise max|peak gradient",
     ig_max_over_points),
    (IG, "ig_hook_adds_point_to_embedding",
     r"(?i)(adds?|added|adding|plus|sum of)\W+(\w+\W+){0,5}(to|and) the (clean )?(embedding|input|activation|t\b)"
     r"|(embedding|t) (counted|included) twice|t ?\+ ?(target|point)(?! ?- ?t)|(not|instead of|rather than) "
     r"(replac\w*|overwrit\w*)|missing (- ?t|minus t|the - t)|(point|target) added", ig_hook_adds_point_to_embedding),
    (IG, "ig_division_inside_the_loop",
     r"(?i)(divid\w*|division|/ ?steps|normali[sz]\w*)\W+(\w+\W+){0,5}(inside|in|within) the (step |point |"
     r"alpha )?loop|indent\w*|(every|each) (step|iteration|point)\W+(\w+\W+){0,3}divid\w*|divided (repeatedly|"
     r"many times|at every step|each step)|geometric\w*|earlier points? (shrink|decay|down-?weight\w*)",
     ig_division_inside_the_loop),
    (IG, "ig_abs_per_point",
     r"(?i)abs\w*( value)?\W+(\w+\W+){0,5}(each|every|per) (point|step|alpha|interpolation)|(per|each)[- ]"
     r"(point|step) (\|eap\||abs)|abs\w* before (the )?(average|mean|sum) over (the )?(points|steps)|"
     r"(signs?|cancel\w*) (across|between|over) (the )?(points|steps)", ig_abs_per_point),
    (IG, "ig_corrupt_endpoint_mutated_in_place",
     r"(?i)in[- ]place|alias\w*|\+=|(corrupt|e_n|e_corrupt|start|end) ?(point|embedding)?\W+(\w+\W+){0,4}"
     r"(mutated|modified|overwritten|changed|moves|drifts)|same tensor|clone|path (drifts|moves)",
     ig_corrupt_endpoint_mutated_in_place),
    (GP, "gp_scaled_length_from_the_clean_embedding_norm",
     r"(?i)(norm|length|size) of (the )?(clean )?(embedding|e_clean|e_c|start(ing)? point)\b(?! ?-)|\|\|e_c"
     r"(lean)?\|\|(?! ?-)|(instead of|not) (the )?(\|\|e_c(lean)? ?- ?e_n|distance between|difference|strai"
     r"ght[- ](line|path) (length|distance))|(clean|starting) point's (norm|length)",
     gp_scaled_length_from_the_clean_embedding_norm),
    (GP, "gp_gradient_norm_over_the_batch_axis",
     r"(?i)norm\w*\W+(\w+\W+){0,5}(over|across|along) (the )?(batch|examples|prompt pairs)|"
     r"(batch|example) (axis|dimension)\W+(\w+\W+){0,4}norm|dim=0|per[- ](feature|coordinate|element)|"
     r"(not|instead of) per[- ](example|prompt)", gp_gradient_norm_over_the_batch_axis),
    (GP, "gp_gradient_divided_by_l1_norm",
     r"(?i)\bl1\b|l-1 norm|l_1|1-norm|sum of (the )?(absolute|abs)|abs\(\)\.sum|manhattan|(absolute|abs) "
     r"values? summed|taxicab", gp_gradient_divided_by_l1_norm),
    (GP, "gp_leaf_and_new_point_both_appended",
     r"(?i)(appended|stored|added|kept|recorded) (twice|both)|(both|each of) (the )?(leaf|old|current|start"
     r") (point )?and (the )?new point|duplicat\w*|(2 ?\* ?steps|2k) ?\+ ?1|too many points|(extra|addition"
     r"al) points?|(leaf|old point|pre-step point)\W+(\w+\W+){0,4}(also )?(appended|stored|added)|(each|eve"
     r"ry) point (appears|stored|twice)",
     gp_leaf_and_new_point_both_appended),
    (GP, "gp_gradient_divided_by_the_straight_distance",
     r"(?i)(divid\w*|normali[sz]\w*|scal\w*)\W+(\w+\W+){0,5}(by )?(the )?(straight|straight-line|clean-corr"
     r"upt|clean-to-corrupt|endpoint|embedding) (distance|length|gap|difference)|\|\|e_c(lean)? ?- ?e_(n|c("
     r"orrupt)?)\|\||(not|instead of|rather than) (by )?(the gradient's|its own|the gradient) norm|gradient"
     r" (is )?(not|never) (unit|normali[sz]ed to (unit|length 1))",
     gp_gradient_divided_by_the_straight_distance),
    (VT, "vt_kind_of_first_name_for_all",
     r"(?i)first (name|component|node)('s)? (kind|type)|(one|a single|same) (kind|type) (for|to) (all|every)"
     r"|(kinds?|types?) (are )?(not )?(grouped|mixed)|(all|every) (names?|components?) (patched |treated )?"
     r"(as|with) (one|the same|a single) (kind|type)|names\[0\]|mixed kinds|not grouped by kind",
     vt_kind_of_first_name_for_all),
    (VT, "vt_patch_after_the_kind_loop",
     r"(?i)(outside|after) the (kind |group )?loop|(only|just) the last (kind|group)|last group only|"
     r"indent\w*|leak\w* (loop )?variable|(loop )?variable (leak\w*|from the last iteration)|other (kinds|groups)"
     r" (never|are not|aren't|not) (patched|verified)", vt_patch_after_the_kind_loop),
    (VT, "vt_kind_from_the_part_before_the_dot",
     r"(?i)split\(['\"]\.['\"]\)\[0\]|(part|text|string) before the (dot|\.|period)|(wrong|first) (side|part|half)"
     r" of the (dot|name)|rsplit|(suffix|\.q|\.k) (is )?(not |never )?(read|used|parsed)|(kind|type) "
     r"(parsed|read|taken) (from|as) the (head|node) name|L\d+H\d+ (as|is not) (a|the) kind",
     vt_kind_from_the_part_before_the_dot),
    (VT, "vt_mlps_left_out",
     r"(?i)mlps?\W+(\w+\W+){0,4}(left out|dropped|skipped|excluded|missing|ignored|filtered|never|not)|(wit"
     r"hout|no|excludes?|skips?|ignores?|drops?|filters? out) (the )?mlps?|only (the )?heads( are|,| were)?"
     r" (verified|patched|returned|kept)|heads but not (the )?mlps",
     vt_mlps_left_out),
    (VT, "vt_group_mean_for_every_name",
     r"(?i)(group|kind|batch of names)('s)? (mean|average)|(mean|averag\w*)\W+(\w+\W+){0,4}(over|of|across) "
     r"the (group|kind|names)|values\.mean|same (value|effect|number) for (every|each|all) (name|component|node)"
     r"s?( of| in)?|one (number|value|effect) per (group|kind)|not (looked up|read) by name",
     vt_group_mean_for_every_name),
]
