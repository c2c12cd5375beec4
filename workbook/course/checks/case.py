"""What a learner check compares: one test model's result next to the reference (:class:`Case`).

Shared by the probes of :mod:`workbook.course.checks.diagnose_diff` (relations between values) and
:mod:`workbook.course.checks.structure` (relations between slices and axes). Comparisons are in
float64, relative to the reference's scale (``REL`` to pass, ``REL_PROBE`` for a relation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from workbook.course.checks.quick import QuickFail, quick

__all__ = ["Case", "Finding", "close_to", "not_a_tensor", "count_ratios", "REL", "REL_PROBE"]

REL = 2e-3  # a case passes when max|got - want| <= REL * max|want| (float32 sums of tiny models)
REL_PROBE = 2e-2  # a relation holds when it reproduces the learner's numbers to this share of their scale


@dataclass
class Case:
    """One test model's result: learner output ``got``, reference ``want`` (same shape), context.

    ``axes`` names each axis (``"layer"``, ``"source"``, ...); ``factors``/``scalars`` map a readable
    factor (``"B"``)/constant (``"M(clean)"``) to its value here; ``variants`` a hint key to what that
    mistake gives; ``groups`` a group name (``"edges into MLPs"``) to a boolean mask over ``want``;
    ``name_of`` turns an index tuple into a readable name (``"L1H2"``).
    """

    label: str
    got: torch.Tensor
    want: torch.Tensor
    axes: tuple[str, ...]
    factors: dict[str, float] = field(default_factory=dict)
    scalars: dict[str, float] = field(default_factory=dict)
    variants: dict[str, torch.Tensor] = field(default_factory=dict)
    groups: dict[str, torch.Tensor] = field(default_factory=dict)
    name_of: Callable[[tuple[int, ...]], str] | None = None

    def __post_init__(self) -> None:
        self.got = torch.as_tensor(self.got).detach().cpu().double()
        self.want = torch.as_tensor(self.want).detach().cpu().double()
        if quick() and not self.passes:  # only the verdict was asked for (a one-line edit being tried)
            raise QuickFail(self.label)

    scale = property(lambda self: max(self.want.abs().max().item(), 1e-9))

    def close(self, other: torch.Tensor, rel: float = REL) -> bool:
        return close_to(self.got, other, rel, self.scale)

    @property
    def passes(self) -> bool:
        return self.close(self.want) or (self.got - self.want).abs().max().item() <= 1e-7

    def label_of(self, idx: tuple[int, ...]) -> str:
        if self.name_of is not None:
            return self.name_of(idx)
        return "[" + ", ".join(f"{a} {i}" for a, i in zip(self.axes, idx)) + "]"


def close_to(a: torch.Tensor, b: torch.Tensor, rel: float, scale: float | None = None) -> bool:
    """``a`` and ``b`` have one shape and differ by at most ``rel`` of the larger scale (of both and ``scale``)."""
    b = torch.as_tensor(b).detach().cpu().double()
    if a.shape != b.shape:
        return False
    s = max(a.abs().max().item() if a.numel() else 0.0, b.abs().max().item() if b.numel() else 0.0,
            scale or 0.0, 1e-9)
    return (a - b).abs().max().item() <= rel * s + 1e-8


# --------------------------------------------------------------------------- probes
@dataclass
class Finding:
    key: str  # must be the same on every failing case for the probe to count
    text: str  # the diagnosis, in words


def not_a_tensor(out: object, want: str) -> str:
    """The failure for a result that is not the tensor asked for; a workbook ``Scores`` gets its own words."""
    if type(out).__name__ == "Scores":
        return (f"return {want}, got a Scores object: this exercise asks for the plain torch.Tensor, not a "
                "wb.Scores (names + values); return the tensor itself, before any wrapping")
    return f"return {want}, got {type(out).__name__}."


def count_ratios(k: float, counts: dict[str, float]) -> list[tuple[str, str]]:
    """``(expression, words)`` for each way of writing ``k`` as a ratio of two ``counts`` (whole numbers >= 2,
    each also -1 and +1): ``m/(m - 1)`` for a sum over m points divided by m - 1. A wrong count in a
    normalisation gives such a ratio exactly, so the match is to 1e-3 (float32 rounding, not a coincidence band)."""
    whole = {n: int(v) for n, v in counts.items() if float(v).is_integer() and v >= 2}
    terms = list(whole.items()) + [(f"{n} - 1", v - 1) for n, v in whole.items() if v > 2] + [
        (f"{n} + 1", v + 1) for n, v in whole.items()]
    out = []
    for a, va in terms:
        for b, vb in terms:
            if a != b and va != vb and abs(va / vb - k) <= 1e-3 * abs(k):
                top, bottom = (f"({a})" if " " in a else a), (f"({b})" if " " in b else b)
                out.append((f"{top}/{bottom}", f"(= {va}/{vb} here): the wrong count in a normalisation, divided by "
                                               f"{b} where {a} belongs (or multiplied by {a} where {b} belongs)."))
    return out
