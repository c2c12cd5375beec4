"""Ground truth: full activation patching of nodes and edges, batched.

Every claim in the course is checked against these functions.

Sign convention (noising, the default)::

    effect(n) = M(clean run with n := n(corrupt)) - M(clean run)

``direction="denoising"`` gives ``M(corrupt run with n := n(clean)) - M(corrupt run)`` instead.
``M`` is the task metric (batch mean); per-example effects are kept in ``Scores.per_example``.

Speed: patches are stacked along the batch dimension (one copy of the batch per patch), so a
sweep takes a handful of large forwards. Padding: the task's ``attention_mask`` goes to every
forward (:func:`workbook.core.runs.run_model`). Effects are computed in float32 (float64 for a float64
model) whatever the model's dtype.

Node kinds (``what=``), with names and hook points (the model's adapter, :mod:`workbook.arch`,
owns the hook names):

========== ============================ ===================================
what       names                        hook
========== ============================ ===================================
head       ``L{l}H{h}``                 ``blocks.l.attn.hook_z`` (head output)
q, k, v    ``L{l}H{h}.q`` ...           ``blocks.l.attn.hook_q`` / ``hook_k`` / ``hook_v``
           (``L{l}KV{g}.k`` / ``.v``    one k/v node per k/v head under grouped-query attention)
pattern    ``L{l}H{h}.pattern``         ``blocks.l.attn.hook_pattern`` (per query row with ``per_position``)
mlp        ``MLP{l}``                   ``blocks.l.hook_mlp_out``
neuron     ``L{l}N{n}``                 ``blocks.l.mlp.hook_post``
========== ============================ ===================================

With ``per_position=True`` each name gets ``@{pos}`` and only that position is patched (with a
padded task, ``pos`` indexes the padded sequence, so it depends on the padding side; the
all-position scores do not).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Sequence

import torch

from workbook.arch import NODE_HOOKS, adapter_for, check_model
from workbook.core.budget import MemoryGuard, copies_per_pass
from workbook.core.errors import WorkbookError, check_tokens
from workbook.core.runs import (
    NO_LOGITS,
    cache_activations,
    chunks,
    compute_dtype,
    fused_attention,
    metric_per_example,
    model_device,
    progress,
    run_model,
)
from workbook.core.scores import Scores
from workbook.core.task import Task, oriented
from workbook.patching.resume import CleanRun, Patch

__all__ = [
    "NODE_KINDS",
    "node_kind_of",
    "NodeSpec",
    "node_kinds",
    "node_specs",
    "patch_nodes",
    "checked_run",
    "run_copies",
    "metric_copies",
]

NODE_KINDS = ("head", "q", "k", "v", "pattern", "mlp", "neuron")


@dataclass(frozen=True)
class NodeSpec:
    """Where a node lives: hook, layer, and the index into one example's activation."""

    name: str
    hook: str
    layer: int
    index: tuple


def _hook_for(kind: str, layer: int) -> str:

    return NODE_HOOKS[kind].format(l=layer)


def node_kinds(what: str | Sequence[str], allowed: Sequence[str] = NODE_KINDS, hint: str = "") -> list[str]:
    """``what`` (one node kind or several) as a list, each checked against ``allowed``."""
    kinds = [what] if isinstance(what, str) else list(what)
    for k in kinds:
        if k not in allowed:
            edge = " Edges are not nodes: patch them with patch_edges(model, task, edges=[...])." if k == "edge" else ""
            raise WorkbookError(f"unknown node kind {k!r}; choose from {tuple(allowed)}.{edge}{hint}")
    return kinds


def node_specs(
    model, what: str, per_position: bool = False, seq_len: int | None = None, nodes: Sequence[str] | None = None
) -> list[NodeSpec]:
    """Every node of kind ``what`` in ``model`` (see the module table), in layer order; or, with
    ``nodes``, just those, in that order (an unknown name is a :class:`WorkbookError`)."""
    if what not in NODE_KINDS:
        edge = " Edges are not nodes: patch them with patch_edges(model, task, edges=[...])." if what == "edge" else ""
        raise WorkbookError(f"unknown node kind {what!r}; choose from {NODE_KINDS}.{edge}")
    if per_position and seq_len is None:
        raise WorkbookError("per_position=True needs seq_len.")
    ad = adapter_for(model)
    L, Dm = ad.n_layers, model.cfg.d_mlp
    positions = range(seq_len) if per_position else [None]
    all_ = slice(None)
    specs = []
    for l in range(L):
        hook = ad.node_hook(what, l)
        if what in ("head", "q", "k", "v"):
            for h in range(ad.heads_of(what)):
                for p in positions:
                    nm = ad.node_label(what, l, h) + ("" if p is None else f"@{p}")
                    specs.append(NodeSpec(nm, hook, l, (all_ if p is None else p, h)))
        elif what == "pattern":
            for h in range(ad.n_heads):
                for p in positions:
                    nm = ad.node_label("pattern", l, h) + ("" if p is None else f"@{p}")
                    specs.append(NodeSpec(nm, hook, l, (h,) if p is None else (h, p)))
        elif what == "mlp":
            for p in positions:
                specs.append(NodeSpec(f"MLP{l}" + ("" if p is None else f"@{p}"), hook, l, (all_ if p is None else p,)))
        else:  # neuron
            for n in range(Dm):
                for p in positions:
                    nm = f"L{l}N{n}" + ("" if p is None else f"@{p}")
                    specs.append(NodeSpec(nm, hook, l, (all_ if p is None else p, n)))
    if nodes is None:
        return specs
    if isinstance(nodes, str):
        raise WorkbookError(f"nodes must be a list of names, got the string {nodes!r} (its characters would be read "
                            f"as names): pass nodes=[{nodes!r}].")
    by_name = {s.name: s for s in specs}
    unknown = [n for n in nodes if n not in by_name]
    if unknown:
        kinds = sorted({node_kind_of(n) for n in unknown} - {what})
        nodes_kinds = [k for k in kinds if k != "edge"]
        example = [f"patch_nodes(model, task, {nodes_kinds[0]!r}, nodes=[...])"] if nodes_kinds else []
        example += ["patch_edges(model, task, edges=[...]) for edges"] if "edge" in kinds else []
        other = (f" ({', '.join(kinds)} names: each kind of name goes to its own call, e.g. {' or '.join(example)})"
                 if kinds and "unknown" not in kinds else "")
        raise WorkbookError(f"unknown {what} node(s) {unknown[:3]}{other}; e.g. {list(by_name)[:4]}.")
    return [by_name[n] for n in nodes]


def node_kind_of(name: str) -> str:
    """The kind of a node or edge name: "edge" (``src->dst``), "mlp" (``MLP3``), "q"/"k"/"v"/"pattern"
    (``L1H0.q``), "head" (``L1H0``), "neuron" (``L1N5``), with ``@pos`` ignored; "unknown" otherwise."""
    base = str(name).split("@")[0]
    if "->" in base:
        return "edge"
    if re.fullmatch(r"MLP\d+", base):
        return "mlp"
    m = re.fullmatch(r"L\d+H\d+(?:\.(q|k|v|pattern))?", base)
    if m:
        return m.group(1) or "head"
    return "neuron" if re.fullmatch(r"L\d+N\d+", base) else "unknown"


def checked_run(model, task: Task, direction: str, method: str) -> Task:
    """The checks :func:`patch_nodes` and :func:`~workbook.patching.edges.patch_edges` share: a
    prepared model, in-vocabulary tokens, a known ``method``; returns the task oriented by
    ``direction`` on the model's device."""
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    if method not in ("auto", "resume", "forward"):
        raise WorkbookError(f"method must be 'auto', 'resume' or 'forward', got {method!r}.")
    return oriented(task, direction).to(model_device(model))


def run_copies(model, run: Task, copies: int, fwd_hooks) -> torch.Tensor:
    """Logits of ``copies`` stacked copies of the clean batch (with its padding mask) under ``fwd_hooks``."""
    with torch.no_grad(), model.hooks(fwd_hooks=fwd_hooks):
        return run_model(model, run.clean.repeat(copies, 1), run.attention_mask)


def metric_copies(model, run: Task, copies: int, fwd_hooks) -> torch.Tensor:
    """Per-example metric ``[copies * B]`` of stacked patched copies (logits only where the metric reads)."""
    P = run.logit_positions()
    with torch.no_grad(), model.hooks(fwd_hooks=fwd_hooks):
        return run.per_example(run_model(model, run.clean.repeat(copies, 1), run.attention_mask, P), P)


def patch_nodes(
    model,
    task: Task,
    what: str = "head",
    per_position: bool = False,
    direction: str = "noising",
    nodes: Sequence[str] | None = None,
    max_rows: int | None = None,
    progress_bar: bool | None = None,
    method: str = "auto",
) -> Scores:
    """Activation-patch every node of kind ``what`` (or just ``nodes``) and measure the metric.

    Returns :class:`Scores` with ``values[n] = mean_b effect_b(n)`` (see the module docstring
    for the sign convention) and ``per_example[b, n]``. ``max_rows`` bounds the rows
    (patches x batch) of one pass (default: from the memory budget, :mod:`workbook.core.budget`).

    ``method``: ``"resume"`` resumes the cached clean run from each node's layer
    (:class:`workbook.patching.resume.CleanRun`: only the patched head or MLP is recomputed there, every
    later layer in full, the last one at the read positions); ``"forward"`` runs full forwards of
    stacked patched copies with hooks (fused attention); ``"auto"`` (default) resumes when that
    reproduces the model exactly and the kind is not ``neuron``. ``info["method"]`` says which ran.
    """

    t0 = time.perf_counter()
    run = checked_run(model, task, direction, method)
    specs = node_specs(model, what, per_position, task.seq_len, nodes)
    hooks_needed = sorted({s.hook for s in specs})
    check_model(model, hooks=hooks_needed)
    cr = CleanRun(model, run) if method != "forward" and what != "neuron" else None
    if method == "resume" and (cr is None or not cr.exact):
        raise WorkbookError(
            f"cannot resume the clean run exactly for {what!r} nodes ({'neuron' if cr is None else cr.reason}); "
            "use method='forward'."
        )
    with fused_attention(model):  # node hooks need no per-head flags; plain passes are faster
        _, corr = cache_activations(
            model, run.corrupt, hooks_needed, attention_mask=run.attention_mask, positions=NO_LOGITS
        )
        if cr is not None and cr.exact:
            effects, n_pass = _nodes_resumed(model, run, specs, what, corr, cr, max_rows, progress_bar)
            used = "resume"
        else:
            effects, n_pass = _nodes_by_forward(model, run, specs, corr, max_rows, progress_bar, what)
            used = "forward" + ("" if cr is None else f" ({cr.reason})")
    return Scores(
        [s.name for s in specs],
        effects.mean(0),
        method="activation patching",
        kind="node",
        per_example=effects,
        info={
            "direction": direction,
            "what": what,
            "seconds": time.perf_counter() - t0,
            "method": used,
            "passes": f"{len(specs)} patched copies in {n_pass} batched passes",
            "forward_passes": len(specs) + 2,
        },
    )


def _copies_per_pass(model, run: Task, wanted: int, max_rows: int | None) -> int:

    if max_rows is not None:
        return max(1, min(wanted, max_rows // run.batch_size))
    return copies_per_pass(model, run, wanted, backward=False)


def _node_patch(spec: NodeSpec, what: str, clean: dict, corr: dict):
    """The :class:`workbook.patching.resume.Patch` that sets node ``spec`` to its corrupt value."""

    l, idx = spec.layer, spec.index
    if what == "mlp":
        d = torch.zeros_like(clean[spec.hook])
        d[(slice(None),) + idx] = corr[spec.hook][(slice(None),) + idx] - clean[spec.hook][(slice(None),) + idx]
        return Patch(l, resid=d)
    if what == "pattern":
        h = idx[0]
        new = clean[spec.hook][:, h].clone()
        rows = (slice(None),) + tuple(idx[1:])
        new[rows] = corr[spec.hook][:, h][rows]
        return Patch(l, pattern={h: new})
    pos, h = idx
    new = clean[spec.hook][:, :, h].clone()
    new[:, pos] = corr[spec.hook][:, pos, h]
    return Patch(l, z={h: new}) if what == "head" else Patch(l, qkv=(what, h, new))


def _nodes_resumed(
    model, run: Task, specs, what: str, corr: dict, cr, max_rows, progress_bar
) -> tuple[torch.Tensor, int]:
    """Effects ``[B, n_nodes]`` with the clean run resumed from each node's layer."""

    cd = compute_dtype(model)
    B = run.batch_size
    K = _copies_per_pass(model, run, len(specs), max_rows)
    by_layer: dict[int, list[int]] = {}
    for i, s in enumerate(specs):
        sl = (slice(None),) + s.index
        if torch.equal(corr[s.hook][sl], cr.c[s.hook][sl]):
            continue  # the patch changes nothing: its effect is exactly 0
        by_layer.setdefault(s.layer, []).append(i)
    groups = [idx[a : a + K] for _, idx in sorted(by_layer.items()) for a in range(0, len(idx), K)]
    effects = torch.zeros(B, len(specs), dtype=cd, device=cr.device)
    base = cr.base.to(cd)
    guard = MemoryGuard()
    for chunk in progress(groups, total=len(groups), desc=f"patching {what}", enabled=progress_bar):
        vals = cr.run([_node_patch(specs[i], what, cr.c, corr) for i in chunk]).to(cd)
        effects[:, chunk] = (vals - base[None]).T
        guard.after_pass()
    return effects, len(groups)


def _nodes_by_forward(
    model, run: Task, specs, corr: dict, max_rows, progress_bar, what: str
) -> tuple[torch.Tensor, int]:
    """Effects ``[B, n_nodes]`` from full forwards of stacked patched copies (hooks swap in corrupt values)."""
    B = run.batch_size
    cd = compute_dtype(model)
    dev = model_device(model)
    base = metric_per_example(model, run).to(cd)  # [B]
    per_rows = _copies_per_pass(model, run, len(specs), max_rows)
    groups = chunks(sorted(range(len(specs)), key=lambda i: specs[i].layer), per_rows)
    effects = torch.zeros(B, len(specs), dtype=cd, device=dev)
    for chunk in progress(groups, total=len(groups), desc=f"patching {what}", enabled=progress_bar):
        K = len(chunk)
        masks: dict[str, torch.Tensor] = {}
        for j, i in enumerate(chunk):
            s = specs[i]
            if s.hook not in masks:
                masks[s.hook] = torch.zeros((K,) + tuple(corr[s.hook].shape[1:]), dtype=torch.bool, device=dev)
            masks[s.hook][(j,) + s.index] = True

        def make_hook(name: str):
            m = masks[name][:, None]  # [K, 1, ...]

            def fn(act, hook):
                shaped = act.reshape((K, B) + tuple(act.shape[1:]))
                out = torch.where(m, corr[name][None], shaped)
                return out.reshape(act.shape)

            return fn

        vals = metric_copies(model, run, K, [(h, make_hook(h)) for h in masks]).reshape(K, B).to(cd)
        effects[:, chunk] = (vals - base[None]).T
    return effects, len(groups)
