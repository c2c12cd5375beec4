"""Planted wrong solutions for the learner checks (issue 23).

Each module's ``MISTAKES`` holds ``(check name, mistake id, expected cause regex, wrong function)``.
``planted`` and ``batch2`` were written while the probes were built; ``held_out1``-``held_out3``,
``held_out`` (#4), ``held_out5``-``held_out32`` (with ``held_out29ef``) and ``held_out14n``/``held_out15n``
were each written blind (the writer never saw the checks or their messages), measured once unseen, and then
the probes were revised on them, so they count as development sets now (:data:`DEV`). :data:`UNSEEN` names the
newest blind round's set (round 33: ``held_out33``, three writers' parts ``held_out33a``-``held_out33c``,
written against the list of ideas already planted, each wrong solution written out inline as a learner would,
like ``held_out16``-``held_out32``: :data:`INLINE`). Round 29 came in two halves measured at different commits:
``held_out29`` (parts a-d) and ``held_out29ef`` (parts e and f).
The counts are in docs/checks_planted.md (``scripts/plant_mistakes.py``).
"""

import importlib

DEV = ("planted", "batch2", "held_out1", "held_out2", "held_out3", "held_out", "held_out5", "held_out6", "held_out7",
       "held_out8", "held_out9", "held_out10", "held_out11", "held_out12", "held_out13", "held_out14", "held_out14n",
       "held_out15", "held_out15n", "held_out16", "held_out17", "held_out18", "held_out19", "held_out20", "held_out21",
       "held_out22", "held_out23", "held_out24", "held_out25", "held_out26", "held_out27", "held_out28",
       "held_out29", "held_out29ef", "held_out30", "held_out31", "held_out32")
UNSEEN = ("held_out33",)
#: the sets whose wrong solutions are written out inline (a slip on a line of the learner's own function): the
#: one-line repair (workbook.course.checks.repair) is measured on them
INLINE = ("held_out16", "held_out17", "held_out18", "held_out19", "held_out20", "held_out21", "held_out22",
          "held_out23", "held_out24", "held_out25", "held_out26", "held_out27", "held_out28", "held_out29",
          "held_out29ef", "held_out30", "held_out31", "held_out32", "held_out33")


def mistakes(*names: str) -> list:
    """The ``MISTAKES`` of the named modules of this package, in order."""
    return [m for name in names for m in importlib.import_module(f"tests.planted.{name}").MISTAKES]


SHARDS = 3  # tests/test_checks_planted.py, _b.py and _c.py: xdist's --dist loadfile gives each file one worker


def shard(index: int, sample: int | None = None) -> list:
    """Every ``SHARDS``-th planted mistake of the development and unseen sets from ``index`` on, as
    pytest params ``(check, mid, pattern, fn)``; the shards split the slow planted run across workers.
    ``WORKBOOK_PLANTED_SAMPLE=n`` keeps every n-th of them (CI's second pass, with torch's scalar kernels, runs
    a sample: each planted mistake has already run in its first pass); ``sample`` given overrides it."""
    import os

    import pytest

    if sample is None:
        sample = max(1, int(os.environ.get("WORKBOOK_PLANTED_SAMPLE", "1") or 1))
    every = mistakes(*DEV, *UNSEEN)[index::SHARDS][::sample]
    return [pytest.param(c, mid, pat, fn, id=f"{c}:{mid}") for c, mid, pat, fn in every]


def assert_caught_and_named(check: str, mid: str, pattern: str, fn) -> None:
    """No planted mistake passes its check; each outside :data:`tests.planted.gaps.KNOWN_GAPS` is named. A known
    gap's message is not asserted, so only the verdict is computed for it (:func:`passes_quickly`)."""
    from scripts.plant_mistakes import classify
    from tests.planted.gaps import KNOWN_GAPS

    if (check, mid) in KNOWN_GAPS:
        assert not passes_quickly(check, fn), f"{mid} passed {check}"
        return
    outcome, message, _ = classify(check, pattern, fn)
    assert outcome != "passed", f"{mid} passed {check}"
    assert outcome == "named", f"{mid}: {outcome}: {message}"


def passes_quickly(check: str, fn) -> bool:
    """The check's verdict on ``fn`` without its diagnosis: the check run in quick mode (the same cases and
    guards; the first failing case stops it), as the one-line repair runs it."""
    import torch

    from scripts.plant_mistakes import check_of
    from workbook.course.checks.quick import session
    from workbook.course.checks.repair import passes

    def run(candidate) -> None:
        with torch.enable_grad():
            check_of(check).__wrapped__(candidate)

    torch.manual_seed(0)
    with session():
        return passes(run, fn, quick=True)
