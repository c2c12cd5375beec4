"""MIB's circuit-localization yardstick (workbook.analysis.mib): CPR, CMD and parity with MIB's own code.

Hand values follow ``MIB_circuit_track/evaluation.py::evaluate_area_under_curve``
(hannamw/MIB-circuit-track b759df3), written out independently of the code under test. The
parity test runs MIB's code itself in a TransformerLens 3 child process (``scripts/mib_parity.py``).
"""

import json
import sys
from pathlib import Path

import pytest
import torch
from _tol import F64, assert_close

import workbook as wb
from workbook.analysis import mib
from workbook.analysis.interop import eap_ig_edge_names, from_eap_ig_json, to_eap_ig_json
from workbook.arch.graph import Graph
from workbook.core.runs import baselines

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))
import mib_parity  # noqa: E402

X = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]


# ------------------------------------------------------------------ fractions, counts, areas
def test_fractions_and_counts_are_mibs():
    assert list(mib.MIB_PERCENTAGES) == X
    # int(p * N) with Python floats, floored: written out by hand for N = 3628 and N = 46
    assert mib.mib_counts(3628) == [3, 7, 18, 36, 72, 181, 362, 725, 1814, 3628]
    assert mib.mib_counts(46) == [0, 0, 0, 0, 0, 2, 4, 9, 23, 46]
    assert mib.mib_counts(32491) == [32, 64, 162, 324, 649, 1624, 3249, 6498, 16245, 32491]
    with pytest.raises(wb.WorkbookError, match="at least one edge"):
        mib.mib_counts(0)


def test_trapezoid_on_hand_curves():
    # f = 1 everywhere: CPR = 1 - 0.001, CMD = 0 (the best possible curve)
    under, from_1 = mib.mib_area([1.0] * 10)
    assert under == pytest.approx(0.999, abs=1e-15) and from_1 == 0.0
    # f = 0 everywhere: the mirror image
    under, from_1 = mib.mib_area([0.0] * 10)
    assert under == 0.0 and from_1 == pytest.approx(0.999, abs=1e-15)
    # f = x: the trapezoid is exact for a line, sum (x2^2 - x1^2)/2 = (1 - 0.001^2)/2
    under, from_1 = mib.mib_area(X)
    assert under == pytest.approx((1 - 1e-6) / 2, abs=1e-15)
    assert from_1 == pytest.approx(0.999 - (1 - 1e-6) / 2, abs=1e-15)
    # overshoot counts in CMD through |1 - f|: zeros up to 20 %, then f = 2 at 50 %, 1 at 100 %
    f = [0.0] * 8 + [2.0, 1.0]
    under, from_1 = mib.mib_area(f)
    assert under == pytest.approx(0.3 * 1.0 + 0.5 * 1.5, abs=1e-15)  # 1.05
    assert from_1 == pytest.approx(0.199 * 1.0 + 0.3 * 1.0 + 0.5 * 0.5, abs=1e-15)  # 0.749
    # linear axis: a bump at 0.1 % weighs almost nothing, the same bump at 50 % weighs 0.4
    bump_small = mib.mib_area([1.0] + [0.0] * 9)[0]
    bump_large = mib.mib_area([0.0] * 8 + [1.0, 0.0])[0]
    assert bump_small == pytest.approx(0.0005, abs=1e-15) and bump_large == pytest.approx(0.4, abs=1e-15)
    with pytest.raises(wb.WorkbookError, match="one faithfulness per fraction"):
        mib.mib_area([1.0] * 9)


def test_ranking_sign_and_float32():
    s = wb.Scores(["embed->logits", "L0H0->logits"], torch.tensor([-0.1, 0.3], dtype=torch.float64), "x", "edge")
    r = mib.mib_ranking(s)  # MIB's loss sign: negated, rounded to float32
    f32 = [float(torch.tensor(v, dtype=torch.float32)) for v in (0.1, -0.3)]
    assert r.values.tolist() == f32
    assert mib.mib_ranking(s, loss=False).values.tolist()[1] == float(torch.tensor(0.3, dtype=torch.float32))
    with pytest.raises(wb.WorkbookError, match="ranks edges"):
        mib.mib_ranking(wb.Scores(["L0H0"], torch.tensor([1.0]), "AtP", "node"))
    with pytest.raises(wb.WorkbookError, match="NaN or infinite"):
        mib.mib_ranking(wb.Scores(["embed->logits"], torch.tensor([float("nan")]), "x", "edge"))


# ------------------------------------------------------------------ curves on a model
@pytest.fixture(scope="module")
def small():
    model = wb.build_gpt2(seed=2, n_layers=2, d_model=16, n_heads=2, d_vocab=30, dtype=torch.float64,
                          initializer_range=0.3)
    g = torch.Generator().manual_seed(1)
    clean = torch.randint(1, 30, (6, 7), generator=g)
    corrupt = torch.randint(1, 30, (6, 7), generator=g)
    with torch.no_grad():
        answer, wrong = model(clean)[:, -1].argmax(-1), model(corrupt)[:, -1].argmax(-1)
    wrong = torch.where(wrong == answer, answer % 29 + 1, wrong)
    task = wb.make_task(clean, corrupt, answer, wrong)
    return model, task, Graph.from_model(model)


def _hand_scores(graph: Graph) -> wb.Scores:
    """Tiny distinct scores, except: two supporting edges (negative, workbook sign) and two
    larger positive ones, all into the logits."""
    g = torch.Generator().manual_seed(5)
    vals = dict(zip(graph.edges, (torch.rand(graph.n_edges, generator=g, dtype=torch.float64) * 1e-3).tolist()))
    vals.update({"embed->logits": -5.0, "MLP1->logits": -4.0, "L1H0->logits": 10.0, "L1H1->logits": 9.0})
    return wb.Scores(list(vals), torch.tensor(list(vals.values()), dtype=torch.float64), "hand", "edge")


def _embed_only_metric(model, task) -> float:
    """m(C) for C = {embed -> logits}, by hand: the corrupt run whose final residual gets the clean
    token embedding in place of the corrupt one (every other source reaches the logits corrupted)."""
    emb = {}
    with torch.no_grad():
        with model.hooks(fwd_hooks=[("hook_embed", lambda t, hook: emb.__setitem__("clean", t.clone()))]):
            model(task.clean)
        with model.hooks(fwd_hooks=[("hook_embed", lambda t, hook: emb.__setitem__("corr", t.clone()))]):
            model(task.corrupt)
        last = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
        with model.hooks(fwd_hooks=[(last, lambda t, hook: t + emb["clean"] - emb["corr"])]):
            logits = model(task.corrupt)
    return float(task.metric_value(logits))


def test_signed_and_absolute_selection_with_pruning(small):
    model, task, graph = small
    assert graph.n_edges == 46
    scores = _hand_scores(graph)
    signed = mib.mib_curve(model, task, scores, graph, absolute=False)
    absolute = mib.mib_curve(model, task, scores, graph, absolute=True)
    assert signed.requested == absolute.requested == [0, 0, 0, 0, 0, 2, 4, 9, 23, 46]
    # 5 %: two edges requested. Signed (MIB ranks -score): embed->logits and MLP1->logits; MLP1 has
    # no incoming circuit edge, so pruning leaves embed->logits alone. Absolute: the two heads'
    # logit edges, both unfed, so pruning leaves nothing (f = 0 exactly).
    assert signed.n_edges[5] == 1 and absolute.n_edges[5] == 0
    assert absolute.faithfulness[5] == 0.0
    clean_m, corr_m = baselines(model, task)
    assert abs(clean_m - corr_m) > 0.1 * max(abs(clean_m), abs(corr_m))  # a clear gap
    want = (_embed_only_metric(model, task) - corr_m) / (clean_m - corr_m)
    assert_close(signed.faithfulness[5], want, F64, scale=max(1.0, abs(want)), what="f({embed->logits})")
    # the ends: nothing selected is exactly 0, everything exactly 1
    for c in (signed, absolute):
        assert c.faithfulness[:5] == [0.0] * 5 and c.faithfulness[-1] == 1.0 and c.n_edges[-1] == 46
        under, from_1 = mib.mib_area(c.faithfulness)
        assert (c.area_under, c.area_from_1) == (under, from_1)
    assert mib.cpr(model, task, scores) == signed.area_under
    assert mib.cmd(model, task, scores) == absolute.area_from_1
    both = mib.mib_scores(model, task, scores)
    assert both["cpr"] == signed.area_under and both["cmd"] == absolute.area_from_1 and both["n_edges"] == 46
    # loss=False ranks the workbook sign itself: the positive head edges come first
    assert mib.mib_curve(model, task, scores, absolute=False, loss=False).n_edges[5] == 0


def test_bad_inputs_are_named(small):
    model, task, graph = small
    with pytest.raises(wb.WorkbookError, match="not edges of"):
        mib.mib_curve(model, task, wb.Scores(["embed->L9H9.q"], torch.tensor([1.0]), "x", "edge"))
    with pytest.raises(wb.WorkbookError, match="is not the model's graph"):
        mib.mib_curve(model, task, _hand_scores(graph), Graph(3, 2))


# ------------------------------------------------------------------ circuit JSON
def test_json_round_trip_keeps_scores_and_mibs_sign(small, tmp_path):
    model, task, graph = small
    scores = _hand_scores(graph)
    circuit = wb.circuits.top_n(scores, 5, graph)
    d = to_eap_ig_json(tmp_path / "c.json", model, scores, circuit, loss=True)
    assert list(d["edges"]) == eap_ig_edge_names(2, 2)
    # MIB's sign (loss=True); embed->logits is among the 5 largest |score| and survives pruning
    assert d["edges"]["input->logits"] == {"score": 5.0, "in_graph": True}
    back = from_eap_ig_json(tmp_path / "c.json", loss=True)
    assert back.scores.names == [wb.from_eap_ig_name(e) for e in eap_ig_edge_names(2, 2)]
    assert all(back.scores[n] == scores[n] for n in graph.edges)  # JSON floats are exact
    assert torch.equal(back.circuit.mask, circuit.mask)
    assert mib.mib_scores(model, task, back.scores)["cpr"] == mib.mib_scores(model, task, scores)["cpr"]


def test_reads_mibs_example_circuit_file():
    path = mib_parity.peer_paths()["mib_repo"] / "circuits" / "ioi-eap-ig.json"
    if not path.exists():
        pytest.skip(f"no MIB checkout with circuits/ioi-eap-ig.json at {path.parent.parent} (set $MIB_REPO)")
    raw = json.loads(path.read_text())
    assert list(raw["edges"]) == eap_ig_edge_names(12, 12)  # MIB's file lists our edge set, in order
    got = from_eap_ig_json(raw, loss=True)
    assert got.scores.kind == "edge" and len(got.scores) == Graph(12, 12).n_edges == 32491
    assert got.circuit.n_edges == sum(e["in_graph"] for e in raw["edges"].values())
    assert got.scores["embed->L0H0.q"] == -raw["edges"]["input->a0.h0<q>"]["score"]


# ------------------------------------------------------------------ parity with MIB's own code
def test_parity_with_mibs_evaluation_code():
    why = mib_parity.missing_peers()
    if why:
        pytest.skip(f"MIB parity needs MIB's code and TransformerLens 3: {why}")
    model, task = mib_parity.tiny_case()
    clean_m, corr_m = baselines(model, task)
    assert abs(clean_m - corr_m) > 0.1 * max(abs(clean_m), abs(corr_m))  # a clear gap (tests/README.md, 3)
    r = mib_parity.parity(model, task, wb.eap(model, task))
    assert r["mib"]["n_edges"] == r["ours"]["n_edges"] == 479
    assert r["same_pruned_counts"], (r["ours"]["signed"]["n_edges"], r["mib"]["signed"]["weighted_edge_counts"])
    assert r["cpr_diff"] <= 1e-3, (r["ours"]["cpr"], r["mib"]["cpr"])
    assert r["cmd_diff"] <= 1e-3, (r["ours"]["cmd"], r["mib"]["cmd"])
    # float32 on both sides: per-fraction f agrees to float32 rounding over the gap
    assert r["max_faithfulness_diff"] <= 1e-3
