"""False-negative bound: exact on additive effects, covers a planted node, and runs on a model."""

import itertools

import pytest
import torch

import workbook as wb
from tests._tol import F32, F64, assert_close, scale_of
from workbook.attribution.fn_bound import (
    false_negative_bound,
    patch_node_subsets,
    sample_masks,
    subset_statistics,
    welch_upper_bound,
)
from workbook.core.errors import WorkbookError


def test_point_estimates_exact_for_additive_effects():
    c = torch.tensor([0.5, -1.5, 0.0, 2.0, 0.25], dtype=torch.float64)
    masks = torch.tensor(list(itertools.product([0, 1], repeat=5)), dtype=torch.bool)
    effects = masks.double() @ c
    point, upper = welch_upper_bound(subset_statistics(effects, masks))
    assert_close(point, c.abs(), F64)
    assert (upper >= c.abs() - F64 * scale_of(c)).all()


def test_bound_covers_planted_node():
    g = torch.Generator().manual_seed(1)
    n = 40
    c = 0.05 * torch.randn(n, generator=g, dtype=torch.float64)
    c[17] = 1.0  # the planted false negative
    hits = 0
    for seed in range(20):
        masks = sample_masks(64, n, 0.5, seed=seed)
        effects = masks.double() @ c + 0.05 * torch.randn(64, generator=g, dtype=torch.float64)
        point, upper = welch_upper_bound(subset_statistics(effects, masks), confidence=0.95)
        hits += bool(upper[17] >= 1.0)
        assert point.argmax() == 17  # the planted node stands out
    assert hits >= 17  # covered in (about) 95% of repetitions


def test_few_samples_give_infinite_bound():
    masks = torch.tensor([[True, False], [True, True], [True, True], [True, False]])
    _, upper = welch_upper_bound(subset_statistics(torch.tensor([1.0, 2.0, 3.0, 4.0]), masks))
    assert torch.isinf(upper[0]) and torch.isfinite(upper[1])


def test_joint_patching_matches_single_patches():
    model, task = _spec()
    model.double()  # float64: an exactness claim
    names = ["L0H0", "L0H1", "L1H0"]
    single = wb.patch_nodes(model, task, "head", nodes=names)
    eff = patch_node_subsets(model, task, "head", names, torch.eye(3, dtype=torch.bool))
    assert_close(eff, single, F64, scale_of(task.baselines(model), single))
    all_heads = wb.patch_nodes(model, task, "head").names
    everything = patch_node_subsets(model, task, "head", all_heads, torch.ones(1, len(all_heads), dtype=torch.bool))
    assert abs(float(everything[0])) > 0.1  # patching all heads jointly changes the metric


def _spec():
    from workbook.models.specimens import build

    return build("cancellation")


def test_bound_on_specimen():
    model, task = _spec()
    truth = wb.patch_nodes(model, task, "head")
    res = false_negative_bound(model, task, "head", top_k=1, n_samples=32)
    assert res.verified.names == ["L0H0"]  # AtP* (GradDrop) puts the cancelling head first
    for n in res.unverified:  # float32: the bound may sit on |truth| up to rounding of the effects
        assert res.bound(n) >= abs(truth[n]) - F32 * scale_of(truth)
    assert res.max_bound >= abs(truth["L0H1"])


def test_bad_arguments():
    with pytest.raises(WorkbookError, match="p must be"):
        sample_masks(4, 3, p=1.0)
    model, task = _spec()
    with pytest.raises(WorkbookError, match="top_k"):
        false_negative_bound(model, task, "head", top_k=3)
