"""Edge specimens: the failure and the fix, measured against exact edge patching."""

import workbook as wb
from workbook.eap_gp import eap_gp, gradpath
from workbook.eap_ig import eap_ig
from workbook.specimens import build, describe
from workbook.specimens.flat_region import U_DIR

EDGE = "embed->MLP0"


def test_flat_region_eap_misses_and_eap_ig_recovers():
    model, task = build("flat_region")
    truth = wb.patch_edges(model, task)
    big = max(abs(v) for v in truth.values.tolist())
    assert abs(truth[EDGE]) > 0.5 * big  # the edge matters
    assert abs(wb.eap(model, task)[EDGE]) < 0.01 * abs(truth[EDGE])  # EAP sees a flat gradient
    ig = eap_ig(model, task, steps=5)[EDGE]
    assert ig * truth[EDGE] > 0 and abs(ig - truth[EDGE]) < 0.3 * abs(truth[EDGE])
    assert wb.rank_correlation(eap_ig(model, task, 5), truth) > wb.rank_correlation(wb.eap(model, task), truth)
    assert "GELU" in describe("flat_region")


def test_path_saturation_ig_is_damped_but_converges():
    model, task = build("path_saturation")
    truth = wb.patch_edges(model, task, [EDGE])[EDGE]
    ig5 = eap_ig(model, task, steps=5)[EDGE]
    ig50 = eap_ig(model, task, steps=50)[EDGE]
    assert abs(ig5) < 0.5 * abs(truth)  # damped: the sample points miss the ramp
    assert abs(ig50 - truth) < 0.1 * abs(truth)  # the straight-path integral itself is right


def test_path_saturation_gradpath_leaves_the_clean_corrupt_line():
    """Measured behaviour of the GradPath reading here (see the module docstring): the path
    moves off the u line (direct route to the logits), so EAP-GP does not beat EAP-IG."""
    model, task = build("path_saturation")
    pts, log = gradpath(model, task, steps=5, step_size="scaled")
    x = pts[:, 0, 1]  # answer position
    along_u = x @ U_DIR
    off_line = (x - along_u[:, None] * U_DIR).norm(dim=1)
    assert off_line[-1] > 0.5 and (along_u[-1] - along_u[0]).abs() < 0.1
    assert log["objective"][-1].mean() < log["objective"][0].mean()
    truth = wb.patch_edges(model, task, [EDGE])[EDGE]
    gp = eap_gp(model, task, steps=5, step_size="scaled")[EDGE]
    ig = eap_ig(model, task, steps=5)[EDGE]
    assert abs(gp - truth) >= abs(ig - truth)
