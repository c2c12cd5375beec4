"""The probes added on round 23 (issue 23): whole-recipe repairs (workbook.course.checks.repair.recipes), a
scale that is a ratio of two counts (case.count_ratios), a mean of chunk means (pair_weights), a metric of the
learner's own (source_lines.own_metric) and a dict handed where one tensor belongs (crash_calls.wrong_value)."""

import contextlib
import io

import pytest
import torch

from workbook.course.checks import CheckFailed, learner_check
from workbook.course.checks.case import count_ratios
from workbook.course.checks.crash_calls import wrong_value
from workbook.course.checks.pair_weights import pair_weights
from workbook.course.checks.repair import BUDGET_ENV
from workbook.course.checks.source_lines import own_metric

X = torch.arange(1, 25, dtype=torch.float64).reshape(2, 3, 4) ** 1.5


@pytest.fixture
def repair_on(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "20")


@learner_check
def check_row_means(fn) -> None:
    """A toy check: ``fn(x, m)`` must return the mean over axis 0 of ``x`` (``m`` = its length, unused)."""
    got, want = fn(X, X.shape[0]), X.mean(0)
    if got.shape != want.shape or not torch.allclose(got, want):
        raise CheckFailed("values differ from the reference")


def run(fn) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        check_row_means(fn)
    return buf.getvalue()


def median_of_rows(x, m):
    return x.median(0).values


def spread_of_rows(x, m):
    return x.std(0)


def sum_over_wrong_count(x, m):
    return x.sum(0) / 3


def half_precision(x, m):
    return (x.mean(0).float().bfloat16() * 1.0).double()


def rescaled(x, m):
    v = x.mean(0)
    return v / v.norm() * 7.0


def divided_by_the_last_index(x, m):
    total = 0
    for k in range(m):
        total = total + x[k]
    return total / k


def damped(x, m):
    noise = x.std(0)
    return x.mean(0) + 0.5 * noise


def midpoint_of_the_ends(x, m):
    start = (x.mean(0) + x[0]) / 2
    return start


def an_extra_difference(x, m):
    clean, corr = x.mean(0), x.mean(0) * 3
    return clean + (corr - clean) * 0.5


@pytest.mark.parametrize("fn, after, words", [
    (an_extra_difference, "`return clean + (clean - clean) * 0.5`", "that makes `clean - clean` zero: this difference "
                                                                   "feeds an extra term"),
    (midpoint_of_the_ends, "`start = x.mean(0)`", "the midpoint of `x.mean(0)` and `x[0]` where `x.mean(0)` itself"),
    (median_of_rows, "`return x.mean(0)`", "a median over that axis where the mean belongs"),
    (spread_of_rows, "`return x.mean(0)`", "a standard deviation (the spread) where a mean belongs"),
    (sum_over_wrong_count, "`return x.mean(0)`", "the sum's denominator `3`"),
    (half_precision, "`return (x.mean(0).float() * 1.0).double()`", "the cast to bfloat16 is extra"),
    (rescaled, "`return v`", "the factors after `v` are extra"),
    (divided_by_the_last_index, "`return total / m`", "`k` holds its last value m - 1"),
])
def test_a_whole_recipe_slip_gets_its_repair(repair_on, fn, after, words):
    text = run(fn)
    assert "one change makes your function pass every test case" in text, text
    assert after in text and words in text, text


def test_a_matmul_where_an_elementwise_product_belongs_is_repaired(repair_on):
    @learner_check
    def check_weighted(fn) -> None:
        a, g = X[0, :, :3], X[1, :, :3]
        if not torch.allclose(fn(a, g), (a * g).sum(-1)):
            raise CheckFailed("values differ from the reference")

    def matmul(a, g):
        return (a @ g).sum(-1)

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        check_weighted(matmul)
    assert "a matrix product `@` where the element-wise product `*` belongs" in buf.getvalue()


def test_a_damped_value_gets_the_edit_that_cuts_it_to_zero():
    from workbook.course.checks.repair.edits import edits

    said = [e.describe() for e in edits(damped)]
    assert any("`return x.mean(0) + torch.zeros_like(noise)`" in d and "scaled by 0.5 where it is cut to zero" in d
               for d in said)


def test_count_ratios_name_a_wrong_divisor_exactly_and_nothing_else():
    found = dict(count_ratios(4 / 3, {"m": 4, "B": 6, "seq": 7}))
    assert "m/(m - 1)" in found and "divided by m - 1 where m belongs" in found["m/(m - 1)"]
    assert count_ratios(1.337, {"m": 4, "B": 6, "seq": 7}) == []  # not within float32 rounding of a ratio
    assert count_ratios(1.6, {"B": 8, "k": 5})[0][0] == "B/k"


def test_a_mean_of_chunk_means_of_unequal_sizes_is_named_and_equal_chunks_are_not():
    singles = [torch.randn(5, 4, generator=torch.Generator().manual_seed(b)) for b in range(6)]
    chunks = (torch.stack(singles[:5]).mean(0) + singles[5]) / 2
    said = pair_weights(chunks, singles)
    assert said is not None and "mean of 2 chunk means, chunks of [5, 1] pairs" in said
    even = (torch.stack(singles[:3]).mean(0) + torch.stack(singles[3:]).mean(0)) / 2  # is the mean itself
    assert pair_weights(even, singles) is None


def test_a_metric_of_the_learners_own_is_named_and_the_tasks_metric_is_not():
    def own(model, task):
        logp = model(task.clean)[:, -1].log_softmax(-1)
        return logp

    def tasks(model, task):
        return task.metric_value(model(task.clean))

    assert "measures with its own metric (line" in own_metric(own)
    assert own_metric(tasks) == ""


def test_a_number_where_a_name_belongs_is_named_from_the_failing_line():
    err = TypeError("argument of type 'float' is not iterable")
    said = wrong_value(err, 'if "->" in name:', {"name": 0.25}, {})
    assert said is not None and "`name` is a float 0.25 here" in said


def test_a_dict_where_one_tensor_belongs_names_the_stacking_helper():
    grads = {"blocks.0.hook_q_input": torch.ones(1), "blocks.0.hook_k_input": torch.ones(1)}
    line = 'scores = torch.einsum("sbpd,tbpd->st", deltas, grads)'
    err = TypeError("expected Tensor as element 1 in argument 1, but got dict")
    said = wrong_value(err, line, {"grads": grads, "deltas": torch.ones(1)}, {})
    assert said is not None and "graph.stack_dest_grads(grads)" in said


def test_an_argument_the_function_never_reads_is_named():
    from workbook.course.checks.source_lines import unused_arguments

    def ignores_steps(model, task, steps: int):
        return model(task)

    def reads_all(model, task, steps: int):
        return model(task) * steps

    assert "never reads its argument `steps`" in unused_arguments(ignores_steps)
    assert unused_arguments(reads_all) == ""


def test_a_size_counted_where_the_count_argument_belongs_gets_its_repair():
    from workbook.course.checks.repair.edits import edits

    def loops_over_the_batch(x, task, steps: int):
        total = 0
        for k in range(task.batch_size):
            total = total + x[k]
        return total / steps

    said = [e.describe() for e in edits(loops_over_the_batch)]
    assert any("`for k in range(steps):`" in d and "`task.batch_size` is counted where the argument `steps` belongs"
               in d for d in said)
