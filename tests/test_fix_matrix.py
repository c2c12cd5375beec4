"""scripts/fix_matrix.py: its core on one specimen, cell by cell against the package's own definitions."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import workbook as wb
from tests._tol import F64, assert_close
from workbook.attribution.graddrop import graddrop
from workbook.core.scores import Scores, concat_scores
from workbook.models.specimens import build

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fm():
    spec = importlib.util.spec_from_file_location("fix_matrix", ROOT / "scripts" / "fix_matrix.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fix_matrix"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def cancellation(fm):
    failure = next(f for f in fm.FAILURES if f.name == "cancellation")
    return failure, fm.build_matrix([failure], use_mib=False)


def test_every_estimator_has_a_number_or_a_reason(fm, cancellation):
    _, result = cancellation
    (row,) = result["rows"]
    assert set(row["cells"]) == {e.name for e in fm.estimators()} and len(row["cells"]) == 10
    for name, c in row["cells"].items():
        assert ("reason" in c) != ("missed" in c), name
        if "reason" in c:
            assert len(c["reason"]) > 10, f"{name}: a skipped cell states why"
    assert "queries and keys" in row["cells"]["QK fix"]["reason"]  # head/MLP failure: the QK fix has nothing to score


def test_cells_are_the_package_definitions(fm, cancellation):
    failure, result = cancellation
    (row,) = result["rows"]
    model, task = build("cancellation")
    truth = concat_scores([wb.patch_nodes(model, task, k) for k in ("head", "mlp")])
    kinds = ("head", "mlp")
    for name, est in (("AtP", wb.atp(model, task, kinds)), ("GradDrop", graddrop(model, task, what=kinds))):
        c = row["cells"][name]
        assert c["missed"] == len(wb.false_negatives(est, truth)), name
        assert c["false_negatives"] == wb.false_negatives(est, truth), name
        assert c["cost"] == wb.verification_cost(est, truth), name
        assert c["important"] == len(wb.important(truth)) == len(row["truly_important"])
    assert row["cells"]["AtP"]["missed"] >= 1, "the specimen's failure: AtP misses the cancelling head"
    assert row["cells"]["AtP"]["target_rank"]["method"] > row["cells"]["AtP"]["important"]


def test_edge_totals_of_eap_are_atp_on_head_outputs(fm):
    """Noising, outgoing edges: the sum of a head's EAP edges is AtP of its output (both linear in the same delta)."""
    model, task = build("cancellation")
    model = model.double()
    atp = wb.atp(model, task, ("head", "mlp"))
    totals = fm.edge_totals(wb.eap(model, task), list(atp.names))
    assert_close(totals.values, atp.values, F64, what="EAP outgoing totals vs AtP")
    toy = Scores(["embed->L0H0.q", "L0H1->L0H0.q", "L0H1->logits"], torch.tensor([1.0, 2.0, 4.0]), kind="edge")
    got = fm.edge_totals(toy, ["L0H0.q", "L0H1"])
    assert got.to_dict() == {"L0H0.q": 3.0, "L0H1": 6.0}


def test_verdicts_follow_the_numbers(fm, cancellation):
    _, result = cancellation
    (row,) = result["rows"]
    v = result["verdicts"]
    for name, c in row["cells"].items():
        if "reason" in c:
            assert v[name]["not_scored"] == ["cancellation"]
            continue
        assert (v[name]["misses"] == ["cancellation"]) == (c["missed"] > 0)
        if name not in ("AtP", "EAP"):
            base = row["cells"]["AtP"]
            worse = c["missed"] > base["missed"] or (c["missed"] == base["missed"] and c["cost"] > base["cost"])
            assert (v[name]["worse_than_baseline"] == ["cancellation"]) == worse, name
    text = fm.render(result["rows"], fm.estimators(), {}, {"wall_s": 1.0, "machine": "x", "torch": "t", "threads": 1})
    assert "| cancellation |" in text and "misses on: cancellation" in text
