"""Edge specimens: the failure and the fix, measured against exact edge patching."""

import torch

import workbook as wb
from workbook.eap_gp import eap_gp, gradpath
from workbook.eap_ig import eap_ig
from workbook.specimens import build, describe
from workbook.specimens import path_saturation as ps

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


def _path_saturation_case():
    model, task = build("path_saturation")
    return model, task, wb.patch_edges(model, task)


def test_path_saturation_straight_path_damps_the_value_edge():
    model, task, truth = _path_saturation_case()
    e = ps.EDGE
    assert truth.rank(e) == 1  # the largest edge by exact edge patching
    assert truth[e] * task.metric_value(model(task.clean)) < 0  # it flips the answer: large and negative
    ig5, ig50 = eap_ig(model, task, steps=5), eap_ig(model, task, steps=50)
    assert ig5[e] * truth[e] > 0 and abs(ig5[e]) <= 0.5 * abs(truth[e])  # damped with m = 5
    assert abs(ig50[e]) <= 0.5 * abs(truth[e])  # and with m = 50: the straight path is the problem
    # completeness-like sanity: the m = 50 path integral of all embed edges is M(corrupt) - M(clean)
    clean_v, corr_v = task.baselines(model)
    embed_total = sum(v for n, v in ig50.to_dict().items() if n.startswith("embed->"))
    assert abs(embed_total - (corr_v - clean_v)) < 0.05 * abs(corr_v - clean_v)
    assert "gate" in describe("path_saturation")


def test_path_saturation_gradpath_keeps_the_gate_open_and_recovers_the_edge():
    model, task, truth = _path_saturation_case()
    e = ps.EDGE
    pts, log = gradpath(model, task, steps=5)  # unit steps, the default reading
    e_c, e_n = log["e_clean"], log["e_corrupt"]
    straight = torch.stack([e_n + a * (e_c - e_n) for a in torch.arange(1, 6) / 5])
    att_ig = ps.attention_on_signal(model, task, straight)[:, 0]
    att_gp = ps.attention_on_signal(model, task, pts[1:])[:, 0]
    assert att_ig[-1] > 0.99 and (att_ig[:-1] < 0.01).all()  # IG: the gate opens only at the clean end
    assert (att_gp > 0.99).all()  # GradPath: open at every point
    a_coord = pts[:, 0, 0] @ ps.A_DIR  # the path walks the value coordinate of the signal down
    assert a_coord[-1] < 0 < a_coord[0]
    assert log["objective"][-1].mean() < log["objective"][0].mean()
    gp, ig = eap_gp(model, task, steps=5)[e], eap_ig(model, task, steps=5)[e]
    assert abs(gp) >= 2 * abs(ig)
    assert abs(gp - truth[e]) <= 0.3 * abs(truth[e])


def test_path_saturation_gradpath_misses_the_saturated_query_edge():
    """Measured limit: the open gate is flat, so GradPath (like EAP) sees no gradient at the query."""
    model, task, truth = _path_saturation_case()
    q = "embed->L0H0.q"
    assert abs(truth[q]) > 0.3 * abs(truth[ps.EDGE])  # the query edge matters too
    assert abs(eap_gp(model, task, steps=5)[q]) < 0.1 * abs(truth[q])
    assert abs(eap_ig(model, task, steps=50)[q] - truth[q]) < 0.3 * abs(truth[q])  # the straight path sees the gate open
