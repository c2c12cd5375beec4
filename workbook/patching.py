"""Ground truth: full activation patching of nodes and edges, batched.

Every claim in the course is checked against these functions.

Sign convention (noising, the default)::

    effect(n) = M(clean run with n := n(corrupt)) - M(clean run)

``direction="denoising"`` gives ``M(corrupt run with n := n(clean)) - M(corrupt run)`` instead.
``M`` is the task metric (batch mean); per-example effects are kept in ``Scores.per_example``.

Speed: patches are stacked along the batch dimension (one copy of the batch per patch), so a
sweep takes a handful of large forwards. Padding: the task's ``attention_mask`` goes to every
forward (:func:`workbook.hooks.run_model`). Effects are computed in float32 (float64 for a float64
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

import contextlib
import time
from dataclasses import dataclass
from typing import Sequence

import torch

from workbook.arch import adapter_for, compute_dtype
from workbook.graph import Graph
from workbook.hooks import cache_activations, progress, run_model
from workbook.scores import Scores
from workbook.tasks import Task
from workbook.validate import check_model, check_tokens, WorkbookError

__all__ = ["NODE_KINDS", "node_kinds", "node_specs", "patch_nodes", "patch_edges", "run_with_patched_edges", "edge_patched_metric"]

NODE_KINDS = ("head", "q", "k", "v", "pattern", "mlp", "neuron")


@dataclass(frozen=True)
class NodeSpec:
    """Where a node lives: hook, layer, and the index into one example's activation."""

    name: str
    hook: str
    layer: int
    index: tuple


def _hook_for(kind: str, layer: int) -> str:
    from workbook.arch import NODE_HOOKS

    return NODE_HOOKS[kind].format(l=layer)


def node_kinds(what: str | Sequence[str], allowed: Sequence[str] = NODE_KINDS, hint: str = "") -> list[str]:
    """``what`` (one node kind or several) as a list, each checked against ``allowed``."""
    kinds = [what] if isinstance(what, str) else list(what)
    for k in kinds:
        if k not in allowed:
            raise WorkbookError(f"unknown node kind {k!r}; choose from {tuple(allowed)}.{hint}")
    return kinds


def node_specs(model, what: str, per_position: bool = False, seq_len: int | None = None) -> list[NodeSpec]:
    """Every node of kind ``what`` in ``model`` (see the module table), in layer order."""
    if what not in NODE_KINDS:
        raise WorkbookError(f"unknown node kind {what!r}; choose from {NODE_KINDS}.")
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
    return specs


def _orient(task: Task, direction: str) -> Task:
    if direction == "noising":
        return task
    if direction == "denoising":
        return task.swapped()
    raise WorkbookError(f"direction must be 'noising' or 'denoising', got {direction!r}.")


def _resid_pre_names(L: int) -> list[str]:
    return [f"blocks.{l}.hook_resid_pre" for l in range(L)]


def _run_copies(model, run: Task, copies: int, fwd_hooks) -> torch.Tensor:
    """Run ``copies`` stacked copies of the clean batch (with its padding mask) under ``fwd_hooks``.

    (TransformerLens 4.3's ``start_at_layer`` still executes the earlier blocks, so starting
    from a cached residual stream would save nothing; running the tokens keeps the
    mask-derived position ids right.)
    """
    with torch.no_grad(), model.hooks(fwd_hooks=fwd_hooks):
        return run_model(model, run.clean.repeat(copies, 1), run.attention_mask)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def patch_nodes(
    model,
    task: Task,
    what: str = "head",
    per_position: bool = False,
    direction: str = "noising",
    nodes: Sequence[str] | None = None,
    max_rows: int = 512,
    progress_bar: bool | None = None,
) -> Scores:
    """Activation-patch every node of kind ``what`` (or just ``nodes``) and measure the metric.

    Returns :class:`Scores` with ``values[n] = mean_b effect_b(n)`` (see the module docstring
    for the sign convention) and ``per_example[b, n]``. ``max_rows`` bounds the rows
    (patches x batch) of one forward pass.
    """
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    t0 = time.perf_counter()
    run = _orient(task, direction)
    specs = node_specs(model, what, per_position, task.seq_len)
    if nodes is not None:
        by_name = {s.name: s for s in specs}
        unknown = [n for n in nodes if n not in by_name]
        if unknown:
            raise WorkbookError(f"unknown {what} node(s) {unknown[:3]}; e.g. {list(by_name)[:4]}.")
        specs = [by_name[n] for n in nodes]
    hooks_needed = sorted({s.hook for s in specs})
    check_model(model, hooks=hooks_needed)
    B = task.batch_size
    cd = compute_dtype(model)
    clean_logits, clean = cache_activations(model, run.clean, hooks_needed, attention_mask=run.attention_mask)
    _, corr = cache_activations(model, run.corrupt, hooks_needed, attention_mask=run.attention_mask)
    base = run.per_example(clean_logits).to(cd)  # [B]

    per_rows = max(1, max_rows // B)
    chunks = _chunks(sorted(range(len(specs)), key=lambda i: specs[i].layer), per_rows)
    effects = torch.zeros(B, len(specs), dtype=cd)
    for chunk in progress(chunks, total=len(chunks), desc=f"patching {what}", enabled=progress_bar):
        K = len(chunk)
        masks: dict[str, torch.Tensor] = {}
        for j, i in enumerate(chunk):
            s = specs[i]
            if s.hook not in masks:
                masks[s.hook] = torch.zeros((K,) + tuple(corr[s.hook].shape[1:]), dtype=torch.bool)
            masks[s.hook][(j,) + s.index] = True

        def make_hook(name: str):
            m = masks[name][:, None]  # [K, 1, ...]

            def fn(act, hook):
                shaped = act.reshape((K, B) + tuple(act.shape[1:]))
                out = torch.where(m, corr[name][None], shaped)
                return out.reshape(act.shape)

            return fn

        logits = _run_copies(model, run, K, [(h, make_hook(h)) for h in masks])
        vals = run.per_example(logits).reshape(K, B).to(cd)
        effects[:, chunk] = (vals - base[None]).T
    return Scores(
        [s.name for s in specs],
        effects.mean(0),
        method="activation patching",
        kind="node",
        per_example=effects,
        info={"direction": direction, "what": what, "seconds": time.perf_counter() - t0,
              "passes": f"{len(specs)} patched fwd", "forward_passes": len(specs) + 2},
    )


# --------------------------------------------------------------------------- edges
def _edge_list(graph: Graph, edges: Sequence[str] | None) -> list[tuple[int, int]]:
    if edges is None:
        return [tuple(x) for x in graph.edge_mask.nonzero().tolist()]
    return [graph.edge_index(e) for e in edges]


def _edge_caches(model, run: Task, graph: Graph):
    """Clean/corrupt source writes, plus the clean fused-attention run the patched runs start from."""
    mask = run.attention_mask
    _, clean = cache_activations(model, run.clean, list(graph.source_hooks), attention_mask=mask)
    _, corr = cache_activations(model, run.corrupt, list(graph.source_hooks), attention_mask=mask)
    L = graph.n_layers
    names = _resid_pre_names(L) + [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in "qkv"]
    names += [f"blocks.{l}.hook_mlp_in" for l in range(L)] + [f"blocks.{L - 1}.hook_resid_post"]
    with _fused_attention(model):
        clean_logits, fused = cache_activations(model, run.clean, names, attention_mask=mask)
    clean.update(fused)
    return clean_logits, clean, corr


# how far a recomputed q/k/v may sit from the model's own, relative to its largest entry
_REPRO_TOL = {torch.float64: 1e-9, torch.float32: 1e-4, torch.bfloat16: 3e-2, torch.float16: 3e-3}


class _HeadInputProjector:
    """q/k/v of one head computed from a patched head input: ``norm(resid_pre + delta) @ W + b``.

    Patching edge ``u -> L{l}H{h}.q`` changes only head h's query input. Instead of running the
    whole model with per-head (split) q/k/v inputs — which applies the norm and the projection
    once per head and is several times slower — we run the fused attention and overwrite head
    h's query at ``hook_q`` (before any rotary embedding, which the model then applies) with the
    value the split input would have produced. Grouped k/v heads are overwritten at their k/v
    index. Weights, bias (or none) and the norm come from the model's adapter. Exactness is
    checked against the cached clean q/k/v the first time a layer is used.
    """

    def __init__(self, model, clean: dict[str, torch.Tensor]):
        self.model, self.clean = model, clean
        self.adapter = adapter_for(model)
        self.dh = self.adapter.d_head
        self._checked: set[tuple[int, str]] = set()

    def project(self, layer: int, kind: str, head: int, delta: torch.Tensor) -> torch.Tensor:
        """Head ``head``'s ``kind`` vector ``[B, P, d_head]`` when its input is ``resid_pre + delta``."""
        ad = self.adapter
        W, b = ad.projection(layer, kind)
        resid = self.clean[f"blocks.{layer}.hook_resid_pre"]
        cols = slice(head * self.dh, (head + 1) * self.dh)
        with torch.no_grad():
            if (layer, kind) not in self._checked:
                full = ad.apply_norm(layer, resid) @ W + (0 if b is None else b)
                want = self.clean[f"blocks.{layer}.attn.hook_{kind}"]
                err = (full.reshape(want.shape) - want).abs().max().item()
                tol = _REPRO_TOL.get(want.dtype, 1e-4) * (1 + want.abs().max().item())
                if not err <= tol:
                    raise WorkbookError(
                        f"cannot reproduce blocks.{layer}.attn.hook_{kind} from the pre-attention norm and the "
                        f"{kind} weights of this {ad.arch} model (max error {err:.3g}); its attention input is "
                        "not the norm-then-project the adapter describes."
                    )
                self._checked.add((layer, kind))
            out = ad.apply_norm(layer, resid + delta) @ W[:, cols]
            return out if b is None else out + b[cols]


@contextlib.contextmanager
def _fused_attention(model):
    """Temporarily run attention with fused q/k/v inputs and summed head outputs (faster)."""
    split, result = model.cfg.use_split_qkv_input, model.cfg.use_attn_result
    model.set_use_split_qkv_input(False)
    model.set_use_attn_result(False)
    try:
        yield
    finally:
        model.set_use_split_qkv_input(split)
        model.set_use_attn_result(result)


def patch_edges(
    model,
    task: Task,
    edges: Sequence[str] | None = None,
    direction: str = "noising",
    max_rows: int = 512,
    progress_bar: bool | None = None,
) -> Scores:
    """Exactly patch every edge (or just ``edges``) of the model's :class:`~workbook.graph.Graph`.

    Patching edge ``u->v`` runs the clean input with *only* ``v``'s input changed: it receives
    ``u``'s corrupt write instead of its clean one (``in_v += u(corrupt) - u(clean)``, at every
    position); everything upstream of ``v`` stays clean and everything downstream of ``v`` is
    recomputed. Returns edge :class:`Scores` (``effect = M(patched) - M(clean)``, noising).
    """
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    t0 = time.perf_counter()
    run = _orient(task, direction)
    graph = Graph.from_model(model)
    pairs = _edge_list(graph, edges)
    B = task.batch_size
    cd = compute_dtype(model)
    clean_logits, clean, corr = _edge_caches(model, run, graph)
    base = run.per_example(clean_logits).to(cd)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)  # [n_src, B, P, D]
    per_rows = max(1, max_rows // B)
    chunks = _chunks(sorted(range(len(pairs)), key=lambda e: graph.dest_layer(graph.destinations[pairs[e][1]])), per_rows)
    effects = torch.zeros(B, len(pairs), dtype=cd)
    qkv = _HeadInputProjector(model, clean)
    with _fused_attention(model):
        for chunk in progress(chunks, total=len(chunks), desc="patching edges", enabled=progress_bar):
            K = len(chunk)
            adds: dict[str, torch.Tensor] = {}  # hook -> [K, B, P, D] additive patch (MLP and logits inputs)
            heads: dict[str, list[tuple[int, int, int]]] = {}  # hook_q/k/v -> [(slot, head, source)]
            for slot, e in enumerate(chunk):
                i, j = pairs[e]
                dest = graph.destinations[j]
                hook, head = graph.dest_hook(dest)
                if head is None:
                    if hook not in adds:
                        adds[hook] = torch.zeros((K,) + tuple(clean[hook].shape), dtype=deltas.dtype)
                    adds[hook][slot] += deltas[i]
                else:
                    kind = dest.rsplit(".", 1)[1]
                    heads.setdefault(hook.replace(f"hook_{kind}_input", f"attn.hook_{kind}"), []).append((slot, head, i))

            def add_hook(name: str):
                add = adds[name]

                def fn(act, hook):
                    return (act.reshape(add.shape) + add).reshape(act.shape)

                return fn

            def head_hook(name: str):
                kind, layer = name[-1], int(name.split(".")[1])
                # a source whose write is identical on clean and corrupt patches nothing: skip it
                new = [(slot, h, qkv.project(layer, kind, h, deltas[i])) for slot, h, i in heads[name] if deltas[i].any()]

                def fn(act, hook):
                    act = act.reshape((K, B) + tuple(act.shape[1:])).clone()
                    for slot, h, value in new:
                        act[slot, :, :, h] = value
                    return act.reshape((K * B,) + tuple(act.shape[2:]))

                return fn

            fwd = [(h, add_hook(h)) for h in adds] + [(h, head_hook(h)) for h in heads]
            logits = _run_copies(model, run, K, fwd)
            vals = run.per_example(logits).reshape(K, B).to(cd)
            effects[:, chunk] = (vals - base[None]).T
    names = [f"{graph.sources[i]}->{graph.destinations[j]}" for i, j in pairs]
    return Scores(
        names,
        effects.mean(0),
        method="edge patching",
        kind="edge",
        per_example=effects,
        info={"direction": direction, "seconds": time.perf_counter() - t0,
              "passes": f"{len(pairs)} patched fwd", "forward_passes": len(pairs) + 2},
    )


def run_with_patched_edges(model, task: Task, patched: Sequence[str] | torch.Tensor, direction: str = "noising") -> torch.Tensor:
    """Logits of the clean run with every edge in ``patched`` corrupted *jointly*.

    ``patched`` is a list of edge names, a boolean ``[n_sources, n_destinations]`` mask, or a
    stack ``[K, n_sources, n_destinations]`` of K masks evaluated at once (the batch is
    repeated K times; logits come back as ``[K*B, S, V]``, copy-major).
    Circuit semantics (as in Hanna et al.'s ``evaluate_graph`` and TL's ``faithfulness``):
    a destination's input receives ``u(corrupt) - u(current run)`` for each patched incoming
    edge, where ``u(current run)`` is the source's output *in this patched run*. With a single
    edge this is exactly :func:`patch_edges`. Patching every edge reproduces the corrupt run.
    """
    check_model(model)
    run = _orient(task, direction)
    graph = Graph.from_model(model)
    n_src, n_dst = graph.edge_mask.shape
    if isinstance(patched, torch.Tensor):
        masks = patched.bool()
        if masks.ndim == 2:
            masks = masks[None]
        if masks.ndim != 3 or tuple(masks.shape[1:]) != (n_src, n_dst):
            raise WorkbookError(
                f"edge mask must have shape [{n_src}, {n_dst}] or [K, {n_src}, {n_dst}], got {tuple(patched.shape)}."
            )
        masks = masks & graph.edge_mask
    else:
        masks = torch.zeros((1, n_src, n_dst), dtype=torch.bool)
        for i, j in _edge_list(graph, patched):
            masks[0, i, j] = True
    K, B = masks.shape[0], run.batch_size
    _, corr = cache_activations(model, run.corrupt, list(graph.source_hooks), attention_mask=run.attention_mask)
    corr_src = graph.stack_sources(corr)  # [n_src, B, P, D]
    act_shape = tuple(corr_src.shape[2:])
    live: dict[str, torch.Tensor] = {}

    def save(name):
        def fn(t, hook):
            live[name] = t

        return fn

    def current() -> torch.Tensor:
        """Every source's write in this run so far: ``[n_src, K, B, P, D]`` (zeros if not computed yet)."""
        rows = []
        for src in graph.sources:
            hook, head = graph.source_hook(src)
            t = live.get(hook)
            if t is None:
                rows.append(corr_src.new_zeros((K * B,) + act_shape))
            else:
                rows.append(t if head is None else t[:, :, head])
        return torch.stack(rows).reshape((n_src, K, B) + act_shape)

    def patch_dest(hook_name: str):
        cols = [j for j, d in enumerate(graph.destinations) if graph.dest_hook(d)[0] == hook_name]

        def fn(act, hook):
            if not masks[:, :, cols].any():
                return act
            diff = corr_src[:, None] - current()  # [n_src, K, B, P, D]
            act = act.clone()
            for j in cols:
                w = masks[:, :, j].to(diff.dtype)  # [K, n_src]
                if not w.any():
                    continue
                delta = torch.einsum("ks,skbpd->kbpd", w, diff).reshape((K * B,) + act_shape)
                head = graph.dest_hook(graph.destinations[j])[1]
                if head is None:
                    act = act + delta
                else:
                    act[:, :, head] = act[:, :, head] + delta
            return act

        return fn

    fwd = [(h, save(h)) for h in graph.source_hooks] + [(h, patch_dest(h)) for h in graph.dest_hooks]
    return _run_copies(model, run, K, fwd)


def edge_patched_metric(model, task: Task, patched, direction: str = "noising") -> float:
    """The task metric with the edges in ``patched`` jointly corrupted (see :func:`run_with_patched_edges`)."""
    run = _orient(task, direction)
    return float(run.metric_value(run_with_patched_edges(model, task, patched, direction)))
