"""AtP* GradDrop: expose nodes whose direct and indirect effects cancel in plain AtP.

A node's AtP estimate is a sum over every gradient path from the node to the metric. When a
positive direct path and a negative indirect path nearly cancel, the sum is tiny although the
node matters. GradDrop (Kramár et al. 2024) recomputes the estimate ``L`` times; in pass ``l``
the gradient flowing back through layer ``l``'s *writes* to the residual stream
(``blocks.l.hook_attn_out`` and ``blocks.l.hook_mlp_out``) is set to zero, while the residual
skip connection is left alone. Forward values never change. Per prompt pair::

    GradDrop(n) = 1/(L-1) * sum_l | (n(corrupt) - n(clean)) . dM^(l)/dn |clean |

and the score is the mean of that over pairs (absolute value *before* averaging). Pass ``l``
of a node in layer ``l`` is exactly 0 (every path out of the node is cut); passes of earlier
layers equal plain AtP; hence the ``L-1``: a node no drop affects scores exactly ``|AtP|``.

How the passes are computed (exactly the gradients above, not an approximation): with layer
``l``'s writes cut, the gradient at layer ``l``'s input ``resid_pre_l`` is the plain gradient
at its output ``resid_post_l`` (only the skip connection is left), and layers after ``l`` are
untouched. So one plain backward gives every node's gradient in the layers above each drop,
and pass ``l`` only back-propagates that plain ``dM/d resid_post_l`` from ``resid_pre_l`` down
through layers ``0..l-1``: about ``l/L`` of a backward. Each pass is reduced to its ``[B, n]``
estimates at once (its gradients are dropped), and the QK fix's inputs are built once.

Sign convention: noising (the deltas are corrupt - clean, gradients on the clean run).
Cost: one corrupt forward, one clean forward, one full backward and ``L-1`` partial ones
(pass ``l`` through layers ``0..l-1``; about ``(L+1)/2`` full backwards in all).
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import torch

from workbook.arch import adapter_for, check_model
from workbook.attribution.atp import reduce_node_products
from workbook.attribution.qk_fix import qk_fix_from_inputs, qk_fix_inputs, qk_hooks
from workbook.core.errors import ModelError, check_finite, check_tokens
from workbook.core.runs import (
    LEAF_HOOK,
    NO_LOGITS,
    cache_activations,
    compute_dtype,
    frozen_params,
    fused_attention,
    is_long,
    leaf,
    progress,
    run_model,
)
from workbook.core.scores import Scores
from workbook.core.task import Task, oriented
from workbook.patching.nodes import node_kinds, node_specs

__all__ = ["graddrop", "graddrop_passes", "aggregate_graddrop", "layer_write_hooks"]

#: ``estimate(kind, upto, grads)`` -> ``[B, n]``: the estimates of ``kind``'s nodes in layers ``0..upto-1``
Estimator = Callable[[str, int, dict], torch.Tensor]


def layer_write_hooks(layer: int) -> tuple[str, str]:
    """The two hooks through which block ``layer`` writes to the residual stream."""
    return (f"blocks.{layer}.hook_attn_out", f"blocks.{layer}.hook_mlp_out")


def aggregate_graddrop(per_pass: torch.Tensor) -> torch.Tensor:
    """``[L, B, n]`` per-pass estimates -> ``[B, n]``: ``sum_l |est_l| / (L-1)`` per example."""
    L = per_pass.shape[0]
    if L < 2:
        raise ModelError("GradDrop needs at least 2 layers: its normaliser is L-1, which is 0 for a 1-layer model.")
    return per_pass.abs().sum(0) / (L - 1)


def _per_example(names: Sequence[str], got: Sequence[torch.Tensor | None], views: dict, B: int) -> dict:
    """Gradients of the batch mean -> per example (``* B``), zeros where none arrived, checked finite."""
    return {n: check_finite(g.detach() * B, f"the gradient at {n}") if g is not None else torch.zeros_like(views[n])
            for n, g in zip(names, got)}


def graddrop_passes(
    model,
    run: Task,
    layer_grads: Sequence[Sequence[str]],
    act_names: Sequence[str],
    estimator: Callable[[dict[str, torch.Tensor]], Estimator],
    kinds: Sequence[str],
) -> torch.Tensor:
    """The ``[L, B, n]`` per-pass estimates; pass ``l`` drops layer ``l``'s writes (module doc).

    ``layer_grads[j]``: the hooks of layer ``j`` whose gradients the estimates read;
    ``estimate(kind, upto, grads)`` turns per-example gradients (the batch-mean's ``1/B``
    undone, zeros where none arrived) into ``[B, n]`` estimates for ``kind``'s nodes in layers
    ``0..upto-1``; it is made by ``estimator(clean activations at act_names)`` after the clean
    forward. Columns are kind-major, layer-minor (:func:`node_specs` order of ``kinds``). Runs
    the clean forward, one plain backward and ``L-1`` partial ones.
    """
    L, B = model.cfg.n_layers, run.batch_size
    inputs = [f"blocks.{l}.hook_resid_pre" for l in range(1, L)]
    outputs = inputs + [f"blocks.{L - 1}.hook_resid_post"]  # outputs[l]: layer l's output
    names = list(dict.fromkeys([n for hooks in layer_grads for n in hooks] + outputs))
    views: dict[str, torch.Tensor] = {}
    acts: dict[str, torch.Tensor] = {}

    def save(name: str) -> Callable:
        def fn(t, hook):
            acts[name] = t.detach()

        return fn

    def keep(name: str) -> Callable:
        def fn(t, hook):
            views[name] = t.view_as(t)  # gradients are taken at the tensor the model reads on
            return views[name]

        return fn

    fwd = [(LEAF_HOOK, leaf)] + [(n, save(n)) for n in dict.fromkeys(act_names)] + [(n, keep(n)) for n in names]
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd):
        P = run.logit_positions()
        total = run.per_example(run_model(model, run.clean, run.attention_mask, P), P).mean()
        estimate = estimator(acts)
        got = torch.autograd.grad(total, [views[n] for n in names], retain_graph=True, allow_unused=True)
        raw = {n: g for n, g in zip(names, got) if n in outputs}  # dM/d(layer outputs): the partial passes' seeds
        full = {k: estimate(k, L, _per_example(names, got, views, B)) for k in kinds}  # every layer, plain gradients
        del got
        below: list[dict[str, torch.Tensor]] = [{}]  # below[l][k]: kind k in layers < l, pass l
        slow = is_long(model, B, run.seq_len, L)
        for l in progress(range(1, L), total=L - 1, desc="GradDrop backward passes", enabled=slow):
            under = [n for hooks in layer_grads[:l] for n in hooks]
            cot = raw[outputs[l]]
            if cot is None:  # nothing above reads layer l's output (cannot happen in a causal LM)
                cot = torch.zeros_like(views[outputs[l]])
            got = torch.autograd.grad(views[inputs[l - 1]], [views[n] for n in under], grad_outputs=cot,
                                      retain_graph=l < L - 1, allow_unused=True)
            grads = _per_example(under, got, views, B)
            below.append({k: estimate(k, l, grads) for k in kinds})
            del got, grads
        views.clear()
    width = {k: [below[l][k].shape[1] for l in range(1, L)] + [full[k].shape[1]] for k in kinds}  # cols < l + 1
    rows = []
    for l in range(L):
        cols = []
        for k in kinds:
            lo, hi = (below[l][k].shape[1] if l else 0), width[k][l]
            mine = below[l][k] if l else full[k][:, :0]
            cols += [mine, full[k].new_zeros((B, hi - lo)), full[k][:, hi:]]
        rows.append(torch.cat(cols, 1))
    return torch.stack(rows)


def _estimator(model, kinds: Sequence[str], fixed: Sequence[str], per_position: bool, corr: dict) -> Callable:
    """``clean activations -> estimate(kind, upto, grads)``: plain AtP products for ordinary kinds
    (``(corrupt - clean) . grad`` per layer), the QK fix for the ``fixed`` kinds; the deltas and the
    QK fix's inputs are built once for every pass."""
    ad, cd = adapter_for(model), compute_dtype(model)

    def make(clean: dict[str, torch.Tensor]) -> Estimator:
        layers = qk_fix_inputs(model, clean, corr) if fixed else None
        hooks = {k: [ad.node_hook(k, l) for l in range(ad.n_layers)] for k in kinds if k not in fixed}
        delta = {h: corr[h].to(cd) - clean[h].to(cd) for hs in hooks.values() for h in hs}

        def estimate(kind: str, upto: int, grads: dict[str, torch.Tensor]) -> torch.Tensor:
            if kind in fixed:
                return qk_fix_from_inputs(model, layers[:upto], kind, per_position, grads).to(cd)
            return torch.cat([reduce_node_products(kind, delta[h] * grads[h].to(cd), per_position)
                              for h in hooks[kind][:upto]], 1)

        return estimate

    return make


def graddrop(
    model,
    task: Task,
    what: str | Sequence[str] = "head",
    per_position: bool = False,
    qk_fix: bool = False,
    direction: str = "noising",
    method: str = "AtP* GradDrop",
) -> Scores:
    """GradDrop scores for every node of the kind(s) in ``what`` (see the module docstring).

    Args:
        model: a prepared TransformerBridge with at least 2 layers.
        task: clean/corrupt pairs and metric.
        what: node kind(s) as in :func:`workbook.patching.nodes.patch_nodes`.
        per_position: one node per position (names get ``@pos``).
        qk_fix: for ``q``/``k`` nodes, use the exact-softmax QK fix in every pass.
        direction: ``"noising"`` (default) or ``"denoising"``.

    Returns:
        :class:`Scores` (non-negative: magnitudes), ``per_example`` ``[B, n]``, and
        ``info["per_pass"]`` ``[L, B, n]`` the signed per-pass estimates.
    """
    kinds = node_kinds(what)
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    L = model.cfg.n_layers
    if L < 2:
        raise ModelError("GradDrop needs at least 2 layers: its normaliser is L-1, which is 0 for a 1-layer model.")
    t0 = time.perf_counter()
    run = oriented(task, direction)
    fixed = [k for k in kinds if qk_fix and k in ("q", "k")]
    if fixed:
        adapter_for(model).require("qk_fix")
    ad = adapter_for(model)
    plain = [[ad.node_hook(k, l) for k in kinds if k not in fixed] for l in range(L)]
    qk_acts = qk_hooks(model)[0] if fixed else []
    corr_qk = qk_hooks(model, scores=False)[0] if fixed else []
    layer_grads = [hooks + ([f"blocks.{l}.attn.hook_pattern"] if fixed else []) for l, hooks in enumerate(plain)]
    flat = [h for hooks in plain for h in hooks]
    with fused_attention(model):  # node, q/k, score and pattern hooks need no per-head flags: plain passes
        _, corr = cache_activations(model, run.corrupt, flat + corr_qk, attention_mask=run.attention_mask,
                                    positions=NO_LOGITS)
        per_pass = graddrop_passes(model, run, layer_grads, flat + qk_acts,
                                   _estimator(model, kinds, fixed, per_position, corr), kinds)  # [L, B, n]
    per_ex = aggregate_graddrop(per_pass)
    names = [s.name for k in kinds for s in node_specs(model, k, per_position, task.seq_len)]
    return Scores(
        names,
        per_ex.mean(0),
        method=method,
        kind="node",
        per_example=per_ex,
        info={
            "direction": direction,
            "qk_fix": qk_fix,
            "per_pass": per_pass,
            "seconds": time.perf_counter() - t0,
            "passes": f"2 fwd + {L} bwd (pass l through layers < l only)",
            "forward_passes": 2,
            "backward_passes": L,
        },
    )
