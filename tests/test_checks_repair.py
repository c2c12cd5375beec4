"""The one-line repair of a failing learner check (workbook.course.checks.repair: .search, .edits; .quick)."""

import contextlib
import io

import pytest
import torch

from workbook.course.checks import CheckFailed, learner_check
from workbook.course.checks.quick import QuickFail, in_quick_order, quick, quick_mode, remembered, session
from workbook.course.checks.repair import BUDGET_ENV, budget, one_line_fix
from workbook.course.checks.repair.edits import edits


@pytest.fixture
def repair_on(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "20")


X = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4) ** 1.5


@learner_check
def check_column_means(fn) -> None:
    """A toy check: ``fn(x, n)`` must return the mean over axis 1 of the first ``n`` rows of axis 0."""
    for n in (1, 2):
        got, want = fn(X, n), X[:n].mean(1)
        if got.shape != want.shape or not torch.allclose(got, want):
            raise CheckFailed("values differ from the reference")


def run(check, fn) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        check(fn)
    return buf.getvalue()


def sum_not_mean(x, n):
    rows = x[:n]
    return rows.sum(1)  # a comment that must not reach the message


def loop_one_short(x, n):
    out = []
    for i in range(n - 1):
        out.append(x[i].mean(0))
    return torch.stack(out) if out else x[:0].mean(1)


def two_slips(x, n):
    return x[: n - 1].sum(1)


def test_a_one_line_slip_gets_the_edit_that_passes_without_the_learners_comment(repair_on):
    text = run(check_column_means, sum_not_mean)
    assert "[check failed] sum_not_mean: one change makes your function pass every test case" in text
    assert "`return rows.sum(1)` -> `return rows.mean(1)` (a sum where a mean belongs)" in text
    assert "comment" not in text
    assert "What the check saw before it: values differ from the reference" in text


def test_a_loop_bound_one_short_gets_its_fix(repair_on):
    text = run(check_column_means, loop_one_short)
    assert "`for i in range(n - 1):` -> `for i in range(n):` (subtracting `1` is extra)" in text


def wrong_axis_crash(x, n):
    return x[:n].mean(3)


def test_a_crash_gets_its_fix_before_the_crash_report(repair_on):
    text = run(check_column_means, wrong_axis_crash)
    assert text.startswith("[check failed] wrong_axis_crash: one change makes your function pass every test case: "
                           "line ")
    assert "`return x[:n].mean(3)` -> `return x[:n].mean(1)` (axis 3 where axis 1 belongs)" in text
    assert "IndexError" in text


def builtin_sum(x, n):
    return sum(x[:n], dim=1) / x.shape[1]


def shape_called(x, n):
    return x[:n].sum(1) / x.shape()[1]


def rows_by_zip(x, n):
    return torch.stack([x[i, j] for i, j in zip(range(n), range(x.shape[1]))]).reshape(n, -1, x.shape[2]).mean(1)


def fallback_by_or(x, n):
    given = {"rows": x[:n]}
    rows = given.get("rows") or x[:n]
    return rows.mean(1)


@pytest.mark.parametrize("fn, after", [
    (builtin_sum, "x[:n].sum(dim=1)"), (shape_called, "x.shape[1]"),
    (rows_by_zip, "[(a_, b_) for a_ in range(n) for b_ in range(x.shape[1])]"),
    (fallback_by_or, "given.get('rows') if given.get('rows') is not None else x[:n]"),
])
def test_plain_python_slips_get_their_fix(repair_on, fn, after):
    text = run(check_column_means, fn)
    assert "one change makes your function pass" in text and after in text.split(" -> ")[1], text


def test_two_slips_get_no_fix_and_the_diagnosis_stays(repair_on):
    text = run(check_column_means, two_slips)
    assert "one change" not in text and "values differ from the reference" in text


def test_a_budget_of_zero_turns_the_search_off(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "0")
    assert budget() == 0
    assert "one change" not in run(check_column_means, sum_not_mean)
    monkeypatch.setenv(BUDGET_ENV, "not a number")
    assert budget() == 20


def test_a_closure_is_repaired_with_its_free_variables(repair_on):
    axis = 1

    def closure_sum(x, n):
        return x[:n].sum(axis)

    text = run(check_column_means, closure_sum)
    assert "`return x[:n].sum(axis)` -> `return x[:n].mean(axis)`" in text


def test_a_function_without_source_is_left_alone(repair_on):
    space = {}
    exec("def no_source(x, n):\n    return x[:n].sum(1)\n", {"torch": torch}, space)  # noqa: S102
    assert edits(space["no_source"]) == []
    assert "values differ from the reference" in run(check_column_means, space["no_source"])


def test_the_edits_cover_the_common_slips():
    def slips(model, task):
        clean_q, corr_q = task.clean, task.corrupt
        s = torch.einsum("bthd,bshd->bhts", clean_q, corr_q)
        d = (s - corr_q).abs() / 4
        if d.shape[0] < 2:
            return d.transpose(0, 1)
        q_new = clean_q
        q_new += 1
        return d.median(-1, keepdim=True)

    shown = {(e.before, e.after) for e in edits(slips)}
    for pair in [("clean_q, corr_q = task.clean, task.corrupt", "clean_q, corr_q = task.corrupt, task.corrupt"),
                 ('s = torch.einsum("bthd,bshd->bhts", clean_q, corr_q)',
                  "s = torch.einsum('bthd,bshd->bhst', clean_q, corr_q)"),
                 ("d = (s - corr_q).abs() / 4", "d = (corr_q - s).abs() / 4"),
                 ("d = (s - corr_q).abs() / 4", "d = (s - clean_q).abs() / 4"),
                 ("d = (s - corr_q).abs() / 4", "d = (s - corr_q) / 4"),
                 ("d = (s - corr_q).abs() / 4", "d = (s - corr_q).abs()"),
                 ("if d.shape[0] < 2:", "if d.shape[0] <= 2:"),
                 ("return d.transpose(0, 1)", "return d"),
                 ("return d.median(-1, keepdim=True)", "return d.mean(-1, keepdim=True)"),
                 ("return d.median(-1, keepdim=True)", "return d.median(-1)"),
                 ("return d.median(-1, keepdim=True)", "return d.median(-2, keepdim=True)"),
                 ("q_new = clean_q", "q_new = clean_q.clone()"), ("q_new += 1", "q_new = 1")]:
        assert pair in shown, pair
    words = {e.words for e in edits(slips)}
    assert "`corr_q` where `clean_q` belongs: the corrupt run's values read where the clean run's values belong" \
        in words


def test_quick_mode_stops_at_the_first_failing_case_and_remembers_within_a_session():
    from workbook.course.checks.case import Case

    calls = []
    with session():
        for _ in range(2):
            assert remembered(("k",), lambda: calls.append(1) or len(calls)) == 1
        assert in_quick_order([1, 2, 3]) == [1, 2, 3]
        with quick_mode():
            assert quick() and in_quick_order([1, 2, 3]) == [2, 3, 1]
            Case("ok", torch.ones(2), torch.ones(2), ("x",))
            with pytest.raises(QuickFail):
                Case("bad", torch.zeros(2), torch.ones(2), ("x",))
        assert not quick()
    assert remembered(("k",), lambda: 7) == 7  # outside a session nothing is kept
    with pytest.raises(RuntimeError):
        with quick_mode():
            pass


def test_a_fix_is_confirmed_by_a_full_run():
    """An edit that passes only the quick run (here: a check that fails only outside quick mode) is not reported."""
    def check(fn):
        if not quick() or fn(X, 1).shape != X[:1].mean(1).shape or not torch.allclose(fn(X, 1), X[:1].mean(1)):
            raise CheckFailed("no")

    with session():
        assert one_line_fix(check, sum_not_mean, seconds=20) is None
        found = one_line_fix(lambda fn: check(fn) if quick() else None, sum_not_mean, seconds=20)
    assert found is not None and found.after == "return rows.mean(1)"


@pytest.mark.parametrize("mid", ["ph_median_over_prompt_pairs", "qkk_clean_pattern_from_the_corrupt_cache"])
def test_planted_inline_slips_get_their_line(repair_on, mid):
    from scripts.plant_mistakes import check_of
    from tests.planted.held_out16 import MISTAKES

    check, fn = next((c, f) for c, m, _, f in MISTAKES if m == mid)
    text = run(check_of(check), fn)
    want = {"ph_median_over_prompt_pairs": ".median()` -> `", "qkk_clean_pattern_from_the_corrupt_cache":
            "`A = corr[pats[l]]` -> `A = clean[pats[l]]`"}[mid]
    assert "one change makes your function pass every test case" in text and want in text


def test_the_edits_cover_slips_of_structure():
    """Parentheses, a slice's side, an index fixed where the loop's variable belongs, an argument written in, a
    norm for a sum, an exp for a softmax, a hook name, a write, an in-place change, a hook's return."""

    def slips(model, task, steps, k=5, mode="unit"):
        names = ["blocks.0.attn.hook_z", "hook_embed"]
        top = task.order()[k:]
        mode = "scaled"
        est = [(task.grads[names[0]] * task.delta[n]).sum((1, 3)) for n in names]
        est[1:] = 0
        x = torch.linalg.vector_norm(task.x, dim=(1, 3)) / steps - 1
        p = task.scores.masked_fill(task.mask, float("-inf")).exp()
        a = task.cache["hook_embed"][:, :, 3:]
        w = (1 - steps) / k * a
        for h in range(3):
            if h == 1:
                a = a + 1
                continue
            a[:, h] = task.cache["hook_embed"].mean(1)

        def gate(g, hook):
            g.zero_()
            return g

        return top, est, x, p, a, gate, mode, w

    shown = {(e.before, e.after) for e in edits(slips)}
    for pair in [("top = task.order()[k:]", "top = task.order()[:k]"),
                 ('mode = "scaled"', "mode = mode"),
                 ("est = [(task.grads[names[0]] * task.delta[n]).sum((1, 3)) for n in names]",
                  "est = [(task.grads[n] * task.delta[n]).sum((1, 3)) for n in names]"),
                 ("est[1:] = 0", ""),
                 ("x = torch.linalg.vector_norm(task.x, dim=(1, 3)) / steps - 1",
                  "x = torch.sum(task.x, dim=(1, 3)) / steps - 1"),
                 ("x = torch.linalg.vector_norm(task.x, dim=(1, 3)) / steps - 1",
                  "x = torch.linalg.vector_norm(task.x, dim=(1, 3)) / (steps - 1)"),
                 ('p = task.scores.masked_fill(task.mask, float("-inf")).exp()',
                  "p = task.scores.masked_fill(task.mask, float('-inf')).softmax(-1)"),
                 ('a = task.cache["hook_embed"][:, :, 3:]', "a = task.cache['blocks.0.attn.hook_z'][:, :, 3:]"),
                 ('a = task.cache["hook_embed"][:, :, 3:]', 'a = task.cache["hook_embed"][:, :, 3]'),
                 ("g.zero_()", "g = torch.zeros_like(g)"), ("return g", ""),
                 ("w = (1 - steps) / k * a", "w = (1 - steps / k) * a"),
                 ('a[:, h] = task.cache["hook_embed"].mean(1)', "a[:, h] = task.cache['hook_embed'][:, h]"),
                 ("if h == 1:", "")]:
        assert pair in shown, pair
    block = next(e for e in edits(slips) if e.before == "if h == 1:" and not e.after)
    assert "deleting line" in block.describe() and "and the block under it" in block.describe()


def test_a_slip_written_twice_is_changed_in_both_places():
    def twice(x, n):
        rows = x[:n].exp()
        ref = x[:n].exp()
        return (rows + ref).mean(1) / 2

    found = [e for e in edits(twice) if e.also]
    assert any(e.before == "rows = x[:n].exp()" and e.after == "rows = x[:n]" and len(e.also) == 1 for e in found)
    e = next(e for e in found if e.after == "rows = x[:n]")
    assert "(and the same change on line " in e.describe() and "changed in all" in e.words


def exp_twice(x, n):
    a = x[:n].exp()
    b = x[:n].exp()
    return (a + b).mean(1) / 2


def test_a_slip_written_twice_gets_its_two_line_fix(repair_on):
    text = run(check_column_means, exp_twice)
    assert "one change makes your function pass every test case: line " in text
    assert "(and the same change on line " in text and "`a = x[:n].exp()` -> `a = x[:n]`" in text


def test_the_edits_cover_python_pitfalls_and_lines_in_the_wrong_place():
    """A tuple of axes, .item(), a generator for a list, stack for tensor, a call on a difference, list rows that
    are one object, the infinity's sign, += on a list, and a line moved into or out of a loop."""

    def pitfalls(model, task, L, H):
        rows = [[0.0] * H] * L
        s = task.x.sum(1, 3).item()
        t = torch.stack(float(v) for v in task.values)
        u = torch.stack(task.floats)
        d = task.stack(task.corr - task.clean)
        m = task.scores.masked_fill(task.mask, float("inf"))
        out = []
        sc = task.scale(l)  # noqa: F821 - the slip: l is read before its loop
        for l in range(L):
            a = task.a[l] * sc
        out += a
        for h in range(H):
            return out
        return rows, s, t, u, d, m

    shown = {(e.before, e.after) for e in edits(pitfalls)}
    for pair in [("rows = [[0.0] * H] * L", "rows = [[0.0] * H for _ in range(L)]"),
                 ("s = task.x.sum(1, 3).item()", "s = task.x.sum((1, 3)).item()"),
                 ("s = task.x.sum(1, 3).item()", "s = task.x.sum(1, 3)"),
                 ("t = torch.stack(float(v) for v in task.values)", "t = torch.stack([float(v) for v in task.values])"),
                 ("u = torch.stack(task.floats)", "u = torch.tensor(task.floats)"),
                 ("d = task.stack(task.corr - task.clean)", "d = task.stack(task.corr) - task.stack(task.clean)"),
                 ('m = task.scores.masked_fill(task.mask, float("inf"))',
                  "m = task.scores.masked_fill(task.mask, float('-inf'))"),
                 ("out += a", "out.append(a)")]:
        assert pair in shown, pair
    moved = {(e.before, e.moved) for e in edits(pitfalls) if e.moved}
    assert any(b == "sc = task.scale(l)" and m.startswith("into the loop") for b, m in moved)
    assert any(b == "out += a" and m.startswith("into the loop") for b, m in moved)
    assert any(b == "return out" and m.startswith("out of the loop") for b, m in moved)
    e = next(e for e in edits(pitfalls) if e.moved and e.before == "return out")
    assert e.describe().startswith("one change makes your function pass every test case: moving line ")


def test_the_edits_cover_an_implicit_einsum_output_a_second_softmax_and_the_batch_on_axis_one():
    """An einsum without ``->`` (it sums every letter written twice), a softmax of a pattern that is already one,
    a sigmoid where a softmax belongs, and a loop's index on axis 0 of stacks whose batch is axis 1 (written in
    two places, changed in both)."""

    def slips(model, task, B):
        a = torch.einsum("bphd,bphd", task.x, task.g)
        p = task.pattern(task.k).softmax(-1)
        s = task.scores.sigmoid()
        out = 0.0
        for b in range(B):
            out = out + torch.einsum("spd,tpd->st", task.deltas[b], task.grads[b])
        return a, p, s, out

    found = edits(slips)
    shown = {(e.before, e.after) for e in found}
    for pair in [('a = torch.einsum("bphd,bphd", task.x, task.g)', "a = torch.einsum('bphd,bphd->h', task.x, task.g)"),
                 ("p = task.pattern(task.k).softmax(-1)", "p = task.pattern(task.k)"),
                 ("s = task.scores.sigmoid()", "s = task.scores.softmax(-1)"),
                 ('out = out + torch.einsum("spd,tpd->st", task.deltas[b], task.grads[b])',
                  'out = out + torch.einsum("spd,tpd->st", task.deltas[:, b], task.grads[:, b])')]:
        assert pair in shown, pair
    words = {e.words for e in found}
    assert "einsum without `->`: it keeps only the letters written once, in alphabetical order, and sums every " \
           "other; the output `->h` is missing" in words
    assert "`[b]` indexes axis 0 where axis 1 belongs (`[:, b]`); written 2 times, changed in all" in words
