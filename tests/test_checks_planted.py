"""Planted wrong solutions (tests/planted/): no check passes one, and each gets a specific message.

``KNOWN_GAPS`` lists the planted mistakes whose message is not (yet) the planted cause; they
must still fail. The counts table is docs/checks_planted.md (scripts/plant_mistakes.py).
"""

import pytest

from scripts.plant_mistakes import classify
from tests.planted import batch2, held_out, held_out1, held_out2, held_out3, planted

# (check, mistake id) whose message is generic or names another cause with the final probes
# (docs/checks_planted.md); they must still fail
KNOWN_GAPS = {
    ('check_qk_fix_queries', 'corrupt keys too'),  # generic
    ('check_qk_fix_keys', 'k2 = k without clone'),  # misnamed
    ('check_qk_fix_keys', 'per query, not per key'),  # generic
    ('check_graddrop', 'max over passes'),  # misnamed
    ('check_gradpath', 'start point missing'),  # misnamed
    ('check_gradpath', 'stale gradient'),  # misnamed
    ('check_graddrop', 'drops attention only, not MLP'),  # misnamed
    ('check_eap_ig', 'alpha = k/(m+1)'),  # misnamed
    ('check_patch_heads', 'indexes the position axis'),  # generic
    ('check_atp_heads', 'hook_q instead of hook_z'),  # misnamed
    ('check_qk_fix_queries', 'clean pattern not subtracted'),  # generic
    ('check_qk_fix_keys', 'loop skips the last key'),  # misnamed
    ('check_graddrop', 'abs of each factor'),  # generic
    ('check_qk_fix_keys', 'corrupt queries as well'),  # generic
    ('check_eap_ig', 'only the first half of the points'),  # misnamed
    ('check_gradpath', 'gradient normalised per position'),  # misnamed
    ('check_atp_heads', 'batch means before the product'),  # misnamed
    ('check_qk_fix_queries', "corrupt run's pattern (corrupt keys too)"),  # generic
    ('check_graddrop', 'upstream passes left out'),  # misnamed
    ('check_eap_ig', 'alpha = k // m'),  # misnamed
}

SETS = planted.MISTAKES + batch2.MISTAKES + held_out1.MISTAKES + held_out2.MISTAKES + held_out3.MISTAKES
ALL = [pytest.param(c, mid, pat, fn, id=f"{c}:{mid}") for c, mid, pat, fn in SETS + held_out.MISTAKES]


def test_the_sets_are_big_enough():
    per_check = {}
    for c, *_ in planted.MISTAKES:
        per_check[c] = per_check.get(c, 0) + 1
    assert len(per_check) == 9 and min(per_check.values()) >= 5
    assert len(held_out.MISTAKES) >= 10


@pytest.mark.slow
@pytest.mark.parametrize("check, mid, pattern, fn", ALL)
def test_planted_mistake_is_caught_and_named(check, mid, pattern, fn):
    outcome, message, _ = classify(check, pattern, fn)
    assert outcome != "passed", f"{mid} passed {check}"
    if (check, mid) not in KNOWN_GAPS:
        assert outcome == "named", f"{mid}: {outcome}: {message}"
