"""One result type for every method and ground truth, and the comparisons every notebook needs.

:class:`Scores` maps readable names (``"L1H2.q"``, ``"MLP0"``, ``"L0N37"``, ``"embed->L1H2.k"``)
to values. Ground truth (activation patching) and estimates (AtP, AtP*, EAP, EAP-IG, EAP-GP)
share it, so comparing a method with the truth is one call:

>>> recall_at_k(estimate, truth, k=5)          # share of the true top-5 the estimate ranks top-5
>>> false_negatives(estimate, truth, threshold=0.5)
>>> rank_correlation(estimate, truth)          # Spearman on |values|

Importance is magnitude: every ranking here uses ``|value|`` unless ``absolute=False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch

__all__ = [
    "Scores",
    "recall_at_k",
    "false_negatives",
    "rank_correlation",
    "pearson",
    "compare",
    "comparison_table",
]


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
    values: torch.Tensor
    method: str = ""
    kind: str = "node"
    per_example: torch.Tensor | None = field(default=None, repr=False)
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
            raise KeyError(f"no score named {name!r} in {self.method or 'these scores'}; e.g. {close or self.names[:5]}") from None

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
        """Names sorted from most to least important (stable for ties)."""
        key = self.values.abs() if absolute else self.values
        idx = torch.argsort(key, descending=True, stable=True)
        return [self.names[i] for i in idx.tolist()]

    def top(self, k: int = 10, absolute: bool = True) -> list[tuple[str, float]]:
        """The ``k`` most important ``(name, value)`` pairs."""
        return [(n, self[n]) for n in self.order(absolute)[:k]]

    def rank(self, name: str, absolute: bool = True) -> int:
        """1-based rank of ``name`` (1 = most important)."""
        self[name]  # raises a helpful KeyError
        return self.order(absolute).index(name) + 1

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
    est = torch.tensor([estimate[n] for n in truth.names])
    return est, truth.values


def recall_at_k(estimate: Scores, truth: Scores, k: int) -> float:
    """Fraction of the true top-``k`` (by |effect|) that the estimate also ranks in its top-``k``."""
    k = min(k, len(truth))
    true_top = set(truth.order()[:k])
    est_top = set(estimate.select(truth.names).order()[:k])
    return len(true_top & est_top) / max(k, 1)


def false_negatives(
    estimate: Scores,
    truth: Scores,
    threshold: float,
    relative: bool = False,
) -> list[str]:
    """Components that matter but the estimate says do not.

    A name is a false negative when ``|truth| >= threshold`` and ``|estimate| < threshold``.
    With ``relative=True`` the threshold is a fraction of ``max|truth|`` (and the estimate is
    held to the same absolute cut-off).
    """
    est, tru = _aligned(estimate, truth)
    cut = threshold * float(tru.abs().max()) if relative else threshold
    flags = (tru.abs() >= cut) & (est.abs() < cut)
    return [n for n, f in zip(truth.names, flags.tolist()) if f]


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Average ranks (ties share their mean rank), as in scipy.stats.rankdata."""
    order = torch.argsort(x, stable=True)
    ranks = torch.empty(len(x), dtype=torch.float64)
    ranks[order] = torch.arange(1, len(x) + 1, dtype=torch.float64)
    xs = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        if j > i:
            ranks[order[i : j + 1]] = (i + j + 2) / 2
        i = j + 1
    return ranks


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else float("nan")


def rank_correlation(estimate: Scores, truth: Scores, absolute: bool = True) -> float:
    """Spearman correlation between estimate and truth (on magnitudes by default)."""
    est, tru = _aligned(estimate, truth)
    if absolute:
        est, tru = est.abs(), tru.abs()
    return pearson(_ranks(est), _ranks(tru))


def compare(estimate: Scores, truth: Scores, k: int = 5, threshold: float = 0.5, relative: bool = True) -> dict:
    """The standard report row: recall@k, false negatives, Spearman and Pearson against ``truth``."""
    est, tru = _aligned(estimate, truth)
    fns = false_negatives(estimate, truth, threshold, relative=relative)
    return {
        "method": estimate.method,
        f"recall@{k}": recall_at_k(estimate, truth, k),
        "false_negatives": len(fns),
        "missed": fns,
        "spearman": rank_correlation(estimate, truth),
        "pearson": pearson(est, tru),
        "passes": estimate.info.get("passes", ""),
        "seconds": estimate.info.get("seconds", float("nan")),
    }


def comparison_table(
    estimates: Sequence[Scores],
    truth: Scores,
    k: int = 5,
    threshold: float = 0.5,
    relative: bool = True,
    digits: int = 2,
) -> str:
    """A plain-text table comparing several methods against ground truth (stable across runs)."""
    rows = [compare(e, truth, k, threshold, relative) for e in estimates]
    head = f"{'method':<24} {'recall@' + str(k):>9} {'false neg':>9} {'spearman':>9} {'pearson':>8}  missed"
    lines = [f"ground truth: {truth.method} ({len(truth)} {truth.kind}s, |effect| >= {threshold:g}"
             f"{' x max' if relative else ''} counts as important)", head, "-" * len(head)]
    for r in rows:
        missed = ", ".join(r["missed"][:4]) + (" ..." if len(r["missed"]) > 4 else "")
        lines.append(
            f"{r['method'][:24]:<24} {r[f'recall@{k}']:>9.{digits}f} {r['false_negatives']:>9d} "
            f"{r['spearman']:>9.{digits}f} {r['pearson']:>8.{digits}f}  {missed}"
        )
    return "\n".join(lines)
