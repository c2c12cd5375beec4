"""Edge specimens: the failure and the fix, measured against exact edge patching."""

import torch

import workbook as wb
from workbook.attribution.eap_gp import eap_gp, gradpath
from workbook.attribution.eap_ig import eap_ig
from workbook.models.specimens import build, describe
from workbook.models.specimens import path_saturation as ps

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


def _screen(estimate, truth, tau: float = 0.5) -> tuple[list[str], list[str]]:
    """``(important, missed)``: |truth| >= tau max|truth|, and those outside the estimate's top K."""
    top = float(truth.values.abs().max())
    important = [n for n in truth.names if abs(truth[n]) >= (tau - 1e-5) * top]
    kept = set(estimate.select(truth.names).order()[: len(important)])
    return important, [n for n in important if n not in kept]


def test_path_saturation_edges_by_exact_patching():
    """The gate edge is truly important; the only other large edge is the head's output (almost the same change)."""
    model, task, truth = _path_saturation_case()
    e = ps.EDGE
    important, _ = _screen(truth, truth)
    assert sorted(important) == sorted([e, "L0H0->logits"])
    head = truth["L0H0->logits"]  # also the shut head reading G_off's own value: close, not tied
    assert abs(truth[e]) < abs(head) < 1.2 * abs(truth[e]) and abs(head) - abs(truth[e]) > 1e-3 * abs(head)
    clean_v, corr_v = task.baselines(model)
    assert truth[e] < 0 < clean_v and abs(truth[e]) > 0.5 * (clean_v - corr_v)  # shutting the gate
    direct = truth["embed->logits"]  # G_off's direct vote: smaller, and linear
    assert direct < 0 and 0.1 * abs(truth[e]) < abs(direct) < 0.5 * abs(truth[e])
    others = [n for n in truth.names if n not in (e, "L0H0->logits", "embed->logits")]
    assert all(abs(truth[n]) < 1e-3 * abs(truth[e]) for n in others)
    small = abs(truth["embed->L0H0.v"])  # not a float-noise tie with the zeros either
    assert 2e-5 * abs(head) < small
    assert "gate" in describe("path_saturation")


def test_path_saturation_eap_and_eap_ig_miss_the_gate_edge_by_rank():
    model, task, truth = _path_saturation_case()
    e = ps.EDGE
    for est in (wb.eap(model, task), eap_ig(model, task, steps=5)):
        _, missed = _screen(est, truth)
        assert missed == [e], (est.method, missed)
        assert abs(est[e]) < 0.1 * abs(truth[e])  # flat: saturated open at the clean end, shut before
        assert est.order()[:2] == ["L0H0->logits", "embed->logits"], est.method  # honest edges, about right
        assert est.rank(e) >= 3
        for n in ("L0H0->logits", "embed->logits"):
            assert abs(est[n] - truth[n]) < 0.15 * abs(truth[n]), (est.method, n)


def test_path_saturation_straight_path_skips_the_transition():
    """EAP-IG's five points see a shut gate or a saturated open one; denser straight paths find the edge."""
    model, task, truth = _path_saturation_case()
    _, log = gradpath(model, task, steps=1)
    e_c, e_n = log["e_clean"], log["e_corrupt"]
    straight = torch.stack([e_n + a * (e_c - e_n) for a in torch.arange(1, 6) / 5])
    att = ps.attention_on_signal(model, task, straight)[:, 0]
    assert att[-1] > 0.999 and (att[:-1] < 0.05).all()
    slope = att * (1 - att)
    assert (slope < 0.01).all(), "no point of the straight path sits in the gate's transition"
    _, missed = _screen(eap_ig(model, task, steps=50), truth)
    assert missed == []
    assert abs(eap_ig(model, task, steps=50)[ps.EDGE] - truth[ps.EDGE]) < 0.05 * abs(truth[ps.EDGE])


def test_path_saturation_gradpath_walks_into_the_transition_and_recovers_the_edge():
    model, task, truth = _path_saturation_case()
    e = ps.EDGE
    pts, log = gradpath(model, task, steps=5)  # unit steps, the default reading
    att = ps.attention_on_signal(model, task, pts)[:, 0]  # point 0 is the clean embedding
    assert att[0] > 0.999
    assert ((att[1:] * (1 - att[1:])) > 0.05).any(), "some GradPath point sits in the gate's transition"
    rho = pts[:, 0, 2] @ ps.R_DIR  # the first step lowers the gate's direct vote
    assert rho[1] < rho[0] - 0.5
    assert log["objective"][-1].mean() < 0.1 * log["objective"][0].mean()
    for step_size in ("unit", "scaled"):
        gp = eap_gp(model, task, steps=5, step_size=step_size)
        _, missed = _screen(gp, truth)
        assert missed == [], (step_size, gp.order()[:3])
        assert gp[e] * truth[e] > 0 and abs(gp[e]) > abs(truth[e]), step_size  # found, but too large


def test_path_saturation_mechanism_knob():
    """Without the query reading the direct vote, unit-step GradPath stays out of the transition longer."""
    model, task = ps.build(vote_slope=0.0)
    truth = wb.patch_edges(model, task, edges=[ps.EDGE])
    gp = eap_gp(model, task, steps=5)
    assert abs(gp[ps.EDGE]) < 0.5 * abs(truth[ps.EDGE])
