"""Node specimens: the failure and the fix, both measured against activation patching (bars, not outputs)."""

import workbook as wb
from workbook.graddrop import graddrop
from workbook.hooks import cache_activations
from workbook.qk_fix import atp_qk_fix
from workbook.specimens import build, describe
from workbook.specimens import cancellation, saturation


def test_saturation_specimen():
    model, task = build("saturation")
    _, c = cache_activations(model, task.clean, ["blocks.0.attn.hook_pattern"])
    _, n = cache_activations(model, task.corrupt, ["blocks.0.attn.hook_pattern"])
    row_clean = c["blocks.0.attn.hook_pattern"][:, 0, -1]  # head 0, last query row
    row_corr = n["blocks.0.attn.hook_pattern"][:, 0, -1]
    assert (row_clean.max(-1).values > 0.98).all(), "clean attention must be saturated"
    assert (row_corr.max(-1).values < 0.5).all(), "corrupt attention must be diffuse"
    truth = wb.patch_nodes(model, task, "q", per_position=True)
    node = saturation.QUERY_NODE
    assert truth.order()[0] == node
    clean_v, corr_v = task.baselines(model)
    assert abs(truth[node]) > 0.3 * abs(clean_v - corr_v), "the query's true effect must be large"
    plain = wb.atp(model, task, "q", per_position=True)
    fix = atp_qk_fix(model, task, "q", per_position=True)
    assert abs(plain[node]) < 0.1 * abs(truth[node]), "AtP should miss the saturated query"
    assert abs(fix[node] - truth[node]) < 0.2 * abs(truth[node]), "the QK fix should recover most of it"
    assert plain.rank(node) > 1 and fix.rank(node) == 1
    assert "saturat" in describe("saturation").lower()


def test_cancellation_specimen():
    model, task = build("cancellation")
    node = cancellation.COMPONENT
    edges = wb.patch_edges(model, task, [cancellation.DIRECT_EDGE, cancellation.INDIRECT_EDGE])
    direct, indirect = edges[cancellation.DIRECT_EDGE], edges[cancellation.INDIRECT_EDGE]
    assert 4.0 < direct < 6.0 and -5.5 < indirect < -4.0, (direct, indirect)
    assert abs(direct + indirect) < 0.2 * direct, "the two paths must nearly cancel"
    truth = wb.patch_nodes(model, task, "head")
    plain = wb.atp(model, task, "head")
    gd = graddrop(model, task, "head")
    t, a = truth[node], plain[node]
    assert (a * t < 0) or abs(a) < 0.5 * abs(t), "AtP must flip the sign or be off by a large factor"
    assert gd[node] > 0.5 * direct, "GradDrop keeps the direct path"
    assert gd.rank(node) == 1 and plain.rank(node) > 1


def test_slider_static_fallback(monkeypatch, capsys):
    from workbook.widgets import slider_or_grid

    monkeypatch.setenv("WORKBOOK_WIDGETS", "0")
    rows = slider_or_grid(lambda g: {"double": 2 * g}, [1.0, 2.0], name="gap")
    assert [r[1]["double"] for r in rows] == [2.0, 4.0]
    out = capsys.readouterr().out
    assert "gap" in out and "double" in out
