import pytest
import torch
from scipy.stats import spearmanr

from workbook.scores import Scores, compare, comparison_table, false_negatives, rank_correlation, recall_at_k


def test_ranking_and_access():
    s = Scores(["a", "b", "c", "d"], torch.tensor([0.1, -3.0, 2.0, 0.0]), method="m")
    assert s.order() == ["b", "c", "a", "d"]
    assert s.order(absolute=False) == ["c", "a", "d", "b"]
    assert s.rank("c") == 2 and s["b"] == -3.0
    assert s.top(2) == [("b", -3.0), ("c", 2.0)]
    with pytest.raises(KeyError, match="no score named"):
        s["z"]


def test_recall_false_negatives_and_correlation():
    truth = Scores(list("abcdef"), torch.tensor([5.0, -4.0, 3.0, 0.1, 0.0, 0.2]), method="truth")
    est = Scores(list("fedcba"), torch.tensor([0.3, 0.0, 0.2, 2.9, -0.01, 5.2]), method="est")  # misses b
    assert recall_at_k(est, truth, 3) == pytest.approx(2 / 3)
    assert false_negatives(est, truth, threshold=1.0) == ["b"]
    assert false_negatives(est, truth, threshold=0.5, relative=True) == ["b"]
    want = spearmanr(truth.values.abs().numpy(), est.select(truth.names).values.abs().numpy()).statistic
    assert rank_correlation(est, truth) == pytest.approx(want)
    row = compare(est, truth, k=3, threshold=1.0, relative=False)
    assert row["false_negatives"] == 1 and row["missed"] == ["b"]
    table = comparison_table([est], truth, k=3, threshold=1.0, relative=False)
    assert "est" in table and "b" in table.splitlines()[-1]


def test_ties_use_average_ranks():
    truth = Scores(list("abcd"), torch.tensor([1.0, 1.0, 2.0, 3.0]))
    est = Scores(list("abcd"), torch.tensor([2.0, 2.0, 2.0, 3.0]))
    want = spearmanr([1, 1, 2, 3], [2, 2, 2, 3]).statistic
    assert rank_correlation(est, truth) == pytest.approx(want)


def test_comparing_mismatched_names_is_an_error():
    truth = Scores(["L0H0", "L0H1"], torch.tensor([1.0, 2.0]))
    est = Scores(["L0H0.q", "L0H1.q"], torch.tensor([1.0, 2.0]), method="AtP")
    with pytest.raises(ValueError, match="compare like with like"):
        rank_correlation(est, truth)


def test_names_and_values_must_match():
    with pytest.raises(ValueError):
        Scores(["a"], torch.tensor([1.0, 2.0]))
