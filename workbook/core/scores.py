"""One result type for every method and ground truth, and the comparisons every notebook needs.

:class:`Scores` maps readable names (``"L1H2.q"``, ``"MLP0"``, ``"L0N37"``, ``"embed->L1H2.k"``)
to values. Ground truth (activation patching) and estimates (AtP, AtP*, EAP, EAP-IG, EAP-GP)
share it, so comparing a method with the truth is one call:

>>> important(truth, tau=0.5)                  # the truly important components
>>> false_negatives(estimate, truth)           # truly important, but ranked outside the top K
>>> verification_cost(estimate, truth)         # patches needed, in the method's order, to find them all
>>> scale_error(estimate, truth)               # estimate / truth on the truly important ones
>>> recall_at_k(estimate, truth, k=5)          # share of the true top-5 the estimate ranks top-5
>>> rank_correlation(estimate, truth)          # Spearman on |values|

Definitions (every table, check, report and notebook uses these):

* **Importance is magnitude**: rankings use ``|value|``.
* **Ties**: magnitudes closer than ``TIE_TOL x max|value|`` (``1e-5``) count as tied, because
  they differ only by float rounding (a head that cannot matter patches to ``1e-9``, not 0, on
  some CPUs). :meth:`Scores.order` lists a tie in name order; :meth:`Scores.rank` gives a
  tied component the *last* place of its tie, so an estimate never earns a good rank by luck
  of tie-breaking (an all-zero estimate ranks everything last).
* **Truly important** (:func:`important`): ``|true effect| >= tau x max|true effect|``,
  ``tau = 0.5`` by default.
* **False negative** (:func:`false_negatives`): a truly important component that the method
  ranks outside its top ``K``; ``K`` = the number of truly important components by default, or
  an explicit verification ``budget``. This is the screening view of AtP* (arXiv 2403.00745):
  a cheap method ranks, activation patching verifies its top ``K``; a component outside it is
  never verified. A method that ranks everything right but reports the wrong *size* has no
  false negative; that is a scale error.
* **Scale error** (:func:`scale_error`): ``estimate / truth`` for each truly important
  component (1 = exact, 0.1 = ten times too small, negative = wrong sign).
* **Verification cost** (:func:`verification_cost`): how many components must be patched,
  in the method's order, until every truly important one has been patched.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch
from jaxtyping import Float

from workbook.core.ranking import TIE_TOL, average_ranks, pearson, tie_order, worst_ranks

__all__ = ["Scores", "TIE_TOL", "important", "false_negatives", "verification_cost", "scale_error", "recall_at_k",
           "rank_correlation", "pearson", "compare", "comparison_table", "fmt", "RoundingEdgeError", "concat_scores"]

STRICT_DIGITS_ENV = "WORKBOOK_STRICT_DIGITS"


def _storage(t: torch.Tensor) -> torch.Tensor:
    """CPU copy kept in float64 if it is float64, else float32."""
    return t.cpu().to(torch.float64 if t.dtype == torch.float64 else torch.float32)


@dataclass
class Scores:
    """Named scores from one method.

    Attributes:
        names: one name per component or edge.
        values: ``Tensor[n]``, the batch-mean effect (ground truth) or estimate. Stored on the
            CPU in float64 when given float64 (a float64 model keeps its precision), else float32
            (float16/bfloat16 are widened).
        method: e.g. ``"activation patching"``, ``"AtP"``, ``"EAP-IG (m=5)"``.
        kind: ``"node"`` or ``"edge"``.
        per_example: optional ``Tensor[B, n]`` of per-example values.
        info: free-form extras (passes used, wall time, direction, ...).
    """

    names: list[str]
    values: Float[torch.Tensor, " n"]
    method: str = ""
    kind: str = "node"
    per_example: Float[torch.Tensor, "batch n"] | None = field(default=None, repr=False)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.names = list(self.names)
        self.values = _storage(torch.as_tensor(self.values).detach().reshape(-1))
        if len(self.names) != self.values.numel():
            raise ValueError(f"{len(self.names)} names but {self.values.numel()} values.")
        if self.per_example is not None:
            self.per_example = _storage(self.per_example.detach())
        self._index = {n: i for i, n in enumerate(self.names)}

    # ---------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, name: str) -> float:
        try:
            return float(self.values[self._index[name]])
        except KeyError:
            close = [n for n in self.names if n.split("@")[0] == name.split("@")[0]][:5]
            where = self.method or "these scores"
            per_pos = bool(close) and "@" not in name and all("@" in n for n in close)
            hint = (f" (these scores are per position, name@position: computed with per_position=True; read "
                    f"{close[0]!r} or compute them without per_position)") if per_pos else ""
            raise KeyError(f"no score named {name!r} in {where}{hint}; e.g. {close or self.names[:5]}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def get(self, name: str, default: float = 0.0) -> float:
        return self[name] if name in self else default

    def to_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.values.tolist()))

    def select(self, names: Iterable[str]) -> "Scores":
        """Scores restricted (and reordered) to ``names``."""
        names = list(names)
        idx = torch.tensor([self._index[n] for n in names], dtype=torch.long)
        pe = self.per_example[:, idx] if self.per_example is not None else None
        return Scores(names, self.values[idx], self.method, self.kind, pe, dict(self.info))

    def filter(self, predicate) -> "Scores":
        """Scores whose name satisfies ``predicate(name)``."""
        return self.select([n for n in self.names if predicate(n)])

    def with_values(self, values: torch.Tensor, method: str | None = None) -> "Scores":
        return Scores(self.names, values, method or self.method, self.kind, None, dict(self.info))

    def abs(self) -> "Scores":
        return self.with_values(self.values.abs())

    # ---------------------------------------------------------------- ranking
    def order(self, absolute: bool = True) -> list[str]:
        """Names from most to least important (by ``|value|``, or signed with ``absolute=False``).

        Values closer than ``TIE_TOL x max|value|`` are a tie, listed in name order.
        """
        order, _ = tie_order(self.values.abs() if absolute else self.values)
        return [self.names[i] for i in order.tolist()]

    def top(self, k: int = 10, absolute: bool = True) -> list[tuple[str, float]]:
        """The ``k`` most important ``(name, value)`` pairs."""
        return [(n, self[n]) for n in self.order(absolute)[:k]]

    def rank(self, name: str, absolute: bool = True) -> int:
        """1-based rank of ``name`` (1 = most important); a tie takes the last place of its group.

        So the rank is how many components you patch, in this order, to be sure to reach ``name``.
        """
        self[name]  # raises a helpful KeyError
        return int(self.ranks(absolute)[self._index[name]])

    def ranks(self, absolute: bool = True) -> torch.Tensor:
        """``LongTensor[n]``: :meth:`rank` of every name, in ``names`` order."""
        return worst_ranks(self.values.abs() if absolute else self.values)

    def __repr__(self) -> str:
        head = ", ".join(f"{n}={v:+.3g}" for n, v in self.top(4))
        return f"Scores({self.method or '?'}, {self.kind}, n={len(self)}: {head}{', ...' if len(self) > 4 else ''})"


def _aligned(estimate: Scores, truth: Scores) -> tuple[torch.Tensor, torch.Tensor]:
    missing = [n for n in truth.names if n not in estimate]
    if missing:
        raise ValueError(
            f"{estimate.method or 'the estimate'} has no score for {len(missing)} of the ground-truth "
            f"names (e.g. {missing[:3]}); compare like with like (same node kind and positions)."
        )
    est = torch.tensor([estimate[n] for n in truth.names], dtype=torch.float64)
    return est, truth.values


def _check_tau(tau: float) -> float:
    if not 0.0 < float(tau) <= 1.0:
        raise ValueError(f"tau must be in (0, 1] (a fraction of the largest true effect), got {tau!r}.")
    return float(tau)


def important(truth: Scores, tau: float = 0.5) -> list[str]:
    """The truly important components: ``|truth| >= tau x max|truth|``, most important first.

    ``tau`` (default 0.5) is a fraction of the largest true effect. An effect within
    ``TIE_TOL x max`` of the cut counts as important (a designed tie must not depend on
    rounding). Empty when every true effect is 0.
    """
    tau = _check_tau(tau)
    mag = truth.values.abs().double()
    top = float(mag.max()) if len(truth) else 0.0
    if top == 0.0:
        return []
    keep = set(i for i, m in enumerate(mag.tolist()) if m >= (tau - TIE_TOL) * top)
    return [n for n in truth.order() if truth._index[n] in keep]


def _estimate_ranks(estimate: Scores, truth: Scores) -> dict[str, int]:
    """The estimate's rank (by |value|, ties last) of every ground-truth name, among the truth's names."""
    est, _ = _aligned(estimate, truth)
    ranks = worst_ranks(est.abs())
    return dict(zip(truth.names, ranks.tolist()))


def false_negatives(
    estimate: Scores, truth: Scores, tau: float = 0.5, budget: int | None = None, *, threshold=None, relative=None
) -> list[str]:
    """Truly important components that ``estimate`` ranks outside its top ``K`` (most important first).

    A screen is followed by verification: activation-patch the method's top ``K`` components.
    ``K = budget`` if given, else the number of truly important components
    (:func:`important` with ``tau``), so a method with no false negative puts exactly the truly
    important components on top. The size of the estimate does not matter, only its rank
    (:meth:`Scores.rank`, ties ranked last): an estimate ten times too small but in the right
    order has no false negative (see :func:`scale_error` for the size).
    """
    if threshold is not None or relative is not None:
        raise TypeError(
            "false_negatives(estimate, truth, tau=0.5, budget=None): 'threshold'/'relative' are gone; "
            "a false negative is now a truly important component (|truth| >= tau x max) ranked "
            "outside the method's top K. Pass tau=... (and budget=K to fix K)."
        )
    wanted = important(truth, tau)
    k = len(wanted) if budget is None else int(budget)
    if k < 0:
        raise ValueError(f"budget must be >= 0, got {budget!r}.")
    ranks = _estimate_ranks(estimate, truth)
    return [n for n in wanted if ranks[n] > k]


def verification_cost(estimate: Scores, truth: Scores, tau: float = 0.5) -> int:
    """How many components must be patched, in ``estimate``'s order, to find every truly important one.

    Equals the number of truly important components for a perfect ranking, and the total
    number of components when one of them is ranked last (or tied with the noise at 0).
    """
    wanted = important(truth, tau)
    if not wanted:
        return 0
    ranks = _estimate_ranks(estimate, truth)
    return max(ranks[n] for n in wanted)


def scale_error(estimate: Scores, truth: Scores, tau: float = 0.5) -> dict[str, float]:
    """``{name: estimate / truth}`` for the truly important components (most important first).

    1 means the estimate has the right size, 0.1 ten times too small, a negative value the
    wrong sign. Independent of the ranking (:func:`false_negatives`).
    """
    _aligned(estimate, truth)
    return {n: estimate[n] / truth[n] for n in important(truth, tau)}


def recall_at_k(estimate: Scores, truth: Scores, k: int) -> float:
    """Fraction of the true top-``k`` (by |effect|) that the estimate ranks in its top ``k`` (ties last).

    True effects that are 0 up to rounding (``<= TIE_TOL x max``) are not part of the true
    top-``k`` (there is nothing to recall); ``nan`` when every true effect is 0.
    """
    k = min(k, len(truth))
    mag = truth.values.abs().double()
    top = float(mag.max()) if len(truth) else 0.0
    if k <= 0 or top == 0.0:
        return float("nan")
    wanted = [n for n in truth.order()[:k] if abs(truth[n]) > TIE_TOL * top]
    ranks = _estimate_ranks(estimate, truth)
    return sum(ranks[n] <= k for n in wanted) / len(wanted)


def rank_correlation(estimate: Scores, truth: Scores, absolute: bool = True) -> float:
    """Spearman correlation between estimate and truth (on magnitudes by default; float-noise ties tied)."""
    est, tru = _aligned(estimate, truth)
    if absolute:
        est, tru = est.abs(), tru.abs()
    return pearson(average_ranks(est), average_ranks(tru))


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def compare(estimate: Scores, truth: Scores, k: int = 5, tau: float = 0.5, budget: int | None = None) -> dict:
    """The standard report row of ``estimate`` against ``truth`` (definitions in the module docstring).

    Keys: ``method``, ``recall@k``, ``important`` (how many are truly important), ``budget``
    (K), ``false_negatives`` (count) and ``missed`` (their names), ``verification_cost``,
    ``scale`` (median estimate/truth on the truly important ones) and ``scale_error`` (all of
    them), ``spearman`` (on magnitudes), ``pearson`` (signed), ``passes``, ``seconds``.
    """
    est, tru = _aligned(estimate, truth)
    wanted = important(truth, tau)
    fns = false_negatives(estimate, truth, tau, budget)
    ratios = scale_error(estimate, truth, tau)
    return {
        "method": estimate.method,
        f"recall@{k}": recall_at_k(estimate, truth, k),
        "important": len(wanted),
        "budget": len(wanted) if budget is None else int(budget),
        "false_negatives": len(fns),
        "missed": fns,
        "verification_cost": verification_cost(estimate, truth, tau),
        "scale": _median(list(ratios.values())),
        "scale_error": ratios,
        "spearman": rank_correlation(estimate, truth),
        "pearson": pearson(est, tru),
        "passes": estimate.info.get("passes", ""),
        "seconds": estimate.info.get("seconds", float("nan")),
    }


class RoundingEdgeError(ValueError):
    """A number about to be printed lies on a rounding edge: its last digit depends on float noise."""


def fmt(value: float, spec: str = ".2f", margin: float = 1e-4, atol: float = 1e-6) -> str:
    """``format(value, spec)``; with ``WORKBOOK_STRICT_DIGITS=1`` also check the digits are stable.

    Stable means: moving ``value`` by ``margin`` (relative, default 0.01 %, about 100 times the
    float noise between CPUs and thread counts) or by ``atol`` (absolute, for values near 0)
    prints the same string. The notebook build sets
    the variable, so a compared output that could flip its last digit on another machine fails
    the build instead of the test on that machine. ``-0.00`` prints as ``0.00``.
    """
    value = float(value)
    out = format(value, spec)
    if out.startswith("-") and float(out) == 0.0:
        out = out[1:]
    if os.environ.get(STRICT_DIGITS_ENV, "0") == "1" and value == value:
        for moved in (value * (1 + margin), value * (1 - margin), value + atol, value - atol):
            alt = format(moved, spec)
            if alt.startswith("-") and float(alt) == 0.0:
                alt = alt[1:]
            if alt != out:
                raise RoundingEdgeError(
                    f"{value!r} prints as {out!r} with {spec!r} but as {alt!r} after a {margin:.0e} relative change: "
                    "its last digit depends on float noise. Print fewer digits, or a claim (a rank, a sign, a "
                    f"comparison). ({STRICT_DIGITS_ENV}=1 makes this an error; the notebook build sets it.)"
                )
    return out


def _names(names: Sequence[str], limit: int = 4) -> str:
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "")


def comparison_table(
    estimates: Sequence[Scores],
    truth: Scores,
    k: int = 5,
    tau: float = 0.5,
    budget: int | None = None,
) -> str:
    """Plain-text table of several methods against ground truth (definitions in the module docstring).

    Columns: recall@k; ``false neg`` (truly important but outside the method's top K);
    ``verify`` (patches, in the method's order, to reach every truly important component);
    ``scale`` (median estimate/truth on the truly important ones); ``spearman`` (on
    magnitudes); ``missed`` (the false negatives). Numbers print through :func:`fmt`.
    """
    rows = [compare(e, truth, k, tau, budget) for e in estimates]
    wanted = important(truth, tau)
    K = len(wanted) if budget is None else int(budget)
    head = f"{'method':<24} {'recall@' + str(k):>9} {'false neg':>9} {'verify':>7} {'scale':>7} {'spearman':>8}  missed"
    lines = [
        f"ground truth: {truth.method} ({len(truth)} {truth.kind}s); truly important (|effect| >= {tau:g} x max): "
        f"{len(wanted)} ({_names(wanted)})",
        f"false neg: truly important but ranked outside the method's top {K}; verify: components patched in the "
        f"method's order to reach all {len(wanted)}; scale: median estimate/truth on them",
        head,
        "-" * len(head),
    ]
    for r in rows:
        lines.append(
            f"{r['method'][:24]:<24} {fmt(r[f'recall@{k}'], '.2f'):>9} {r['false_negatives']:>9d} "
            f"{r['verification_cost']:>7d} {fmt(r['scale'], '.2g'):>7} {fmt(r['spearman'], '.2f'):>8}  "
            f"{_names(r['missed'])}"
        )
    return "\n".join(lines)


def concat_scores(parts: Sequence[Scores], method: str | None = None) -> Scores:
    """Join several :class:`Scores` (e.g. heads and MLPs) into one, summing their ``info`` costs."""
    names = [n for p in parts for n in p.names]
    values = torch.cat([p.values for p in parts])
    pe = None
    if all(p.per_example is not None for p in parts):
        pe = torch.cat([p.per_example for p in parts], 1)
    info: dict = {}
    for key in ("seconds", "forward_passes", "backward_passes"):
        vals = [p.info[key] for p in parts if key in p.info]
        if vals:
            info[key] = sum(vals)
    if "forward_passes" in info:
        info["passes"] = f"{info['forward_passes']} fwd"
    return Scores(names, values, method or parts[0].method, parts[0].kind, pe, info)
