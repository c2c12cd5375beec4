"""Direct and indirect effects of a node, by patching: the split behind AtP*'s cancellation failure.

A node's patching effect travels two ways: *directly* through the residual stream to the
unembedding, and *indirectly* through later components that read its write. When the two have
opposite signs they cancel in the total; AtP's linear estimate can then be near 0 for a node that
matters (GradDrop's target). This module measures the split exactly, noising convention::

    total(n)    = M(clean run, n := n(corrupt)) - M(clean run)                  (patch_nodes)
    direct(n)   = M(clean run, n := n(corrupt), everything downstream of n frozen) - M(clean run)
    indirect(n) = total(n) - direct(n)

*Downstream of n* = every attention layer and MLP that runs after ``n`` and could read its write:
for a head of layer ``l``, MLP ``l`` and every block after ``l``; for an MLP or a neuron of layer
``l``, every block after ``l``. *Frozen* = that component's residual write
(``blocks.*.hook_attn_out`` / ``blocks.*.hook_mlp_out``) is replaced by its clean-run value. The
final residual stream is then the clean one plus ``n``'s change of write, and the final
LayerNorm is recomputed from it: the same number as exactly patching the single edge
``n -> logits`` (:func:`workbook.patching.nodes.patch_edges`; the tests check this). The indirect
effect is what remains, including every interaction between ``n``'s change and later nodes.

Node kinds: ``head`` (``L{l}H{h}``), ``mlp`` (``MLP{l}``), ``neuron`` (``L{l}N{i}``), the nodes that
write to the residual stream; ``per_position=True`` patches one position at a time (``@pos``).
"""

from __future__ import annotations

import time
from typing import Sequence

import torch

from workbook.arch import check_model
from workbook.core.errors import check_tokens
from workbook.core.runs import cache_activations, chunks, compute_dtype, model_device, progress
from workbook.core.scores import Scores
from workbook.core.task import Task, oriented
from workbook.patching.nodes import node_kinds, node_specs, patch_nodes, run_copies

__all__ = ["direct_effects", "effect_split", "downstream_writes"]

KINDS = ("head", "mlp", "neuron")


def downstream_writes(n_layers: int, kind: str, layer: int) -> list[str]:
    """Hooks of the residual writes downstream of a ``kind`` node in ``layer`` (frozen for its direct effect)."""
    hooks = [f"blocks.{layer}.hook_mlp_out"] if kind == "head" else []
    for l in range(layer + 1, n_layers):
        hooks += [f"blocks.{l}.hook_attn_out", f"blocks.{l}.hook_mlp_out"]
    return hooks


def direct_effects(
    model,
    task: Task,
    what: str = "head",
    per_position: bool = False,
    direction: str = "noising",
    nodes: Sequence[str] | None = None,
    max_rows: int = 512,
    progress_bar: bool | None = None,
) -> Scores:
    """Direct effect of every node of kind ``what`` (or just ``nodes``); see the module docstring.

    Returns :class:`Scores` named like :func:`workbook.patching.nodes.patch_nodes` (batch means, with
    ``per_example [B, n]``). ``max_rows`` bounds the rows (patches x batch) of one forward pass.
    """
    node_kinds(what, KINDS, " Direct effects are defined for nodes that write to the residual stream.")
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    t0 = time.perf_counter()
    dev = model_device(model)
    run = oriented(task, direction).to(dev)
    specs = node_specs(model, what, per_position, task.seq_len, nodes)
    L, B = model.cfg.n_layers, task.batch_size
    cd = compute_dtype(model)
    writes = [f"blocks.{l}.{h}" for l in range(L) for h in ("hook_attn_out", "hook_mlp_out")]
    node_hooks = sorted({s.hook for s in specs})
    check_model(model, hooks=node_hooks + writes)
    mask = run.attention_mask
    clean_logits, clean = cache_activations(model, run.clean, node_hooks + writes, attention_mask=mask)
    _, corr = cache_activations(model, run.corrupt, node_hooks, attention_mask=mask)
    base = run.per_example(clean_logits).to(cd)

    per_rows = max(1, max_rows // B)
    groups = chunks(sorted(range(len(specs)), key=lambda i: specs[i].layer), per_rows)
    effects = torch.zeros(B, len(specs), dtype=cd, device=dev)
    for chunk in progress(groups, total=len(groups), desc=f"direct effects ({what})", enabled=progress_bar):
        K = len(chunk)
        patch_masks: dict[str, torch.Tensor] = {}
        frozen = {h: torch.zeros(K, dtype=torch.bool, device=dev) for h in writes}  # copy j freezes write h
        for j, i in enumerate(chunk):
            spec = specs[i]
            if spec.hook not in patch_masks:
                shape = (K,) + tuple(corr[spec.hook].shape[1:])
                patch_masks[spec.hook] = torch.zeros(shape, dtype=torch.bool, device=dev)
            patch_masks[spec.hook][(j,) + spec.index] = True
            for h in downstream_writes(L, what, spec.layer):
                frozen[h][j] = True

        def patch(name: str):
            m = patch_masks[name][:, None]  # [K, 1, ...]

            def fn(act, hook):
                shaped = act.reshape((K, B) + tuple(act.shape[1:]))
                return torch.where(m, corr[name][None], shaped).reshape(act.shape)

            return fn

        def freeze(name: str):
            m = frozen[name].view((K,) + (1,) * clean[name].ndim)  # [K, 1, 1, 1]

            def fn(act, hook):
                shaped = act.reshape((K, B) + tuple(act.shape[1:]))
                return torch.where(m, clean[name][None], shaped).reshape(act.shape)

            return fn

        fwd = [(h, patch(h)) for h in patch_masks] + [(h, freeze(h)) for h in writes if frozen[h].any()]
        logits = run_copies(model, run, K, fwd)
        effects[:, chunk] = (run.per_example(logits).reshape(K, B).to(cd) - base[None]).T
    info = {"direction": direction, "what": what, "seconds": time.perf_counter() - t0,
            "passes": f"{len(specs)} patched fwd", "forward_passes": len(specs) + 2}
    return Scores([s.name for s in specs], effects.mean(0), "direct effect (patching)", "node", effects, info)


def effect_split(
    model,
    task: Task,
    what: str = "head",
    per_position: bool = False,
    direction: str = "noising",
    total: Scores | None = None,
    nodes: Sequence[str] | None = None,
) -> dict[str, Scores]:
    """``{"total", "direct", "indirect"}`` :class:`Scores` for the nodes of kind ``what`` (noising).

    ``total`` may be passed if already computed with :func:`workbook.patching.nodes.patch_nodes` (same
    task, kind, positions and direction); ``indirect = total - direct`` per example.
    """

    direct = direct_effects(model, task, what, per_position, direction, nodes=nodes)
    if total is None:
        total = patch_nodes(model, task, what, per_position, direction, nodes=nodes)
    total = total.select(direct.names)
    ind_pe = total.per_example - direct.per_example if total.per_example is not None else None
    indirect = Scores(
        direct.names,
        total.values - direct.values,
        "indirect effect (total - direct)",
        "node",
        ind_pe,
        {"direction": direction, "what": what},
    )
    return {"total": total, "direct": direct, "indirect": indirect}
