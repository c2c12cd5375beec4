"""Held-out set #27, written blind on 2026-12-07 (round 27) by two writers at once: ``held_out27a`` (patch heads,
AtP, the QK fix for queries and keys, GradDrop) and ``held_out27b`` (EAP, EAP-IG, GradPath, verify_top). Five
mistakes per exercise, each written out inline (the chapter's solution copied and changed where the learner slips),
none among the ideas already planted for its exercise (1180 in all; the writers flag about a dozen as close to ideas
listed under another exercise, e.g. a halfway patch, hook_v for hook_z), each checked against the correct solution on the
chapter's own model and task (it crashes, returns a wrong shape, type, names or non-finite values, or differs by at
least 2 % of the largest magnitude).
"""

from tests.planted.held_out27a import MISTAKES as _PART_A
from tests.planted.held_out27b import MISTAKES as _PART_B

MISTAKES = _PART_A + _PART_B
