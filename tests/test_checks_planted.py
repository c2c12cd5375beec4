"""Planted wrong solutions (tests/planted/): no check passes one, and each gets a specific message.

``tests.planted.gaps.KNOWN_GAPS`` lists the planted mistakes whose message is not (yet) the planted cause;
they must still fail. The counts table is docs/checks_planted.md (scripts/plant_mistakes.py). The
mistakes are split into shards over this file, _b.py and _c.py so that both test workers share them.
"""

import pytest

import workbook as wb
from tests.planted import DEV, UNSEEN, assert_caught_and_named, mistakes, passes_quickly, shard
from tests.planted.gaps import KNOWN_GAPS


def test_the_sets_are_big_enough_and_every_gap_is_a_planted_mistake():
    per_check = {}
    for c, *_ in mistakes("planted"):
        per_check[c] = per_check.get(c, 0) + 1
    assert len(per_check) == 9 and min(per_check.values()) >= 5
    unseen = [c for c, *_ in mistakes(*UNSEEN)]  # the newest round, in the parts it was measured in
    assert len(set(unseen)) == 9 and min(unseen.count(c) for c in set(unseen)) >= 3  # every exercise, 3 or more
    ids = {(c, mid) for c, mid, *_ in mistakes(*DEV, *UNSEEN)}
    assert KNOWN_GAPS <= ids, KNOWN_GAPS - ids


def test_the_shards_cover_every_planted_mistake_once():
    from tests.planted import SHARDS

    fns = [p.values[3] for i in range(SHARDS) for p in shard(i, sample=1)]  # ids repeat across sets; functions not
    assert len(fns) == len({id(f) for f in fns}) == len(mistakes(*DEV, *UNSEEN))
    sampled = [p.values[3] for i in range(SHARDS) for p in shard(i, sample=8)]  # CI's second pass
    assert {id(f) for f in sampled} <= {id(f) for f in fns} and len(fns) / 8 <= len(sampled) <= len(fns) / 8 + SHARDS


def test_the_verdict_alone_passes_a_right_solution_and_fails_a_known_gap():
    """A known gap is run for its verdict only (passes_quickly): that verdict is the check's own."""
    def right(model, task):
        return wb.patch_nodes(model, task, "head").values.reshape(model.cfg.n_layers, model.cfg.n_heads)

    assert passes_quickly("check_patch_heads", right)
    assert not passes_quickly("check_patch_heads", lambda model, task: 2 * right(model, task))


@pytest.mark.slow
@pytest.mark.parametrize("check, mid, pattern, fn", shard(0))
def test_planted_mistake_is_caught_and_named(check, mid, pattern, fn):
    assert_caught_and_named(check, mid, pattern, fn)
