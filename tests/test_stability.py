"""Circuit stability across data resamples (workbook.analysis.stability)."""

import itertools

import pytest
import torch

import workbook as wb
from workbook.analysis import circuits as C
from workbook.analysis.stability import edge_frequency, jaccard, pairwise_jaccard, spread, stability
from workbook.core.errors import WorkbookError
from workbook.models import zoo


def test_jaccard_on_hand_made_circuits_is_exact():
    a = {"embed->MLP0", "MLP0->logits", "L0H1->logits"}
    b = {"embed->MLP0", "MLP0->logits", "embed->L0H1.v"}
    c = {"embed->L0H1.q"}
    assert jaccard(a, b) == 2 / 4
    assert jaccard(a, a) == 1.0
    assert jaccard(a, c) == 0.0
    assert jaccard(set(), set()) == 1.0  # two empty circuits agree
    assert jaccard(set(), c) == 0.0
    assert pairwise_jaccard([a, b, c]) == [2 / 4, 0.0, 0.0]
    freq = edge_frequency([a, b, c])
    assert freq == {"MLP0->logits": 2 / 3, "embed->MLP0": 2 / 3, "L0H1->logits": 1 / 3,
                    "embed->L0H1.q": 1 / 3, "embed->L0H1.v": 1 / 3}
    assert list(freq)[:2] == ["MLP0->logits", "embed->MLP0"]  # most frequent first, ties by name
    s = spread([0.0, 1.0, 0.5])
    assert (s["min"], s["max"], s["mean"]) == (0.0, 1.0, 0.5)
    assert s["std"] == pytest.approx((1 / 6) ** 0.5, abs=1e-15)


def test_pairwise_needs_two_circuits():
    with pytest.raises(WorkbookError, match="at least 2"):
        pairwise_jaccard([{"a"}])


@pytest.fixture(scope="module")
def mixture():
    return zoo.load_model("mixture")


def test_identical_resamples_give_overlap_one(mixture):
    task = zoo.load_task("mixture", n=4, seed=0, task="ioi")
    st = stability(wb.eap, lambda seed: (mixture, task), seeds=range(5), sizes=(40, 80), curves=True)
    for n in (40, 80):
        assert st.circuits[n][0], "a non-empty circuit after pruning"
        assert st.jaccards(n) == [1.0] * 10
        assert st.mean_jaccard(n) == 1.0 and st.min_jaccard(n) == 1.0
        assert set(st.frequency(n).values()) == {1.0}
        assert sorted(st.core(n)) == sorted(st.circuits[n][0])
    for n, s in st.curve_spread().items():
        assert s["max"] - s["min"] == 0.0, n  # the same circuit on the same prompts


def test_different_seeds_give_overlap_below_one_on_mixture(mixture):
    def build(seed):
        return mixture, zoo.load_task("mixture", n=4, seed=seed, task="ioi")

    tasks = [build(s)[1] for s in range(5)]
    assert all(not torch.equal(a.clean, b.clean) for a, b in itertools.combinations(tasks, 2))  # resamples differ
    st = stability(wb.eap, build, seeds=range(5), sizes=(20,))
    assert st.mean_jaccard(20) < 1.0
    assert 0.0 <= st.min_jaccard(20) <= st.mean_jaccard(20)
    # each resample's circuit is exactly top_n of its own scores
    g = wb.Graph.from_model(mixture)
    assert st.circuits[20][3] == C.top_n(wb.eap(mixture, tasks[3]), 20, g).edges
    summary = st.summary()
    assert summary["sizes"]["20"]["jaccard_mean"] == st.mean_jaccard(20)
    assert summary["sizes"]["20"]["union"] == len(set().union(*map(set, st.circuits[20])))


def test_bad_arguments_are_refused(mixture):
    task = zoo.load_task("mixture", n=2, seed=0, task="ioi")
    build = lambda seed: (mixture, task)  # noqa: E731
    with pytest.raises(WorkbookError, match="2 distinct seeds"):
        stability(wb.eap, build, seeds=[0])
    with pytest.raises(WorkbookError, match="select"):
        stability(wb.eap, build, seeds=[0, 1], select="best")
    with pytest.raises(WorkbookError, match="edge Scores"):
        stability(lambda m, t: wb.atp(m, t, "head"), build, seeds=[0, 1])
    st = stability(wb.eap, build, seeds=[0, 1], sizes=(5,))
    with pytest.raises(WorkbookError, match="curves=True"):
        st.curve_spread()


def test_mib_curves_of_identical_resamples_do_not_spread():
    from workbook.analysis.mib import MIB_PERCENTAGES, mib_scores
    from workbook.models.specimens import build

    model, task = build("cancellation")
    st = stability(wb.eap, lambda seed: (model, task), seeds=range(3), sizes=(4,), mib=True)
    want = mib_scores(model, task, wb.eap(model, task))
    assert [m["cpr"] for m in st.mib] == [want["cpr"]] * 3 and [m["cmd"] for m in st.mib] == [want["cmd"]] * 3
    assert st.mib_spread()["cpr"]["std"] == 0.0 and st.mib_spread()["cmd"]["max"] == want["cmd"]
    curve = st.mib_curve_spread("signed")
    assert [p["fraction"] for p in curve] == list(MIB_PERCENTAGES)
    assert [p["mean"] for p in curve] == pytest.approx(want["signed"]["faithfulness"], abs=1e-12)
    assert all(p["std"] == 0.0 for p in curve)
    assert "mib" in st.summary() and set(st.summary()["mib"]["curves"]) == {"signed", "absolute"}
