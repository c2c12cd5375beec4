"""Learner checks for chapter 06 (beyond the gradient): RelP's LN-rule, MIB's areas, circuit overlap.

Learner signatures:

* ``ln_rule_fn(x, w, eps, centred, g) -> Tensor[..., D]``: the input gradient of a LayerNorm
  (``centred=True``) or RMSNorm (``centred=False``) with its scale ``s`` held constant (RelP's
  LN-rule): ``C(w * g) / s``, ``s = sqrt(mean((C x)^2) + eps)``, ``C`` subtracts the mean over the
  last dimension (the identity for RMSNorm). Reference:
  :func:`workbook.attribution.backward_rules.frozen_norm_grad`.
* ``areas_fn(fractions, faithfulness) -> (area_under, area_from_1)``: MIB's trapezoid areas on
  the linear axis of the fractions. Reference: :func:`workbook.analysis.mib.mib_area`.
* ``jaccard_fn(circuits) -> list[float]``: the Jaccard overlap of every pair ``i < j`` of edge
  sets, in ``itertools.combinations`` order, 1.0 for two empty sets. Reference:
  :func:`workbook.analysis.stability.pairwise_jaccard`.

Each check runs the learner's function on fixed inputs chosen so that every planted mistake
(the ``*_variants`` functions) gives a different answer, and names the mistake it matches.
"""

from __future__ import annotations

import itertools

import torch

from workbook.analysis.mib import MIB_PERCENTAGES, mib_area
from workbook.analysis.stability import pairwise_jaccard
from workbook.attribution.backward_rules import frozen_norm_grad
from workbook.course.checks._runner import CheckFailed, learner_check

__all__ = ["check_ln_rule", "check_mib_areas", "check_jaccard", "ln_rule_variants", "mib_area_variants",
           "jaccard_variants", "ln_rule_cases", "mib_area_cases", "jaccard_cases"]


# ------------------------------------------------------------------------------------------ LN-rule

def ln_rule_cases() -> list[dict]:
    """A LayerNorm case, then an RMSNorm case: inputs with a mean offset and a variance comparable to eps."""
    g = torch.Generator().manual_seed(6)
    cases = []
    for centred in (True, False):
        D = 8
        x = 0.3 * torch.randn(3, D, generator=g, dtype=torch.float64) + 0.7  # mean offset: C matters
        cases.append({"x": x, "w": 1.0 + 0.5 * torch.randn(D, generator=g, dtype=torch.float64), "eps": 0.05,
                      "centred": centred, "g": torch.randn(3, D, generator=g, dtype=torch.float64)})
    return cases


def _exact_norm_grad(x, w, eps, centred, g) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    xc = x - x.mean(-1, keepdim=True) if centred else x
    y = xc / (xc.pow(2).mean(-1, keepdim=True) + eps).sqrt() * w
    (dx,) = torch.autograd.grad(y, x, grad_outputs=g)
    return dx


def ln_rule_variants(x, w, eps, centred, g) -> dict[str, torch.Tensor]:
    """The reference LN-rule gradient and the planted mistakes, each ``[..., D]``."""
    def centre(t, on=centred):
        return t - t.mean(-1, keepdim=True) if on else t

    s = (centre(x).pow(2).mean(-1, keepdim=True) + eps).sqrt()
    return {
        "reference": frozen_norm_grad(x, w, eps, centred, g),
        "exact": _exact_norm_grad(x, w, eps, centred, g),
        "no_centre": (w * g) / s,
        "no_weight": centre(g) / s,
        "variance": centre(w * g) / s.pow(2),
        "times_scale": centre(w * g) * s,
        "no_eps": centre(w * g) / centre(x).pow(2).mean(-1, keepdim=True).sqrt(),
        "uncentred_scale": centre(w * g) / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt(),
        "centre_always": centre(w * g, True) / s,
    }


LN_HINTS = {
    "exact": "this is the exact LayerNorm gradient: you differentiated through the scale s. The LN-rule holds s "
             "constant (compute s from x, but let no gradient flow through it: detach it, or write the formula).",
    "no_centre": "the LayerNorm case is not centred: C(w * g) subtracts the mean over the last dimension of w * g "
                 "(the centring x - mean(x) is linear, so the rule keeps it).",
    "no_weight": "the gain w is missing: the output is (C x / s) * w, so the gradient reaching C x is w * g.",
    "variance": "you divided by s^2 (the variance): the scale is s = sqrt(mean((C x)^2) + eps), divide by it once.",
    "times_scale": "you multiplied by s: the norm divides by its scale, so the frozen-scale gradient divides too.",
    "no_eps": "eps is missing from the scale: s = sqrt(mean((C x)^2) + eps), as in the forward pass.",
    "uncentred_scale": "the LayerNorm scale is computed from x instead of the centred x - mean(x): s is the "
                       "standard deviation, sqrt(mean((x - mean x)^2) + eps).",
    "centre_always": "you centred in the RMSNorm case (centred=False): RMSNorm does not subtract the mean, so C is the "
                     "identity there.",
}


def _diagnose(actual, variants: dict, hints: dict, what: str, atol: float = 1e-9) -> None:
    ref = variants["reference"]
    actual = torch.as_tensor(actual).detach().double()
    if tuple(actual.shape) != tuple(ref.shape):
        raise CheckFailed(f"{what}: expected shape {tuple(ref.shape)}, got {tuple(actual.shape)}.")
    if not torch.isfinite(actual).all():
        raise CheckFailed(f"{what}: contains NaN or inf.")
    scale = float(ref.abs().max()) or 1.0
    if float((actual - ref.double()).abs().max()) <= atol * scale + 1e-6 * scale:
        return
    for key, msg in hints.items():
        v = variants[key].double()
        if float((actual - v).abs().max()) <= 1e-6 * max(scale, float(v.abs().max())):
            raise CheckFailed(f"{what}: {msg}")
    err = float((actual - ref.double()).abs().max())
    raise CheckFailed(f"{what}: differs from the reference (max abs difference {err:.3g}, values of size {scale:.3g}).")


@learner_check
def check_ln_rule(ln_rule_fn) -> None:
    """``ln_rule_fn(x, w, eps, centred, g) -> dx`` against the reference LN-rule (LayerNorm, then RMSNorm)."""
    for case in ln_rule_cases():
        what = "LayerNorm case (centred=True)" if case["centred"] else "RMSNorm case (centred=False)"
        got = ln_rule_fn(case["x"].clone(), case["w"].clone(), case["eps"], case["centred"], case["g"].clone())
        _diagnose(got, ln_rule_variants(**case), LN_HINTS, what)


# ------------------------------------------------------------------------------------------ MIB areas

def mib_area_cases() -> list[tuple[list[float], list[float]]]:
    """(fractions, faithfulness) curves with f above 1 and below 0, so |1 - f| and 1 - f differ."""
    x = list(MIB_PERCENTAGES)
    return [(x, [0.0, -0.2, 0.1, 0.4, 0.7, 1.3, 1.1, 0.9, 1.05, 1.0]),
            (x, [0.05, 0.3, 0.2, 0.6, 0.9, 0.8, 1.2, 1.4, 0.95, 1.0])]


def mib_area_variants(fractions, faithfulness) -> dict[str, tuple[float, float]]:
    """MIB's ``(area_under, area_from_1)`` and the planted mistakes."""
    x, f = [float(v) for v in fractions], [float(v) for v in faithfulness]
    n = len(f)

    def trap(xs, ys):
        return sum((xs[i + 1] - xs[i]) * (ys[i] + ys[i + 1]) / 2 for i in range(n - 1))

    dev = [abs(1 - v) for v in f]
    even = [i / (n - 1) for i in range(n)]
    under, from_1 = mib_area(f, x)
    return {
        "reference": (under, from_1),
        "percent": (trap([100 * v for v in x], f), trap([100 * v for v in x], dev)),
        "even_axis": (trap(even, f), trap(even, dev)),
        "log_axis": (trap([float(torch.tensor(v).log10()) for v in x], f),
                     trap([float(torch.tensor(v).log10()) for v in x], dev)),
        "signed_from_1": (under, trap(x, [1 - v for v in f])),
        "left_sum": (sum((x[i + 1] - x[i]) * f[i] for i in range(n - 1)),
                     sum((x[i + 1] - x[i]) * dev[i] for i in range(n - 1))),
        "mean": (sum(f) / n, sum(dev) / n),
        "swapped": (from_1, under),
    }


AREA_HINTS = {
    "percent": "both areas are 100 x too large: MIB integrates over fractions of the edges (0.001 ... 1), "
               "not per cent.",
    "even_axis": "you spaced the points evenly: MIB's trapezoid uses the fractions themselves as x (a linear axis), "
                 "so the last interval, 0.5 -> 1, carries half the weight.",
    "log_axis": "you integrated over log10(fraction): MIB's x axis is linear in the fraction (no rescaling).",
    "signed_from_1": "CMD's area is over |1 - f|: a circuit that beats the model (f > 1) is a distance too, "
                     "not a credit.",
    "left_sum": "this is a left Riemann sum (f at the left end of each interval): the trapezoid averages both ends, "
                "(x2 - x1)(f1 + f2)/2.",
    "mean": "this is the plain mean of f (MIB's 'average'), not the area under the curve.",
    "swapped": "the two areas are swapped: return (area under f, area under |1 - f|).",
}


@learner_check
def check_mib_areas(areas_fn) -> None:
    """``areas_fn(fractions, faithfulness) -> (area_under, area_from_1)`` against MIB's trapezoid."""
    for i, (x, f) in enumerate(mib_area_cases()):
        got = areas_fn(list(x), list(f))
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailed(f"curve {i}: return a pair (area_under, area_from_1), got {type(got).__name__}.")
        variants = mib_area_variants(x, f)
        _diagnose(torch.tensor([float(v) for v in got]), {k: torch.tensor(v, dtype=torch.float64)
                                                           for k, v in variants.items()}, AREA_HINTS, f"curve {i}")


# ------------------------------------------------------------------------------------------ Jaccard

def jaccard_cases() -> list[list[set[str]]]:
    """Edge sets of different sizes, with a pair of empty circuits."""
    a = {"embed->MLP0", "MLP0->logits", "L0H1->logits", "embed->L0H1.v"}
    b = {"embed->MLP0", "MLP0->logits"}
    c = {"embed->MLP0", "L1H0->logits", "embed->L1H0.q"}
    return [[a, b, c, a | c], [set(), set(), b, c]]


def jaccard_variants(circuits) -> dict[str, list[float]]:
    """The reference pairwise Jaccard and the planted mistakes."""
    sets = [set(s) for s in circuits]
    pairs = list(itertools.combinations(sets, 2))

    def each(fn, which=pairs):
        return [fn(x, y) for x, y in which]

    return {
        "reference": pairwise_jaccard(sets),
        "precision": each(lambda x, y: len(x & y) / len(x) if x else 1.0),
        "min_overlap": each(lambda x, y: len(x & y) / min(len(x), len(y)) if x and y else float(x == y)),
        "dice": each(lambda x, y: 2 * len(x & y) / (len(x) + len(y)) if x or y else 1.0),
        "sum_not_union": each(lambda x, y: len(x & y) / (len(x) + len(y)) if x or y else 1.0),
        "empty_zero": each(lambda x, y: len(x & y) / len(x | y) if x | y else 0.0),
        "self_pairs": [len(x & y) / len(x | y) if x | y else 1.0
                       for x, y in itertools.combinations_with_replacement(sets, 2)],
        "ordered_pairs": [len(x & y) / len(x | y) if x | y else 1.0 for x, y in itertools.permutations(sets, 2)],
    }


JACCARD_HINTS = {
    "precision": "you divided by the first circuit's size |A| (precision): Jaccard divides by the union |A | B|.",
    "min_overlap": "you divided by the smaller circuit (the overlap coefficient): Jaccard divides by |A | B|.",
    "dice": "this is the Dice coefficient 2|A & B| / (|A| + |B|): Jaccard is |A & B| / |A | B|.",
    "sum_not_union": "you divided by |A| + |B|, which counts the shared edges twice: the union is |A| + |B| - |A & B|.",
    "empty_zero": "two empty circuits agree: their Jaccard is 1.0 (the union is empty, so define it), not 0.",
}


@learner_check
def check_jaccard(jaccard_fn) -> None:
    """``jaccard_fn(circuits) -> [Jaccard of pair (i, j), i < j]`` against the reference."""
    for i, circuits in enumerate(jaccard_cases()):
        got = list(jaccard_fn([set(s) for s in circuits]))
        v = jaccard_variants(circuits)
        n, want = len(circuits), len(v["reference"])
        if len(got) != want:
            if len(got) == len(v["self_pairs"]):
                raise CheckFailed(f"case {i}: {len(got)} values for {n} circuits: you paired each circuit with itself "
                                  f"too; the {want} pairs are i < j (itertools.combinations).")
            if len(got) == len(v["ordered_pairs"]):
                raise CheckFailed(f"case {i}: {len(got)} values for {n} circuits: you counted each pair twice, (i, j) "
                                  f"and (j, i); Jaccard is symmetric, keep i < j (itertools.combinations).")
            raise CheckFailed(f"case {i}: expected {want} values (one per pair i < j of {n} circuits), got {len(got)}.")
        _diagnose(torch.tensor([float(x) for x in got], dtype=torch.float64),
                  {k: torch.tensor(x, dtype=torch.float64) for k, x in v.items() if len(x) == want},
                  JACCARD_HINTS, f"case {i}", atol=1e-12)
