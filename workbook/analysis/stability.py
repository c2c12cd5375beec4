"""Circuit stability across data resamples: is the circuit a property of the model or of the sample?

A circuit-discovery method scores edges on a *sample* of prompt pairs. Draw the sample again
(another seed of the same task grammar), score again, select the circuit again: if the edge set
changes, the circuit a paper reports depends on which prompts it happened to use. Méloux et al.
(arXiv 2510.00845) found EAP-IG circuits vary across resamples; this module measures it for any
edge method here.

For a ``method(model, task) -> Scores`` (edge scores; sign convention of the method: noising,
``effect = M(clean with x := corrupt) - M(clean)``) and a task ``build(seed) -> (model, task)``:

* each of ``len(seeds) >= 2`` resamples gets its own scores and its own circuit per requested
  size (:func:`workbook.analysis.circuits.top_n` or ``greedy``, then pruned as those do);
* **pairwise Jaccard** of the edge sets, ``|A & B| / |A | B|`` (1.0 when both are empty), over
  every pair of resamples: its mean and its minimum;
* **edge frequency**: the share of resamples whose circuit contains each edge (1.0 = in every
  one: the stable core);
* optionally the **faithfulness curve** of each resample's circuits (on that resample's own
  prompts) and its spread at each size (min, max, population standard deviation), and the
  MIB-style CPR/CMD of each resample (:mod:`workbook.analysis.mib`, when it is installed).

Nothing is approximated beyond the method itself: the overlaps are exact set statistics. The
spread mixes two sources, the method's sensitivity to the sample and the model's own behaviour
on different prompts; the Jaccard of a deterministic method on *identical* resamples is 1, so
any Jaccard below 1 comes from the data.
"""

from __future__ import annotations

import importlib
import itertools
import statistics
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from workbook.analysis import circuits as C
from workbook.arch.graph import Graph
from workbook.core.errors import WorkbookError
from workbook.core.runs import progress
from workbook.core.scores import Scores
from workbook.core.task import Task

__all__ = ["jaccard", "pairwise_jaccard", "edge_frequency", "Stability", "resample", "stability", "spread"]

Builder = Callable[[int], tuple]
Method = Callable[..., Scores]


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """``|A & B| / |A | B|`` of two edge sets; 1.0 when both are empty (two empty circuits agree)."""
    a, b = set(a), set(b)
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def pairwise_jaccard(sets: Sequence[Iterable[str]]) -> list[float]:
    """Jaccard of every pair ``(i, j), i < j`` of ``sets``, in ``itertools.combinations`` order."""
    sets = [set(s) for s in sets]
    if len(sets) < 2:
        raise WorkbookError(f"pairwise overlap needs at least 2 circuits, got {len(sets)}.")
    return [jaccard(a, b) for a, b in itertools.combinations(sets, 2)]


def edge_frequency(sets: Sequence[Iterable[str]]) -> dict[str, float]:
    """``{edge: share of the sets containing it}``, most frequent first (ties by name)."""
    sets = [set(s) for s in sets]
    if not sets:
        raise WorkbookError("edge_frequency needs at least one circuit.")
    counts: dict[str, int] = {}
    for s in sets:
        for e in s:
            counts[e] = counts.get(e, 0) + 1
    return {e: counts[e] / len(sets) for e in sorted(counts, key=lambda e: (-counts[e], e))}


def spread(values: Sequence[float]) -> dict[str, float]:
    """``{"min", "max", "mean", "std"}`` of ``values`` (population standard deviation)."""
    values = [float(v) for v in values]
    return {"min": min(values), "max": max(values), "mean": statistics.fmean(values),
            "std": statistics.pstdev(values)}


@dataclass
class Stability:
    """What :func:`stability` measured for one method on one task builder.

    ``circuits[size]``: one edge list per resample (the circuit selected at that requested
    size). ``curves``: per resample ``(edges after pruning, faithfulness)`` at ``sizes``, or
    ``None``. ``mib``: per resample the dict :func:`workbook.analysis.mib.mib_scores` returned,
    or ``None``.
    """

    method: str
    seeds: list[int]
    sizes: list[int]
    select: str
    circuits: dict[int, list[list[str]]]
    curves: list[tuple[list[int], list[float]]] | None = None
    mib: list[dict] | None = None
    info: dict = field(default_factory=dict)

    def jaccards(self, size: int) -> list[float]:
        """Pairwise Jaccard of the circuits selected at ``size`` (every pair of resamples)."""
        return pairwise_jaccard(self.circuits[size])

    def mean_jaccard(self, size: int) -> float:
        return statistics.fmean(self.jaccards(size))

    def min_jaccard(self, size: int) -> float:
        return min(self.jaccards(size))

    def frequency(self, size: int) -> dict[str, float]:
        """Share of resamples whose circuit at ``size`` contains each edge (most frequent first)."""
        return edge_frequency(self.circuits[size])

    def core(self, size: int) -> list[str]:
        """The edges in *every* resample's circuit at ``size`` (the stable core)."""
        return [e for e, f in self.frequency(size).items() if f == 1.0]

    def curve_spread(self) -> dict[int, dict[str, float]]:
        """Requested size -> spread of the resamples' faithfulness at it (needs ``curves``)."""
        if self.curves is None:
            raise WorkbookError("no faithfulness curves: call stability(..., curves=True).")
        return {n: spread([y[i] for _, y in self.curves]) for i, n in enumerate(self.sizes)}

    def mib_spread(self) -> dict[str, dict[str, float]]:
        """``{"cpr": spread, "cmd": spread}`` over the resamples (needs ``mib``)."""
        if not self.mib:
            raise WorkbookError("no MIB scores: call stability(..., mib=True) with workbook.analysis.mib installed.")
        return {k: spread([float(m[k]) for m in self.mib]) for k in ("cpr", "cmd") if k in self.mib[0]}

    def mib_curve_spread(self, curve: str = "signed") -> list[dict[str, float]]:
        """Spread of MIB's faithfulness at each of its edge fractions over the resamples.

        ``curve``: ``"signed"`` (CPR's curve) or ``"absolute"`` (CMD's). One dict per fraction,
        with ``"fraction"`` added.
        """
        if not self.mib or curve not in self.mib[0]:
            raise WorkbookError(f"no MIB {curve!r} curves: call stability(..., mib=True).")
        fractions = self.mib[0][curve]["percentages"]
        return [{"fraction": p, **spread([m[curve]["faithfulness"][i] for m in self.mib])}
                for i, p in enumerate(fractions)]

    def summary(self) -> dict:
        """A JSON-ready dict: per size the mean/min Jaccard, the core size and each edge's frequency."""
        out: dict = {"method": self.method, "seeds": list(self.seeds), "select": self.select, "sizes": {}}
        for n in self.sizes:
            sizes = [len(c) for c in self.circuits[n]]
            out["sizes"][str(n)] = {
                "edges_after_pruning": sizes, "jaccard_mean": self.mean_jaccard(n), "jaccard_min": self.min_jaccard(n),
                "core": len(self.core(n)), "union": len(self.frequency(n)), "frequency": self.frequency(n),
            }
        if self.curves is not None:
            out["faithfulness"] = {str(n): s for n, s in self.curve_spread().items()}
            out["curves"] = [list(map(list, c)) for c in self.curves]
        if self.mib:
            out["mib"] = {"per_resample": [{k: m[k] for k in ("cpr", "cmd") if k in m} for m in self.mib],
                          **self.mib_spread(),
                          "curves": {c: self.mib_curve_spread(c) for c in ("signed", "absolute") if c in self.mib[0]}}
        out.update({k: v for k, v in self.info.items() if isinstance(v, (int, float, str, list))})
        return out


def resample(method: Method, build: Builder, seeds: Sequence[int], desc: str = "resamples") -> list[tuple]:
    """``[(model, task, scores), ...]``: ``method(model, task)`` on ``build(seed)`` for each seed."""
    out = []
    for seed in progress(list(seeds), total=len(seeds), desc=desc, enabled=None):
        model, task = build(seed)
        if not isinstance(task, Task):
            raise WorkbookError(f"build({seed}) must return (model, Task), got a {type(task).__name__} task.")
        scores = method(model, task)
        if not isinstance(scores, Scores) or scores.kind != "edge":
            raise WorkbookError(f"the method must return edge Scores, got {getattr(scores, 'kind', type(scores))!r}.")
        out.append((model, task, scores))
    return out


def _mib_module():
    try:
        return importlib.import_module("workbook.analysis.mib")
    except ImportError:
        return None


def stability(
    method: Method,
    build: Builder,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    sizes: Sequence[int] = (20,),
    select: str = "top_n",
    curves: bool = False,
    mib: bool = False,
) -> Stability:
    """Score ``build(seed)`` with ``method`` for each seed and compare the selected circuits.

    Args:
        method: ``(model, task) -> Scores`` of kind ``"edge"`` (e.g. ``wb.eap``,
            ``lambda m, t: eap_ig(m, t, 5)``).
        build: ``seed -> (model, task)``, e.g. ``lambda s: zoo.load("mixture", task="ioi", n=8, seed=s)``;
            the seed must change the prompts and nothing else.
        seeds: at least 2 (the course uses 5).
        sizes: requested circuit sizes (edges before pruning).
        select: ``"top_n"`` (largest ``|score|``) or ``"greedy"`` (grown from the logits); both pruned.
        curves: also the faithfulness of each resample's circuits at ``sizes``, on its own prompts.
        mib: also MIB's CPR/CMD per resample (:func:`workbook.analysis.mib.mib_scores`); raises
            :class:`~workbook.core.errors.WorkbookError` when that module is missing.
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise WorkbookError(f"stability needs at least 2 distinct seeds, got {seeds}.")
    if select not in ("top_n", "greedy"):
        raise WorkbookError(f"select must be 'top_n' or 'greedy', got {select!r}.")
    sizes = [int(n) for n in sizes]
    if not sizes or min(sizes) < 0:
        raise WorkbookError(f"sizes must be non-negative edge counts, got {sizes}.")
    mib_mod = _mib_module() if mib else None
    if mib and mib_mod is None:
        raise WorkbookError("mib=True needs workbook.analysis.mib, which is not installed here.")
    runs = resample(method, build, seeds)
    pick = C.top_n if select == "top_n" else C.greedy
    circuits: dict[int, list[list[str]]] = {n: [] for n in sizes}
    curve_list, mib_list = [] if curves else None, [] if mib else None
    for model, task, scores in runs:
        graph = Graph.from_model(model)
        for n in sizes:
            circuits[n].append(pick(scores, n, graph).edges)
        if curves:
            curve_list.append(C.faithfulness_curve(model, task, scores, sizes, select=select))
        if mib:
            mib_list.append(dict(mib_mod.mib_scores(model, task, scores)))
    return Stability(runs[0][2].method, seeds, sizes, select, circuits, curve_list, mib_list)
