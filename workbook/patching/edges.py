"""Ground truth for edges: exact patching of every edge, and joint (circuit) edge patching.

Sign convention (noising, the default): ``effect(u->v) = M(clean run with v's input receiving
u's corrupt write instead of its clean one) - M(clean run)``; ``direction="denoising"`` swaps
the runs. Effects are computed in float32 (float64 for a float64 model).

:func:`patch_edges` resumes the clean run from each edge's destination layer
(:class:`workbook.patching.resume.CleanRun`): only the patched head's attention (or the patched MLP) is
recomputed at that layer, every later layer is recomputed, the last one only at the positions
the metric reads; several edges' patched copies go through one batched pass, as many as the
memory budget allows (:mod:`workbook.core.budget`). When the resumed clean run does not reproduce the
model exactly (or the model is half precision) it falls back to full forwards with hooks.
"""

from __future__ import annotations

import time
from typing import Sequence

import torch
from jaxtyping import Bool

from workbook.arch import adapter_for, check_model
from workbook.arch.graph import Graph, parse_node
from workbook.core.budget import MemoryGuard, copies_per_pass
from workbook.core.errors import WorkbookError
from workbook.core.runs import (
    NO_LOGITS,
    cache_activations,
    chunks,
    compute_dtype,
    fused_attention,
    model_device,
    progress,
    resid_pre_names,
)
from workbook.core.scores import Scores
from workbook.core.task import Logits, Task, oriented
from workbook.patching.edge_scorer import EdgeScorer
from workbook.patching.masked import masked_forward
from workbook.patching.nodes import checked_run, run_copies
from workbook.patching.resume import CleanRun, Patch

__all__ = ["patch_edges", "run_with_patched_edges", "edge_patched_metric"]


def _edge_list(graph: Graph, edges: Sequence[str] | None) -> list[tuple[int, int]]:
    if edges is None:
        return [tuple(x) for x in graph.edge_mask.nonzero().tolist()]
    if isinstance(edges, str):
        raise WorkbookError(f"edges must be a list of edge names, got the string {edges!r} (its characters would be "
                            f"read as names): pass edges=[{edges!r}].")
    return [graph.edge_index(e) for e in edges]


def _edge_caches(model, run: Task, graph: Graph):
    """Clean/corrupt source writes, plus the clean fused-attention run the patched runs start from."""
    mask = run.attention_mask
    _, clean = cache_activations(model, run.clean, list(graph.source_hooks), attention_mask=mask)
    _, corr = cache_activations(model, run.corrupt, list(graph.source_hooks), attention_mask=mask)
    L = graph.n_layers
    names = resid_pre_names(L) + [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in "qkv"]
    names += [f"blocks.{l}.hook_mlp_in" for l in range(L)] + [f"blocks.{L - 1}.hook_resid_post"]
    with fused_attention(model):
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


def patch_edges(
    model,
    task: Task,
    edges: Sequence[str] | None = None,
    direction: str = "noising",
    max_rows: int | None = None,
    progress_bar: bool | None = None,
    method: str = "auto",
) -> Scores:
    """Exactly patch every edge (or just ``edges``) of the model's :class:`~workbook.arch.graph.Graph`.

    Patching edge ``u->v`` runs the clean input with *only* ``v``'s input changed: it receives
    ``u``'s corrupt write instead of its clean one (``in_v += u(corrupt) - u(clean)``, at every
    position); everything upstream of ``v`` stays clean and everything downstream of ``v`` is
    recomputed. Returns edge :class:`Scores` (``effect = M(patched) - M(clean)``, noising).

    ``max_rows``: rows (patched copies x batch) per pass; default from the memory budget.
    ``method``: ``"resume"`` (the clean run resumed from each destination layer, see the module
    docstring), ``"forward"`` (one full forward per edge copy, with hooks: the fallback) or
    ``"auto"`` (resume when it reproduces the model, else forward); ``info["method"]`` says which ran.
    """

    t0 = time.perf_counter()
    run = checked_run(model, task, direction, method)
    graph = Graph.from_model(model)
    pairs = _edge_list(graph, edges)
    cr = CleanRun(model, run) if method != "forward" else None
    if method == "resume" and not cr.exact:
        raise WorkbookError(f"cannot resume the clean run of this model exactly ({cr.reason}); use method='forward'.")
    if cr is not None and cr.exact:
        effects, n_pass = _edges_resumed(model, run, graph, pairs, cr, max_rows, progress_bar)
        used = "resume"
    else:
        effects, n_pass = _edges_by_forward(model, run, graph, pairs, max_rows, progress_bar)
        used = "forward" + ("" if cr is None else f" ({cr.reason})")
    names = [f"{graph.sources[i]}->{graph.destinations[j]}" for i, j in pairs]
    return Scores(
        names,
        effects.mean(0),
        method="edge patching",
        kind="edge",
        per_example=effects,
        info={"direction": direction, "seconds": time.perf_counter() - t0, "method": used,
              "passes": f"{len(pairs)} patched copies in {n_pass} batched passes", "forward_passes": len(pairs) + 2},
    )


def _copies(model, run: Task, wanted: int, max_rows: int | None) -> int:

    if max_rows is not None:
        return max(1, min(wanted, max_rows // run.batch_size))
    return copies_per_pass(model, run, wanted, backward=False)


@torch.no_grad()
def _edges_resumed(model, run: Task, graph: Graph, pairs, cr, max_rows, progress_bar) -> tuple[torch.Tensor, int]:
    """Effects ``[B, n_pairs]`` with the clean run resumed from each destination layer."""

    sc = EdgeScorer(model, graph)
    with fused_attention(model):
        _, corr = cache_activations(
            model, run.corrupt, sc.source_names(), attention_mask=run.attention_mask, positions=NO_LOGITS
        )
    B, P, D, L = run.batch_size, run.seq_len, sc.D, graph.n_layers
    sc.set_deltas(corr, cr.c)
    deltas = sc.deltas.view(-1, B, P, D).to(cr.dtype)
    live = deltas.flatten(1).any(1).tolist()  # a source whose write does not change patches nothing
    effects = torch.zeros(B, len(pairs), dtype=compute_dtype(model), device=cr.device)
    patches: dict[int, list[tuple[int, object]]] = {}
    for e, (i, j) in enumerate(pairs):
        if not live[i]:
            continue
        dest = graph.destinations[j]
        if dest == "logits":
            layer, patch = L - 1, {"resid": deltas[i]}
        else:
            hook, head = graph.dest_hook(dest)
            layer = parse_node(dest)["layer"]
            patch = (
                {"mlp_input": deltas[i]} if head is None else {"qkv_input": (dest.rsplit(".", 1)[1], head, deltas[i])}
            )
        patches.setdefault(layer, []).append((e, Patch(layer, **patch)))
    K = _copies(model, run, max(1, max((len(v) for v in patches.values()), default=1)), max_rows)
    groups = [items[a : a + K] for _, items in sorted(patches.items()) for a in range(0, len(items), K)]
    base = cr.base.to(effects.dtype)
    guard = MemoryGuard()
    for chunk in progress(groups, total=len(groups), desc="patching edges", enabled=progress_bar):
        vals = cr.run([p for _, p in chunk]).to(effects.dtype)  # [K, B]
        effects[:, [e for e, _ in chunk]] = (vals - base[None]).T
        guard.after_pass()
    return effects, len(groups)


def _edges_by_forward(model, run: Task, graph: Graph, pairs, max_rows, progress_bar) -> tuple[torch.Tensor, int]:
    """Effects ``[B, n_pairs]`` from full forwards of stacked patched copies (hooks at the destinations)."""
    B = run.batch_size
    cd = compute_dtype(model)
    clean_logits, clean, corr = _edge_caches(model, run, graph)
    base = run.per_example(clean_logits).to(cd)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)  # [n_src, B, P, D]
    per_rows = _copies(model, run, len(pairs), max_rows)
    groups = chunks(
        sorted(range(len(pairs)), key=lambda e: graph.dest_layer(graph.destinations[pairs[e][1]])), per_rows
    )
    effects = torch.zeros(B, len(pairs), dtype=cd, device=base.device)
    qkv = _HeadInputProjector(model, clean)
    with fused_attention(model):
        for chunk in progress(groups, total=len(groups), desc="patching edges", enabled=progress_bar):
            K = len(chunk)
            adds: dict[str, torch.Tensor] = {}  # hook -> [K, B, P, D] additive patch (MLP and logits inputs)
            heads: dict[str, list[tuple[int, int, int]]] = {}  # hook_q/k/v -> [(slot, head, source)]
            for slot, e in enumerate(chunk):
                i, j = pairs[e]
                dest = graph.destinations[j]
                hook, head = graph.dest_hook(dest)
                if head is None:
                    if hook not in adds:
                        adds[hook] = torch.zeros(
                            (K,) + tuple(clean[hook].shape), dtype=deltas.dtype, device=deltas.device
                        )
                    adds[hook][slot] += deltas[i]
                else:
                    kind = dest.rsplit(".", 1)[1]
                    heads.setdefault(hook.replace(f"hook_{kind}_input", f"attn.hook_{kind}"), []).append(
                        (slot, head, i)
                    )

            def add_hook(name: str):
                add = adds[name]

                def fn(act, hook):
                    return (act.reshape(add.shape) + add).reshape(act.shape)

                return fn

            def head_hook(name: str):
                kind, layer = name[-1], int(name.split(".")[1])
                # a source whose write is identical on clean and corrupt patches nothing: skip it
                new = [
                    (slot, h, qkv.project(layer, kind, h, deltas[i])) for slot, h, i in heads[name] if deltas[i].any()
                ]

                def fn(act, hook):
                    act = act.reshape((K, B) + tuple(act.shape[1:])).clone()
                    for slot, h, value in new:
                        act[slot, :, :, h] = value
                    return act.reshape((K * B,) + tuple(act.shape[2:]))

                return fn

            fwd = [(h, add_hook(h)) for h in adds] + [(h, head_hook(h)) for h in heads]
            logits = run_copies(model, run, K, fwd)
            vals = run.per_example(logits).reshape(K, B).to(cd)
            effects[:, chunk] = (vals - base[None]).T
    return effects, len(groups)


def run_with_patched_edges(
    model,
    task: Task,
    patched: Sequence[str] | Bool[torch.Tensor, "n_src n_dst"] | Bool[torch.Tensor, "k n_src n_dst"],
    direction: str = "noising",
) -> Logits:
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
    run = oriented(task, direction)
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
        masks = masks.cpu() & graph.edge_mask
    else:
        masks = torch.zeros((1, n_src, n_dst), dtype=torch.bool)
        for i, j in _edge_list(graph, patched):
            masks[0, i, j] = True
    run = run.to(model_device(model))
    return masked_forward(model, run, masks.to(model_device(model)), graph)


def edge_patched_metric(model, task: Task, patched, direction: str = "noising") -> float:
    """The task metric with the edges in ``patched`` jointly corrupted (see :func:`run_with_patched_edges`)."""
    run = oriented(task, direction)
    return float(run.metric_value(run_with_patched_edges(model, task, patched, direction)))
