import pytest
import torch
from scipy.stats import spearmanr

from workbook.core.scores import (
    TIE_TOL,
    RoundingEdgeError,
    Scores,
    compare,
    comparison_table,
    false_negatives,
    fmt,
    important,
    rank_correlation,
    recall_at_k,
    scale_error,
    verification_cost,
)


def test_ranking_and_access():
    s = Scores(["a", "b", "c", "d"], torch.tensor([0.1, -3.0, 2.0, 0.0]), method="m")
    assert s.order() == ["b", "c", "a", "d"]
    assert s.order(absolute=False) == ["c", "a", "d", "b"]
    assert s.rank("c") == 2 and s["b"] == -3.0
    assert s.top(2) == [("b", -3.0), ("c", 2.0)]
    with pytest.raises(KeyError, match="no score named"):
        s["z"]


def test_float_noise_is_a_tie_listed_in_name_order_and_ranked_last():
    # "y" and "z" are 0 up to rounding; "c" and "d" are equal up to rounding
    s = Scores(list("abcdyz"), torch.tensor([5.0, 0.1, 2.0, 2.0 + 1e-7, 3e-9, -1e-9]))
    flipped = Scores(list("abcdyz"), torch.tensor([5.0, 0.1, 2.0 + 1e-7, 2.0, -1e-9, 3e-9]))
    assert s.order() == flipped.order() == ["a", "c", "d", "b", "y", "z"]
    assert s.rank("c") == s.rank("d") == 3  # both need 3 patches to be sure of
    assert s.rank("y") == s.rank("z") == 6
    truth = Scores(list("abcdyz"), torch.tensor([4.0, 0.2, 1.0, 1.5, 0.0, 0.0]))
    assert rank_correlation(s, truth) == pytest.approx(rank_correlation(flipped, truth), abs=1e-12)


def test_important_uses_a_fraction_of_the_largest_true_effect():
    truth = Scores(list("abcde"), torch.tensor([-4.0, 2.0, 1.99, 2.0 * (1 - TIE_TOL / 4), 0.0]))
    assert important(truth) == ["a", "b", "d"]  # d equals the cut up to rounding: included
    assert important(truth, tau=0.25) == ["a", "b", "d", "c"]
    assert important(Scores(["a"], torch.zeros(1))) == []
    with pytest.raises(ValueError, match="tau"):
        important(truth, tau=1.5)


def test_perfectly_ranked_but_under_scaled_estimate_has_no_false_negative():
    # the old definition (|estimate| below half the largest TRUE effect) called a and b missed
    truth = Scores(list("abcd"), torch.tensor([10.0, -8.0, 1.0, 0.5]), method="truth")
    est = truth.with_values(truth.values / 20, method="tiny but in order")
    assert false_negatives(est, truth) == []
    assert verification_cost(est, truth) == 2
    assert scale_error(est, truth) == pytest.approx({"a": 0.05, "b": 0.05})
    row = compare(est, truth, k=2)
    assert row["false_negatives"] == 0 and row["recall@2"] == 1.0 and row["scale"] == pytest.approx(0.05)


def test_false_negative_is_a_ranking_failure():
    truth = Scores(list("abcdef"), torch.tensor([5.0, -4.0, 2.0, 0.1, 0.0, 0.2]), method="truth")
    # ranks a first, c second, b fourth: b is outside the top K = 2 although its estimate is large
    est = Scores(list("abcdef"), torch.tensor([50.0, -30.0, 40.0, 35.0, 0.0, 0.0]), method="est")
    assert important(truth) == ["a", "b"]
    assert false_negatives(est, truth) == ["b"]
    assert false_negatives(est, truth, budget=4) == []
    assert false_negatives(est, truth, budget=3) == ["b"]
    assert verification_cost(est, truth) == 4
    assert false_negatives(est, truth, tau=0.5, budget=0) == ["a", "b"]
    assert recall_at_k(est, truth, 3) == pytest.approx(2 / 3)
    want = spearmanr(truth.values.abs().numpy(), est.values.abs().numpy()).statistic
    assert rank_correlation(est, truth) == pytest.approx(want)


def test_recall_ignores_true_effects_that_are_zero():
    truth = Scores(list("abcd"), torch.tensor([3.0, 1e-9, 0.0, 0.0]))
    est = Scores(list("abcd"), torch.tensor([1.0, 0.0, 0.5, 0.2]))
    assert recall_at_k(est, truth, 3) == 1.0  # only "a" can be recalled, and it is
    assert recall_at_k(est, truth.with_values(torch.zeros(4)), 3) != recall_at_k(est, truth, 3)  # nan


def test_an_all_zero_estimate_finds_nothing():
    truth = Scores(list("abcd"), torch.tensor([3.0, 2.0, 0.1, 0.0]))
    zero = truth.with_values(torch.zeros(4), method="zero")
    assert false_negatives(zero, truth) == ["a", "b"]
    assert verification_cost(zero, truth) == 4
    assert recall_at_k(zero, truth, 2) == 0.0


def test_old_threshold_arguments_are_refused_with_the_new_definition():
    truth = Scores(list("ab"), torch.tensor([1.0, 0.1]))
    with pytest.raises(TypeError, match="outside the method's top K"):
        false_negatives(truth, truth, threshold=0.5, relative=True)


def test_table_states_the_definitions():
    truth = Scores(list("abcdef"), torch.tensor([5.0, -4.0, 2.0, 0.1, 0.0, 0.2]), method="truth")
    est = Scores(list("abcdef"), torch.tensor([50.0, -30.0, 40.0, 35.0, 0.0, 0.0]), method="est")
    table = comparison_table([est], truth, k=3)
    assert "truly important (|effect| >= 0.5 x max): 2 (a, b)" in table
    assert "outside the method's top 2" in table
    last = table.splitlines()[-1].split()
    assert last[0] == "est" and last[2:5] == ["1", "4", "8.8"] and last[-1] == "b"


def test_ties_use_average_ranks():
    truth = Scores(list("abcd"), torch.tensor([1.0, 1.0, 2.0, 3.0]))
    est = Scores(list("abcd"), torch.tensor([2.0, 2.0, 2.0, 3.0]))
    want = spearmanr([1, 1, 2, 3], [2, 2, 2, 3]).statistic
    assert rank_correlation(est, truth) == pytest.approx(want)


def test_fmt_refuses_digits_on_a_rounding_edge_only_in_strict_mode(monkeypatch):
    assert fmt(0.99500001) == "1.00" and fmt(-1e-9) == "0.00"
    monkeypatch.setenv("WORKBOOK_STRICT_DIGITS", "1")
    assert fmt(0.9987) == "1.00" and fmt(-1e-9) == "0.00" and fmt(0.0) == "0.00"
    with pytest.raises(RoundingEdgeError, match="float noise"):
        fmt(0.99500001)
    with pytest.raises(RoundingEdgeError):
        fmt(0.12350001, ".3g")
    with pytest.raises(RoundingEdgeError):
        fmt(0.0050001, ".2f")  # near 0 the noise is absolute


def test_comparing_mismatched_names_is_an_error():
    truth = Scores(["L0H0", "L0H1"], torch.tensor([1.0, 2.0]))
    est = Scores(["L0H0.q", "L0H1.q"], torch.tensor([1.0, 2.0]), method="AtP")
    with pytest.raises(ValueError, match="compare like with like"):
        rank_correlation(est, truth)


def test_names_and_values_must_match():
    with pytest.raises(ValueError):
        Scores(["a"], torch.tensor([1.0, 2.0]))


def test_atp_on_the_induction_model_ranks_the_top_head_first_and_so_does_not_miss_it():
    """Chapter 0's case: AtP halves L0H2's effect but ranks it first. The old definition
    (|estimate| < 0.5 x max|truth|) listed it as missed; a screen would verify it first."""
    import workbook as wb
    from workbook.models import zoo

    model, task = zoo.load("induction", n=16, seed=0)
    truth, est = wb.patch_nodes(model, task, "head"), wb.atp(model, task, "head")
    assert important(truth) == ["L0H2"] and est.rank("L0H2") == 1
    assert abs(est["L0H2"]) < 0.5 * abs(truth["L0H2"])  # what the old definition counted as a miss
    assert false_negatives(est, truth) == [] and verification_cost(est, truth) == 1
    assert 0.3 < scale_error(est, truth)["L0H2"] < 0.7
