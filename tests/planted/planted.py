"""First planted set: at least five new wrong solutions per exercise (none in the old catalogue)."""

import torch

import workbook as wb
from tests.planted._base import eap_parts, gradpath_walk, pattern, qk_parts, verify, zs
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import cache_activations, cache_activations_and_grads


# ---------------------------------------------------------------- ch00 patch_heads
def _patch(model, task, H=None, pos=slice(None), base="clean", keep_hook=False, reduce="mean"):
    L, H = model.cfg.n_layers, H or model.cfg.n_heads
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base_m = task.metric_value(model(task.clean if base == "clean" else task.corrupt))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, pos, h] = corr[names[l]][:, pos, h]
                return act
            if keep_hook:
                model.add_hook(names[l], put)
                with torch.no_grad():
                    m = task.metric_value(model(task.clean))
                continue
            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                logits = model(task.clean)
                m = task.metric_value(logits) if reduce == "mean" else task.per_example(logits).sum()
            out[l, h] = m - base_m if reduce == "mean" else m - base_m * task.batch_size
    return out


def ph_layers_for_heads(model, task):
    return _patch(model, task, H=model.cfg.n_layers)


def ph_corrupt_baseline(model, task):
    return _patch(model, task, base="corrupt")


def ph_hook_left_on(model, task):
    return _patch(model, task, keep_hook=True)


def ph_first_position(model, task):
    return _patch(model, task, pos=slice(0, 1))


def ph_sum_per_example(model, task):
    return _patch(model, task, reduce="sum")


def ph_heads_by_layers(model, task):
    return _patch(model, task).T.contiguous()


# ---------------------------------------------------------------- ch00 atp_heads
def _atp(model, task, dims=(1, 3), times_b=False, grad_tokens=None, first=False):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    kw = {} if grad_tokens is None else {"tokens": grad_tokens(task)}
    _, clean, grads = cache_activations_and_grads(model, task, names, names, **kw)
    out = []
    for n in names:
        g = grads[n] * task.batch_size if times_b else grads[n]
        prod = (corr[n] - clean[n]) * g
        out.append(prod.sum(dims)[0] if first else prod.sum(dims).mean(0))
    return torch.stack(out)


def atp_sum_heads_not_positions(model, task):
    return _atp(model, task, dims=(2, 3))


def atp_times_b_again(model, task):
    return _atp(model, task, times_b=True)


def atp_grad_corrupt_tokens(model, task):
    return _atp(model, task, grad_tokens=lambda t: t.corrupt)


def atp_first_example(model, task):
    return _atp(model, task, first=True)


def atp_layers_flipped(model, task):
    return _atp(model, task).flip(0)


# ---------------------------------------------------------------- ch01 QK fix
def _qkq(model, task, axis=-1, tri="tril", scale=True, reduce=-1, layers=None, keys_corrupt=False):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril() if tri == "tril" else torch.ones(T, T, dtype=torch.bool).triu()
    out = []
    for l in range(layers or L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        k_new = corr[f"blocks.{l}.attn.hook_k"] if keys_corrupt else k
        sc = attn_scale(model, l) if scale else 1.0
        A = pattern(q, k, sc, mask, axis)
        A_new = pattern(q_new, k_new, sc, mask, axis)
        out.append(((A_new - A) * grads[pats[l]]).sum(reduce).mean(0))
    return torch.stack(out)


def qkq_softmax_wrong_axis(model, task):
    return torch.nan_to_num(_qkq(model, task, axis=-2))


def qkq_triu_mask(model, task):
    return torch.nan_to_num(_qkq(model, task, tri="triu"))


def qkq_sum_over_queries(model, task):
    return _qkq(model, task, reduce=-2)


def qkq_heads_for_layers(model, task):
    return _qkq(model, task, layers=model.cfg.n_heads)


def qkq_corrupt_keys_too(model, task):
    return _qkq(model, task, keys_corrupt=True)


def qkq_per_position_swapped(model, task):
    return _qkq(model, task).transpose(1, 2).contiguous()


def _qkk(model, task, H=None, shift=0, rows="all", mutate=False):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, H or model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = pattern(q, k, sc, mask)
        for s in range(T):
            k2 = k if mutate else k.clone()
            src = min(max(s + shift, 0), T - 1)
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, src]
            delta = (pattern(q, k2, sc, mask) - A) * grads[pats[l]]
            val = delta[..., -1, :].sum(-1) if rows == "last" else delta.sum((-1, -2))
            out[l, :, s] = val.mean(0)[: out.shape[1]]
    return out


def qkk_layers_for_heads(model, task):
    return _qkk(model, task, H=model.cfg.n_layers)


def qkk_no_clone(model, task):
    return _qkk(model, task, mutate=True)


def qkk_last_row_only(model, task):
    return _qkk(model, task, rows="last")


def qkk_next_key(model, task):
    return _qkk(model, task, shift=1)


def qkk_sum_queries_only(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = pattern(q, k, sc, mask)
        A2 = pattern(q, corr[f"blocks.{l}.attn.hook_k"], sc, mask)
        out.append(((A2 - A) * grads[pats[l]]).sum(-1).mean(0))  # per query row, not per key
    return torch.stack(out)


# ---------------------------------------------------------------- ch02 GradDrop
def _gd(model, task, reduce="mean", keep=None, combine="sum", H=None):
    from workbook.core.runs import LEAF_HOOK, frozen_params
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l))
            for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            est = []
            for i, n in enumerate(names):
                g = grads.get(n, torch.zeros_like(acts[n]))
                if keep is not None and not keep(i, L):
                    g = torch.zeros_like(g)
                est.append(((corr[n] - acts[n]) * g).sum((1, 3))[:, : (H or model.cfg.n_heads)])
            per_pass.append(torch.stack(est, 1))
    pp = torch.stack(per_pass).abs()
    total = pp.sum(0) / (L - 1) if combine == "sum" else pp.max(0).values
    return total.mean(0) if reduce == "mean" else total.sum(0)


def gd_sum_over_batch(model, task):
    return _gd(model, task, reduce="sum")


def gd_late_binding_last_layer(model, task):
    return _gd(model, task, keep=lambda i, L: i == L - 1)


def gd_max_over_passes(model, task):
    return _gd(model, task, combine="max")


def gd_layers_for_heads(model, task):
    return _gd(model, task, H=model.cfg.n_layers)


def gd_divide_twice(model, task):
    return _gd(model, task) / (model.cfg.n_layers - 1)


# ---------------------------------------------------------------- ch03 EAP
def _eap(model, task, last_only=False, divide="B", drop=None, transpose=False):
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    g = graph.stack_dest_grads(grads)
    if last_only:
        deltas, g = deltas[:, :, -1:], g[:, :, -1:]
    scores = torch.einsum("sbpd,tbpd->st", deltas, g)
    scores = scores / task.batch_size if divide == "B" else scores / task.batch_size ** 2
    scores = scores * graph.edge_mask
    if drop:
        keep = torch.tensor([not drop(d) for d in graph.destinations])
        scores = scores * keep
    return scores.T if transpose else scores


def eap_last_position_only(model, task):
    return _eap(model, task, last_only=True)


def eap_divide_b_twice(model, task):
    return _eap(model, task, divide="B2")


def eap_forgot_logits(model, task):
    return _eap(model, task, drop=lambda d: d == "logits")


def eap_destinations_by_sources(model, task):
    return _eap(model, task, transpose=True)


def eap_no_mlp_destinations(model, task):
    return _eap(model, task, drop=lambda d: d.startswith("MLP"))


# ---------------------------------------------------------------- ch03 EAP-IG
def _ig(model, task, steps, ks=None, divide=None, accumulate=True, b=True):
    graph = wb.Graph.from_model(model) if hasattr(wb, "Graph") else None
    from workbook.arch.graph import Graph
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in (ks or range(1, steps + 1)):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731 - a learner's closure
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads) if accumulate else graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / (divide or steps))
    return scores / (task.batch_size if b else 1) * graph.edge_mask


def ig_divide_m_plus_1(model, task, steps):
    return _ig(model, task, steps, divide=steps + 1)


def ig_k_from_zero(model, task, steps):
    return _ig(model, task, steps, ks=range(0, steps + 1), divide=steps + 1)


def ig_overwrite_not_add(model, task, steps):
    return _ig(model, task, steps, accumulate=False, divide=1)


def ig_no_batch_mean(model, task, steps):
    return _ig(model, task, steps, b=False)


def ig_clean_to_corrupt(model, task, steps):
    return _ig(model, task, steps, ks=[steps - k for k in range(1, steps + 1)])


# ---------------------------------------------------------------- ch04 GradPath
def gp_no_start_point(model, task, steps, step_size):
    return gradpath_walk(model, task, steps + 1, step_size, keep_start=False)


def gp_stale_gradient(model, task, steps, step_size):
    return gradpath_walk(model, task, steps, step_size, stale=True)


def gp_append_before_step(model, task, steps, step_size):
    pts = gradpath_walk(model, task, steps, step_size)
    return torch.cat([pts[:1], pts[:-1]])


def gp_always_unit(model, task, steps, step_size):
    return gradpath_walk(model, task, steps, step_size, eta_rule="unit")


def gp_never_moves(model, task, steps, step_size):
    pts = gradpath_walk(model, task, steps, step_size)
    return pts[:1].expand_as(pts).clone()


# ---------------------------------------------------------------- ch05 verify_top_k
def vt_k_smallest(model, task, scores, k):
    return verify(model, task, scores.order(absolute=True)[-k:])


def vt_alphabetical(model, task, scores, k):
    return verify(model, task, sorted(scores.order(absolute=True)[:k]))


def vt_heads_and_mlps_only(model, task, scores, k):
    return verify(model, task, scores.order(absolute=True)[:k], kinds=("head", "mlp"))


def vt_qk_as_heads(model, task, scores, k):
    names = scores.order(absolute=True)[:k]
    res = verify(model, task, [n.rsplit(".", 1)[0] if n.endswith((".q", ".k")) else n for n in names])
    vals = [res[n.rsplit(".", 1)[0] if n.endswith((".q", ".k")) else n] for n in names]
    return wb.Scores(names, torch.tensor(vals))


def vt_k_minus_one(model, task, scores, k):
    return verify(model, task, scores.order(absolute=True)[: k - 1])


def vt_sorted_by_effect(model, task, scores, k):
    res = verify(model, task, scores.order(absolute=True)[:k])
    return res.select(res.order(absolute=True))


MISTAKES = [
    ("check_patch_heads", "n_layers where n_heads belongs", r"n_layers", ph_layers_for_heads),
    ("check_patch_heads", "baseline M(corrupt)", r"M\(corrupt\)", ph_corrupt_baseline),
    ("check_patch_heads", "hook left registered", r"hook is still registered", ph_hook_left_on),
    ("check_patch_heads", "first position only", r"first position", ph_first_position),
    ("check_patch_heads", "sum of per-example metrics", r"B times too large", ph_sum_per_example),
    ("check_patch_heads", "[heads, layers]", r"wrong order", ph_heads_by_layers),
    ("check_atp_heads", "sums heads, not positions", r"seq", atp_sum_heads_not_positions),
    ("check_atp_heads", "gradient times B again", r"already per example", atp_times_b_again),
    ("check_atp_heads", "gradient on corrupt tokens", r"corrupt tokens|corrupt run", atp_grad_corrupt_tokens),
    ("check_atp_heads", "first example only", r"FIRST prompt", atp_first_example),
    ("check_atp_heads", "layers reversed", r"reverse order", atp_layers_flipped),
    ("check_qk_fix_queries", "softmax over the query axis", r"softmax runs over the wrong axis",
     qkq_softmax_wrong_axis),
    ("check_qk_fix_queries", "triu mask", r"mask is transposed|triu", qkq_triu_mask),
    ("check_qk_fix_queries", "sums over query rows", r"query rows", qkq_sum_over_queries),
    ("check_qk_fix_queries", "n_heads where n_layers belongs", r"n_heads|n_layers", qkq_heads_for_layers),
    ("check_qk_fix_queries", "corrupt keys too", r"corrupt keys|clean keys", qkq_corrupt_keys_too),
    ("check_qk_fix_queries", "[L, T, H]", r"wrong order", qkq_per_position_swapped),
    ("check_qk_fix_keys", "n_layers where n_heads belongs", r"n_layers", qkk_layers_for_heads),
    ("check_qk_fix_keys", "k2 = k without clone", r"clone|in place|all at once", qkk_no_clone),
    ("check_qk_fix_keys", "last query row only", r"last", qkk_last_row_only),
    ("check_qk_fix_keys", "key s+1 patched into s", r"off by one|shifted", qkk_next_key),
    ("check_qk_fix_keys", "per query, not per key", r"quer", qkk_sum_queries_only),
    ("check_graddrop", "sum over prompt pairs", r"B times too large", gd_sum_over_batch),
    ("check_graddrop", "late-binding grads", r"late|last layer", gd_late_binding_last_layer),
    ("check_graddrop", "max over passes", r"max|sum .*over the passes", gd_max_over_passes),
    ("check_graddrop", "n_layers where n_heads belongs", r"n_layers", gd_layers_for_heads),
    ("check_graddrop", "divided by L-1 twice", r"L-1", gd_divide_twice),
    ("check_eap", "last position only", r"last position", eap_last_position_only),
    ("check_eap", "divided by B twice", r"1/B", eap_divide_b_twice),
    ("check_eap", "edges into logits dropped", r"wrong for edges into the logits", eap_forgot_logits),
    ("check_eap", "[destinations, sources]", r"wrong order", eap_destinations_by_sources),
    ("check_eap", "edges into MLPs dropped", r"wrong for edges into MLPs", eap_no_mlp_destinations),
    ("check_eap_ig", "divided by m+1", r"m \+ 1|m/\(m\+1\)", ig_divide_m_plus_1),
    ("check_eap_ig", "k = 0..m", r"k = 0\.\.m|m \+ 1", ig_k_from_zero),
    ("check_eap_ig", "gradient overwritten, not added", r"EAP|alpha = 1", ig_overwrite_not_add),
    ("check_eap_ig", "no batch mean", r"B times", ig_no_batch_mean),
    ("check_eap_ig", "walks clean -> corrupt", r"k = 1\.\.m|corrupt endpoint", ig_clean_to_corrupt),
    ("check_gradpath", "start point missing", r"start", gp_no_start_point),
    ("check_gradpath", "stale gradient", r"gradient", gp_stale_gradient),
    ("check_gradpath", "appended before the step", r"one step late|shifted", gp_append_before_step),
    ("check_gradpath", "always unit steps", r"step_size", gp_always_unit),
    ("check_gradpath", "never moves", r"never moves", gp_never_moves),
    ("check_verify_top", "k smallest", r"SMALLEST", vt_k_smallest),
    ("check_verify_top", "alphabetical", r"alphabetical", vt_alphabetical),
    ("check_verify_top", "heads and MLPs only", r"every kind", vt_heads_and_mlps_only),
    ("check_verify_top", ".q/.k patched as heads", r"whole head", vt_qk_as_heads),
    ("check_verify_top", "k - 1 components", r"one component short", vt_k_minus_one),
    ("check_verify_top", "sorted by exact effect", r"order", vt_sorted_by_effect),
]
