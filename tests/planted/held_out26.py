"""Held-out set #26, written blind on 2026-12-07 (round 26) by two writers at once: ``held_out26a`` (patch heads,
AtP, the QK fix for queries and keys, GradDrop) and ``held_out26b`` (EAP, EAP-IG, GradPath, verify_top). Five
mistakes per exercise, each written out inline (the chapter's solution copied and changed where the learner slips),
none among the 1135 ideas already planted, each checked against the correct solution on the
chapter's own model and task (it crashes, returns a wrong shape, type, names or non-finite values, or differs by at
least 2 % of the largest magnitude).
"""

from tests.planted.held_out26a import MISTAKES as _PART_A
from tests.planted.held_out26b import MISTAKES as _PART_B

MISTAKES = _PART_A + _PART_B
