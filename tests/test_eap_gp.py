"""EAP-GP: GradPath mechanics and sanity."""

import pytest
import torch

import workbook as wb
from tests._edge_util import random_case
from tests._tol import F64, assert_close
from workbook.attribution.eap_gp import eap_gp, gradpath


@pytest.mark.parametrize("step_size", ["scaled", 0.05])
def test_path_descends_and_points_are_distinct(step_size):
    model, task = random_case(seed=2)
    pts, log = gradpath(model, task, steps=4, step_size=step_size)
    assert pts.shape == (5,) + tuple(log["e_clean"].shape)
    assert torch.isfinite(pts).all()
    assert torch.equal(pts[0], log["e_clean"])  # the path starts at the clean embedding itself
    obj = log["objective"].mean(1)
    assert obj[1] < obj[0]  # first step lowers the output distance
    for j in range(4):
        assert (pts[j + 1] - pts[j]).abs().max() > 0


def test_steps_have_the_requested_length_per_example():
    model, task = random_case(seed=2, dtype=torch.float64)  # float64: an exactness claim
    pts, log = gradpath(model, task, steps=3, step_size="scaled")
    lengths = (pts[1:] - pts[:-1]).flatten(2).norm(dim=2)  # [steps, B]
    # the difference of two points: their size is the scale
    assert_close(lengths, log["eta"].expand_as(lengths), F64, pts.abs().max())


def test_info_and_method_name():
    model, task = random_case(seed=2)
    s = eap_gp(model, task, steps=3)
    assert s.method == "EAP-GP (k=3)" and len(s) == wb.Graph.from_model(model).n_edges
    for key in ("embed_distance", "final_embed_distance", "output_distance_start", "output_distance_end"):
        assert key in s.info
    assert s.info["output_distance_end"] < s.info["output_distance_start"]


def test_identical_inputs_give_zero():
    model, task = random_case(seed=5)
    same = wb.Task(task.clean, task.clean.clone(), task.answer, task.wrong)
    assert eap_gp(model, same, 2).values.abs().max() == 0


def test_bad_arguments():
    model, task = random_case(seed=5)
    with pytest.raises(wb.WorkbookError):
        eap_gp(model, task, steps=0)
    with pytest.raises(wb.WorkbookError):
        eap_gp(model, task, step_size="huge")
