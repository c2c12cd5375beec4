"""Held-out set #11, written blind (the writer never saw the checks, their messages or the earlier
held-out sets) on 2026-12-06; measured once, unseen.

Five plausible first-attempt mistakes per exercise (45), none of them an id already planted
(``known_mistakes.md``). Each cause regex was written from the cause alone, before anything measured
it. Every mistake was run once next to the chapter's own solution on the chapter's own model and
task (induction n=16 seed=0 for ``patch_heads``/``atp_heads``; the ``saturation`` specimen for the
QK fix; ``cancellation`` for GradDrop; ``flat_region`` for EAP and EAP-IG with m=5;
``path_saturation`` for GradPath with 5 unit steps; the mixture model's IOI task, n=8 seed=0, with a
mixed head/MLP/q/k/edge estimate and k=5 for ``verify_top``) and kept only when it crashed, returned a
wrong shape or names, or differed by at least 2% of the correct result's largest magnitude
(``/work/scratch/r11/verify.py``).
"""

import torch

import workbook as wb
from tests.planted._base import eap_parts, pattern, qk_parts, zs
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import (
    LEAF_HOOK,
    cache_activations,
    cache_activations_and_grads,
    frozen_params,
    metric_per_example,
)

# ------------------------------------------------------------------ check_patch_heads


def _patch_loop(model, task, put, hook_name=None):
    """Per (layer, head) patched-minus-clean metric; ``put(act, corr_l, h)`` returns the patched act."""
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [(hook_name or "blocks.{}.attn.hook_z").format(l) for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def hook(act, hook, l=l, h=h):
                return put(act.clone(), corr[names[l]], h)

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], hook)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def ph_clean_mean_ablation(model, task):
    # mean ablation: the head's clean output averaged over the batch, corrupt run never used
    def put(act, corr, h):
        act[:, :, h] = act[:, :, h].mean(0, keepdim=True)
        return act

    return _patch_loop(model, task, put)


def ph_attn_out_channel(model, task):
    # hooks blocks.l.hook_attn_out ([B, pos, d_model]) and patches its channel h as "head h"
    def put(act, corr, h):
        act[:, :, h] = corr[:, :, h]
        return act

    return _patch_loop(model, task, put, hook_name="blocks.{}.hook_attn_out")


def ph_per_example_effects(model, task):
    # metric_per_example inside the hooks: effects kept per prompt pair, never averaged -> [L, H, B]
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    base = metric_per_example(model, task)
    rows = []
    for l in range(L):
        row = []
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                row.append(metric_per_example(model, task) - base)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def ph_every_head_but_h(model, task):
    def put(act, corr, h):
        keep = torch.arange(act.shape[2]) != h
        act[:, :, keep] = corr[:, :, keep]
        return act

    return _patch_loop(model, task, put)


def ph_row_overwritten(model, task):
    # out[l] = effect: the whole row is written, so every head of a layer shows the last head's effect
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
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
                out[l] = task.metric_value(model(task.clean)) - base
    return out


# ------------------------------------------------------------------ check_atp_heads


def _atp_parts(model, task):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return names, corr, clean, grads


def atp_acts_grads_swapped(model, task):
    # `_, grads, clean = cache_activations_and_grads(...)`: the two dicts unpacked the wrong way round
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, grads, clean = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_head_axis_dim1(model, task):
    # reads hook_z as [batch, head, pos, d_head]: .sum((2, 3)) reduces heads and d_head, keeps positions
    names, corr, clean, grads = _atp_parts(model, task)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((2, 3)).mean(0) for n in names])


def atp_divided_by_gap(model, task):
    names, corr, clean, grads = _atp_parts(model, task)
    m_clean, m_corr = task.baselines(model)
    est = torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])
    return est / (m_clean - m_corr)


def atp_corrupt_batch_mean(model, task):
    # delta against the batch-mean corrupt activation (mean-ablation style)
    names, corr, clean, grads = _atp_parts(model, task)
    return torch.stack([((corr[n].mean(0, keepdim=True) - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_mean_over_layers(model, task):
    # .mean(0) placed after the stack: averages the layers, keeps the batch -> [B, H]
    names, corr, clean, grads = _atp_parts(model, task)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)) for n in names]).mean(0)


# ------------------------------------------------------------------ check_qk_fix_queries


def _qk_loop(model, task, row):
    """``row(q, k, (q_corrupt, k_corrupt), scale, mask, pattern_grad)`` -> a layer's ``[H, T]`` block."""
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        news = (corr[f"blocks.{l}.attn.hook_q"], corr[f"blocks.{l}.attn.hook_k"])
        out.append(row(q, k, news, attn_scale(model, l), mask, grads[pats[l]]))
    return torch.stack(out)


def qkq_queries_as_keys(model, task):
    # einsum(q, q): the (clean) queries used as the keys as well
    def row(q, k, news, sc, mask, g):
        return ((pattern(news[0], q, sc, mask) - pattern(q, q, sc, mask)) * g).sum(-1).mean(0)

    return _qk_loop(model, task, row)


def qkq_softmax_head_axis(model, task):
    # .softmax(1) on [B, H, T, S]: normalised over the heads
    def row(q, k, news, sc, mask, g):
        return ((pattern(news[0], k, sc, mask, axis=1) - pattern(q, k, sc, mask, axis=1)) * g).sum(-1).mean(0)

    return _qk_loop(model, task, row)


def qkq_diagonal_only(model, task):
    # only the entry A[t, t] (the query's own key) is counted
    def row(q, k, news, sc, mask, g):
        d = (pattern(news[0], k, sc, mask) - pattern(q, k, sc, mask)) * g
        return d.diagonal(dim1=-2, dim2=-1).mean(0)

    return _qk_loop(model, task, row)


def qkq_abs_per_example(model, task):
    def row(q, k, news, sc, mask, g):
        return ((pattern(news[0], k, sc, mask) - pattern(q, k, sc, mask)) * g).sum(-1).abs().mean(0)

    return _qk_loop(model, task, row)


def qkq_grads_times_B(model, task):
    def row(q, k, news, sc, mask, g):
        return ((pattern(news[0], k, sc, mask) - pattern(q, k, sc, mask)) * g * task.batch_size).sum(-1).mean(0)

    return _qk_loop(model, task, row)


# ------------------------------------------------------------------ check_qk_fix_keys


def _keys(model, task, patch, scale=None, axis=-1):
    """Key loop; ``patch(k2, k_new, s)`` writes the corrupt key(s) into the clone ``k2``."""
    def row(q, k, news, sc, mask, g):
        sc = scale or sc
        A = pattern(q, k, sc, mask, axis)
        out = torch.zeros(q.shape[2], q.shape[1])
        for s in range(q.shape[1]):
            k2 = k.clone()
            patch(k2, news[1], s)
            out[:, s] = ((pattern(q, k2, sc, mask, axis) - A) * g).sum((-1, -2)).mean(0)
        return out

    return _qk_loop(model, task, row)


def _put_key(k2, k_new, s):
    k2[:, s] = k_new[:, s]


def qkk_batch_axis_indexed(model, task):
    # k2[s] = k_corrupt[s]: the batch axis indexed with the key position
    def patch(k2, k_new, s):
        k2[s] = k_new[s]

    return _keys(model, task, patch)


def qkk_softmax_query_axis(model, task):
    return _keys(model, task, _put_key, axis=-2)


def qkk_change_summed_before_grad(model, task):
    # (A2 - A).sum(-1) taken before the product with the gradient: each row of a softmax sums to one
    def row(q, k, news, sc, mask, g):
        A = pattern(q, k, sc, mask)
        out = torch.zeros(q.shape[2], q.shape[1])
        for s in range(q.shape[1]):
            k2 = k.clone()
            k2[:, s] = news[1][:, s]
            dA = (pattern(q, k2, sc, mask) - A).sum(-1, keepdim=True)
            out[:, s] = (dA * g).sum((-1, -2)).mean(0)
        return out

    return _qk_loop(model, task, row)


def qkk_batch_mean_corrupt_key(model, task):
    def patch(k2, k_new, s):
        k2[:, s] = k_new[:, s].mean(0, keepdim=True)

    return _keys(model, task, patch)


def qkk_scale_sqrt_d_model(model, task):
    return _keys(model, task, _put_key, scale=model.cfg.d_model ** 0.5)


# ------------------------------------------------------------------ check_graddrop


def _graddrop_passes(model, task, extra_undropped=False, key_by_hook_name=False, gate_names=None, n_passes=None):
    """Per-pass gradients at every hook_z (list of ``[L, B, pos, H, d_head]``) and the deltas.

    Pass ``i`` zeroes the gradient at the hooks ``gate_names(i)`` (default: layer i's two writes);
    ``extra_undropped`` prepends a pass that drops nothing."""
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    gate_names = gate_names or (lambda l: [f"blocks.{l}.hook_attn_out", f"blocks.{l}.hook_mlp_out"])
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"pass": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[hook.name if key_by_hook_name else n] = g.detach() * B

    def gate(g, hook, w=None):
        return torch.zeros_like(g) if drop["pass"] is not None and w in gate_names(drop["pass"]) else g

    writes = [f"blocks.{l}.hook_{w}_out" for l in range(L) for w in ("attn", "mlp")]
    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: save(t, hook, n)) for n in names]
    bwd = [(n, lambda g, hook, n=n: grab(g, hook, n)) for n in names]
    bwd += [(w, lambda g, hook, w=w: gate(g, hook, w)) for w in writes]
    passes = ([None] if extra_undropped else []) + list(range(n_passes or L))
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for i in passes:
            drop["pass"] = i
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([grads.get(n, torch.zeros_like(acts[n])) for n in names]))
    deltas = torch.stack([corr[n] - acts[n] for n in names])  # [L, B, pos, H, d_head]
    return deltas, per_pass


def gd_mlp_gate_previous_layer(model, task):
    # pass l gates blocks.l.hook_attn_out and blocks.{l-1}.hook_mlp_out ("the MLP before the attention")
    L = model.cfg.n_layers
    d, gs = _graddrop_passes(model, task, gate_names=lambda l: [f"blocks.{l}.hook_attn_out",
                                                               f"blocks.{l - 1}.hook_mlp_out"])
    return sum((d * g).sum((2, 4)).abs() for g in gs).mean(1) / (L - 1)


def gd_attn_mlp_separate_passes(model, task):
    # 2L passes: the attention write and the MLP write of each layer dropped in passes of their own
    L = model.cfg.n_layers
    gates = [[f"blocks.{l}.hook_{w}_out"] for l in range(L) for w in ("attn", "mlp")]
    d, gs = _graddrop_passes(model, task, gate_names=lambda i: gates[i], n_passes=2 * L)
    return sum((d * g).sum((2, 4)).abs() for g in gs).mean(1) / (L - 1)


def gd_no_batch_mean(model, task):
    L = model.cfg.n_layers
    d, gs = _graddrop_passes(model, task)
    return (sum((d * g).sum((2, 4)).abs() for g in gs) / (L - 1)).transpose(0, 1)




def gd_grads_keyed_hook_name(model, task):
    # grads[hook.name] = ...: TransformerLens 4 reports the bridge's name, so no gradient is found
    L = model.cfg.n_layers
    d, gs = _graddrop_passes(model, task, key_by_hook_name=True)
    return sum((d * g).sum((2, 4)).abs() for g in gs).mean(1) / (L - 1)




def gd_removed_part(model, task):
    # each pass scored with what the gate removed (undropped gradient minus the dropped one)
    L = model.cfg.n_layers
    d, gs = _graddrop_passes(model, task, extra_undropped=True)
    full = gs[0]
    return sum((d * (full - g)).sum((2, 4)).abs() for g in gs[1:]).mean(1) / (L - 1)


# ------------------------------------------------------------------ check_eap


def _eap_finish(graph, deltas, dgrads, B, mask=True):
    scores = torch.einsum("sbpd,tbpd->st", deltas, dgrads) / B
    return scores * graph.edge_mask if mask else scores


def eap_mask_inverted(model, task):
    # scores.masked_fill(graph.edge_mask, 0): masked_fill fills where the mask is True (the real edges)
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores.masked_fill(graph.edge_mask, 0.0)


def eap_unit_delta(model, task):
    # each source's delta divided by its norm (direction only) before the dot product
    graph, corr, clean, grads = eap_parts(model, task)
    d = graph.stack_sources(corr) - graph.stack_sources(clean)
    d = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return _eap_finish(graph, d, graph.stack_dest_grads(grads), task.batch_size)


def eap_d_model_unpaired(model, task):
    # einsum "sbpd,tbpe->st": d_model summed separately in each factor, no dot product
    graph, corr, clean, grads = eap_parts(model, task)
    d = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpe->st", d, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_abs_delta(model, task):
    # |z(corrupt) - z(clean)|: the size of the change, its direction dropped
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = (graph.stack_sources(corr) - graph.stack_sources(clean)).abs()
    return _eap_finish(graph, deltas, graph.stack_dest_grads(grads), task.batch_size)


def eap_squared(model, task):
    graph, corr, clean, grads = eap_parts(model, task)
    d = graph.stack_sources(corr) - graph.stack_sources(clean)
    return _eap_finish(graph, d, graph.stack_dest_grads(grads), task.batch_size) ** 2


# ------------------------------------------------------------------ check_eap_ig


def _ig(model, task, steps, target_fn=None, hook_name="hook_embed", bwd=False, grad_div=1, mask=True):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = (target_fn or (lambda a: e_n + a * (e_c - e_n)))(k / steps)

        def hook(t, hook, target=target):
            return t + (target - t).detach()

        kw = {"extra_bwd_hooks": [(hook_name, hook)]} if bwd else {"extra_fwd_hooks": [(hook_name, hook)]}
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), **kw)
        total = total + graph.stack_dest_grads(grads) / grad_div
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask if mask else scores


def eapig_random_alphas(model, task, steps):
    # alphas drawn with torch.rand (expected-gradients style) instead of the grid k/m
    alphas = iter(torch.rand(steps).tolist())
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    _, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    return _ig(model, task, steps, target_fn=lambda a: e_n + next(alphas) * (e_c - e_n))


def eapig_hook_as_bwd_hook(model, task, steps):
    # the straight-through hook passed as extra_bwd_hooks: the forward is never interpolated
    return _ig(model, task, steps, bwd=True)


def eapig_grads_divided_by_B(model, task, steps):
    # the per-example gradients divided by B again, as if they were the batch sum's
    return _ig(model, task, steps, grad_div=task.batch_size)


def eapig_pos_embed_hooked(model, task, steps):
    # the interpolated token embedding written into hook_pos_embed instead of hook_embed
    return _ig(model, task, steps, hook_name="hook_pos_embed")


def eapig_example0_path(model, task, steps):
    # target built from e_clean[0] / e_corrupt[0]: every prompt pair walks example 0's path
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    _, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"][0], n["hook_embed"][0]
    return _ig(model, task, steps, target_fn=lambda a: (e_n + a * (e_c - e_n)).expand_as(c["hook_embed"]))


# ------------------------------------------------------------------ check_gradpath


def _gp(model, task, steps, step_size, dist, start_hook=LEAF_HOOK, norm_by_dist=False, p=2, norm_fn=None):
    """GradPath with a custom ``dist(leaf) -> [B]``; points in ``start_hook``'s space."""
    _, c = cache_activations(model, task.clean, [start_hook])
    _, n = cache_activations(model, task.corrupt, [start_hook])
    e_c, e_n = c[start_hook], n[start_hook]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            d = dist(leaf)
            (g,) = torch.autograd.grad(d.sum(), leaf)
            nrm = d.detach() if norm_by_dist else g.flatten(1).norm(p=p, dim=1)
            nrm = norm_fn(g) if norm_fn else nrm
            gamma = (leaf - eta * g / nrm.clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def _logits_with(model, task, hook_name, fn):
    with model.hooks(fwd_hooks=[(hook_name, fn)]):
        return model(task.clean)


def gp_cosine_distance(model, task, steps, step_size="unit"):
    # 1 - cos(G(gamma), G(e_corrupt)) per position instead of the squared L2 distance
    with torch.no_grad():
        target = model(task.corrupt)

    def dist(leaf):
        got = _logits_with(model, task, LEAF_HOOK, lambda t, hook: leaf)
        return (1 - torch.nn.functional.cosine_similarity(got, target, dim=-1)).sum(1)

    return _gp(model, task, steps, step_size, dist)


def gp_rms_normalised(model, task, steps, step_size="unit"):
    # g / g.pow(2).mean().sqrt(): divided by the RMS (mean of squares), not the norm (sum of squares)
    target, _ = cache_activations(model, task.corrupt, [])
    return _gp(model, task, steps, step_size, lambda leaf: output_distance(model, task.clean, leaf, target),
               norm_fn=lambda g: g.flatten(1).pow(2).mean(1).sqrt())


def gp_hook_adds_point(model, task, steps, step_size="unit"):
    # the hook returns t + gamma: the point is added to the clean embedding instead of replacing it
    with torch.no_grad():
        target = model(task.corrupt)

    def dist(leaf):
        return ((_logits_with(model, task, LEAF_HOOK, lambda t, hook: t + leaf) - target) ** 2).flatten(1).sum(1)

    return _gp(model, task, steps, step_size, dist)


def gp_divided_by_distance(model, task, steps, step_size="unit"):
    # the step divides by the output distance instead of the gradient's norm
    target, _ = cache_activations(model, task.corrupt, [])
    return _gp(model, task, steps, step_size, lambda leaf: output_distance(model, task.clean, leaf, target),
               norm_by_dist=True)


def gp_final_residual_distance(model, task, steps, step_size="unit"):
    # G read as the final residual stream (blocks.-1.hook_resid_post), not the logits
    hook = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    _, n = cache_activations(model, task.corrupt, [hook])

    def dist(leaf):
        got = {}
        with model.hooks(fwd_hooks=[(LEAF_HOOK, lambda t, hook: leaf),
                                    (hook, lambda t, hook: got.setdefault("r", t))]):
            model(task.clean)
        return ((got["r"] - n[hook]) ** 2).flatten(1).sum(1)

    return _gp(model, task, steps, step_size, dist)


# ------------------------------------------------------------------ check_verify_top


def _kind(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def _patch_group(model, task, what, group):
    if what == "edge":
        return wb.patch_edges(model, task, edges=group)
    return wb.patch_nodes(model, task, what, nodes=group)


def vt_top_tuples(model, task, scores, k=5):
    # scores.top(k) returns (name, value) pairs, used as if they were names
    names = scores.top(k)
    effects = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        res = _patch_group(model, task, what, group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_top_by_exact(model, task, scores, k=5):
    # every component of the estimate patched, the k largest |exact| effects returned: estimate ignored
    names = list(scores.names)
    effects = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        res = _patch_group(model, task, what, group)
        effects.update({n: float(res[n]) for n in group})
    top = sorted(names, key=lambda n: -abs(effects[n]))[:k]
    return wb.Scores(top, torch.tensor([effects[n] for n in top]), method="activation patching", kind=scores.kind)


def vt_k_nodes_as_q(model, task, scores, k=5):
    # kind(): name.endswith((".q", ".k")) -> "q", so key nodes are patched as queries
    names = scores.order(absolute=True)[:k]

    def kind(n):
        return "q" if n.endswith((".q", ".k")) and "->" not in n else _kind(n)

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = _patch_group(model, task, what, [g.replace(".k", ".q") for g in group])
        effects.update({n: float(res[g]) for n, g in zip(group, [g.replace(".k", ".q") for g in group])})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_return_inside_loop(model, task, scores, k=5):
    # the return statement indented into the loop: only the first kind's group is verified
    names = scores.order(absolute=True)[:k]
    effects = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        res = _patch_group(model, task, what, group)
        effects.update({n: float(res[n]) for n in group})
        done = [n for n in names if n in effects]
        return wb.Scores(done, torch.tensor([effects[n] for n in done]), method="activation patching", kind=scores.kind)


def vt_edges_to_patch_nodes(model, task, scores, k=5):
    # edge names sent to wb.patch_nodes(model, task, "edge", ...) like every other kind
    names = scores.order(absolute=True)[:k]
    effects = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_patch_heads", "clean batch-mean ablation, no corrupt values",
     r"(?i)clean (activations? )?(batch[- ])?mean|(mean|averag\w*) of the clean|(batch[- ]mean|"
     r"averag\w* over (the )?(batch|examples|prompt pairs)) of (the )?clean",
     ph_clean_mean_ablation),
    ("check_patch_heads", "hook_attn_out channel h patched as head h",
     r"(?i)hook_attn_out|attn_out|d_model (channel|coordinate|dimension)|channel h\b|"
     r"residual[- ]stream (channel|coordinate)",
     ph_attn_out_channel),
    ("check_patch_heads", "per-example effects, no batch mean: [L, H, B]",
     r"(?i)no (batch[- ]?)?mean|not averaged over (the )?(batch|examples|prompt pairs)|"
     r"per[- ]example (effects|values|metrics?)|\[L, H, B\]|extra (batch )?(axis|dimension)|"
     r"batch (axis|dimension) (kept|left)",
     ph_per_example_effects),
    ("check_patch_heads", "every head of the layer but h patched",
     r"(?i)(every|all|the other) heads? (of the layer )?(but|except)|complement|"
     r"all but (head )?h\b|leave[- ]one[- ]in|other heads (patched|replaced)",
     ph_every_head_but_h),
    ("check_patch_heads", "out[l] = effect: row holds the last head's effect",
     r"(?i)out\[l\]|whole row|row (is |was )?overwritten|same value (for|in|across) every head|"
     r"last head'?s effect|constant (across|over) (the )?heads|every head of (a|the) layer (gets|"
     r"has|holds|shows) the same",
     ph_row_overwritten),
    ("check_atp_heads", "activations and gradients unpacked swapped",
     r"(?i)wrong way round|unpack\w*|(activations? and gradients?|"
     r"gradients? and activations?) (are |were )?(mixed up|exchanged|swapped|confused)|"
     r"gradients? (used )?as (the )?activations?",
     atp_acts_grads_swapped),
    ("check_atp_heads", "hook_z read as [batch, head, pos, d_head]",
     r"(?i)\[batch, head, pos|head axis (at|on|is|as) (dim(ension)? )?1|layout of hook_z|"
     r"positions? (kept|left|not summed)|"
     r"sum\w* over (the )?heads? (and d_head )?instead of (the )?positions",
     atp_head_axis_dim1),
    ("check_atp_heads", "AtP divided by the clean-corrupt gap",
     r"(?i)(divided|normali[sz]ed|scaled) by (the )?(clean[- ]corrupt |metric )?(gap|difference)|"
     r"M\(clean\) ?- ?M\(corrupt\)|recovered fraction|fraction of the gap",
     atp_divided_by_gap),
    ("check_atp_heads", "delta against the batch-mean corrupt activation",
     r"(?i)(batch[- ]mean(ed)?|mean over (the )?(batch|examples|prompt pairs)|"
     r"averag\w* over (the )?(batch|examples|prompt pairs)|mean[- ]ablat) (of )?(the )?corrupt|"
     r"corrupt (activations? |values? )?(averaged|mean(ed)?) over|mean corrupt",
     atp_corrupt_batch_mean),
    ("check_atp_heads", "mean over layers instead of the batch",
     r"(?i)(mean|averag\w*) over (the )?layers|layers? (were |are )?(averaged|meaned|collapsed)|"
     r"\.mean\(0\) after (the )?stack|averag\w* the layers",
     atp_mean_over_layers),
    ("check_qk_fix_queries", "queries used as the keys (einsum(q, q))",
     r"(?i)quer(y|ies) (used )?as (the )?keys?|q ?[·.@,] ?q\b|einsum\(.{0,20}q, ?q|keys? (replaced|"
     r"swapped) (by|with|for) (the )?quer|hook_q (read|used) (for|as) (the )?keys?",
     qkq_queries_as_keys),
    ("check_qk_fix_queries", "softmax over the head axis",
     r"(?i)softmax (over|along|across) (the )?heads?|head (axis|dim)|softmax\(1\)|dim ?= ?1\b",
     qkq_softmax_head_axis),
    ("check_qk_fix_queries", "only the diagonal entry A[t, t]",
     r"(?i)diagonal|only (the )?(entry|key) s ?= ?t|A\[t, ?t\]|only (its|the query's) own (key|"
     r"position)|only key t\b",
     qkq_diagonal_only),
    ("check_qk_fix_queries", "|estimate| per example before the batch mean",
     r"(?i)abs(olute value)? (of|per|before)|\|QK[- ]?fix\||sign(s)? (is |are |was )?(lost|dropped|"
     r"discarded)|(always|all) non-?negative|magnitudes? (instead of|not) (the )?signed",
     qkq_abs_per_example),
    ("check_qk_fix_queries", "pattern gradients multiplied by B again",
     r"(?i)(times|multipl\w* by|scaled by) B\b|B times too (large|big)|already per[- ]example|"
     r"1/B (is )?already undone|factor (of )?B\b|batch size (twice|again)",
     qkq_grads_times_B),
    ("check_qk_fix_keys", "k2[s]: batch axis indexed with the key position",
     r"(?i)batch (axis|dim\w*|index)|k2\[s\]|indexe?s? (the )?batch|whole example|first (axis|"
     r"index) is (the )?batch",
     qkk_batch_axis_indexed),
    ("check_qk_fix_keys", "softmax over the query axis",
     r"(?i)softmax (over|along|across) (the )?(quer\w*|rows?|t\b)|query axis|dim ?= ?-2|"
     r"columns? (sum|normali[sz]\w*) to (one|1)",
     qkk_softmax_query_axis),
    ("check_qk_fix_keys", "pattern change summed over keys before the gradient product",
     r"(?i)(summed|sum) over (the )?keys (before|first)|rows? (of a softmax )?sums? to (one|1)|"
     r"(A2? ?- ?A|pattern change)\S* (is )?summed before|sum\(-1\) before",
     qkk_change_summed_before_grad),
    ("check_qk_fix_keys", "batch-mean corrupt key",
     r"(?i)(batch[- ]mean(ed)?|mean over (the )?(batch|examples|prompt pairs)|"
     r"averag\w* over (the )?(batch|examples|prompt pairs)|mean[- ]ablat) (of )?(the )?corrupt key|"
     r"corrupt keys? (averaged|mean(ed)?)|mean corrupt key",
     qkk_batch_mean_corrupt_key),
    ("check_qk_fix_keys", "score scale sqrt(d_model)",
     r"(?i)d_model|sqrt\(d_model\)|√d_model|wrong (score )?scale|scale (is|of) (the )?(model|"
     r"residual) width",
     qkk_scale_sqrt_d_model),
    ("check_graddrop", "pass l gates layer l's attention and layer l-1's MLP",
     r"(?i)(layer )?l ?- ?1'?s? MLP|MLP (of|from) the (previous|wrong|earlier) layer|(attention|"
     r"attn) and MLP (of|from) different layers|MLP (index|layer) (off by one|shifted)",
     gd_mlp_gate_previous_layer),
    ("check_graddrop", "attention and MLP writes dropped in separate passes (2L)",
     r"(?i)separate passes|2 ?L passes|(attention|attn) and (the )?MLP (writes? )?(dropped|"
     r"gated) (separately|one at a time|in (different|separate) passes)|one pass (per|"
     r"for each) write|twice as many passes",
     gd_attn_mlp_separate_passes),
    ("check_graddrop", "gradients keyed by hook.name",
     r"(?i)hook\.name|alias|keyed by|registered name|bridge'?s? (own )?name|KeyError",
     gd_grads_keyed_hook_name),
    ("check_graddrop", "no mean over prompt pairs: [B, L, H]",
     r"(?i)no (batch[- ]?)?mean|not averaged over (the )?(batch|examples|prompt pairs)|\[B, L, H\]|"
     r"extra (batch )?(axis|dimension)|per[- ]example (scores|values)|batch (axis|dimension) (kept|"
     r"left)",
     gd_no_batch_mean),
    ("check_graddrop", "removed part of the gradient (g - g_dropped)",
     r"(?i)g ?- ?g|difference (of|between) (the )?(full|undropped|plain) (gradient|pass)|"
     r"removed part|what (the )?(drop|gate) removes|undropped (gradient|pass) minus|(full|plain|"
     r"undropped) minus (the )?dropped",
     gd_removed_part),
    ("check_eap", "masked_fill(edge_mask, 0): real edges zeroed",
     r"(?i)masked_fill|mask (is |was )?inverted|inverted (edge_?)?mask|~ ?(graph\.)?edge_mask|"
     r"(negat|invert)\w* (the )?(edge_?)?mask|zero(es|ed)? (the )?(real|actual|true|valid) edges|"
     r"only (the )?non-?edges",
     eap_mask_inverted),
    ("check_eap", "delta normalised to unit length",
     r"(?i)(delta|change|difference)s? (is |are |was |were )?normali[sz]ed|unit (length|norm|"
     r"vector)|direction only|divided by (its|the delta'?s?) norm|(magnitude|size) of the (delta|"
     r"change) (lost|dropped|discarded)",
     eap_unit_delta),
    ("check_eap", "d_model not contracted as a dot product (einsum sbpd,tbpe)",
     r"(?i)d_model (is |was )?(not |un)(paired|contracted|matched)|no dot product|"
     r"not a dot product|sbpd,tbpe|(sum of|summed) (the )?(delta|gradient) (components|coordinates|"
     r"entries)|product of (the )?sums",
     eap_d_model_unpaired),
    ("check_eap", "|delta|: absolute source change",
     r"(?i)\|(Δ|delta|z_?u?\(?corrupt\)? ?- ?z)|abs(olute value)? of (the )?(delta|change|"
     r"difference|source change)|delta'?s? sign|abs\(\) on (the )?delta",
     eap_abs_delta),
    ("check_eap", "squared EAP (delta . grad)^2",
     r"(?i)squar\w*|\*\* ?2|\^ ?2|²",
     eap_squared),
    ("check_eap_ig", "random alphas instead of k/m",
     r"(?i)random|torch\.rand|stochastic|monte[- ]carlo|sampled alphas?|non-?determinis\w*|"
     r"not reproducible",
     eapig_random_alphas),
    ("check_eap_ig", "straight-through hook passed as extra_bwd_hooks",
     r"(?i)backward hook|bwd_hooks|extra_bwd|never (applied|interpolated)|not (applied|"
     r"replaced) in the forward",
     eapig_hook_as_bwd_hook),
    ("check_eap_ig", "gradients divided by B again",
     r"(?i)divided by B (again|twice)|(B|batch size) (twice|two times)|1/B (applied )?(twice|"
     r"again)|already per[- ]example|B times too small",
     eapig_grads_divided_by_B),
    ("check_eap_ig", "interpolation written into hook_pos_embed",
     r"(?i)hook_pos_embed|pos(itional)?[_ ]embed\w*|position embedding",
     eapig_pos_embed_hooked),
    ("check_eap_ig", "every prompt pair walks example 0's path",
     r"(?i)(example|prompt( pair)?|row) 0'?s? (path|embedding|points?)|first (example|"
     r"prompt( pair)?)'?s? (path|embedding|points?)|every (example|prompt pair) (walks|follows|"
     r"uses) the same|e_(clean|corrupt)\[0\]",
     eapig_example0_path),
    ("check_gradpath", "cosine distance instead of squared L2",
     r"(?i)cosine|cos\b|angle|direction(al)? (similarity|distance)|normali[sz]ed logits",
     gp_cosine_distance),
    ("check_gradpath", "gradient divided by its RMS, not its norm",
     r"(?i)\bRMS\b|root[- ]mean[- ]square|mean of (the )?squares|\.mean\(\)\.sqrt|sqrt\(n",
     gp_rms_normalised),
    ("check_gradpath", "hook adds the point to the embedding",
     r"(?i)add(s|ed)? (the )?(point|leaf|gamma)|t ?\+ ?(leaf|gamma|embed)|(embedding )?(counted|"
     r"added) twice|instead of replac\w*|not replaced",
     gp_hook_adds_point),
    ("check_gradpath", "step divided by the output distance",
     r"(?i)divided by (the )?(output )?distance|distance (used )?as (the )?(norm|normali[sz]er)|"
     r"normali[sz]ed by (the )?distance|not (by )?(the )?gradient'?s? norm",
     gp_divided_by_distance),
    ("check_gradpath", "distance on the final residual stream, not the logits",
     r"(?i)resid(ual)?[_ ](post|stream)|final residual|hook_resid_post|before the unembed\w*|"
     r"hidden state",
     gp_final_residual_distance),
    ("check_verify_top", "(name, value) tuples from top(k) used as names",
     r"(?i)tuples?|\(name, ?value\)|pairs? (of )?\(?name",
     vt_top_tuples),
    ("check_verify_top", "top k chosen by exact effect, estimate ignored",
     r"(?i)(ranked|chosen|picked|selected|top[- ]k) by (the )?(exact|true|patched) effects?|"
     r"estimate'?s? (ranking|order) (is |was )?(ignored|not used)|ignor\w* the estimate|"
     r"true top[- ]k|not the estimate'?s top",
     vt_top_by_exact),
    ("check_verify_top", ".k nodes patched as queries",
     r"(?i)(\.k|key) (nodes? )?(patched|treated|verified) as (\.q|quer\w*)|keys? as quer\w*|"
     r"q and k (mixed|swapped|conflated|grouped together)",
     vt_k_nodes_as_q),
    ("check_verify_top", "return inside the loop: only the first kind verified",
     r"(?i)return\w* inside the loop|only (the )?first (kind|group)|(early|premature) return|"
     r"indent\w*|(other|later|remaining) (kinds|groups) (missing|never patched|left out)",
     vt_return_inside_loop),
    ("check_verify_top", "edge names passed to patch_nodes",
     r"(?i)edges? (names? )?(passed|sent|given) to patch_nodes|patch_nodes (with|for|"
     r"on) (an? )?edges?|edges? (must|should) go to patch_edges|not patch_edges",
     vt_edges_to_patch_nodes),
]
