"""MIB's circuit-localization yardstick: CPR and CMD (Mueller et al. 2025, arXiv 2504.13151).

Defined, and checked line by line, against ``hannamw/MIB-circuit-track`` at commit ``b759df3``:
``MIB_circuit_track/evaluation.py::evaluate_area_under_curve`` (edge level, ``intervention=
'patching'``), the ``Graph.apply_topn`` / ``prune`` / ``evaluate_graph`` it calls from
hannamw/EAP-IG, and ``print_results.py``, which takes CPR from the signed run and CMD from the
absolute one. ``scripts/mib_parity.py`` runs MIB's own code on the same model and circuit file
(``docs/mib_parity.md``).

For each ``p`` in :data:`MIB_PERCENTAGES` = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) %:

1. ``n = int(p * N)`` edges (Python's float product, floored; ``N`` = every edge of the graph);
2. the circuit is the ``n`` edges with the largest score (``|score|`` when ``absolute``), then
   pruned (:func:`workbook.analysis.circuits.prune`: nodes without an incoming or an outgoing
   circuit edge go, with their edges; so a circuit may end with fewer than ``n`` edges, and
   MIB records that count as ``weighted_edge_counts``). Pruning changes no output: a node
   whose inputs are all corrupted *is* its corrupt value, and an unread node is unread;
3. ``f(p) = (m(C) - m(empty)) / (m(full) - m(empty))``, where ``m(C)`` is the batch-mean metric
   of the clean run with every edge *outside* ``C`` patched from the counterfactual (corrupt)
   run (:func:`workbook.analysis.circuits.faithfulness`: circuit-run semantics, each destination
   receiving ``u(corrupt) - u(current run)`` for each dropped edge ``u ->``), ``m(full)`` the
   clean run and ``m(empty)`` the corrupt run. ``f`` is a ratio of batch means, as in MIB;
4. areas by the trapezoid rule on the *linear* axis of the fractions themselves
   (``x = 0.001 ... 1``, no rescaling, so the last interval, 0.5 -> 1, carries half the
   weight): ``area_under = sum (x2 - x1)(f1 + f2)/2`` and
   ``area_from_1 = sum (x2 - x1)(|1 - f1| + |1 - f2|)/2``.

**CPR** (higher is better) = ``area_under`` with edges chosen by *signed* score; **CMD** (lower is
better) = ``area_from_1`` with edges chosen by ``|score|``. A perfect curve (``f = 1``
everywhere) has CPR 0.999 and CMD 0; CPR above 1 means circuits that beat the full model.

**Sign.** MIB attributes with ``loss=True`` metrics (``run_attribution.py``: the negated logit
difference), so its signed ranking puts first the edges whose corruption *lowers* the task
metric most. Workbook scores are noising effects on the task metric (``effect = M(clean with
edge := corrupt) - M(clean)``): a supporting edge is negative. ``loss=True`` (default) negates
workbook scores before the signed ranking, which reproduces MIB; pass ``loss=False`` for scores
already in MIB's sign (e.g. read with ``from_eap_ig_json(path, loss=False)``). ``|score|`` is
unaffected.

**Approximations and differences, stated:** MIB stores scores in float32 (its ``Graph.scores``),
so scores are rounded to float32 before ranking here too; ties are broken by graph order (a
stable sort; MIB's ``torch.argsort`` leaves tie order unspecified). The metric is the task's own
(MIB runs the logit difference at the last token; the shipped tasks use logit or probability
differences, named in reports). On grouped-query models (SmolLM2) the graph has one k/v
destination per k/v head (:class:`~workbook.arch.graph.Graph`), whereas MIB ungroups them into
one per query head, so ``N`` and the edge counts differ from MIB's on such models; the
definition is otherwise the same. Edge level only (MIB's ``level='edge'``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from workbook.analysis.circuits import faithfulness_curve
from workbook.arch.graph import Graph
from workbook.core.errors import WorkbookError
from workbook.core.scores import Scores
from workbook.core.task import Task

__all__ = [
    "MIB_PERCENTAGES", "MIB_SOURCE", "MibCurve", "mib_counts", "mib_area", "mib_ranking", "mib_curve",
    "cpr", "cmd", "mib_scores",
]

#: circuit sizes as fractions of all edges, exactly as ``evaluate_area_under_curve`` lists them
MIB_PERCENTAGES: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
MIB_SOURCE = "hannamw/MIB-circuit-track b759df3, MIB_circuit_track/evaluation.py::evaluate_area_under_curve"


def mib_counts(n_edges: int, percentages=MIB_PERCENTAGES) -> list[int]:
    """Edges requested at each fraction: ``int(p * n_edges)``, MIB's float product floored
    (``int(0.001 * 3628) = 3``; 100 % is every edge)."""
    if int(n_edges) < 1:
        raise WorkbookError(f"the graph needs at least one edge, got {n_edges}.")
    return [int(p * int(n_edges)) for p in percentages]


def mib_area(faithfulness, percentages=MIB_PERCENTAGES) -> tuple[float, float]:
    """``(area_under, area_from_1)`` of a faithfulness curve: MIB's trapezoid loop, linear x.

    ``faithfulness[i]`` belongs to ``percentages[i]`` (fractions, not per cent). The sums run
    in MIB's order (left to right), so the float result is the one MIB computes.
    """
    f = [float(v) for v in faithfulness]
    x = [float(p) for p in percentages]
    if len(f) != len(x) or len(f) < 2:
        raise WorkbookError(f"need one faithfulness per fraction ({len(x)}, at least 2), got {len(f)}.")
    if any(b <= a for a, b in zip(x, x[1:])):
        raise WorkbookError(f"the fractions must increase, got {x}.")
    under = from_1 = 0.0
    for i in range(len(f) - 1):
        dx = x[i + 1] - x[i]
        from_1 += dx * ((abs(1.0 - f[i]) + abs(1.0 - f[i + 1])) / 2)
        under += dx * ((f[i] + f[i + 1]) / 2)
    return under, from_1


def mib_ranking(scores: Scores, loss: bool = True) -> Scores:
    """The scores MIB ranks: negated when ``loss`` (module doc, "Sign"), rounded to float32."""
    if scores.kind != "edge":
        raise WorkbookError(
            f"MIB's yardstick ranks edges; got {scores.kind!r} scores from {scores.method!r}. "
            "Node methods need an edge version (EAP is AtP on edges)."
        )
    values = scores.values.to(torch.float64)
    if not bool(torch.isfinite(values).all()):
        bad = [n for n, v in zip(scores.names, values.tolist()) if v != v or abs(v) == float("inf")]
        raise WorkbookError(f"{len(bad)} edge scores are NaN or infinite (e.g. {bad[:3]}); MIB cannot rank them.")
    values = (-values if loss else values).to(torch.float32).to(torch.float64)
    return Scores(scores.names, values, scores.method, "edge", None, dict(scores.info))


@dataclass
class MibCurve:
    """One MIB faithfulness curve and its two areas.

    ``requested``: ``int(p * N)`` per fraction; ``n_edges``: circuit size after pruning
    (MIB's ``weighted_edge_counts``); ``faithfulness``: ``f`` per fraction; ``absolute``: the
    selection rule; ``average``: the plain mean of ``f`` (MIB returns it too).
    """

    percentages: list[float]
    requested: list[int]
    n_edges: list[int]
    faithfulness: list[float]
    absolute: bool
    area_under: float
    area_from_1: float
    average: float
    method: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _check_graph(model, graph: Graph | None) -> Graph:
    own = Graph.from_model(model)
    if graph is not None and graph != own:
        raise WorkbookError(f"the graph {graph} is not the model's graph {own}.")
    return own


def mib_curve(
    model, task: Task, scores: Scores, graph: Graph | None = None, absolute: bool = False,
    *, loss: bool = True, chunk: int = 8,
) -> MibCurve:
    """MIB's faithfulness curve of ``scores`` on ``model``/``task`` (module doc, steps 1-4).

    Args:
        model: a prepared bridge with an edge graph (:meth:`Graph.from_model`).
        task: clean/counterfactual pairs; its metric is the ``m`` of ``f``.
        scores: edge :class:`Scores` in workbook's sign (noising effects); edges they omit
            score 0, as in MIB's graph.
        graph: optional, checked to be the model's graph.
        absolute: select by ``|score|`` (CMD's curve) or by signed score (CPR's).
        loss: scores are in workbook's sign and MIB ranks their negation (module doc, "Sign").
        chunk: circuits evaluated per batched forward.

    Cost: one corrupt forward plus up to 8 distinct masked forwards (the 0 % and 100 % ends
    are exactly 0 and 1, :func:`workbook.analysis.circuits.faithfulness`).
    """
    graph = _check_graph(model, graph)
    ranked = mib_ranking(scores, loss)
    known = set(graph.edges)
    unknown = [n for n in ranked.names if n not in known]
    if unknown:
        raise WorkbookError(f"{len(unknown)} scored names are not edges of {graph} (e.g. {unknown[:3]}).")
    requested = mib_counts(graph.n_edges)
    n_edges, f = faithfulness_curve(model, task, ranked, requested, select="top_n", absolute=absolute, chunk=chunk)
    under, from_1 = mib_area(f)
    return MibCurve(
        list(MIB_PERCENTAGES), requested, [int(n) for n in n_edges], [float(v) for v in f], bool(absolute),
        under, from_1, sum(f) / len(f), scores.method,
    )


def cpr(model, task: Task, scores: Scores, graph: Graph | None = None, *, loss: bool = True) -> float:
    """Circuit performance ratio: area under ``f`` with edges chosen by signed score (higher is better)."""
    return mib_curve(model, task, scores, graph, absolute=False, loss=loss).area_under


def cmd(model, task: Task, scores: Scores, graph: Graph | None = None, *, loss: bool = True) -> float:
    """Circuit-model distance: area under ``|1 - f|`` with edges chosen by ``|score|`` (lower is better)."""
    return mib_curve(model, task, scores, graph, absolute=True, loss=loss).area_from_1


def mib_scores(model, task: Task, scores: Scores, graph: Graph | None = None, *, loss: bool = True) -> dict:
    """Both MIB numbers and their curves: ``{"cpr", "cmd", "n_edges", "signed", "absolute", "source"}``.

    ``signed`` / ``absolute``: :meth:`MibCurve.as_dict` of the two curves (two curves, at most
    16 masked forwards plus one corrupt forward).
    """
    signed = mib_curve(model, task, scores, graph, absolute=False, loss=loss)
    absolute = mib_curve(model, task, scores, graph, absolute=True, loss=loss)
    return {
        "cpr": signed.area_under, "cmd": absolute.area_from_1, "n_edges": Graph.from_model(model).n_edges,
        "signed": signed.as_dict(), "absolute": absolute.as_dict(), "source": MIB_SOURCE,
    }
