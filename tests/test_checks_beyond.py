"""Each chapter-06 learner check passes the reference and names every planted mistake."""

import itertools

import pytest
import torch

from workbook.course.checks._runner import CheckFailed
from workbook.course.checks.beyond import (
    AREA_HINTS,
    JACCARD_HINTS,
    LN_HINTS,
    check_jaccard,
    check_ln_rule,
    check_mib_areas,
    jaccard_cases,
    jaccard_variants,
    ln_rule_cases,
    ln_rule_variants,
    mib_area_cases,
    mib_area_variants,
)


def _ln(key):
    def fn(x, w, eps, centred, g):
        return ln_rule_variants(x, w, eps, centred, g)[key]

    return fn


@pytest.mark.parametrize("key,needle", [
    ("reference", None), ("exact", "exact LayerNorm gradient"), ("no_centre", "not centred"),
    ("no_weight", "gain w is missing"), ("variance", "divided by s\\^2"), ("times_scale", "multiplied by s"),
    ("no_eps", "eps is missing"), ("uncentred_scale", "standard deviation"), ("centre_always", "RMSNorm does not"),
])
def test_check_ln_rule(key, needle):
    if needle is None:
        assert check_ln_rule(_ln(key), strict=True)
    else:
        with pytest.raises(CheckFailed, match=needle):
            check_ln_rule(_ln(key), strict=True)


def test_ln_rule_reference_is_the_detach_trick():
    """An independent reference: autograd through LN with the scale detached gives the same gradient."""
    for case in ln_rule_cases():
        x = case["x"].clone().requires_grad_(True)
        xc = x - x.mean(-1, keepdim=True) if case["centred"] else x
        y = xc / (xc.pow(2).mean(-1, keepdim=True) + case["eps"]).sqrt().detach() * case["w"]
        (dx,) = torch.autograd.grad(y, x, grad_outputs=case["g"])
        want = ln_rule_variants(**case)["reference"]
        assert float((dx - want).abs().max()) <= 1e-12 * float(want.abs().max())


def _distinct(variants: dict, scale: float) -> None:
    for (a, va), (b, vb) in itertools.combinations(variants.items(), 2):
        va, vb = torch.as_tensor(va, dtype=torch.float64), torch.as_tensor(vb, dtype=torch.float64)
        if va.shape == vb.shape:
            assert float((va - vb).abs().max()) > 1e-3 * scale, f"{a} and {b} coincide"


def test_planted_mistakes_are_distinguishable():
    """Every check names a mistake on some case only if no other variant gives the same numbers there."""
    ln = [ln_rule_variants(**c) for c in ln_rule_cases()]
    assert set(LN_HINTS) == set(ln[0]) - {"reference"}
    for key in LN_HINTS:  # each mistake differs from the reference on at least one case ...
        assert any(float((v[key] - v["reference"]).abs().max()) > 1e-3 for v in ln), key
    for key, other in itertools.combinations(["reference", *LN_HINTS], 2):  # ... and from every other mistake
        assert any(float((v[key] - v[other]).abs().max()) > 1e-3 for v in ln), (key, other)
    for x, f in mib_area_cases():
        _distinct(mib_area_variants(x, f), 0.1)
    jac = [jaccard_variants(c) for c in jaccard_cases()]
    for key, other in itertools.combinations(["reference", *JACCARD_HINTS], 2):
        assert any(max(abs(a - b) for a, b in zip(v[key], v[other])) > 1e-3 for v in jac), (key, other)
    assert set(AREA_HINTS) == set(mib_area_variants(*mib_area_cases()[0])) - {"reference"}


@pytest.mark.parametrize("key,needle", [
    ("reference", None), ("percent", "100 x too large"), ("even_axis", "spaced the points evenly"),
    ("log_axis", "log10"), ("signed_from_1", "\\|1 - f\\|"), ("left_sum", "left Riemann"),
    ("mean", "plain mean"), ("swapped", "swapped"),
])
def test_check_mib_areas(key, needle):
    def fn(x, f):
        return mib_area_variants(x, f)[key]

    if needle is None:
        assert check_mib_areas(fn, strict=True)
    else:
        with pytest.raises(CheckFailed, match=needle):
            check_mib_areas(fn, strict=True)


@pytest.mark.parametrize("key,needle", [
    ("reference", None), ("precision", "precision"), ("min_overlap", "overlap coefficient"), ("dice", "Dice"),
    ("sum_not_union", "twice"), ("empty_zero", "empty circuits agree"), ("self_pairs", "with itself"),
    ("ordered_pairs", "counted each pair twice"),
])
def test_check_jaccard(key, needle):
    def fn(circuits):
        return jaccard_variants(circuits)[key]

    if needle is None:
        assert check_jaccard(fn, strict=True)
    else:
        with pytest.raises(CheckFailed, match=needle):
            check_jaccard(fn, strict=True)


def test_stubs_and_crashes_do_not_stop_the_notebook(capsys):
    def stub(*args):
        raise NotImplementedError("stub")

    def crash(circuits):
        return [1 / 0]

    assert not check_jaccard(stub)
    assert "[not done yet]" in capsys.readouterr().out
    assert not check_jaccard(crash)
    assert "ZeroDivisionError" in capsys.readouterr().out
