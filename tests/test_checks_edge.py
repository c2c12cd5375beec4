"""Each edge-method learner check passes the reference and names every planted mistake."""

import pytest
import torch

from workbook.checks._runner import CheckFailed
from workbook.checks.edge_methods import (
    check_eap, check_eap_ig, check_gradpath, eap_ig_variants, eap_variants, gradpath_variants,
)


def _from_variant(variants_fn, key, *extra):
    def fn(model, task, *args):
        return variants_fn(model, task, *args)[key]

    return fn


@pytest.mark.parametrize("key,needle", [
    ("reference", None), ("sign", "sign is flipped"), ("wrong_run", "corrupt run"),
    ("at_source", "LN Jacobian"),
])
def test_check_eap(key, needle):
    fn = _from_variant(eap_variants, key)
    if needle is None:
        assert check_eap(fn, strict=True)
    else:
        with pytest.raises(CheckFailed, match=needle):
            check_eap(fn, strict=True)


@pytest.mark.parametrize("key,needle", [
    ("reference", None), ("sign", "sign is flipped"), ("corrupt_end", "k = 1..m"),
    ("no_average", "average the gradients"), ("activations", "activations variant"),
])
def test_check_eap_ig(key, needle):
    fn = _from_variant(eap_ig_variants, key)
    if needle is None:
        assert check_eap_ig(fn, strict=True)
    else:
        with pytest.raises(CheckFailed, match=needle):
            check_eap_ig(fn, strict=True)


@pytest.mark.parametrize("key,needle", [
    ("reference", None), ("ascent", "AGAINST"), ("batch_norm", "per example"),
    ("no_normalise", "did not normalise"), ("from_corrupt", "starts at the corrupt"),
])
def test_check_gradpath(key, needle):
    fn = _from_variant(gradpath_variants, key)
    if needle is None:
        assert check_gradpath(fn, strict=True)
    else:
        with pytest.raises(CheckFailed, match=needle):
            check_gradpath(fn, strict=True)


def test_stub_is_not_done(capsys):
    def stub(model, task):
        raise NotImplementedError

    assert check_eap(stub) is False
    assert "not done yet" in capsys.readouterr().out
