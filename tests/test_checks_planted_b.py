"""Shard 1 of the planted wrong solutions (see tests/test_checks_planted.py)."""

import pytest

from tests.planted import assert_caught_and_named, shard


@pytest.mark.slow
@pytest.mark.parametrize("check, mid, pattern, fn", shard(1))
def test_planted_mistake_is_caught_and_named(check, mid, pattern, fn):
    assert_caught_and_named(check, mid, pattern, fn)
