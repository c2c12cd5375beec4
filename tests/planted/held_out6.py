"""Held-out set #6, written blind (the writer never read the checks or their messages) on 2026-12-06;
measured once, unseen.

Each entry is ``(check name, mistake id, expected cause regex, wrong function)``; the regex was
written before any check ran on it. Every function was run next to the chapter's own solution on
the chapter's own model and task (ch00: zoo ``induction`` n=16 seed 0; ch01: ``saturation.build()``;
ch02: ``cancellation.build()``; ch03: ``flat_region``; ch04: ``path_saturation`` with 5 unit steps
and 5 scaled steps; ch05: zoo ``mixture`` on ``ioi`` n=8 seed 0, with AtP node scores, QK-fix q/k
scores and EAP-IG edge scores, k=3 and k=7) and the largest absolute difference printed; a mistake
whose difference was under ~1 % of the correct result's scale was dropped and replaced. One kept
case is small on one setting: ``gp_descends_the_metric`` moves the unit-step path by 0.073 (1.5 % of
the 5-unit walk, 0.1 % of the largest coordinate) but by 6.7 with scaled steps (9.5 %).
"""

import math

import torch

import workbook as wb
from tests.planted._base import eap_parts, zs
from workbook.arch.graph import Graph, parse_node
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params
from workbook.patching.edges import edge_patched_metric


# ---------------------------------------------------------------- ch00 patch_heads
def _patch(model, task, hook="z", edit=None, metric=None):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_{hook}" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    metric = metric or task.metric_value
    with torch.no_grad():
        base = metric(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                return edit(act, corr[names[l]], h)

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = metric(model(task.clean)) - base
    return out


def _replace(act, corr, h):
    act = act.clone()
    act[:, h] = corr[:, h]
    return act


# patches the head's attention pattern (hook_pattern) instead of its output hook_z
def ph_pattern_patched(model, task):
    return _patch(model, task, hook="pattern", edit=_replace)


# reads the answer's logit alone instead of the task metric (the logit difference)
def ph_answer_logit_metric(model, task):
    def answer_logit(logits):
        return logits[torch.arange(task.batch_size), task.pos, task.answer].mean()

    def edit(act, corr, h):
        act = act.clone()
        act[:, :, h] = corr[:, :, h]
        return act

    return _patch(model, task, edit=edit, metric=answer_logit)


# writes the FIRST corrupt prompt's head output into every example of the batch
def ph_first_corrupt_example_everywhere(model, task):
    def edit(act, corr, h):
        act = act.clone()
        act[:, :, h] = corr[0, :, h]
        return act

    return _patch(model, task, edit=edit)


# patches only the positions where the clean and corrupt tokens differ
def ph_changed_positions_only(model, task):
    changed = (task.clean != task.corrupt)

    def edit(act, corr, h):
        act = act.clone()
        sel = changed.to(act.device)[..., None]
        act[:, :, h] = torch.where(sel, corr[:, :, h], act[:, :, h])
        return act

    return _patch(model, task, edit=edit)


# the hook edits a clone but never returns it, so nothing is patched
def ph_hook_returns_nothing(model, task):
    def edit(act, corr, h):
        act = act.clone()
        act[:, :, h] = corr[:, :, h]

    return _patch(model, task, edit=edit)


# writes the difference corrupt - clean into the head instead of the corrupt value
def ph_writes_delta(model, task):
    def edit(act, corr, h):
        act = act.clone()
        act[:, :, h] = corr[:, :, h] - act[:, :, h]
        return act

    return _patch(model, task, edit=edit)


# ---------------------------------------------------------------- ch00 atp_heads
# denoising AtP: gradient of the corrupt run and delta clean - corrupt
def atp_denoising(model, task):
    names = zs(model)
    _, clean = cache_activations(model, task.clean, names)
    _, corr, grads = cache_activations_and_grads(model, task, names, names, tokens=task.corrupt)
    return torch.stack([((clean[n] - corr[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


# attributes to the attention pattern (hook_pattern) instead of the head output hook_z
def atp_pattern_node(model, task):
    names = [f"blocks.{l}.attn.hook_pattern" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((2, 3)).mean(0) for n in names])


# uses layer 0's delta with every layer's gradient (a stale loop variable)
def atp_layer0_delta_everywhere(model, task):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    delta = corr[names[0]] - clean[names[0]]
    return torch.stack([(delta * grads[n]).sum((1, 3)).mean(0) for n in names])


# returns a dict {"L0H0": value, ...} instead of the [n_layers, n_heads] tensor
def atp_returns_dict(model, task):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    out = torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])
    return {f"L{l}H{h}": float(out[l, h]) for l in range(out.shape[0]) for h in range(out.shape[1])}


# averages the clean-run and corrupt-run gradients (a trapezoid) instead of the clean gradient
def atp_mean_of_clean_and_corrupt_grads(model, task):
    names = zs(model)
    _, clean, g_clean = cache_activations_and_grads(model, task, names, names)
    _, corr, g_corr = cache_activations_and_grads(model, task, names, names, tokens=task.corrupt)
    return torch.stack([((corr[n] - clean[n]) * 0.5 * (g_clean[n] + g_corr[n])).sum((1, 3)).mean(0)
                        for n in names])


# ---------------------------------------------------------------- ch01 qk_fix (queries and keys)
def _qk(model, task, grad_hook="pattern", tokens=None):
    L = model.cfg.n_layers
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    gn = [f"blocks.{l}.attn.hook_{grad_hook}" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    kw = {} if tokens is None else {"tokens": tokens}
    _, clean, grads = cache_activations_and_grads(model, task, qk, gn, **kw)
    return clean, corr, grads, gn


def _pat(q, k, sc, mask, fill=float("-inf"), heads=True):
    if heads:
        s = torch.einsum("bthd,bshd->bhts", q, k) / sc
    else:
        s = (torch.einsum("bthd,bshd->bts", q, k) / sc)[:, None]
    return s.masked_fill(~mask, fill).softmax(-1)


def _queries(model, task, fill=float("-inf"), heads=True, delta=False, scale=None, as_list=False, grad_scale=1.0):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = _qk(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        q_new = q_new - q if delta else q_new
        sc = scale(model, l) if scale else attn_scale(model, l)
        A = _pat(q, k, sc, mask, fill, heads)
        A_new = _pat(q_new, k, sc, mask, fill, heads)
        out.append(((A_new - A) * grads[pats[l]] * grad_scale).sum(-1).mean(0))
    return out if as_list else torch.stack(out)


# takes gradients of the batch-mean metric as they come (divided by B), not per example
def qkq_grads_divided_by_b(model, task):
    return _queries(model, task, grad_scale=1.0 / task.batch_size)


# the einsum drops the head index, so the scores are summed over heads
def qkq_scores_summed_over_heads(model, task):
    return _queries(model, task, heads=False)


# uses the query difference q_corrupt - q_clean as the patched query
def qkq_delta_as_query(model, task):
    return _queries(model, task, delta=True)


# divides the scores by sqrt(d_model) instead of the model's score scale sqrt(d_head)
def qkq_sqrt_d_model_scale(model, task):
    return _queries(model, task, scale=lambda m, l: math.sqrt(m.cfg.d_model))


# returns a Python list of per-layer [n_heads, seq] tensors, not one stacked tensor
def qkq_returns_list(model, task):
    return _queries(model, task, as_list=True)


def _keys(model, task, put, rows=None, clean_pair=None):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = clean_pair or _qk(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        kc = corr[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = _pat(q, k, sc, mask)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = put(k, kc, s)
            d = (_pat(q, k2, sc, mask) - A) * grads[pats[l]]
            if rows is not None:
                d = d[:, :, rows(s, T)]
            out[l, :, s] = d.sum((-1, -2)).mean(0)
    return out


# puts the key difference k_corrupt - k_clean at position s instead of the corrupt key
def qkk_delta_as_key(model, task):
    return _keys(model, task, lambda k, kc, s: kc[:, s] - k[:, s])


# writes the FIRST corrupt prompt's key into every example of the batch
def qkk_first_corrupt_example_everywhere(model, task):
    return _keys(model, task, lambda k, kc, s: kc[0, s])


# sums only the rows t > s, leaving out the query row t = s that also sees key s
def qkk_rows_after_s_only(model, task):
    return _keys(model, task, lambda k, kc, s: kc[:, s], rows=lambda s, T: slice(s + 1, T))


# sums the key's estimate over heads as well, giving every head of the layer the same number
def qkk_summed_over_heads(model, task):
    out = _keys(model, task, lambda k, kc, s: kc[:, s])
    return out.sum(1, keepdim=True).expand_as(out).clone()


# denoising: patches the clean key into the corrupt run, with the corrupt run's gradients
def qkk_denoising(model, task):
    L = model.cfg.n_layers
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, clean = cache_activations(model, task.clean, qk)
    _, corr, grads = cache_activations_and_grads(model, task, qk, pats, tokens=task.corrupt)
    return _keys(model, task, lambda k, kc, s: kc[:, s], clean_pair=(corr, clean, grads, pats))


# ---------------------------------------------------------------- ch02 graddrop
def _graddrop(model, task, passes=None, gated=None, reduce="example", fixed_drop=False, delta=True):
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}
    gated = gated or (lambda d, l: d == l)

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if gated(drop["layer"], l) else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: save(t, hook, n)) for n in names]
    bwd = [(n, lambda g, hook, n=n: grab(g, hook, n)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l))
            for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        drop["layer"] = 0
        for l in range(L - 1 if passes == "short" else L):
            if not fixed_drop:
                drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n] if delta else acts[n])
                                          * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3)) for n in names], 1))
    est = torch.stack(per_pass)  # [passes, B, L, H]
    if reduce == "square":
        return (est.square().sum(0) / (L - 1)).mean(0)
    return (est.abs().sum(0) / (L - 1)).mean(0)


# the pass loop runs range(L - 1), so the last layer is never dropped
def gd_last_layer_never_dropped(model, task):
    return _graddrop(model, task, passes="short")


# multiplies the gradient by the clean activation, with no corrupt - clean delta
def gd_clean_activation_no_delta(model, task):
    return _graddrop(model, task, delta=False)


# pass l cuts layer l AND every later layer
def gd_drops_layer_and_all_later(model, task):
    return _graddrop(model, task, gated=lambda d, l: l >= d)


# the dropped layer is set once before the loop and never updated, so every pass drops layer 0
def gd_drop_layer_never_updated(model, task):
    return _graddrop(model, task, fixed_drop=True)


# sums squared per-pass estimates instead of their absolute values
def gd_squares_not_abs(model, task):
    return _graddrop(model, task, reduce="square")


# ---------------------------------------------------------------- ch03 eap
def _eap(model, task, deltas_fn=None):
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = deltas_fn(graph, corr, clean) if deltas_fn else graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask, graph


# takes the logits' gradient after the final LayerNorm (ln_final.hook_normalized), not at resid_post
def eap_logits_grad_after_final_norm(model, task):
    graph = Graph.from_model(model)
    last = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    dests = [d for d in graph.dest_hooks if d != last] + ["ln_final.hook_normalized"]
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), dests)
    grads[last] = grads["ln_final.hook_normalized"]
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size * graph.edge_mask


# averages the destination gradients of the clean and the corrupt run instead of the clean run's alone
def eap_mean_of_clean_and_corrupt_grads(model, task):
    graph, corr, clean, grads = eap_parts(model, task)
    _, _, g_corr = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), tokens=task.corrupt)
    g = 0.5 * (graph.stack_dest_grads(grads) + graph.stack_dest_grads(g_corr))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return torch.einsum("sbpd,tbpd->st", deltas, g) / task.batch_size * graph.edge_mask


# an MLP source's delta is taken at its input hook_mlp_in instead of its output hook_mlp_out
def eap_mlp_delta_at_input(model, task):
    graph = Graph.from_model(model)
    L = model.cfg.n_layers
    ins = [f"blocks.{l}.hook_mlp_in" for l in range(L)]
    names = list(graph.source_hooks) + ins
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, list(graph.dest_hooks))
    for cache in (corr, clean):
        for l in range(L):
            cache[f"blocks.{l}.hook_mlp_out"] = cache[ins[l]]
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size * graph.edge_mask


# returns the tuple (scores, graph) instead of the score matrix alone
def eap_returns_scores_and_graph(model, task):
    scores, graph = _eap(model, task)
    return scores, graph


# clean source activation times the gradient, no corrupt - clean delta
def eap_clean_activation_times_grad(model, task):
    return _eap(model, task, deltas_fn=lambda g, corr, clean: g.stack_sources(clean))[0]


# ---------------------------------------------------------------- ch03 eap_ig
def _eap_ig(model, task, steps, alphas, divide=True, target_fn=None, point_delta=False, weights=None):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for i, a in enumerate(alphas):
        target = target_fn(e_c, e_n, a) if target_fn else e_n + a * (e_c - e_n)
        def hook(t, hook, target=target):
            return t + (target - t).detach()

        acts_names = names if point_delta else []
        _, at, grads = cache_activations_and_grads(model, task, acts_names, list(graph.dest_hooks),
                                                   extra_fwd_hooks=[("hook_embed", hook)])
        g = graph.stack_dest_grads(grads)
        if point_delta:
            total = total + torch.einsum("sbpd,tbpd->st", graph.stack_sources(corr) - graph.stack_sources(at), g)
        else:
            total = total + g * (weights[i] if weights else 1.0)
    if point_delta:
        return total / steps / task.batch_size * graph.edge_mask
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps if divide else total) / task.batch_size
    return scores * graph.edge_mask


# sums the gradients over the m points but never divides by m
def ig_not_divided_by_m(model, task, steps):
    return _eap_ig(model, task, steps, [k / steps for k in range(1, steps + 1)], divide=False)


# midpoint rule: alpha = (k - 1/2) / m instead of k / m
def ig_midpoint_alphas(model, task, steps):
    return _eap_ig(model, task, steps, [(k - 0.5) / steps for k in range(1, steps + 1)])


# loop range(1, steps): k = 1..m-1, the clean end point is never evaluated
def ig_loop_stops_before_m(model, task, steps):
    return _eap_ig(model, task, steps, [k / steps for k in range(1, steps)])


# the interpolation difference is reversed: e_corrupt + a (e_corrupt - e_clean) walks away from clean
def ig_extrapolates_past_corrupt(model, task, steps):
    return _eap_ig(model, task, steps, [k / steps for k in range(1, steps + 1)],
                   target_fn=lambda e_c, e_n, a: e_n + a * (e_n - e_c))


# the delta at each point is z(corrupt) - z(at that point), not z(corrupt) - z(clean)
def ig_delta_from_each_point(model, task, steps):
    return _eap_ig(model, task, steps, [k / steps for k in range(1, steps + 1)], point_delta=True)


# trapezoid rule: k = 0..m with the two end points weighted 1/2
def ig_trapezoid(model, task, steps):
    w = [0.5 if k in (0, steps) else 1.0 for k in range(steps + 1)]
    return _eap_ig(model, task, steps, [k / steps for k in range(steps + 1)], weights=w)


# ---------------------------------------------------------------- ch04 gradpath
def _walk(model, task, steps, step_size, direction):
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            gamma = direction(leaf, eta, e_c, e_n, target).detach()
            points.append(gamma)
    return torch.stack(points)


def _grad(model, task, leaf, target):
    (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
    return g


def _norm(g):
    return g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)


# divides the gradient by its squared norm instead of its norm
def gp_squared_norm(model, task, steps, step_size="unit"):
    def step(leaf, eta, e_c, e_n, target):
        g = _grad(model, task, leaf, target)
        return leaf - eta * g / _norm(g) ** 2

    return _walk(model, task, steps, step_size, step)


# every step starts again from e_clean instead of the current point
def gp_steps_from_start(model, task, steps, step_size="unit"):
    def step(leaf, eta, e_c, e_n, target):
        g = _grad(model, task, leaf, target)
        return e_c - eta * g / _norm(g)

    return _walk(model, task, steps, step_size, step)


# walks the straight line toward e_corrupt (unit direction), ignoring the gradient
def gp_straight_line_to_corrupt(model, task, steps, step_size="unit"):
    def step(leaf, eta, e_c, e_n, target):
        d = e_n - leaf.detach()
        return leaf + eta * d / _norm(d)

    return _walk(model, task, steps, step_size, step)


# descends the task metric (logit difference) instead of the distance to the corrupt logits
def gp_descends_the_metric(model, task, steps, step_size="unit"):
    def step(leaf, eta, e_c, e_n, target):
        with model.hooks(fwd_hooks=[(LEAF_HOOK, lambda t, hook: leaf.to(t.dtype))]):
            m = task.per_example(model(task.clean)).sum()
        (g,) = torch.autograd.grad(m, leaf)
        return leaf - eta * g / _norm(g)

    return _walk(model, task, steps, step_size, step)


# steps along the sign of the gradient (FGSM-style) instead of the normalised gradient
def gp_sign_of_gradient(model, task, steps, step_size="unit"):
    def step(leaf, eta, e_c, e_n, target):
        return leaf - eta * _grad(model, task, leaf, target).sign()

    return _walk(model, task, steps, step_size, step)


# ---------------------------------------------------------------- ch05 verify_top
def _kind(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def _exact(model, task, names, kind=_kind):
    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return torch.tensor([effects[n] for n in names])


# takes the first k names as stored, not the k largest by |score|
def vt_first_k_stored(model, task, scores, k=5):
    names = list(scores.names[:k])
    return wb.Scores(names, _exact(model, task, names), method="activation patching", kind=scores.kind)


# ignores the k argument and always verifies 5
def vt_k_hardcoded_5(model, task, scores, k=5):
    names = scores.order(absolute=True)[:5]
    return wb.Scores(names, _exact(model, task, names), method="activation patching", kind=scores.kind)


# returns the patched metric M(patched) without subtracting M(clean)
def vt_no_clean_baseline(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    clean_m, _ = task.baselines(model)
    return wb.Scores(names, _exact(model, task, names) + clean_m, method="activation patching", kind=scores.kind)


def _joint_metric(model, task, names):
    edges = [n for n in names if "->" in n]
    if edges:
        return edge_patched_metric(model, task, edges)
    hooks = {}
    for n in names:
        p = parse_node(n)
        l = p["layer"]
        hook = {"mlp": f"blocks.{l}.hook_mlp_out", "head": f"blocks.{l}.attn.hook_z",
                "q": f"blocks.{l}.attn.hook_q", "k": f"blocks.{l}.attn.hook_k"}[p["kind"]]
        hooks.setdefault(hook, []).append(p["head"])
    _, corr = cache_activations(model, task.corrupt, list(hooks))

    def put(act, hook, name=None):
        act = act.clone()
        for h in hooks[name]:
            if h is None:
                act[:] = corr[name]
            else:
                act[:, :, h] = corr[name][:, :, h]
        return act

    fwd = [(h, lambda a, hook, h=h: put(a, hook, h)) for h in hooks]
    with torch.no_grad(), model.hooks(fwd_hooks=fwd):
        return float(task.metric_value(model(task.clean)))


# patches the k components together in one run and gives every one the joint effect
def vt_joint_patch(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    clean_m, _ = task.baselines(model)
    joint = _joint_metric(model, task, names) - clean_m
    return wb.Scores(names, torch.full((len(names),), joint), method="activation patching", kind=scores.kind)


# returns every name of the estimate, with 0 for the ones not verified
def vt_all_names_zero_filled(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    exact = dict(zip(names, _exact(model, task, names).tolist()))
    return wb.Scores(list(scores.names), torch.tensor([exact.get(n, 0.0) for n in scores.names]),
                     method="activation patching", kind=scores.kind)


PATTERN = r"(?i)hook_pattern|attention pattern|attention (weights|probabilities)|pattern instead"
FIRST = (r"(?i)first (corrupt )?(prompt|example|pair)|example 0|prompt 0|broadcast|same corrupt (value|key|prompt)"
     r"|mix(es|ing|ed)?\b.{0,20}(examples|prompts|pairs)")

MISTAKES = [
    # ---- check_patch_heads
    ("check_patch_heads", "attention pattern patched, not hook_z", PATTERN, ph_pattern_patched),
    ("check_patch_heads", "answer logit instead of the task metric",
     r"(?i)task\.metric|task'?s metric|logit diff(erence)?|answer'?s? logit|metric_value|wrong token'?s? logit",
     ph_answer_logit_metric),
    ("check_patch_heads", "first corrupt prompt written into every example",
     FIRST, ph_first_corrupt_example_everywhere),
    ("check_patch_heads", "only the positions whose tokens differ",
     r"(?i)(every|all) positions|only (the |some )?positions|positions? where|changed (tokens?|positions?)"
     r"|tokens? (that )?differ", ph_changed_positions_only),
    ("check_patch_heads", "hook returns nothing",
     r"(?i)return(s|ed)? (nothing|none)|(not|never) return|hook.{0,40}return|nothing (is|was|gets) patched"
     r"|no patch|all zeros?|every effect is (zero|0)", ph_hook_returns_nothing),
    ("check_patch_heads", "delta written instead of the corrupt value",
     r"(?i)\bdelta\b|corrupt (minus|-) clean|instead of (the )?corrupt value"
     r"|replace[sd]? (it )?with the corrupt", ph_writes_delta),
    # ---- check_atp_heads
    ("check_atp_heads", "denoising AtP (corrupt gradient, clean - corrupt delta)",
     r"(?i)denois|gradient.{0,30}corrupt|corrupt run|corrupt (tokens|prompts)|clean - corrupt|clean minus corrupt",
     atp_denoising),
    ("check_atp_heads", "attention pattern node, not hook_z", PATTERN, atp_pattern_node),
    ("check_atp_heads", "layer 0's delta used for every layer",
     r"(?i)layer 0|first layer|same (layer'?s? )?delta|stale|loop variable|(wrong|another|other) layer'?s? "
     r"(delta|activation)|layers? (mixed|mismatch)", atp_layer0_delta_everywhere),
    ("check_atp_heads", "dict instead of a tensor",
     r"(?i)\bdict|mapping|torch\.Tensor|not a tensor|must return a tensor|return type", atp_returns_dict),
    ("check_atp_heads", "mean of clean and corrupt gradients",
     r"(?i)corrupt run|corrupt (tokens|prompts|point)|gradient.{0,30}(clean (run|point)|at the clean)|trapezoid"
     r"|averag\w* (the )?(two )?gradients|both runs", atp_mean_of_clean_and_corrupt_grads),
    # ---- check_qk_fix_queries
    ("check_qk_fix_queries", "gradients divided by B (batch-mean gradients)",
     r"(?i)\bB times|1/B|/ ?B\b|divided by (the )?batch|per.example|batch size|already per example",
     qkq_grads_divided_by_b),
    ("check_qk_fix_queries", "scores summed over heads in the einsum",
     r"(?i)heads? (are |is )?(summed|mixed|combined)|sum(s|med)? over (the )?heads|einsum|each head"
     r"|head (index|axis|dimension)|same for every head|across heads", qkq_scores_summed_over_heads),
    ("check_qk_fix_queries", "delta q_corrupt - q_clean used as the query",
     r"(?i)\bdelta\b|corrupt quer(y|ies)|q_corrupt|q\(corrupt\)|patched quer(y|ies)"
     r"|instead of the corrupt", qkq_delta_as_query),
    ("check_qk_fix_queries", "scale sqrt(d_model)",
     r"(?i)score scale|scal(e|ing) (of )?the scores|sqrt|d_head|d_model|attn_scale|temperature",
     qkq_sqrt_d_model_scale),
    ("check_qk_fix_queries", "returns a list of per-layer tensors",
     r"(?i)\blist\b|torch\.stack|not a tensor|must return a tensor|return type|stack(ed)?", qkq_returns_list),
    # ---- check_qk_fix_keys
    ("check_qk_fix_keys", "delta k_corrupt - k_clean used as the key",
     r"(?i)\bdelta\b|corrupt key|k_corrupt|k\(corrupt\)|patched key|instead of the corrupt",
     qkk_delta_as_key),
    ("check_qk_fix_keys", "first corrupt prompt's key in every example", FIRST, qkk_first_corrupt_example_everywhere),
    ("check_qk_fix_keys", "rows t > s only, diagonal row left out",
     r"(?i)diagonal|t ?= ?s|t ?>= ?s|row s\b|its own (row|position|query)|query (row|position) s\b|rows? t ?>",
     qkk_rows_after_s_only),
    ("check_qk_fix_keys", "summed over heads, same value for every head",
     r"(?i)heads? (are |is )?(summed|mixed|combined)|sum(s|med)? over (the )?heads|each head|per head"
     r"|same (value|number) for every head|across heads|head (axis|dimension)", qkk_summed_over_heads),
    ("check_qk_fix_keys", "denoising (clean key into the corrupt run)",
     r"(?i)denois|gradient.{0,30}corrupt|corrupt run|corrupt (tokens|prompts|quer(y|ies))|clean key",
     qkk_denoising),
    # ---- check_graddrop
    ("check_graddrop", "range(L - 1) passes, last layer never dropped",
     r"(?i)last layer|pass(es)? .{0,20}missing|missing pass|one pass (short|too few)|range\(L ?- ?1\)"
     r"|L ?- ?1 passes|fewer passes|one pass per layer", gd_last_layer_never_dropped),
    ("check_graddrop", "clean activation times gradient, no delta",
     r"(?i)\bdelta\b|corrupt - clean|corrupt minus clean|clean activation|activation .{0,20}instead",
     gd_clean_activation_no_delta),
    ("check_graddrop", "pass l drops layer l and every later layer",
     r"(?i)later layers|layers? (>|>=|above|after) l\b|only layer l|one layer (per|each) pass|all later"
     r"|downstream layers|more than one layer|several layers", gd_drops_layer_and_all_later),
    ("check_graddrop", "every pass drops layer 0",
     r"(?i)same layer|layer 0|never (changes|updated)|stale|drop\[|every pass drops"
     r"|each pass .{0,30}(different|its own) layer|one layer only", gd_drop_layer_never_updated),
    ("check_graddrop", "squared instead of abs",
     r"(?i)squar|absolute|\babs\b|magnitude", gd_squares_not_abs),
    # ---- check_eap
    ("check_eap", "clean activation times gradient, no delta",
     r"(?i)\bdelta\b|corrupt - clean|corrupt minus clean|clean activation|no corrupt|z_u\(corrupt\)",
     eap_clean_activation_times_grad),
    ("check_eap", "logits gradient after the final norm",
     r"(?i)final (layer ?)?norm|ln_final|hook_normalized|before the (final )?norm|resid_post|logits'? (gradient|input)"
     r"|into (the )?logits", eap_logits_grad_after_final_norm),
    ("check_eap", "mean of clean and corrupt gradients",
     r"(?i)corrupt run|corrupt (tokens|prompts|point)|gradient.{0,30}(clean (run|point)|at the clean)|trapezoid"
     r"|averag\w* (the )?(two )?gradients|both runs|integrat|EAP-IG", eap_mean_of_clean_and_corrupt_grads),
    ("check_eap", "MLP source delta at hook_mlp_in",
     r"(?i)hook_mlp_out|hook_mlp_in|mlp'?s? (output|input|write)|MLP sources?|from (the )?MLPs?"
     r"|source'?s? (write|output)", eap_mlp_delta_at_input),
    ("check_eap", "returns (scores, graph)",
     r"(?i)\btuple|torch\.Tensor|not a tensor|must return a tensor|return type|\(scores, graph\)",
     eap_returns_scores_and_graph),
    # ---- check_eap_ig
    ("check_eap_ig", "not divided by m",
     r"(?i)divid\w* by m\b|\bm times|1/m|/ ?m\b|averag\w* (over|of) the (m )?points|mean over (the )?(points|steps)"
     r"|sum of (the )?gradients", ig_not_divided_by_m),
    ("check_eap_ig", "midpoint alphas (k - 1/2)/m",
     r"(?i)midpoint|k ?- ?(1/2|0\.5)|\balpha|interpolation (points|coefficients)|k/m|points? (e\(k/m\)|at)",
     ig_midpoint_alphas),
    ("check_eap_ig", "k = 1..m-1, clean end point missing",
     r"(?i)k ?= ?1\.\.m|range\(|loop|last point|end ?point|clean (end|point)|m ?- ?1 points|one point (short|missing)"
     r"|k ?= ?m\b|alpha ?= ?1", ig_loop_stops_before_m),
    ("check_eap_ig", "extrapolates past corrupt (difference reversed)",
     r"(?i)e_corrupt ?\+|interpolat|revers|e_clean - e_corrupt|extrapolat|beyond|past (the )?corrupt"
     r"|straight (line|path)|toward (the )?clean", ig_extrapolates_past_corrupt),
    ("check_eap_ig", "delta from each IG point",
     r"(?i)\bdelta\b|real runs|z_u\(corrupt\) - z_u\(clean\)|interpolated (runs?|points?)"
     r"|end ?points?'? activations", ig_delta_from_each_point),
    ("check_eap_ig", "trapezoid weights, k = 0..m",
     r"(?i)trapezoid|k ?= ?0|alpha ?= ?0|end ?points?|weight|half|k/m|points e\(k/m\)|corrupt (end|point)",
     ig_trapezoid),
    # ---- check_gradpath
    ("check_gradpath", "divided by the squared norm",
     r"(?i)squared norm|norm.{0,10}squared|\|\|g\|\|\^?2|normalis|step length|unit (length|step)|step size|\beta\b",
     gp_squared_norm),
    ("check_gradpath", "every step restarts from e_clean",
     r"(?i)current point|from (the )?start|restart|e_clean (every|each)|previous (point|step)|cumulat"
     r"|(does not|doesn't|never) (move|advance|accumulate)|gamma ?(<-|=) ?gamma|start(ing)? point",
     gp_steps_from_start),
    ("check_gradpath", "straight line toward e_corrupt, no gradient",
     r"(?i)straight (line|path)|toward e_corrupt|ignor\w* the gradient|no gradient|not (follow|use) the gradient"
     r"|output.distance|descen", gp_straight_line_to_corrupt),
    ("check_gradpath", "descends the task metric, not the output distance",
     r"(?i)output.distance|distance (to|from) the corrupt|corrupt logits|\|\|G|metric (instead|rather)|task metric"
     r"|logit diff", gp_descends_the_metric),
    ("check_gradpath", "sign of the gradient (FGSM)",
     r"(?i)\bsign\b|normalis|unit (length|step)|step length|step size|\|\|g\|\||per.example norm",
     gp_sign_of_gradient),
    # ---- check_verify_top
    ("check_verify_top", "first k names as stored, not ranked",
     r"(?i)\|score\||top.?k|largest|rank(ed|ing)?|order\(|highest|by magnitude|first k", vt_first_k_stored),
    ("check_verify_top", "k ignored, always 5",
     r"(?i)\bk\b.{0,30}(ignored|argument|parameter)|always 5|hard.?coded|\bk (components|names)"
     r"|number of (names|components|entries)|length", vt_k_hardcoded_5),
    ("check_verify_top", "M(patched) returned, M(clean) not subtracted",
     r"(?i)M\(clean\)|baseline|clean (metric|run)|subtract|offset|effect (is|=) M", vt_no_clean_baseline),
    ("check_verify_top", "patched jointly, one effect for all",
     r"(?i)joint|together|one (at a time|by one)|alone|separately|on its own|individual"
     r"|same (value|effect) for (all|every)", vt_joint_patch),
    ("check_verify_top", "every name returned, zeros for the unverified",
     r"(?i)only the top|unverified|every name|all (the )?names|extra names|names? (beyond|outside)|\bk names"
     r"|number of (names|entries|components)|length|len\(", vt_all_names_zero_filled),
]
