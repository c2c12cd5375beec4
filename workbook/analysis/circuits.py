"""Circuits from edge scores: selection (top-n, greedy), pruning, faithfulness, overlap.

A :class:`Circuit` is a boolean edge mask ``[n_sources, n_destinations]`` on a
:class:`~workbook.arch.graph.Graph`. Semantics follow Hanna et al.'s ``graph.py`` / ``evaluate.py``:

* :func:`top_n` keeps the n edges with the largest ``|score|`` and then :func:`prune` s;
* :func:`greedy` starts from the edges into ``logits`` and repeatedly adds the highest-``|score|``
  edge whose *child* is already in the circuit (so the circuit stays connected to the logits);
* :func:`prune` drops, until nothing changes, every node without an incoming or an outgoing
  circuit edge (``embed`` always counts as fed, ``logits`` as read) and the edges touching it.
  A head counts as fed when any of its q/k/v inputs has an incoming edge (a grouped k/v input
  feeds every head of its group; it stays while one of them is alive);
* :func:`evaluate` runs the clean input with every edge *outside* the circuit corrupted
  (circuit-run semantics, :func:`workbook.patching.nodes.run_with_patched_edges`);
* :func:`faithfulness` = ``(m(C) - m(corrupt)) / (m(clean) - m(corrupt))`` with batch-mean
  metrics (a ratio of means): 1 = the circuit alone reproduces clean behaviour, 0 = corrupt.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float

from workbook.arch import check_model
from workbook.arch.graph import Graph
from workbook.core.errors import WorkbookError
from workbook.core.runs import baselines as metric_baselines
from workbook.core.runs import metric_per_example, model_device, progress
from workbook.core.scores import Scores
from workbook.core.task import Task
from workbook.patching.masked import corrupt_run, masked_forward

__all__ = [
    "Circuit", "score_matrix", "top_n", "greedy", "prune", "evaluate", "faithfulness", "reference_runs",
    "evaluate_many", "faithfulness_curve", "edges_to_reach", "format_curves", "format_reach", "overlap",
]


@dataclass(frozen=True)
class Circuit:
    """A set of edges of ``graph`` (``mask[i, j]``: source i -> destination j is kept)."""

    graph: Graph
    mask: Bool[torch.Tensor, "n_src n_dst"]

    @classmethod
    def from_edges(cls, graph: Graph, edges) -> "Circuit":
        mask = torch.zeros_like(graph.edge_mask)
        for e in edges:
            mask[graph.edge_index(e)] = True
        return cls(graph, mask)

    @classmethod
    def full(cls, graph: Graph) -> "Circuit":
        return cls(graph, graph.edge_mask.clone())

    @classmethod
    def empty(cls, graph: Graph) -> "Circuit":
        return cls(graph, torch.zeros_like(graph.edge_mask))

    @property
    def edges(self) -> list[str]:
        return [f"{self.graph.sources[i]}->{self.graph.destinations[j]}" for i, j in self.mask.nonzero().tolist()]

    @property
    def n_edges(self) -> int:
        return int(self.mask.sum())

    @property
    def nodes(self) -> set[str]:
        """Components touched by a kept edge (q/k/v inputs count as their head; plus logits)."""
        out = set()
        for i, j in self.mask.nonzero().tolist():
            out.add(self.graph.sources[i])
            out.add(self.graph.destinations[j].split(".")[0])  # grouped k/v inputs count as L{l}KV{g}
        return out

    def __repr__(self) -> str:
        return f"Circuit({self.n_edges} edges, {len(self.nodes)} nodes)"


def score_matrix(scores: Scores, graph: Graph) -> torch.Tensor:
    """Edge :class:`Scores` as a ``[n_sources, n_destinations]`` matrix (0 where no edge)."""
    if scores.kind != "edge":
        raise WorkbookError(f"need edge scores, got {scores.kind!r} scores from {scores.method!r}.")
    mat = torch.zeros(graph.edge_mask.shape, dtype=torch.float64)
    for name, v in zip(scores.names, scores.values.tolist()):
        i, j = graph.edge_index(name)
        mat[i, j] = v
    return mat


def prune(mask: torch.Tensor, graph: Graph) -> torch.Tensor:
    """Remove dead nodes until a fixed point (see module doc). Returns a new mask."""
    mask = mask.clone() & graph.edge_mask
    owners = [graph.dest_owners(j) for j in range(len(graph.destinations))]
    n_src = len(graph.sources)
    while True:
        has_out = mask.any(1)  # [n_src]
        fed = torch.zeros(n_src, dtype=torch.bool)
        fed[0] = True  # embed
        into = mask.any(0)
        for j, os_ in enumerate(owners):
            if into[j]:
                for o in os_:
                    fed[o] = True
        alive_src = has_out & fed
        alive_dst = torch.tensor([not os_ or any(bool(alive_src[o]) for o in os_) for os_ in owners])
        new = mask & alive_src[:, None] & alive_dst[None, :]
        if torch.equal(new, mask):
            return mask
        mask = new


def top_n(scores: Scores, n: int, graph: Graph, absolute: bool = True, pruned: bool = True) -> Circuit:
    """The n highest-scoring edges (by ``|score|`` when ``absolute``), then pruned (may end < n)."""
    mat = score_matrix(scores, graph)
    key = mat.abs() if absolute else mat
    key = torch.where(graph.edge_mask, key, torch.full_like(key, -float("inf")))
    idx = key.flatten().argsort(descending=True, stable=True)[: max(0, int(n))]
    mask = torch.zeros(graph.edge_mask.numel(), dtype=torch.bool)
    mask[idx] = True
    mask = mask.view_as(graph.edge_mask) & graph.edge_mask
    return Circuit(graph, prune(mask, graph) if pruned else mask)


def greedy(scores: Scores, n: int, graph: Graph, absolute: bool = True, pruned: bool = True) -> Circuit:
    """Greedy growth from the logits: add the best edge whose child is already in the circuit.

    Starts with the edges into ``logits`` on the frontier; when an edge's parent is new, the
    parent's incoming edges (from all of its q/k/v inputs, or its MLP input) join the frontier.
    """
    mat = score_matrix(scores, graph)
    key = mat.abs() if absolute else mat
    dests_of: dict[int, list[int]] = {}
    for j in range(len(graph.destinations)):
        for o in graph.dest_owners(j):
            dests_of.setdefault(o, []).append(j)
    mask = torch.zeros_like(graph.edge_mask)
    frontier: list[tuple[float, int, int]] = []

    def push_into(j: int) -> None:
        for i in graph.edge_mask[:, j].nonzero().flatten().tolist():
            heapq.heappush(frontier, (-float(key[i, j]), i, j))

    push_into(len(graph.destinations) - 1)  # logits
    in_circuit = set()
    count = 0
    while frontier and count < int(n):
        _, i, j = heapq.heappop(frontier)
        if mask[i, j]:
            continue
        mask[i, j] = True
        count += 1
        if i != 0 and i not in in_circuit:
            in_circuit.add(i)
            for jj in dests_of.get(i, []):
                push_into(jj)
    return Circuit(graph, prune(mask, graph) if pruned else mask)


def evaluate(model, task: Task, circuit: Circuit) -> float:
    """Batch-mean metric with every edge outside ``circuit`` corrupted (circuit-run semantics)."""
    return float(evaluate_many(model, task, circuit.mask[None])[0])


def graph_mask(circuit: Circuit) -> torch.Tensor:
    return circuit.graph.edge_mask


@torch.no_grad()
def evaluate_many(
    model,
    task: Task,
    masks: Bool[torch.Tensor, "k n_src n_dst"],
    corr_src: torch.Tensor | None = None,
) -> Float[torch.Tensor, " k"]:
    """Batch-mean metric for K circuits at once: ``masks [K, n_src, n_dst]`` -> ``[K]``.

    Same circuit-run semantics as :func:`evaluate` (each destination receives
    ``u(corrupt) - u(current run)`` for every non-circuit edge), with the K circuits stacked
    along the batch so one forward evaluates them all (:func:`workbook.patching.masked.masked_forward`;
    logits only where the metric reads). ``corr_src`` (:func:`workbook.patching.masked.corrupt_sources`)
    reuses one corrupt forward across calls.
    """
    graph = Graph.from_model(model)
    if masks.ndim != 3 or tuple(masks.shape[1:]) != tuple(graph.edge_mask.shape):
        n_src, n_dst = graph.edge_mask.shape
        raise WorkbookError(f"masks must have shape [K, {n_src}, {n_dst}], got {tuple(masks.shape)}.")
    check_model(model)
    dev = model_device(model)
    run = task.to(dev)
    K, B = masks.shape[0], task.batch_size
    patched = (graph.edge_mask[None] & ~masks.bool().cpu()).to(dev)  # every edge outside the circuit
    metric = masked_forward(model, run, patched, graph, corr_src, metric_only=True)
    return metric.reshape(K, B).mean(1).cpu()


def _known_end(mask: torch.Tensor, graph: Graph) -> float | None:
    """1.0 for the full circuit, 0.0 for the empty one, ``None`` otherwise.

    The full circuit *is* the clean run and the empty one the corrupt run, by definition. The
    edge-masked forward reproduces them only up to float32 rounding (it sums each destination's
    sources in another order than the model's own forward, so the result also depends on the
    CPU's vector width); with nearly equal clean and corrupt metrics that rounding, divided by
    a tiny denominator, would print values like 0.99998. So the two ends are returned exactly.
    """
    kept = mask.bool() & graph.edge_mask
    if not kept.any():
        return 0.0
    if torch.equal(kept, graph.edge_mask):
        return 1.0
    return None


@torch.no_grad()
def reference_runs(
    model, task: Task, baselines: tuple[float, float] | None = None
) -> tuple[tuple[float, float], torch.Tensor]:
    """``((M(clean), M(corrupt)), corrupt sources)`` from two no-grad forwards (logits only where the
    metric reads): the clean run, and one corrupt run that gives both ``M(corrupt)`` and every
    source's corrupt write (:func:`workbook.patching.masked.corrupt_run`). Given ``baselines`` are
    returned as they are and the clean run is skipped. Pass the result to :func:`faithfulness` to
    evaluate many circuits without running either again."""
    check_model(model)
    run = task.to(model_device(model))
    corr_src, m_corr = corrupt_run(model, run, Graph.from_model(model))
    if baselines is None:
        baselines = (float(metric_per_example(model, run).mean()), float(m_corr.mean()))
    return baselines, corr_src


@torch.no_grad()
def faithfulness(
    model,
    task: Task,
    circuit: Circuit,
    baselines: tuple[float, float] | None = None,
    corr_src: torch.Tensor | None = None,
) -> float:
    """``(m(C) - m(corrupt)) / (m(clean) - m(corrupt))`` (batch means; ratio of means).

    Exactly 1 for :meth:`Circuit.full` and exactly 0 for :meth:`Circuit.empty` (see
    :func:`_known_end`); every other circuit runs the edge-masked forward, whose float32
    rounding is relative to the logits' size, so its faithfulness is only as precise as
    ``|m(clean) - m(corrupt)|`` is large next to that rounding. ``baselines`` and ``corr_src``
    (:func:`reference_runs`) skip the runs they come from; without ``corr_src`` one corrupt
    forward gives the corrupt sources (and ``M(corrupt)`` when ``baselines`` is not given).
    """
    end = _known_end(circuit.mask, circuit.graph)
    if end is not None:
        if baselines is None:
            metric_baselines(model, task)  # also checks the model, tokens and metric
        return end
    if corr_src is None:
        baselines, corr_src = reference_runs(model, task, baselines)
    elif baselines is None:
        baselines = metric_baselines(model, task)
    value = float(evaluate_many(model, task, circuit.mask[None], corr_src)[0])
    return float(task.normalize(value, baselines=baselines))


def faithfulness_curve(
    model,
    task: Task,
    scores: Scores,
    sizes,
    select: str = "greedy",
    absolute: bool = True,
    chunk: int = 8,
) -> tuple[list[int], list[float]]:
    """Faithfulness of the circuits chosen from ``scores`` at each requested size.

    Returns ``(edge counts after pruning, faithfulness)``. ``select``: ``"greedy"`` or ``"top_n"``.
    The clean and corrupt runs happen once (:func:`reference_runs`: baselines and corrupt
    sources, shared by every size); distinct circuits are evaluated ``chunk`` at a time in one
    batched forward (:func:`evaluate_many`); circuits repeated after pruning are evaluated once.
    The full and the empty circuit are exactly 1 and 0, as in :func:`faithfulness`.
    """
    if select not in ("greedy", "top_n"):
        raise WorkbookError(f"select must be 'greedy' or 'top_n', got {select!r}.")
    graph = Graph.from_model(model)
    pick = greedy if select == "greedy" else top_n
    base, corr = reference_runs(model, task)  # the clean and corrupt runs, shared by every size
    circuits = [pick(scores, int(n), graph, absolute) for n in sizes]
    keys = [c.mask.numpy().tobytes() for c in circuits]
    masks = {k: c.mask for k, c in zip(keys, circuits)}
    values: dict[bytes, float] = {k: end for k in masks if (end := _known_end(masks[k], graph)) is not None}
    distinct = [k for k in dict.fromkeys(keys) if k not in values]
    starts = range(0, len(distinct), max(1, chunk))
    for i in progress(starts, total=len(starts), desc="faithfulness curve", enabled=len(distinct) > chunk or None):
        part = distinct[i : i + chunk]
        metric = evaluate_many(model, task, torch.stack([masks[k] for k in part]), corr)
        for k, v in zip(part, metric.tolist()):
            values[k] = float(task.normalize(v, baselines=base))
    return [c.n_edges for c in circuits], [values[k] for k in keys]


def edges_to_reach(n_edges, faithfulness, level: float = 0.8) -> int | None:
    """The smallest circuit on a faithfulness curve whose faithfulness is at least ``level``.

    ``n_edges`` and ``faithfulness`` are the two lists :func:`faithfulness_curve` returns. The
    answer is only as fine as the sizes evaluated (report them with it); ``None`` when no
    evaluated circuit reaches ``level``.
    """
    hits = [int(n) for n, f in zip(n_edges, faithfulness) if f >= level]
    return min(hits) if hits else None


def format_curves(curves: dict[str, tuple[list[int], list[float]]]) -> str:
    """One line per method of ``{method: faithfulness_curve(...)}``: ``edges:faithfulness`` at each
    evaluated size, two decimals (``|f| < 0.005`` prints as ``0.00``, never ``-0.00``)."""
    return "\n".join(
        f"{name:<14} " + " ".join(f"{n}:{v + 0.0 if abs(v) >= 0.005 else 0.0:.2f}" for n, v in zip(x, y))
        for name, (x, y) in curves.items()
    )


def format_reach(
    curves: dict[str, tuple[list[int], list[float]]], requested: int, level: float = 0.8
) -> tuple[dict[str, int | None], str]:
    """:func:`edges_to_reach` of every curve, and one line per method saying it (``requested``: the
    largest size asked for, named when no evaluated circuit reaches ``level``)."""
    reach = {name: edges_to_reach(x, y, level) for name, (x, y) in curves.items()}
    text = "\n".join(
        f"{name:<14} smallest evaluated circuit with faithfulness >= {level:g}: "
        f"{n if n is not None else f'none up to {requested} requested edges'}"
        for name, n in reach.items()
    )
    return reach, text


def overlap(circuit: Circuit, reference: Circuit) -> dict[str, float]:
    """Edge and node overlap of ``circuit`` with ``reference``: precision, recall, Jaccard."""

    def stats(a: set, b: set, prefix: str) -> dict[str, float]:
        inter = len(a & b)
        return {
            f"{prefix}_precision": inter / len(a) if a else 0.0,
            f"{prefix}_recall": inter / len(b) if b else 0.0,
            f"{prefix}_jaccard": inter / len(a | b) if a | b else 1.0,
        }

    return {**stats(set(circuit.edges), set(reference.edges), "edge"), **stats(circuit.nodes, reference.nodes, "node")}
