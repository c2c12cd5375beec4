"""Compact correct solutions of the nine exercises, with switches where the planted mistakes go."""

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


def zs(model):
    return [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]


def qk_parts(model, task, corrupt_grads=False):
    L = model.cfg.n_layers
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    return clean, corr, grads, pats


def pattern(q, k, sc, mask, axis=-1):
    return (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(axis)


def eap_parts(model, task):
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    return graph, corr, clean, grads


def gradpath_walk(model, task, steps, step_size, start="clean", norm="example", sign=1.0, keep_start=True,
                  eta_rule=None, stale=False):
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    eta = step_sizes(eta_rule or step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma = (e_c if start == "clean" else e_n).clone()
    points = [gamma.clone()] if keep_start else []
    g_first = None
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            if stale:
                g_first = g if g_first is None else g_first
                g = g_first
            nrm = g.flatten(1).norm(dim=1).view(-1, 1, 1) if norm == "example" else g.norm()
            gamma = (leaf - sign * eta * g / nrm.clamp_min(1e-12)).detach()
            points.append(gamma)
    return torch.stack(points)


def verify(model, task, names, kinds=("head", "mlp", "q", "k", "edge"), values=True):
    def kind(name):
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        if what not in kinds:
            continue
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    names = [n for n in names if n in effects]
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching")
