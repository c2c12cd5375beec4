"""Node specimens: the failure and the fix, both measured against activation patching (bars, not outputs)."""

import workbook as wb
from workbook.attribution.graddrop import graddrop
from workbook.attribution.qk_fix import atp_qk_fix
from workbook.core.runs import cache_activations
from workbook.models.specimens import build, cancellation, describe, saturation


def _screen_misses(estimate, truth, tau: float = 0.5) -> tuple[int, list[str]]:
    """``(K, missed)``: K = truly important count (|true| >= tau max|true|); missed = those outside the estimate's top K."""
    top = float(truth.values.abs().max())
    important = [n for n in truth.names if abs(truth[n]) >= tau * top]
    kept = set(estimate.select(truth.names).order()[: len(important)])
    return len(important), [n for n in important if n not in kept]


def test_saturation_specimen():
    model, task = build("saturation")
    _, c = cache_activations(model, task.clean, ["blocks.0.attn.hook_pattern"])
    _, n = cache_activations(model, task.corrupt, ["blocks.0.attn.hook_pattern"])
    row_clean = c["blocks.0.attn.hook_pattern"][:, 0, -1]  # head 0, last query row
    row_corr = n["blocks.0.attn.hook_pattern"][:, 0, -1]
    assert (row_clean.max(-1).values > 0.99).all(), "clean attention must be saturated"
    assert (row_corr.max(-1).values < 0.5).all(), "corrupt attention must be diffuse"
    truth = wb.patch_nodes(model, task, "q", per_position=True)
    node = saturation.QUERY_NODE
    assert truth.order()[0] == node
    clean_v, corr_v = task.baselines(model)
    assert abs(truth[node]) > 0.3 * abs(clean_v - corr_v), "the query's true effect must be large"
    plain = wb.atp(model, task, "q", per_position=True)
    fix = atp_qk_fix(model, task, "q", per_position=True)
    assert abs(plain[node]) < 0.05 * abs(truth[node]), "AtP's estimate of the saturated query must be tiny"
    assert abs(fix[node] - truth[node]) < 0.1 * abs(truth[node]), "the QK fix should recover it"
    assert fix.rank(node) == 1
    assert "saturat" in describe("saturation").lower()


def test_saturation_query_is_a_false_negative_of_atp_only():
    """AtP ranks the saturated query below every honest head (a screening miss); the QK fix does not."""
    model, task = build("saturation")
    truth = wb.patch_nodes(model, task, "q", per_position=True)
    plain = wb.atp(model, task, "q", per_position=True)
    fix = atp_qk_fix(model, task, "q", per_position=True)
    node = saturation.QUERY_NODE
    helpers = [f"{h}.q@{task.seq_len - 1}" for h in saturation.HELPERS]
    K, missed = _screen_misses(plain, truth)
    assert K >= 2, "at least one honest head must be truly important too"
    assert node in missed, f"AtP must rank {node} outside its top {K}"
    assert plain.rank(node) == len(helpers) + 1, "AtP puts every honest head above the saturated query"
    assert _screen_misses(fix, truth) == (K, [])
    for h in helpers:  # honest heads: unsaturated, AtP about right, each less important than the query
        assert abs(plain[h] - truth[h]) < 0.2 * abs(truth[h]), h
        assert abs(truth[h]) < abs(truth[node]) and truth[h] * truth[node] > 0
    smaller = [h for h in helpers if abs(truth[h]) < 0.5 * abs(truth[node])]
    assert smaller, "some honest heads are not truly important, yet AtP ranks them above the query"
    assert all(plain.rank(h) < plain.rank(node) for h in smaller)
    others = [n for n in truth.names if n != node and n not in helpers]
    assert all(abs(truth[n]) < 0.01 * abs(truth[node]) for n in others)
    assert all(abs(plain[n]) < 0.5 * abs(plain[node]) for n in others), "the query still ranks above the background"


def test_saturation_atp_rank_falls_as_the_gap_grows():
    """The explore-the-gap widget: at a small gap AtP ranks the query right; saturated, it misses it."""
    node = saturation.QUERY_NODE
    ranks = {}
    for gap in (2.0, 8.0):
        model, task = saturation.build(gap=gap)
        truth = wb.patch_nodes(model, task, "q", per_position=True)
        plain = wb.atp(model, task, "q", per_position=True)
        ranks[gap] = (truth.rank(node), plain.rank(node), node in _screen_misses(plain, truth)[1])
    assert ranks[2.0][1] == ranks[2.0][0] and not ranks[2.0][2]
    assert ranks[8.0][0] == 1 and ranks[8.0][2]


def _cancellation():
    model, task = build("cancellation")
    truth = wb.patch_nodes(model, task, "head")
    return model, task, truth, wb.atp(model, task, "head"), graddrop(model, task, "head")


def test_cancellation_seed_component():
    """The seed's arithmetic: +5 direct, about -4.8 indirect, and AtP gets the small total wrong."""
    model, task, truth, plain, gd = _cancellation()
    node = cancellation.COMPONENT
    assert cancellation.SEED_COMPONENT == node
    edges = wb.patch_edges(model, task, [cancellation.DIRECT_EDGE, cancellation.INDIRECT_EDGE])
    direct, indirect = edges[cancellation.DIRECT_EDGE], edges[cancellation.INDIRECT_EDGE]
    assert 4.5 < direct < 5.5 and -5.2 < indirect < -4.4, (direct, indirect)
    assert abs(direct + indirect) < 0.2 * direct, "the two paths must nearly cancel"
    t, a = truth[node], plain[node]
    assert abs(t - (direct + indirect)) < 0.05 * direct, "paths add up to the total (LayerNorm ~ linear)"
    assert (a * t < 0) or abs(a) < 0.5 * abs(t), "AtP must flip the sign or be off by a large factor"
    assert gd[node] > 0.5 * direct, "GradDrop keeps the direct path"
    assert gd.rank(node) <= 2 and plain.rank(node) > 1


def test_cancellation_false_negative_component():
    """L0H1: a large true effect that AtP calls ~0 because its linearised indirect path over-cancels."""
    model, task, truth, plain, gd = _cancellation()
    node = cancellation.FN_COMPONENT
    assert node != cancellation.COMPONENT
    t = truth[node]
    assert abs(t) >= 0.5 * float(truth.values.abs().max()), "its true effect must be (near) the largest"
    assert truth.rank(node) <= 2
    assert abs(plain[node]) <= 0.1 * abs(t), "AtP must call it ~0"
    # a screen that verifies its top 2 of the 4 heads: AtP's top 2 miss it, GradDrop's do not
    assert plain.rank(node) > 2 and node in wb.false_negatives(plain, truth, budget=2)
    assert gd.rank(node) <= 2 and node not in wb.false_negatives(gd, truth, budget=2)
    # why: the direct path is intact, the true indirect path is much smaller than its linearisation
    edges = wb.patch_edges(model, task, [cancellation.FN_DIRECT_EDGE, cancellation.FN_INDIRECT_EDGE])
    direct, indirect = edges[cancellation.FN_DIRECT_EDGE], edges[cancellation.FN_INDIRECT_EDGE]
    assert direct > 0.5 * float(truth.values.abs().max()) and indirect < 0
    linearised_indirect = plain[node] - direct  # AtP = direct (exact: linear readout) + linearised indirect
    assert abs(indirect) < 0.5 * abs(linearised_indirect), "the downstream neuron must saturate"
    assert abs(gd[node] - direct) < 0.1 * direct, "GradDrop's layer-1-dropped pass is the direct path"


def test_cancellation_other_components_small():
    """The distractor is honest (AtP right) and no other head or MLP0 swamps the metric."""
    model, task, truth, plain, _ = _cancellation()
    d = cancellation.DISTRACTOR
    assert abs(plain[d] - truth[d]) < 0.05 * abs(truth[d])
    named = {cancellation.COMPONENT, cancellation.FN_COMPONENT, d}
    top = float(truth.values.abs().max())
    assert all(abs(truth[n]) < 0.05 * top for n in truth.names if n not in named)
    assert abs(wb.patch_nodes(model, task, "mlp")["MLP0"]) < 0.05 * top
    text = describe("cancellation")
    assert "DIRECT path" in text and "INDIRECT path" in text
    assert "false negative" not in text.lower() and "seed" not in text.lower(), "describe() states no results"


def test_slider_static_fallback(monkeypatch, capsys):
    from workbook.course.widgets import slider_or_grid

    monkeypatch.setenv("WORKBOOK_WIDGETS", "0")
    rows = slider_or_grid(lambda g: {"double": 2 * g}, [1.0, 2.0], name="gap")
    assert [r[1]["double"] for r in rows] == [2.0, 4.0]
    out = capsys.readouterr().out
    assert "gap" in out and "double" in out
