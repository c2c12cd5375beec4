"""The probes added on round 32 (issue 23), on small inputs: edge scores in another destination's column, an index
[0] named in the batch-order lead, a kind of component missing from a dict of effects, and what a fix means (a
division by an out-degree or by the attention scale, a sum of the two ends of a path, an einsum axis summed apart).
Each planted mistake of round 32 checks the whole message (tests/planted)."""

import ast

import torch

from workbook.course.checks.batch_order import index_zero_lines
from workbook.course.checks.case import Case
from workbook.course.checks.crash import explain_crash
from workbook.course.checks.edge_columns import columns_message
from workbook.course.checks.repair.edits import Edit
from workbook.course.checks.repair.meaning import meaning

DESTS = ["L0H0.q", "L0H0.k", "L0H0.v", "MLP0", "logits"]


def _case(got: torch.Tensor, want: torch.Tensor) -> Case:
    return Case("a test model", got, want, ("source", "destination"),
                name_of=lambda idx: f"S{idx[0]}->{DESTS[idx[1]]}")


def _want() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(4, len(DESTS))


def test_a_query_gradient_used_for_keys_and_values_is_named():
    want = _want()
    got = want.clone()
    got[:, 1] = want[:, 0]
    got[:, 2] = want[:, 0]
    said = columns_message([_case(got, want)])
    assert said is not None and said.startswith("the query gradient used for the key and value inputs")


def test_a_destination_stacked_twice_and_a_shift_are_named():
    want = _want()
    twice = want.clone()
    twice[:, 3] = want[:, 4]
    twice[:, 2] = want[:, 4]
    assert "appear in 2 of your columns" in columns_message([_case(twice, want)])
    shifted = want.clone()
    shifted[:, 1:] = want[:, :-1]
    assert "shifted by 1" in columns_message([_case(shifted, want)])


def test_right_columns_or_unrelated_ones_say_nothing():
    want = _want()
    assert columns_message([_case(want.clone(), want)]) is None
    assert columns_message([_case(want * 2, want)]) is None


def test_an_index_zero_is_quoted_but_not_a_shape_or_a_split():
    def fn(g, n):
        a = g[0] * g.shape[0]
        b = n.split(".")[0]
        return a, b

    said = index_zero_lines(fn)
    assert "`g[0]`" in said and "shape" not in said and "split" not in said


def test_a_kind_missing_from_the_effects_is_named():
    def lookup(effects):
        return effects["L4H0"]

    try:
        lookup({"L5H7.k": 1.0, "MLP4": 2.0, "L5H0.q": 3.0})
    except KeyError as err:
        said = explain_crash(err, {}, lambda f: "workbook" in f or "site-packages" in f)
    assert "No head name is in it at all" in said and "never patched" in said


def _meaning(before: str, after: str, words: str) -> str:
    return meaning(lambda: None, Edit(1, before, after, words, ast.parse(after or "pass")))


def test_what_a_fix_means_is_read_off_its_line():
    assert "out-degree" in _meaning("s = s / graph.edge_mask.sum(1, keepdim=True)", "s = s",
                                    "dividing by `graph.edge_mask.sum(1, keepdim=True)` is extra")
    assert "the scale applied twice" in _meaning("k2 = k / sc", "k2 = k", "dividing by `sc` is extra")
    assert "leave the straight segment" in _meaning("x = e_n + (k / steps) * (e_c + e_n)",
                                                    "x = e_n + (k / steps) * (e_c - e_n)",
                                                    "a plus where a minus belongs")
    assert "summed over that axis separately" in _meaning(
        "s = torch.einsum('sbpd,tbqd->st', a, b)", "s = torch.einsum('sbqd,tbqd->st', a, b)",
        "einsum `p` where `q` belongs in `sbpd` (no other term has that axis: it is summed on its own)")
    assert _meaning("k2 = k / n", "k2 = k", "dividing by `n` is extra") == ""
