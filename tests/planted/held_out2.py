"""Held-out set #2: written after the second probe version was frozen and measured unseen (see
docs/checks_planted.md); the probes were then revised on its results (direct sign/scale/offset
before variant compositions, a constant-result probe, library errors on names in verify_top), so it
now counts with the development set. The unseen measurement of the final probes is ``held_out.py``.

Each entry is ``(check name, mistake id, expected cause regex, wrong function)``.
"""

import torch

import workbook as wb
from tests.planted._base import eap_parts, gradpath_walk, pattern, qk_parts, zs
from tests.planted.planted import _ig
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


def h2_patch_runs_corrupt(model, task):
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
                out[l, h] = task.metric_value(model(task.corrupt)) - base  # should run task.clean
    return out


def h2_patch_position_axis(model, task):
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
                act[:, h] = corr[names[l]][:, h]  # indexes the position axis
                return act
            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def h2_atp_sum_everything(model, task):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 2, 3)).mean(0) for n in names])


def h2_atp_wrong_hook(model, task):
    names = [f"blocks.{l}.attn.hook_q" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def h2_qkq_no_subtraction(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        k = clean[f"blocks.{l}.attn.hook_k"]
        A_new = pattern(corr[f"blocks.{l}.attn.hook_q"], k, attn_scale(model, l), mask)
        out.append((A_new * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def h2_qkk_skips_last_key(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = pattern(q, k, sc, mask)
        for s in range(T - 1):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(q, k2, sc, mask) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def h2_gd_abs_of_factors(model, task):
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}
    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: torch.zeros_like(g) if drop["layer"] == l else g)
            for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]).abs() * grads.get(n, torch.zeros_like(acts[n])).abs())
                                         .sum((1, 3)) for n in names], 1))
    return (torch.stack(per_pass).sum(0) / (L - 1)).mean(0)


def h2_gd_drops_next_layer(model, task):
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}
    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: torch.zeros_like(g) if drop["layer"] == l + 1 else g)
            for l in range(L) for w in ("attn", "mlp")]
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


def h2_eap_divide_by_seq(model, task):
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.seq_len * graph.edge_mask


def h2_eap_ig_divide_twice(model, task, steps):
    return _ig(model, task, steps) / steps


def h2_gp_one_step_short(model, task, steps, step_size):
    return gradpath_walk(model, task, steps - 1, step_size)


def h2_vt_everything_as_heads(model, task, scores, k):
    names = scores.order(absolute=True)[:k]
    res = wb.patch_nodes(model, task, "head", nodes=names)
    return wb.Scores(names, torch.tensor([float(res[n]) for n in names]))


MISTAKES = [
    ("check_patch_heads", "patched run on the corrupt tokens", r"corrupt run|corrupt tokens|M\(corrupt\)",
     h2_patch_runs_corrupt),
    ("check_patch_heads", "indexes the position axis", r"position|axis", h2_patch_position_axis),
    ("check_atp_heads", "sums over heads too", r"missing|reduced|head", h2_atp_sum_everything),
    ("check_atp_heads", "hook_q instead of hook_z", r"hook_q|quer|hook_z", h2_atp_wrong_hook),
    ("check_qk_fix_queries", "clean pattern not subtracted", r"subtract|clean pattern|A' - A", h2_qkq_no_subtraction),
    ("check_qk_fix_keys", "loop skips the last key", r"last|range|loop", h2_qkk_skips_last_key),
    ("check_graddrop", "abs of each factor", r"abs", h2_gd_abs_of_factors),
    ("check_graddrop", "pass l drops layer l+1", r"off by one|shift|pass", h2_gd_drops_next_layer),
    ("check_eap", "divided by seq, not B", r"seq|batch", h2_eap_divide_by_seq),
    ("check_eap_ig", "divided by m twice", r"1/m|m times", h2_eap_ig_divide_twice),
    ("check_gradpath", "one step short", r"steps \+ 1|one step|start", h2_gp_one_step_short),
    ("check_verify_top", "every name patched as a head", r"kind|every kind|whole head", h2_vt_everything_as_heads),
]
