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

Sign convention: noising (the deltas are corrupt - clean, gradients on the clean run).
Cost: one corrupt forward, one clean forward, ``L`` backward passes (``retain_graph``).
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import torch

from workbook.arch import adapter_for, check_model
from workbook.attribution.atp import node_hooks, node_products
from workbook.attribution.qk_fix import qk_fix_from_inputs, qk_fix_inputs, qk_hooks
from workbook.core.errors import ModelError, check_finite, check_tokens
from workbook.core.runs import (
    LEAF_HOOK,
    cache_activations,
    compute_dtype,
    frozen_params,
    is_long,
    leaf,
    progress,
    run_model,
)
from workbook.core.scores import Scores
from workbook.core.task import Task, oriented
from workbook.patching.nodes import node_kinds, node_specs

__all__ = ["graddrop", "graddrop_passes", "aggregate_graddrop", "layer_write_hooks"]


def layer_write_hooks(layer: int) -> tuple[str, str]:
    """The two hooks through which block ``layer`` writes to the residual stream."""
    return (f"blocks.{layer}.hook_attn_out", f"blocks.{layer}.hook_mlp_out")


def aggregate_graddrop(per_pass: torch.Tensor) -> torch.Tensor:
    """``[L, B, n]`` per-pass estimates -> ``[B, n]``: ``sum_l |est_l| / (L-1)`` per example."""
    L = per_pass.shape[0]
    if L < 2:
        raise ModelError("GradDrop needs at least 2 layers: its normaliser is L-1, which is 0 for a 1-layer model.")
    return per_pass.abs().sum(0) / (L - 1)


def graddrop_passes(
    model,
    run: Task,
    grad_names: Sequence[str],
    act_names: Sequence[str] = (),
) -> tuple[dict[str, torch.Tensor], list[dict[str, torch.Tensor]]]:
    """One clean forward and ``L`` backward passes, pass ``l`` dropping layer ``l``'s writes.

    Returns ``(clean activations, [per-pass gradients])``; gradients are per example
    (the batch-mean's ``1/B`` is undone) and zeros where no gradient arrived.
    """
    L, B = model.cfg.n_layers, run.batch_size
    drop = {"layer": None}
    acts: dict[str, torch.Tensor] = {}
    grads: dict[str, torch.Tensor] = {}
    names = list(dict.fromkeys(list(grad_names) + list(act_names)))

    def save_act(name: str) -> Callable:
        def fn(t, hook):
            acts[name] = t.detach()

        return fn

    def save_grad(name: str) -> Callable:
        def fn(g, hook):
            if drop["layer"] is not None and name in layer_write_hooks(drop["layer"]):
                g = torch.zeros_like(g)  # a node that IS the dropped write (hook_mlp_out) gets no gradient
            grads[name] = g.detach() * B + grads.get(name, 0)

        return fn

    def gate(layer: int) -> Callable:
        def fn(g, hook):
            return torch.zeros_like(g) if drop["layer"] == layer else g

        return fn

    fwd = [(LEAF_HOOK, leaf)] + [(n, save_act(n)) for n in names]
    bwd = [(n, save_grad(n)) for n in dict.fromkeys(grad_names)]
    bwd += [(h, gate(l)) for l in range(L) for h in layer_write_hooks(l)]
    passes = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        logits = run_model(model, run.clean, run.attention_mask)
        total = run.per_example(logits).mean()
        slow = is_long(model, run.batch_size, run.seq_len, 2 * L)
        for l in progress(range(L), total=L, desc="GradDrop backward passes", enabled=slow):
            drop["layer"] = l
            grads.clear()
            total.backward(retain_graph=l < L - 1)
            passes.append(
                {
                    n: check_finite(grads[n], f"the gradient at {n}") if n in grads else torch.zeros_like(acts[n])
                    for n in grad_names
                }
            )
    return acts, passes


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
    plain = [k for k in kinds if k not in fixed]
    if fixed:
        adapter_for(model).require("qk_fix")
    hooks = node_hooks(model, plain)
    qk_acts, qk_grads = qk_hooks(model) if fixed else ([], [])
    corr_qk = qk_hooks(model, scores=False)[0] if fixed else []
    _, corr = cache_activations(model, run.corrupt, hooks + corr_qk, attention_mask=run.attention_mask)
    clean, passes = graddrop_passes(model, run, hooks + qk_grads, hooks + qk_acts)
    layers = qk_fix_inputs(model, clean, corr) if fixed else None
    cd = compute_dtype(model)
    per_pass = []
    for grads in passes:
        cols = []
        for k in kinds:
            if k in fixed:
                cols.append(qk_fix_from_inputs(model, layers, k, per_position, grads).to(cd))
                continue
            cols += node_products(model, k, per_position, corr, clean, grads)
        per_pass.append(torch.cat(cols, 1))
    per_pass_t = torch.stack(per_pass)  # [L, B, n]
    per_ex = aggregate_graddrop(per_pass_t)
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
            "per_pass": per_pass_t,
            "seconds": time.perf_counter() - t0,
            "passes": f"2 fwd + {L} bwd",
            "forward_passes": 2,
            "backward_passes": L,
        },
    )
