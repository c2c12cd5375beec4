"""Held-out set #3: written after the third probe version was frozen and measured unseen (see
docs/checks_planted.md); the probes were then revised (named constants and sizes as factors, a
near-miss and a no-dependence-on-an-axis probe, KeyErrors of layers that do not exist), so it now
counts with the development set. The unseen measurement of the final probes is ``held_out.py``.

Each entry is ``(check name, mistake id, expected cause regex, wrong function)``.
"""

import torch

import workbook as wb
from tests.planted._base import eap_parts, pattern, qk_parts, verify, zs
from tests.planted.planted import _ig
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


def _patch_loop(model, task, put_fn, name_fn=None, norm=False):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            name = name_fn(l, h) if name_fn else names[l]
            hook = (name, lambda act, hook, l=l, h=h: put_fn(act, corr, names, l, h))
            with torch.no_grad(), model.hooks(fwd_hooks=[hook]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out / base if norm else out


def _put_head(act, corr, names, l, h):
    act = act.clone()
    act[:, :, h] = corr[names[l]][:, :, h]
    return act


def _put_layer(act, corr, names, l, h):
    return corr[names[l]].clone()


def h3_patch_hook_named_by_head(model, task):
    return _patch_loop(model, task, lambda act, corr, names, l, h: _put_head(act, corr, names, h, h),
                       name_fn=lambda l, h: f"blocks.{h}.attn.hook_z")


def h3_patch_relative_effect(model, task):
    return _patch_loop(model, task, _put_head, norm=True)


def h3_patch_whole_layer(model, task):
    return _patch_loop(model, task, _put_layer)


def h3_atp_mean_over_d_head(model, task):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).mean(3).sum(1).mean(0) for n in names])


def h3_qkq_grads_on_corrupt(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats, tokens=task.corrupt)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        out.append(((pattern(corr[f"blocks.{l}.attn.hook_q"], k, sc, mask) - pattern(q, k, sc, mask))
                    * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def h3_qkk_corrupt_queries_too(model, task):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = pattern(q, k, sc, mask)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(q_new, k2, sc, mask) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


def _gd_passes(model, task, grad_scale=1.0):
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}
    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B * grad_scale)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: torch.zeros_like(g) if drop["layer"] == l else g)
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
    return torch.stack(per_pass)  # [L, B, L, H] signed


def h3_gd_b_twice(model, task):
    L = model.cfg.n_layers
    return (_gd_passes(model, task, grad_scale=task.batch_size).abs().sum(0) / (L - 1)).mean(0)


def h3_gd_abs_after_pass_sum(model, task):
    L = model.cfg.n_layers
    return (_gd_passes(model, task).sum(0).abs() / (L - 1)).mean(0)


def h3_eap_sources_reversed(model, task):
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = (graph.stack_sources(corr) - graph.stack_sources(clean)).flip(0)
    return torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size * graph.edge_mask


def h3_eap_ig_half_the_points(model, task, steps):
    return _ig(model, task, steps, ks=range(1, steps // 2 + 1))


def h3_gp_norm_per_position(model, task, steps, step_size):
    from workbook.attribution.eap_gp import output_distance, step_sizes
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.norm(dim=-1, keepdim=True).clamp_min(1e-12)).detach()
            points.append(gamma)
    return torch.stack(points)


def h3_vt_values_misaligned(model, task, scores, k):
    names = scores.order(absolute=True)[:k]
    res = verify(model, task, names)
    return wb.Scores(names, torch.tensor([res[n] for n in sorted(names)]))


MISTAKES = [
    ("check_patch_heads", "hook name built from the head index", r"n_layers|n_heads|layer",
     h3_patch_hook_named_by_head),
    ("check_patch_heads", "divided by M(clean)", r"M\(clean\)", h3_patch_relative_effect),
    ("check_patch_heads", "whole layer patched for each head", r"whole layer|every head|all heads|late",
     h3_patch_whole_layer),
    ("check_atp_heads", "mean over d_head", r"d_head", h3_atp_mean_over_d_head),
    ("check_qk_fix_queries", "gradients on the corrupt tokens", r"same run|corrupt tokens", h3_qkq_grads_on_corrupt),
    ("check_qk_fix_keys", "corrupt queries as well", r"quer", h3_qkk_corrupt_queries_too),
    ("check_graddrop", "gradients times B twice", r"B times", h3_gd_b_twice),
    ("check_graddrop", "abs after summing the passes", r"abs", h3_gd_abs_after_pass_sum),
    ("check_eap", "sources in reverse order", r"reverse|order", h3_eap_sources_reversed),
    ("check_eap_ig", "only the first half of the points", r"points|k = 1\.\.m|alpha", h3_eap_ig_half_the_points),
    ("check_gradpath", "gradient normalised per position", r"per example|norm", h3_gp_norm_per_position),
    ("check_verify_top", "values in another order than the names", r"order|align|wrong", h3_vt_values_misaligned),
]
