"""Held-out set #4: written after the final probes were frozen; nothing was tuned on it.

Each entry is ``(check name, mistake id, expected cause regex, wrong function)``.
"""

import torch

import workbook as wb
from tests.planted._base import eap_parts, pattern, qk_parts, verify, zs
from tests.planted.held_out3 import _gd_passes
from tests.planted.planted import _qkk
from workbook.arch.graph import Graph
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


def _patch(model, task, source="corrupt", transpose_index=False):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    _, cache = cache_activations(model, task.corrupt if source == "corrupt" else task.clean, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = cache[names[l]][:, :, h]
                return act
            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                value = task.metric_value(model(task.clean)) - base
            if transpose_index:
                out[h, l] = value
            else:
                out[l, h] = value
    return out


def h4_patch_out_h_l(model, task):
    return _patch(model, task, transpose_index=True)


def h4_patch_from_clean_cache(model, task):
    return _patch(model, task, source="clean")


def h4_atp_batch_means_first(model, task):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n].mean(0) - clean[n].mean(0)) * grads[n].mean(0)).sum((0, 2)) for n in names])


def h4_atp_abs(model, task):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0).abs() for n in names])


def _qkq(model, task, scale_power=1, corrupt_pattern=False):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l) ** scale_power
        A = pattern(q, k, sc, mask)
        k_new = corr[f"blocks.{l}.attn.hook_k"] if corrupt_pattern else k
        out.append(((pattern(corr[f"blocks.{l}.attn.hook_q"], k_new, sc, mask) - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def h4_qkq_scale_twice(model, task):
    return _qkq(model, task, scale_power=2)


def h4_qkq_corrupt_run_pattern(model, task):
    return _qkq(model, task, corrupt_pattern=True)


def h4_qkk_layers_positions_heads(model, task):
    return _qkk(model, task).permute(0, 2, 1).contiguous()


def h4_gd_skip_upstream_passes(model, task):
    pp = _gd_passes(model, task)  # [L_pass, B, L, H]
    L = model.cfg.n_layers
    keep = (torch.arange(L)[:, None] >= torch.arange(L)[None, :]).float()  # pass l >= node layer
    return ((pp.abs() * keep[:, None, :, None]).sum(0) / (L - 1)).mean(0)


def h4_eap_last_position(model, task):
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    per_pos = torch.einsum("sbpd,tbpd->stp", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return per_pos[..., -1] * graph.edge_mask


def h4_eap_ig_integer_alpha(model, task, steps):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k // steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731 - a learner's closure
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    return torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size * graph.edge_mask


def h4_gp_target_clean_logits(model, task, steps, step_size):
    from workbook.attribution.eap_gp import output_distance, step_sizes
    target, c = cache_activations(model, task.clean, [LEAF_HOOK])  # should be the corrupt run's logits
    _, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def h4_vt_names_without_suffix(model, task, scores, k):
    names = scores.order(absolute=True)[:k]
    res = verify(model, task, names)
    return wb.Scores([n.rsplit(".", 1)[0] if n.endswith((".q", ".k")) else n for n in names],
                     torch.tensor([res[n] for n in names]))


MISTAKES = [
    ("check_patch_heads", "out[h, l] = ...", r"n_layers|n_heads|index|wrong order", h4_patch_out_h_l),
    ("check_patch_heads", "patched from the clean cache", r"same run|clean cache", h4_patch_from_clean_cache),
    ("check_atp_heads", "batch means before the product", r"per example|before|mean of a product",
     h4_atp_batch_means_first),
    ("check_atp_heads", "|AtP|", r"abs|\|", h4_atp_abs),
    ("check_qk_fix_queries", "scores divided by the scale twice", r"sqrt|scale", h4_qkq_scale_twice),
    ("check_qk_fix_queries", "corrupt run's pattern (corrupt keys too)", r"corrupt key|clean key|recompute",
     h4_qkq_corrupt_run_pattern),
    ("check_qk_fix_keys", "[layers, positions, heads]", r"wrong order|swapped", h4_qkk_layers_positions_heads),
    ("check_graddrop", "upstream passes left out", r"pass", h4_gd_skip_upstream_passes),
    ("check_eap", "last position only", r"last position", h4_eap_last_position),
    ("check_eap_ig", "alpha = k // m", r"alpha|k/m|points", h4_eap_ig_integer_alpha),
    ("check_gradpath", "distance to the clean logits", r"target|corrupt logits|never moves", h4_gp_target_clean_logits),
    ("check_verify_top", "names lose their .q/.k suffix", r"missing|name", h4_vt_names_without_suffix),
]
