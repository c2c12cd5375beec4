"""Held-out set #24, written blind on 2026-12-07 (round 24) by two writers at once: ``held_out24a`` (patch heads,
AtP, the QK fix for queries and keys, GradDrop) and ``held_out24b`` (EAP, EAP-IG, GradPath, verify_top). Five
mistakes per exercise, each written out inline (the chapter's solution copied and changed where the learner slips),
none among the 1045 ideas already planted, each checked against the correct solution on the
chapter's own model and task (it crashes, returns a wrong shape, type, names or non-finite values, or differs by at
least 2 % of the largest magnitude).
"""

from tests.planted.held_out24a import MISTAKES as _PART_A
from tests.planted.held_out24b import MISTAKES as _PART_B

MISTAKES = _PART_A + _PART_B
