"""Held-out set #5, written blind (the writer never read the checks or their messages) on
2026-12-06; measured once, unseen.

Each entry is ``(check name, mistake id, expected cause regex, wrong function)``; every regex was
written before any check ran on the function and says what a tutor would name as the cause.

Verification: each wrong function was run next to a correct solution (the chapter's own solution
code, written out again in a scratch script) on the chapter's model and task as the chapter builds
them (ch00 ``zoo.load("induction", n=16, seed=0)``, ch01 ``saturation.build()``, ch02
``cancellation.build()``, ch03 ``build("flat_region")`` with m = 1 and m = 5, ch04
``build("path_saturation")`` with steps = 5 and step sizes ``"unit"`` and ``"scaled"``, ch05
``zoo.load_model("mixture")`` on its ``ioi`` task with node, q/k and edge estimates, k = 5), and
the largest absolute difference was printed; a function whose output matched the correct one
was dropped (five were: mask filled with 0 on the saturated specimen, abs after the batch mean on
the cancellation specimen, and three EAP mistakes that vanish on the one-neuron flat_region model).
Contract mistakes (a flattened tensor, a tuple, a dict, transposed axes) were checked to return a
different type or shape. Three EAP-IG mistakes equal the correct answer at m = 1 (alpha = 1 is the
only point) and differ at m = 5; ``ig_no_straight_through`` raises (no gradient reaches the metric).
"""

import torch

import workbook as wb
from tests.planted._base import verify, zs
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ---------------------------------------------------------------- ch00 patch_heads
def _put(act, clean, corr, h):
    act = act.clone()
    act[:, :, h] = corr[:, :, h]
    return act


def _patch(model, task, put=_put, kind="z", run="clean", post=None):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_{kind}" for l in range(L)]
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    tokens = task.clean if run == "clean" else task.corrupt
    with torch.no_grad():
        base = task.metric_value(model(tokens))
    out = torch.zeros(L, H)
    for l in range(L):
        state = {"patched": clean[names[l]].clone()}
        for h in range(H):
            def hook(act, hook, l=l, h=h, state=state):
                if put is None:
                    return _so_far(state, corr[names[l]], h)
                return put(act, clean[names[l]], corr[names[l]], h)
            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], hook)]):
                out[l, h] = task.metric_value(model(tokens)) - base
    return post(out) if post else out


def _so_far(state, corr, h):
    state["patched"][:, :, h] = corr[:, :, h]  # one buffer per layer: earlier heads stay patched
    return state["patched"]


# Denoising instead of noising: the clean head written into the corrupt run, minus M(corrupt).
def ph_denoising(model, task):
    return _patch(model, task, put=lambda act, clean, corr, h: _put(act, corr, clean, h), run="corrupt")


# The effect divided by the clean-corrupt gap (a recovered fraction), not the raw metric change.
def ph_divided_by_gap(model, task):
    clean_m, corr_m = task.baselines(model)
    return _patch(model, task, post=lambda out: out / (clean_m - corr_m))


# Every example gets the batch mean of the corrupt head output (mean ablation across prompts).
def ph_batch_mean_corrupt(model, task):
    def put(act, clean, corr, h):
        act = act.clone()
        act[:, :, h] = corr[:, :, h].mean(0, keepdim=True)
        return act
    return _patch(model, task, put=put)


# The absolute value of each effect is returned, losing its sign.
def ph_abs_effect(model, task):
    return _patch(model, task, post=torch.abs)


# The corrupt value is added to the clean one (+=) instead of replacing it.
def ph_added_not_replaced(model, task):
    def put(act, clean, corr, h):
        act = act.clone()
        act[:, :, h] += corr[:, :, h]
        return act
    return _patch(model, task, put=put)


# Patches the value vectors (hook_v) instead of the head output (hook_z).
def ph_value_vectors(model, task):
    return _patch(model, task, kind="v")


# Heads patched cumulatively: one buffer per layer keeps the earlier heads of the layer patched.
def ph_cumulative_heads(model, task):
    return _patch(model, task, put=None)


# ---------------------------------------------------------------- ch00 atp_heads
def _atp(model, task, kind="z", delta="corr-clean", g_scale=1.0, last_only=False):
    names = [f"blocks.{l}.attn.hook_{kind}" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    out = []
    for n in names:
        d = {"corr-clean": corr[n] - clean[n], "clean-corr": clean[n] - corr[n], "corr": corr[n]}[delta]
        prod = d * grads[n] * g_scale
        out.append(prod[:, -1].sum(-1).mean(0) if last_only else prod.sum((1, 3)).mean(0))
    return torch.stack(out)


# Divides the per-example gradients by B once more, as if they were still the batch mean's.
def atp_grad_divided_by_b(model, task):
    return _atp(model, task, g_scale=1.0 / task.batch_size)


# Delta taken as clean - corrupt: the estimate has the opposite sign.
def atp_delta_clean_minus_corrupt(model, task):
    return _atp(model, task, delta="clean-corr")


# Multiplies the corrupt activation itself by the gradient, without subtracting the clean one.
def atp_no_clean_subtracted(model, task):
    return _atp(model, task, delta="corr")


# AtP on the value vectors (hook_v) instead of the head output (hook_z).
def atp_value_vectors(model, task):
    return _atp(model, task, kind="v")


# Keeps only the last position (where the metric is read) instead of summing every position.
def atp_last_position_only(model, task):
    return _atp(model, task, last_only=True)


# Returns a flat [n_layers * n_heads] vector instead of [n_layers, n_heads].
def atp_flattened(model, task):
    return _atp(model, task).flatten()


# ---------------------------------------------------------------- ch01 QK fix (queries)
def _pat(q, k, sc, mask, fill=float("-inf"), scale_after=False):
    s = torch.einsum("bthd,bshd->bhts", q, k)
    if scale_after:
        return s.masked_fill(~mask, fill).softmax(-1) / sc
    return (s / sc).masked_fill(~mask, fill).softmax(-1)


def _qk_cache(model, task, grad_kinds=("pattern",)):
    L = model.cfg.n_layers
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    gn = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in grad_kinds]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, gn)
    return clean, corr, grads


def _qq(model, task, scale=True, fill=float("-inf"), scale_after=False, reduce="sum", patch="q"):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads = _qk_cache(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q2 = corr[f"blocks.{l}.attn.hook_q"] if patch == "q" else q
        k2 = corr[f"blocks.{l}.attn.hook_k"] if patch == "k" else k
        sc = attn_scale(model, l) if scale else 1.0
        A = _pat(q, k, sc, mask, fill, scale_after)
        A2 = _pat(q2, k2, sc, mask, fill, scale_after)
        prod = (A2 - A) * grads[f"blocks.{l}.attn.hook_pattern"]
        out.append((prod.sum(-1) if reduce == "sum" else prod.mean(-1)).mean(0))
    return torch.stack(out)


# Forgets to divide the scores by the score scale (sqrt(d_head)) before the softmax.
def qkq_no_scale(model, task):
    return _qq(model, task, scale=False)


# Change taken as clean pattern minus patched pattern (A - A'): the estimate's sign is flipped.
def qkq_sign_flipped(model, task):
    return -_qq(model, task)


# Divides by the scale after the softmax instead of dividing the scores before it.
def qkq_scale_after_softmax(model, task):
    return _qq(model, task, scale_after=True)


# Averages over the keys of a row instead of summing them.
def qkq_mean_over_keys(model, task):
    return _qq(model, task, reduce="mean")


# Swaps the roles: the corrupt keys with the clean queries (patches keys, not queries).
def qkq_keys_patched_not_queries(model, task):
    return _qq(model, task, patch="k")


# Plain linear AtP on hook_q (delta q times dM/dq), no exact softmax recomputation.
def qkq_plain_atp_on_q(model, task):
    L = model.cfg.n_layers
    clean, corr, grads = _qk_cache(model, task, grad_kinds=("q",))
    out = []
    for l in range(L):
        n = f"blocks.{l}.attn.hook_q"
        out.append(((corr[n] - clean[n]) * grads[n]).sum(-1).mean(0).T)  # [H, T]
    return torch.stack(out)


# Sums over the query positions too: one number per head, [n_layers, n_heads], not per position.
def qkq_per_head_total(model, task):
    return _qq(model, task).sum(-1)


# ---------------------------------------------------------------- ch01 QK fix (keys)
def _qk_keys(model, task, scale=True, causal=True, together=False, column_only=False, rows="sum"):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads = _qk_cache(model, task)
    mask = torch.ones(T, T, dtype=torch.bool)
    mask = mask.tril() if causal else mask
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        kc = corr[f"blocks.{l}.attn.hook_k"]
        g = grads[f"blocks.{l}.attn.hook_pattern"]
        sc = attn_scale(model, l) if scale else 1.0
        A = _pat(q, k, sc, mask)
        A_all = _pat(q, kc, sc, mask)
        for s in range(T):
            if together:
                d = (A_all - A)[..., s:s + 1] * g[..., s:s + 1]
            else:
                k2 = k.clone()
                k2[:, s] = kc[:, s]
                d = (_pat(q, k2, sc, mask) - A) * g
                d = d[..., s:s + 1] if column_only else d
            per_row = d.sum(-1)
            out[l, :, s] = (per_row.sum(-1) if rows == "sum" else per_row.mean(-1)).mean(0)
    return out


# Patches all keys at once and reads off column s, instead of patching key s on its own.
def qkk_all_keys_at_once(model, task):
    return _qk_keys(model, task, together=True)


# No causal mask: key s also changes the rows of earlier queries t < s.
def qkk_no_causal_mask(model, task):
    return _qk_keys(model, task, causal=False)


# Keeps only column s of the changed pattern, forgetting that the softmax renormalises the row.
def qkk_column_only(model, task):
    return _qk_keys(model, task, column_only=True)


# Averages over the query rows instead of summing them.
def qkk_mean_over_rows(model, task):
    return _qk_keys(model, task, rows="mean")


# Forgets the score scale (sqrt(d_head)).
def qkk_no_scale(model, task):
    return _qk_keys(model, task, scale=False)


# Plain linear AtP on hook_k (delta k times dM/dk), no exact softmax recomputation.
def qkk_plain_atp_on_k(model, task):
    L = model.cfg.n_layers
    clean, corr, grads = _qk_cache(model, task, grad_kinds=("k",))
    out = []
    for l in range(L):
        n = f"blocks.{l}.attn.hook_k"
        out.append(((corr[n] - clean[n]) * grads[n]).sum(-1).mean(0).T)
    return torch.stack(out)


# ---------------------------------------------------------------- ch02 GradDrop
def _gd(model, task, norm=None, times_b=True, gates=("attn_out", "mlp_out"), accumulate=False, with_passes=False,
        passes=None):
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def grab(g, hook, n=None):
        g = g.detach() * (B if times_b else 1)
        grads[n] = grads[n] + g if accumulate and n in grads else g

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grab(g, hook, n)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L) for w in gates]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(passes or L):
            drop["layer"] = l
            if not accumulate:
                grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))
    pp = torch.stack(per_pass)  # [L, B, L, H]
    scores = (pp.abs().sum(0) / (norm or L - 1)).mean(0)
    return (scores, pp) if with_passes else scores


# Divides the sum over passes by L instead of L-1.
def gd_divided_by_l(model, task):
    return _gd(model, task, norm=model.cfg.n_layers)


# Forgets to multiply the batch-mean gradients by B (per-example gradients B times too small).
def gd_no_times_b(model, task):
    return _gd(model, task, times_b=False)


# Stops the gradient on the residual stream (hook_resid_post) instead of the layer's two writes.
def gd_gates_residual_stream(model, task):
    return _gd(model, task, gates=("resid_post",))


# Zeroes layer l's attn_out/mlp_out in the FORWARD pass (an ablation) instead of stopping its gradient.
def gd_forward_ablation(model, task):
    L = model.cfg.n_layers
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    per_pass = []
    for l in range(L):
        zero = [(f"blocks.{l}.hook_{w}_out", lambda t, hook: torch.zeros_like(t)) for w in ("attn", "mlp")]
        _, acts, grads = cache_activations_and_grads(model, task, names, names, extra_fwd_hooks=zero)
        per_pass.append(torch.stack([((corr[n] - acts[n]) * grads[n]).sum((1, 3)) for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


# Gradient dict never cleared and added to: each pass carries the earlier passes' gradients.
def gd_grads_accumulate_over_passes(model, task):
    return _gd(model, task, accumulate=True)


# Loops over L + 1 passes: the extra pass drops nothing (a plain AtP pass) and is added in.
def gd_extra_undropped_pass(model, task):
    return _gd(model, task, passes=model.cfg.n_layers + 1)


# Returns a tuple (scores, per-pass estimates) instead of the score tensor alone.
def gd_returns_tuple(model, task):
    return _gd(model, task, with_passes=True)


# ---------------------------------------------------------------- ch03 EAP
def _eap(model, task, per_b=True, grad_tokens=None):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    kw = {} if grad_tokens is None else {"tokens": grad_tokens}
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks), **kw)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads))
    return (scores / task.batch_size if per_b else scores) * graph.edge_mask


# The delta of the destination's whole input (in_v corrupt - clean), not of the source's write.
def eap_destination_input_delta(model, task):
    graph = Graph.from_model(model)
    dests = list(graph.dest_hooks)
    _, corr = cache_activations(model, task.corrupt, dests)
    _, clean, grads = cache_activations_and_grads(model, task, dests, dests)
    g = graph.stack_dest_grads(grads)
    d_in = graph.stack_dest_grads(corr) - graph.stack_dest_grads(clean)
    node = torch.einsum("tbpd,tbpd->t", d_in, g) / task.batch_size
    return node[None, :] * graph.edge_mask


# |EAP|: the absolute value of every edge score, losing its sign.
def eap_absolute(model, task):
    return _eap(model, task).abs()


# No division by B: the sum over prompt pairs, not the batch mean.
def eap_no_batch_mean(model, task):
    return _eap(model, task, per_b=False)


# Averages the elementwise product over d_model instead of summing it (a mean, not a dot product).
def eap_mean_over_d_model(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    prod = deltas[:, None] * graph.stack_dest_grads(grads)[None]  # [S, T, B, P, D]
    return prod.mean(-1).sum((-1, -2)) / task.batch_size * graph.edge_mask


# Gradients from a backward pass on the corrupt tokens instead of the clean run.
def eap_grads_on_corrupt_run(model, task):
    return _eap(model, task, grad_tokens=task.corrupt)


# Returns the 1-D vector of edge scores instead of the [n_sources, n_destinations] matrix.
def eap_edge_vector(model, task):
    graph = Graph.from_model(model)
    return _eap(model, task)[graph.edge_mask.bool()]


# ---------------------------------------------------------------- ch03 EAP-IG
def _eig(model, task, steps, alphas=None, start="corrupt", weighted=False, ends_clean=False, straight=True):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c = clean["hook_embed"]
    e_n = (clean if ends_clean else corr)["hook_embed"]
    e_0 = torch.zeros_like(e_c) if start == "zero" else e_n
    alphas = [k / steps for k in range(1, steps + 1)] if alphas is None else alphas
    total = 0.0
    for a in alphas:
        target = e_0 + float(a) * (e_c - e_0)
        if straight:
            def hook(t, hook, target=target):
                return t + (target - t).detach()
        else:
            def hook(t, hook, target=target):
                return target
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        g = graph.stack_dest_grads(grads)
        total = total + (float(a) * g if weighted else g)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# Points from torch.linspace(0, 1, m): both endpoints included, m = 1 gives the corrupt point.
def ig_linspace_points(model, task, steps):
    return _eig(model, task, steps, alphas=torch.linspace(0, 1, steps).tolist())


# Left Riemann sum: alpha = k/m for k = 0..m-1 (corrupt end included, clean end left out).
def ig_left_riemann(model, task, steps):
    return _eig(model, task, steps, alphas=[k / steps for k in range(steps)])


# Classic IG zero baseline: the path starts at a zero embedding, not at the corrupt embedding.
def ig_zero_baseline(model, task, steps):
    return _eig(model, task, steps, start="zero")


# Each point's gradient weighted by its alpha before averaging.
def ig_alpha_weighted(model, task, steps):
    return _eig(model, task, steps, weighted=True)


# Both endpoints read from the clean cache: every point is e_clean, so it is EAP for every m.
def ig_both_ends_clean(model, task, steps):
    return _eig(model, task, steps, ends_clean=True)


# The hook returns the target embedding itself, not the straight-through t + (target - t).detach().
def ig_no_straight_through(model, task, steps):
    return _eig(model, task, steps, straight=False)


# ---------------------------------------------------------------- ch04 GradPath
def _walk(model, task, steps, step_size, normalise=True, start="clean", objective="logits",
          inplace=False, eta_div=1.0, stack_dim=0):
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1) / eta_div
    gamma = (e_c if start == "clean" else e_n).clone()
    points = [gamma.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            if objective == "logits":
                dist = output_distance(model, task.clean, leaf, target)
            elif objective == "embedding":
                dist = ((leaf - e_n) ** 2).flatten(1).sum(1)
            else:
                with model.hooks(fwd_hooks=[(LEAF_HOOK, lambda t, hook, leaf=leaf: leaf)]):
                    logits = model(task.clean)
                dist = ((logits[:, -1] - target[:, -1]) ** 2).sum(-1)
            (g,) = torch.autograd.grad(dist.sum(), leaf)
            nrm = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1) if normalise else 1.0
            if inplace:
                with torch.no_grad():
                    gamma.sub_(eta * g / nrm)
                points.append(gamma)
            else:
                gamma = (leaf - eta * g / nrm).detach()
                points.append(gamma)
    return torch.stack(points, dim=stack_dim)


# Steps along the raw gradient, without dividing by its norm.
def gp_not_normalised(model, task, steps, step_size="unit"):
    return _walk(model, task, steps, step_size, normalise=False)


# Starts the walk at the corrupt embedding instead of the clean one.
def gp_starts_at_corrupt(model, task, steps, step_size="unit"):
    return _walk(model, task, steps, step_size, start="corrupt")


# Minimises the distance to the corrupt embedding (input space) instead of the corrupt logits.
def gp_distance_in_embedding_space(model, task, steps, step_size="unit"):
    return _walk(model, task, steps, step_size, objective="embedding")


# Distance measured on the last position's logits only, not on all logits.
def gp_last_position_logits(model, task, steps, step_size="unit"):
    return _walk(model, task, steps, step_size, objective="last")


# In-place update of one tensor appended every step: all points after the start alias the last.
def gp_inplace_aliased_points(model, task, steps, step_size="unit"):
    return _walk(model, task, steps, step_size, inplace=True)


# Divides the step length by the number of steps once more (eta / steps).
def gp_eta_over_steps(model, task, steps, step_size="unit"):
    return _walk(model, task, steps, step_size, eta_div=float(steps))


# Stacks the points along dim 1: [B, steps + 1, P, D] instead of [steps + 1, B, P, D].
def gp_batch_first(model, task, steps, step_size="unit"):
    return _walk(model, task, steps, step_size, stack_dim=1)


# ---------------------------------------------------------------- ch05 verify_top_k
def _kind(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


# Takes the k largest signed scores instead of the k largest |score|.
def vt_signed_top_k(model, task, scores, k=5):
    return verify(model, task, scores.order(absolute=False)[:k])


# Returns the estimate's own values for the top k, nothing patched.
def vt_returns_estimates(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    return wb.Scores(names, torch.tensor([scores[n] for n in names]), method="activation patching")


# Effects with the opposite sign: M(clean) - M(patched).
def vt_negated_effects(model, task, scores, k=5):
    res = verify(model, task, scores.order(absolute=True)[:k])
    return res.with_values(-res.values)


# Effects divided by the gap M(clean) - M(corrupt) (recovered fractions).
def vt_divided_by_gap(model, task, scores, k=5):
    clean_m, corr_m = task.baselines(model)
    res = verify(model, task, scores.order(absolute=True)[:k])
    return res.with_values(res.values / (clean_m - corr_m))


# Returns a plain dict {name: effect} instead of a wb.Scores.
def vt_returns_dict(model, task, scores, k=5):
    return verify(model, task, scores.order(absolute=True)[:k]).to_dict()


# Takes the top k of each kind (heads, MLPs, ...) instead of the top k overall.
def vt_top_k_per_kind(model, task, scores, k=5):
    names = []
    for what in dict.fromkeys(map(_kind, scores.names)):
        names += scores.filter(lambda n, what=what: _kind(n) == what).order(absolute=True)[:k]
    return verify(model, task, names)


# Loops over a fixed list of kinds, so names come back heads first, then MLPs, q, k, edges,
# not in the estimate's order.
def vt_grouped_by_kind(model, task, scores, k=5):
    top = scores.order(absolute=True)[:k]
    names = [n for what in ("head", "mlp", "q", "k", "edge") for n in top if _kind(n) == what]
    return verify(model, task, names)


MISTAKES = [
    ("check_patch_heads", "denoising direction",
     r"(?i)denois|restor|direction|into the corrupt run|clean (values?|activations?|output) (into|in)",
     ph_denoising),
    ("check_patch_heads", "divided by the clean-corrupt gap",
     r"(?i)normali|gap|fraction|recover|divided by (the )?(gap|M\(clean\) ?- ?M\(corrupt\))",
     ph_divided_by_gap),
    ("check_patch_heads", "batch-mean corrupt value",
     r"(?i)batch|each example|per example|own example|other examples?|mean.ablat",
     ph_batch_mean_corrupt),
    ("check_patch_heads", "|effect|",
     r"(?i)sign|abs|negative|magnitude",
     ph_abs_effect),
    ("check_patch_heads", "corrupt added, not replaced",
     r"(?i)\badd|replac|overwrit|plus|\+=|sum of",
     ph_added_not_replaced),
    ("check_patch_heads", "hook_v patched",
     r"(?i)hook_v\b|value vectors?|hook_z|head.s output|output of the head",
     ph_value_vectors),
    ("check_patch_heads", "heads patched cumulatively",
     r"(?i)cumulat|previous heads?|earlier heads?|accumulat|reset|stale|still patched|so far|alone"
     r"|only that head|one head at a time",
     ph_cumulative_heads),
    ("check_atp_heads", "gradient divided by B",
     r"(?i)B times|1/B|factor (of )?B|per.example|batch size|batch mean|sum over (the )?(batch|examples"
     r"|prompt pairs)",
     atp_grad_divided_by_b),
    ("check_atp_heads", "delta clean - corrupt",
     r"(?i)sign|clean ?- ?corrupt|denois|negat|opposite",
     atp_delta_clean_minus_corrupt),
    ("check_atp_heads", "corrupt activation, no delta",
     r"(?i)delta|Δ|subtract|clean (activation|value|write)s?|corrupt ?- ?clean|minus",
     atp_no_clean_subtracted),
    ("check_atp_heads", "hook_v instead of hook_z",
     r"(?i)hook_v\b|value vectors?|hook_z|head.s output|output of the head",
     atp_value_vectors),
    ("check_atp_heads", "last position only",
     r"(?i)last position|every position|all positions|sum over (the )?positions|other positions",
     atp_last_position_only),
    ("check_atp_heads", "flattened [L*H]",
     r"(?i)flat|\[n_layers, n_heads\]|2-?d|1-?d|reshape|ndim|dimension|shape",
     atp_flattened),
    ("check_qk_fix_queries", "no score scale",
     r"(?i)scale|sqrt|√|d_head|attn_scale",
     qkq_no_scale),
    ("check_qk_fix_queries", "A - A' (sign flipped)",
     r"(?i)sign|A ?- ?A'|opposite|negat|noising",
     qkq_sign_flipped),
    ("check_qk_fix_queries", "scale after the softmax",
     r"(?i)scale|sqrt|before the softmax|after the softmax|order of operations",
     qkq_scale_after_softmax),
    ("check_qk_fix_queries", "mean over keys",
     r"(?i)mean over (the )?keys|sum over (the )?keys|average|divided by (the )?(number of keys|seq"
     r"|T\b)",
     qkq_mean_over_keys),
    ("check_qk_fix_queries", "keys patched, not queries",
     r"(?i)keys? instead of (the )?quer|corrupt keys|clean keys|hook_k|patche[sd] the keys|swapped",
     qkq_keys_patched_not_queries),
    ("check_qk_fix_queries", "plain AtP on hook_q",
     r"(?i)linear|plain AtP|recomput|exact (softmax|pattern)|tangent|through the softmax",
     qkq_plain_atp_on_q),
    ("check_qk_fix_queries", "summed over positions [L, H]",
     r"(?i)per position|every position|each position|query position|seq|\[n_layers, n_heads, seq\]",
     qkq_per_head_total),
    ("check_qk_fix_keys", "all keys patched at once",
     r"(?i)alone|at once|all (the )?keys|one at a time|together|on its own|jointly|separately",
     qkk_all_keys_at_once),
    ("check_qk_fix_keys", "no causal mask",
     r"(?i)mask|causal|future|-inf",
     qkk_no_causal_mask),
    ("check_qk_fix_keys", "column s only",
     r"(?i)renormali|every column|other (keys|columns)|whole row|only (the )?column|column s only"
     r"|only (the )?key s",
     qkk_column_only),
    ("check_qk_fix_keys", "mean over query rows",
     r"(?i)mean over (the )?(query|rows|queries)|sum over (the )?(query|rows|queries)|average"
     r"|divided by (the )?(number of )?(rows|queries|seq|T\b)",
     qkk_mean_over_rows),
    ("check_qk_fix_keys", "no score scale",
     r"(?i)scale|sqrt|√|d_head|attn_scale",
     qkk_no_scale),
    ("check_qk_fix_keys", "plain AtP on hook_k",
     r"(?i)linear|plain AtP|recomput|exact (softmax|pattern)|tangent|through the softmax",
     qkk_plain_atp_on_k),
    ("check_graddrop", "divided by L",
     r"(?i)L ?- ?1|normali[sz]er|divided by L|n_layers ?- ?1|own layer",
     gd_divided_by_l),
    ("check_graddrop", "gradients not times B",
     r"(?i)B times|1/B|factor (of )?B|per.example|batch size|batch mean|times B"
     r"|multiply (the gradients? )?by B",
     gd_no_times_b),
    ("check_graddrop", "residual stream gated",
     r"(?i)resid|skip|residual|attn_out|mlp_out",
     gd_gates_residual_stream),
    ("check_graddrop", "forward ablation, not gradient stop",
     r"(?i)forward|backward hook|ablat|zero(es|ed)? the (activation|output|write)s?|bwd_hooks"
     r"|only the gradient",
     gd_forward_ablation),
    ("check_graddrop", "gradients accumulate over passes",
     r"(?i)clear|accumulat|stale|previous pass|reset|carried over|earlier pass",
     gd_grads_accumulate_over_passes),
    ("check_graddrop", "L + 1 passes, one undropped",
     r"(?i)L ?\+ ?1 passes|one (pass )?too many|extra pass|undropped|nothing (is )?dropped|plain (AtP"
     r"|backward)|no layer (is )?dropped|range\(L ?\+ ?1\)",
     gd_extra_undropped_pass),
    ("check_graddrop", "returns a tuple",
     r"(?i)tuple|return type|per.pass|not a tensor|only the scores",
     gd_returns_tuple),
    ("check_eap", "delta of the destination's input",
     r"(?i)source.s (write|output)|z_u|destination.s (whole |total )?input|in_v|sender|write of",
     eap_destination_input_delta),
    ("check_eap", "|EAP|",
     r"(?i)sign|abs|negative|magnitude",
     eap_absolute),
    ("check_eap", "no batch mean",
     r"(?i)B times|1/B|factor (of )?B|per.example|batch size|batch mean|sum over (the )?(batch|examples"
     r"|prompt pairs)",
     eap_no_batch_mean),
    ("check_eap", "mean over d_model",
     r"(?i)d_model|mean over (the )?(hidden|feature|model|last) (dim|axis)|sum over d\b|dot product|feature dim",
     eap_mean_over_d_model),
    ("check_eap", "gradients on the corrupt run",
     r"(?i)corrupt (run|tokens|prompts?|input)|clean run|gradients? (of|on|from|at) the clean",
     eap_grads_on_corrupt_run),
    ("check_eap", "edge vector, not matrix",
     r"(?i)matrix|\[n_sources, n_destinations\]|flat|2-?d|1-?d|ndim|dimension|shape",
     eap_edge_vector),
    ("check_eap_ig", "linspace(0, 1, m) points",
     r"(?i)linspace|k ?= ?1|alpha|k ?/ ?m|endpoint|interpolation points|sample points|corrupt end",
     ig_linspace_points),
    ("check_eap_ig", "left Riemann k = 0..m-1",
     r"(?i)k ?= ?1|0 ?\.\. ?m ?- ?1|left|endpoint|k ?/ ?m|alpha|corrupt end|clean end",
     ig_left_riemann),
    ("check_eap_ig", "zero baseline",
     r"(?i)zero|baseline|e_corrupt|corrupt (embedding|endpoint|input|end|point)|origin",
     ig_zero_baseline),
    ("check_eap_ig", "alpha-weighted gradients",
     r"(?i)alpha|weight|uniform|k ?/ ?m|chain rule|plain average|unweighted",
     ig_alpha_weighted),
    ("check_eap_ig", "both endpoints clean",
     r"(?i)never moves|corrupt embedding|e_corrupt|e_n\b|same point|every point is (the )?clean"
     r"|constant|reduces to EAP|equals EAP|just EAP|corrupt end",
     ig_both_ends_clean),
    ("check_eap_ig", "no straight-through",
     r"(?i)straight.through|detach|gradients? (do not|don't|never) flow|requires?.grad|grad_fn|graph",
     ig_no_straight_through),
    ("check_gradpath", "gradient not normalised",
     r"(?i)normali|unit (length|norm|vector)|\|\|g\|\||norm of the gradient",
     gp_not_normalised),
    ("check_gradpath", "starts at e_corrupt",
     r"(?i)start|e_clean|gamma_0|γ_?0|first point|clean embedding|points\[0\]",
     gp_starts_at_corrupt),
    ("check_gradpath", "distance in embedding space",
     r"(?i)logits|output|embedding space|input space|straight (line|path)|output_distance|G\(",
     gp_distance_in_embedding_space),
    ("check_gradpath", "last position's logits only",
     r"(?i)all (the )?logits|every position|last position|all positions|whole output",
     gp_last_position_logits),
    ("check_gradpath", "in-place points aliased",
     r"(?i)alias|in.place|same tensor|clone|copy|every point|all (the )?points|last point|identical",
     gp_inplace_aliased_points),
    ("check_gradpath", "eta / steps",
     r"(?i)step_size|step length|step size|eta|step_sizes|divided by (the number of )?steps",
     gp_eta_over_steps),
    ("check_gradpath", "[B, steps+1, ...]",
     r"(?i)\[steps ?\+ ?1, B|first (axis|dim)|axes|transpos|stack(ed)? along|dim ?=|shape",
     gp_batch_first),
    ("check_verify_top", "signed top k",
     r"(?i)\|score\||absolute|abs\b|magnitude|signed|negative",
     vt_signed_top_k),
    ("check_verify_top", "estimates returned, nothing patched",
     r"(?i)exact|not patched|never patch|estimates? (themselves|values)|the estimate's (own )?values"
     r"|activation patching",
     vt_returns_estimates),
    ("check_verify_top", "negated effects",
     r"(?i)sign|negat|noising|M\(clean\) ?- ?M\(patched\)|opposite",
     vt_negated_effects),
    ("check_verify_top", "divided by the gap",
     r"(?i)gap|normali|fraction|divided|recover",
     vt_divided_by_gap),
    ("check_verify_top", "dict, not Scores",
     r"(?i)wb\.Scores|a Scores|dict|return type|\btype",
     vt_returns_dict),
    ("check_verify_top", "top k per kind",
     r"(?i)per kind|each kind|overall|across kinds|more than k|too many|\bk\b components",
     vt_top_k_per_kind),
    ("check_verify_top", "grouped by kind",
     r"(?i)order|grouped|by kind|rank",
     vt_grouped_by_kind),
]
