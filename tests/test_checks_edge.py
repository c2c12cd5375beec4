"""Each edge-method learner check passes the reference and names every planted mistake."""

import pytest

from workbook.course.checks._runner import CheckFailed
from workbook.course.checks.edge_methods import (
    check_eap,
    check_eap_ig,
    check_gradpath,
    eap_ig_variants,
    eap_variants,
    gradpath_variants,
)


def _from_variant(variants_fn, key, *extra):
    def fn(model, task, *args):
        return variants_fn(model, task, *args)[key]

    return fn


@pytest.mark.parametrize("key,needle", [
    ("reference", None), ("sign", "sign is flipped"), ("wrong_run", "corrupt run"),
    ("at_source", "LN Jacobian"), ("no_mean", "divide by B"), ("abs_per_pair", "per prompt pair before averaging"),
    ("squared", "squared each pair"), ("abs_delta", "absolute value of the delta"), ("unit_delta", "unit length"),
    ("sums_product", "no dot product"),
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
    ("midpoint", "midpoints"), ("trapezoid", "trapezoid rule"), ("reversed", "past the corrupt input"),
    ("linspace", "linspace"), ("no_clean_end", "clean end point"), ("clean_twice", "counted twice"),
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
    ("ignores_step_size", "do not depend on step_size"), ("norm_over_positions", "positions axis only"),
    ("norm_per_position", "per position"), ("swapped", "clean and corrupt are swapped"),
])
def test_check_gradpath(key, needle):
    fn = _from_variant(gradpath_variants, key)
    if needle is None:
        assert check_gradpath(fn, strict=True)
    else:
        with pytest.raises(CheckFailed, match=needle):
            check_gradpath(fn, strict=True)


@pytest.mark.parametrize("fixed", ["unit", "scaled"])
def test_gradpath_that_ignores_step_size_is_named_whichever_rule_it_hardcodes(fixed):
    def hardcoded(model, task, steps, step_size):
        return gradpath_variants(model, task, steps, fixed)["reference"]

    with pytest.raises(CheckFailed, match="do not depend on step_size"):
        check_gradpath(hardcoded, strict=True)


def test_edge_mask_ignored_is_named():
    def dense(model, task):
        ref = eap_variants(model, task)["reference"]
        return ref + (ref == 0).to(ref.dtype) * 0.5

    with pytest.raises(CheckFailed, match="no edge"):
        check_eap(dense, strict=True)


def test_stub_is_not_done(capsys):
    def stub(model, task):
        raise NotImplementedError

    assert not check_eap(stub)
    assert "not done yet" in capsys.readouterr().out


def test_gradpath_along_the_sign_of_the_gradient_is_named():
    import torch

    from workbook.attribution.eap_gp import output_distance, step_sizes
    from workbook.core.runs import LEAF_HOOK, cache_activations, frozen_params

    def sign_steps(model, task, steps, step_size):  # FGSM-like: each coordinate moved by eta / sqrt(n)
        _, c = cache_activations(model, task.clean, [LEAF_HOOK])
        target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
        eta = step_sizes(step_size, c[LEAF_HOOK], n[LEAF_HOOK], steps).view(-1, 1, 1)
        gamma, pts = c[LEAF_HOOK].clone(), [c[LEAF_HOOK].clone()]
        with frozen_params(model), torch.enable_grad():
            for _ in range(steps):
                leaf = gamma.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
                s = g.sign()
                gamma = (leaf - eta * s / s.flatten(1).norm(dim=1).view(-1, 1, 1).clamp_min(1e-12)).detach()
                pts.append(gamma)
        return torch.stack(pts)

    with pytest.raises(CheckFailed, match="SIGN of the gradient"):
        check_gradpath(sign_steps, strict=True)


def test_gradpath_points_as_a_list_are_named():
    from workbook.attribution.eap_gp import gradpath

    with pytest.raises(CheckFailed, match="one torch.Tensor"):
        check_gradpath(lambda m, t, s, r: list(gradpath(m, t, s, r)[0]), strict=True)


def test_an_inverted_edge_mask_is_named():
    def inverted(model, task):
        m = eap_variants(model, task)["reference"]
        from workbook.arch.graph import Graph

        mask = Graph.from_model(model).edge_mask
        return (m + 1.0).masked_fill(mask, 0.0)

    with pytest.raises(CheckFailed, match="mask is inverted"):
        check_eap(inverted, strict=True)
