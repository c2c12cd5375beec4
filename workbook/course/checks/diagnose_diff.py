"""Probes that name how a learner's numbers relate to the reference, shared by every learner check.

A check hands :func:`diagnose` one :class:`Case` per test model (the chapter's own model first).
When some case disagrees, the probes look for a relation that holds on **every** disagreeing
case, in this order: all zeros; a named wrong variant the check computed (an intermediate
quantity, the clean/corrupt swap); one constant; a sign flip, a named scale factor (``B``, ``m``,
``L-1``, ``1/M(clean)``) or a constant offset (a wrong baseline); a named variant up to one of
those; two axes swapped or one reversed, a shift by one, every slice equal to the first/last
reference slice (a loop variable captured late), no dependence on an axis, agreement on some
groups or slices only; a property the learner's function breaks on inputs with a known answer
(:mod:`workbook.course.checks.properties`); a near miss or an unnamed factor; then a relation on
one case only; else where and how much the numbers differ.

Messages read the numbers of the chapter's case in words ("L1H2: yours -0.31, expected 0.31") and
point at the learner's likely line (:mod:`workbook.course.checks.source_lines`). Comparisons are in
float64, relative to the reference's scale (``REL`` to pass, ``REL_PROBE`` for a relation).
"""

from __future__ import annotations

from typing import Callable

import torch

from workbook.course.checks.case import REL, REL_PROBE, Case, Finding, count_ratios
from workbook.course.checks.case import close_to as _close
from workbook.course.checks.properties import CROSSED_CAUSE, once
from workbook.course.checks.shapes import shape_message
from workbook.course.checks.source_lines import describe_numbers as _describe
from workbook.course.checks.source_lines import point_at
from workbook.course.checks.structure import (
    probe_diagonal,
    probe_flat_axis,
    probe_flat_index,
    probe_groups,
    probe_one_slice,
    probe_shift,
    probe_subset,
    probe_swap,
)

__all__ = ["Case", "diagnose", "shape_message", "describe_numbers", "point_at", "REL", "REL_PROBE", "ZERO_TEXT"]


def _fit_scale(c: Case) -> float | None:
    den = (c.want * c.want).sum().item()
    if den <= 1e-18:
        return None
    return (c.got * c.want).sum().item() / den


def _probe_sign(c: Case) -> Finding | None:
    flipped = c.close(-c.want, REL_PROBE)
    return Finding("sign", "your numbers are the expected ones with the sign flipped: noising is M(clean with x := "
                           "corrupt) - M(clean), and a delta is corrupt - clean.") if flipped else None


def _all_factors(c: Case) -> dict[str, float]:
    """The case's factors, plus each named constant and its reciprocal (``M(clean)``, ``1/M(clean)``)."""
    out = dict(c.factors)
    out.setdefault("1/max|expected|", 1 / c.scale)  # a result normalised by its largest magnitude
    out.setdefault("1/2", 0.5)
    out.setdefault("2", 2.0)
    for name, v in c.scalars.items():
        if abs(v) > 1e-9:
            out.setdefault(name, v)
            out.setdefault(f"1/({name})" if " " in name else f"1/{name}", 1 / v)
    return out


# what a named factor usually means (the mistake that multiplies the result by it)
FACTOR_WHY = {
    "1/seq": "an average (mean) over positions, keys or query rows where the exercise sums over them",
    "seq": "a sum over positions where the exercise takes one position, or the factor seq applied once too often",
    "1/d_head": "an average (mean) over d_head where the dot product sums over it",
    "1/d_model": "an average (mean) over d_model where the dot product sums over it",
    "1/n_heads": "a mean over heads where each head keeps its own value",
    "1/n_layers": "a mean over layers where each layer keeps its own value (or a sum divided by L)",
    "1/(M(clean) - M(corrupt))": "you divided by the clean-corrupt gap M(clean) - M(corrupt) (a normalised metric); "
                                 "the exercise wants the raw metric difference",
    "1/(M(corrupt) - M(clean))": "you divided by the gap M(corrupt) - M(clean) (a normalised metric); the exercise "
                                 "wants the raw metric difference",
    "1/M(clean)": "you divided by M(clean) (a relative effect); the exercise wants the raw difference",
    "1/B^2": "you divided by B where multiplying by B belongs (the batch mean's gradient is 1/B of the per-pair "
             "one, so it needs x B; dividing makes it 1/B^2 too small)",
    "B^2": "a factor B applied twice (the gradients multiplied by B once more, or a sum over the batch on top of "
           "per-pair gradients)",
    "1/2": "half the expected values: a factor 1/2 that the first-order estimate does not have (the 1/2 of a "
           "second-order Taylor term, or a mean of two terms where their sum belongs)",
    "2": "twice the expected values: a term counted twice (added once more, or a sum of two copies where one belongs)",
    "B/seq": "you divided by the number of positions (seq) where the batch mean divides by the number of prompt "
             "pairs B (a mean over positions where the batch is averaged, or the wrong count as denominator)",
    "1/max|expected|": "you normalised the result by its largest value (divided by max |value|, so the largest is "
                       "±1); the exercise wants the raw values, whose size is part of the answer",
    "1/M(corrupt)": "you divided by M(corrupt); the exercise wants the raw metric difference",
}


def _probe_abs(c: Case) -> Finding | None:
    if (c.want < -REL_PROBE * c.scale).any() and c.close(c.want.abs(), REL_PROBE):
        return Finding("abs", "your values are the expected ones with the sign dropped (|expected|): an abs() where "
                              "the exercise keeps the sign; a negative effect is as informative as a positive one.")
    return None


def _probe_abs_inside(c: Case) -> Finding | None:
    """Every value >= 0 and at least |expected|: an absolute value taken before an average (mean |x| >= |mean x|)."""
    tol = REL_PROBE * c.scale
    if not (c.want < -10 * tol).any() or (c.got < -tol).any() or c.close(c.want.abs(), REL_PROBE):
        return None
    g, a = c.got.flatten(), c.want.abs().flatten()
    r = torch.corrcoef(torch.stack([g, a]))[0, 1].item() if g.numel() > 2 else 0.0
    if r >= 0.9 and bool((c.got >= c.want.abs() - tol).all()) and (c.got - c.want.abs()).abs().max().item() > 10 * tol:
        return Finding("abs_inside", "your values are all >= 0 and at least as large as |expected|: an absolute "
                                     "value taken BEFORE averaging (per prompt pair, per position or per step), so "
                                     "the signs that cancel in the average no longer do; keep the sign until the "
                                     "average is taken.")
    return None


def _probe_scale(c: Case) -> list[Finding] | None:
    k = _fit_scale(c)
    if k is None or abs(k) < 1e-9 or not c.close(k * c.want, REL_PROBE):
        return None
    if abs(k - 1) < 0.05:
        return [Finding("near", f"your numbers are close to the expected ones (within {abs(k - 1):.1%} overall) but "
                                "not equal: a small term is left out or added (an abs, mean or sum applied at "
                                "another stage, one pass/position/layer missing, or a different path point).")]
    out = []
    for name, value in _all_factors(c).items():
        for sgn, s in ((1, ""), (-1, "-")):
            if abs(sgn * value - k) <= 2e-2 * abs(value) and abs(value - 1) > 1e-6:
                why = FACTOR_WHY.get(name, "a factor is applied once too often or missing")
                out.append(Finding(f"scale:{s}{name}", f"your numbers are the expected ones times {s}{name} "
                                                       f"({name} = {value:.4g} here): {why}"
                                                       f"{' (and the sign is flipped)' if s else ''}."))
    if not out:  # a named factor says more than a ratio of counts (and B/seq is both)
        out += _count_ratios(c, k)
    out.append(Finding("scale:?", f"your numbers are proportional to the expected ones but {k:.3g} times as large; "
                                  "a normalisation or step size is off."))
    return out


def _count_ratios(c: Case, k: float) -> list[Finding]:
    """``k`` as a ratio of two of the case's counts (:func:`~.case.count_ratios`); :func:`_agreeing` keeps the
    ratios that fit every case."""
    counts = {n: v for n, v in c.factors.items() if n.isidentifier()}
    return [Finding(f"scale:{expr}", f"your numbers are the expected ones times {expr} {words}")
            for expr, words in count_ratios(k, counts)]


def _probe_offset(c: Case) -> Finding | None:
    d = c.got - c.want
    off = d.mean().item()
    if abs(off) <= REL_PROBE * c.scale or (d - off).abs().max().item() > REL_PROBE * c.scale:
        return None
    for name, value in c.scalars.items():
        for sgn, s in ((1, ""), (-1, "-")):
            if abs(sgn * value - off) <= 2e-2 * max(abs(value), 1e-9):
                how = "added to" if sgn > 0 else "subtracted from"
                return Finding(f"offset:{s}{name}", f"every value is shifted by the same constant {off:.4g} "
                                                    f"= {s}{name}: {name} is {how} every value, a wrong baseline "
                                                    "(what you subtract, or a term that belongs nowhere).")
    return Finding("offset:?", f"every value is shifted by the same constant {off:.4g}: a wrong baseline. "
                               "The baseline should be M(clean), the unpatched clean run's metric, subtracted once "
                               "(check what you subtract, or where the difference starts).")


def _probe_affine(c: Case) -> Finding | None:
    """Yours = a * expected + b for one a != 1 and one b != 0 over all entries (a scale and an offset at once):
    named as a standardisation (z-score) or a centring when a and b are the entries' own statistics."""
    want, got = c.want.flatten(), c.got.flatten()
    if want.numel() < 4 or want.std().item() <= REL_PROBE * c.scale:
        return None
    a = ((got - got.mean()) * (want - want.mean())).sum().item() / ((want - want.mean()) ** 2).sum().item()
    b = got.mean().item() - a * want.mean().item()
    fit = a * want + b
    if abs(a) <= 1e-9 or (got - fit).abs().max().item() > REL_PROBE * c.scale * max(abs(a), 1e-9):
        return None
    mean = want.mean().item()
    for unbiased in (True, False):  # a z-score of near-zero values is nearly a plain factor: named first
        std = want.std(unbiased=unbiased).item()
        if abs(a * std - 1) <= 1e-3 and abs(b + mean / std) <= 1e-3 * max(abs(mean / std), 1):
            return Finding("affine:zscore", "your numbers are the expected ones standardised (z-scored) over all "
                                            f"entries: minus their mean ({mean:.3g}), divided by their standard "
                                            f"deviation ({std:.3g}). The estimates are used as they are: drop the "
                                            "normalisation.")
    if abs(a - 1) <= REL_PROBE or abs(b) <= REL_PROBE * c.scale * abs(a):
        return None  # a plain offset or a plain factor: the probes before this one
    clean = c.scalars.get("M(clean)")
    if clean is not None and abs(a + 1) <= 1e-3 and abs(b + 2 * clean) <= 1e-2 * max(abs(clean), c.scale):
        return Finding("affine:negated_patched", "your numbers are -(expected) - 2 M(clean): the patched run is "
                                                 "measured with the metric negated (answer and wrong swapped for it, "
                                                 "or -M) while M(clean) is measured as it is; measure both runs with "
                                                 "the task's own metric.")
    if abs(b + a * mean) <= 1e-3 * max(abs(a * mean), abs(b), 1e-9):
        return Finding("affine:centred", f"your numbers are the expected ones centred (their mean, {mean:.3g}, "
                                          f"subtracted) and multiplied by {a:.3g}: drop the centring and the factor.")
    return Finding("affine:?", f"your numbers are the expected ones times {a:.3g} plus {b:.3g} (a scale and an "
                               "offset at once): a normalisation (subtract a statistic, divide by another) or a wrong "
                               "baseline together with a wrong factor.")


def _probe_constant(c: Case) -> Finding | None:
    v = c.got.flatten()
    if v.numel() < 3 or (v - v.mean()).abs().max().item() > 1e-6 * max(v.abs().max().item(), c.scale):
        return None
    val = v.mean().item()
    for name, x in c.scalars.items():
        if abs(x - val) <= 2e-2 * max(abs(x), 1e-9):
            return Finding(f"constant:{name}", f"every value of yours is the same number, {val:.4g} = {name}: "
                                               "nothing you patched changed the metric, so the patched run is not "
                                               "the clean run with one component replaced (which tokens does it run?).")
    return Finding("constant:?", f"every value of yours is the same number, {val:.4g}: your result does not "
                                 "depend on the component (an index or name that never changes in the loop?).")


#: the message for an all-zero result (a check's "zero" hint may extend it)
ZERO_TEXT = ("every value of yours is 0: a difference of an activation with itself (both caches "
             "from the same run, e.g. the clean cache taken on the corrupt tokens), or a "
             "gradient/patch that never arrives (a hook that edits a copy but returns nothing, so "
             "the model keeps its own activation; a hook on a name that never fires; a forward run after "
             "the hooks' `with` block closed, which removed them, or model.hooks(...) called without `with`, "
             "which never registers them; a store "
             "keyed by hook.name and read by the registered name, which TransformerLens 4 reports "
             "differently).")


def _probe_zero(c: Case) -> Finding | None:
    if c.got.abs().max().item() <= REL * c.scale:  # ~0 next to the expected values (float noise allowed)
        return Finding("zero", ZERO_TEXT)
    return None


PROBES = (_probe_zero, _probe_constant, _probe_sign, _probe_abs, _probe_abs_inside, _probe_scale, _probe_offset,
          _probe_affine, probe_swap, probe_diagonal, probe_flat_index, probe_shift, probe_one_slice, probe_flat_axis,
          probe_groups, probe_subset)


def describe_numbers(c: Case, n: int = 3) -> str:
    """``On <label>: L1H2: yours -0.31, expected 0.31; ...`` for the entries that matter most."""
    return _describe(c, n, REL_PROBE)

# --------------------------------------------------------------------------- verdict
def _agreeing(failing: list[Case], probe) -> Finding | None:
    """The finding whose key every failing case shares (the first case's wording), else None."""
    common: dict[str, Finding] | None = None
    for c in failing:
        found = probe(c)
        if found is None:
            return None
        found = found if isinstance(found, list) else [found]
        keys = {f.key: f for f in found}
        common = keys if common is None else {k: v for k, v in common.items() if k in keys}
        if not common:
            return None
    return next(iter(common.values())) if common else None


#: variants whose relation up to a factor says nothing (a scale mistake times a factor is any scale)
NO_RELATION = frozenset({"scale_mult", "scale_dhead", "scale_dmodel"})


def _variant_relation(failing: list[Case], hints) -> str | None:
    """A named variant that explains every failing case up to a sign, a named factor or an offset."""
    for key, message in hints:
        if key in NO_RELATION or not all(key in c.variants for c in failing):
            continue
        shifted = [Case(c.label, c.got, c.variants[key], c.axes, factors=c.factors, scalars=c.scalars)
                   for c in failing]
        if any(s_.want.abs().max().item() <= 1e-9 for s_ in shifted):
            continue
        for probe in (_probe_sign, _probe_scale, _probe_offset):
            found = _agreeing(shifted, probe)
            if found is not None and found.key not in ("scale:?", "offset:?"):
                if (key, found.key) == ("means_first", "scale:B"):  # sum_{b,c} delta_b . grad_c / B
                    return "your numbers are B times the product of the batch means of the deltas and the " \
                           "gradients, which is the sum over every PAIR of examples b, c of delta_b . grad_c / B: " \
                           + CROSSED_CAUSE
                rel = found.text.replace("the expected ones", "those").replace("your numbers", "on top of it, yours")
                return f"{message.rstrip('.')}; {rel}"
    return None


def diagnose(cases: list[Case], hints: list[tuple[str, str]] = (), fn: Callable | None = None,
             properties: Callable[[], str | None] | None = None,
             clue: Callable[[], str | None] | None = None) -> str | None:
    """None when every case passes, else the diagnosis (see the module docstring).

    ``hints``: ``(variant key, message)`` pairs tried in order before the generic probes; a
    variant names the mistake only if it reproduces every failing case that has it and differs
    from the reference on one of them. ``clue``: called (lazily) after the named variants, before
    the relations: a contradiction in what the learner's variables hold (:mod:`.trace`); when it
    has a ``where`` (a :class:`~.trace.CaseTrace`), the no-relation message adds where to look, and its
    ``late`` clue is asked after the relations and the properties.
    ``properties``: called (lazily) when no relation holds on
    every case, before the weaker ones (a near miss, an unnamed factor, one case only); it runs
    the learner's function on inputs with a known answer (:mod:`workbook.course.checks.properties`)
    and returns a diagnosis or None.
    """
    for c in cases:
        bad = ~torch.isfinite(c.got)
        if bad.any():
            idx = tuple(int(i) for i in bad.nonzero()[0])
            return (f"on {c.label} your result has {int(bad.sum())} NaN or inf values (first at {c.label_of(idx)}) "
                    "where the expected values are finite: a division by zero (a denominator that is 0 for some "
                    "entries, such as a count of later layers or positions that is 0 at the last one), a 0/0 (a "
                    "norm of a zero gradient: clamp it, `.clamp_min(1e-12)`), a softmax over a row that is all "
                    "-inf (a mask on the wrong side, or the softmax taken over another axis than the keys, e.g. the "
                    "heads), a log of 0, or a "
                    "log_softmax where a softmax belongs (log-probabilities are -inf at masked entries, and "
                    "-inf - (-inf) is NaN).")
    failing = [c for c in cases if not c.passes]
    if not failing:
        return None
    shown = failing[0]
    numbers = " " + describe_numbers(shown)
    where = getattr(clue, "where", None)  # a CaseTrace also says where to look when nothing relates
    late = getattr(clue, "late", None)  # ... and has a clue asked after the relations (a foreign gradient)
    clue = once(clue)
    zero = _agreeing(failing, _probe_zero)  # all zeros is the simplest statement: before any variant
    if zero is not None:  # ... unless a variable holds what its name denies (both caches from one run)
        if clue():
            return clue() + numbers
        return dict(hints).get(zero.key, zero.text) + numbers + point_at(fn, zero.key)
    for key, message in hints:
        have = [c for c in failing if key in c.variants]
        informative = any(not _close(c.variants[key], c.want, REL, c.scale) for c in have) and any(
            c.variants[key].abs().max().item() > REL_PROBE * c.scale for c in have)  # a ~0 variant matches any ~0
        if have and informative and all(c.close(c.variants[key], REL_PROBE) for c in have):
            return message + numbers + point_at(fn, key)
    if clue():
        return clue() + numbers
    named, prop = dict(hints), once(properties)
    for i, probe in enumerate(PROBES):
        if probe is probe_swap:  # a named variant up to a sign/factor/offset beats a structural relation
            relation = _variant_relation(failing, hints)
            if relation is not None:
                return relation + numbers
        found = _agreeing(failing, probe)
        weak = found is not None and (found.key.endswith(":some") or found.key.startswith("groups:"))
        if weak and found.key not in named and prop():
            return prop() + numbers  # "some slices/groups differ" says less than a broken property
        if found is not None and found.key not in ("scale:?", "offset:?"):
            return named.get(found.key, found.text) + numbers + point_at(fn, found.key)
    if prop():
        return prop() + numbers
    if late is not None and (foreign := late()):
        return foreign + numbers
    for probe in (_probe_scale, _probe_offset):  # a near miss, an unnamed factor or offset, as a last relation
        found = _agreeing(failing, probe)
        if found is not None:
            return named.get(found.key, found.text) + numbers + point_at(fn, found.key)
    for c in failing:  # no relation holds everywhere: report one that holds on a single case
        for probe in PROBES:
            found = probe(c)
            found = [f for f in (found if isinstance(found, list) else [found] if found else [])
                     if f.key not in ("scale:?", "near")]  # an unnamed factor or a near miss on one model says nothing
            if found:
                found = found[0]
                text = named.get(found.key, found.text)  # a relation on one model only is weak: where to look
                return (f"on {c.label} (but not on every test model): {text} {describe_numbers(c)}"
                        + point_at(fn, found.key) + _look(where))
    return _no_relation(shown, numbers) + _look(where)


def _look(where: Callable[[], str | None] | None) -> str:
    look = where() if where is not None else None
    return f" {look}" if look else ""


def _no_relation(c: Case, numbers: str) -> str:
    r = torch.corrcoef(torch.stack([c.got.flatten(), c.want.flatten()]))[0, 1].item() if c.want.numel() > 1 else 0.0
    ratio = c.got.norm().item() / max(c.want.norm().item(), 1e-12)
    if bool((c.got >= c.want.abs() - 1e-6 * c.scale).all()) and ratio > 1.5:
        return (f"every value of yours is at least the expected one's magnitude (overall {ratio:.2g} times the "
                "expected) and none is negative: magnitudes taken before the sum bound the sum from above, such as a "
                "product of norms ||delta|| x ||grad|| where the dot product delta . grad belongs, or |.| of each "
                f"term (per position or entry) where the terms are summed first.{numbers}")
    return (f"your values differ from the reference with no simple relation (not a sign, a scale, an offset, a "
            f"shift or a subset): their correlation with the expected values is {r:.2f} and their overall size "
            f"{ratio:.2g} times the expected.{numbers}")
