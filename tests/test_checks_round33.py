"""The probes added on round 33 (issue 23), on small inputs: edge scores off by one number per source, a function
that computes in low precision, a dict whose entries hold one value per prompt pair, and where kept state is filled.
Each planted mistake of round 33 checks the whole message (tests/planted)."""

import torch

from workbook.course.checks.case import Case
from workbook.course.checks.crash import explain_crash
from workbook.course.checks.edge_columns import row_offset_message
from workbook.course.checks.kept_state import Kept, kept_state_lead
from workbook.course.checks.quick import session
from workbook.course.checks.source_lines import low_precision


def _case(got: torch.Tensor, want: torch.Tensor) -> Case:
    return Case("a test model", got, want, ("source", "destination"))


def test_scores_off_by_one_number_per_source_are_named():
    torch.manual_seed(0)
    want = torch.randn(4, 5)
    got = want + torch.tensor([0.5, -0.3, 0.2, 0.9])[:, None]
    assert "depends on the source only" in row_offset_message([_case(got, want)])
    assert row_offset_message([_case(want + 0.5, want)]) is None  # one offset for all: another probe's
    assert row_offset_message([_case(want * 2, want)]) is None


def test_low_precision_is_read_off_the_source():
    def autocast(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):  # faster
            return x * 2

    def plain(x):
        return x.float() * 2  # no bfloat16 here, only in this comment

    assert "low precision (line" in low_precision(autocast) and "autocast" in low_precision(autocast)
    assert low_precision(plain) == ""


def test_entries_with_one_value_per_pair_are_named():
    class Task:
        batch_size, corrupt = 3, None

    def read(effects, task):
        return float(effects["a"])

    try:
        read({"a": torch.ones(3)}, Task())
    except (ValueError, RuntimeError) as err:
        said = explain_crash(err, {}, lambda f: "workbook" in f or "site-packages" in f)
    assert "one per prompt pair, never averaged over them" in said


TABLE: dict = {}


def test_the_line_that_fills_kept_state_is_quoted():
    def cached(x):
        if "x" not in TABLE:
            TABLE["x"] = x * 2
        return TABLE["x"]

    TABLE["x"] = 1.0

    def check(candidate):  # passes when the function recomputes on each call
        assert candidate(3.0) == 6.0

    with session():  # the verdict-only run of the check needs a session
        said = kept_state_lead(check, cached)
    assert "module-level dict `TABLE` (filled on line" in said and "TABLE[\"x\"] = x * 2" in said
    assert TABLE == {"x": 1.0}  # put back
    assert isinstance(Kept("x", TABLE), Kept)
