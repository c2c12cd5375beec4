"""Held-out set #32, written blind on 2026-12-08 (round 32) by three writers at once: ``held_out32a`` (patch heads,
AtP, the QK fix for queries: 3 each), ``held_out32b`` (the QK fix for keys, GradDrop, EAP: 5 each) and ``held_out32c``
(EAP-IG: 5, GradPath: 5, verify_top: 4), 38 mistakes in all. Each written out inline (the chapter's solution copied
and changed where the learner slips), none among the 1393 ideas already planted for any exercise it transfers to,
each checked against the correct solution on the chapter's own model and task or, where the specimen hides it, on
a random 3-layer x 5-head GPT-2 of the same kind, or with other arguments of the exercise (another step rule, a
non-linear metric), as the writers' tables say. Part a's writer found only three new ideas per exercise.
"""

from tests.planted.held_out32a import MISTAKES as _PART_A
from tests.planted.held_out32b import MISTAKES as _PART_B
from tests.planted.held_out32c import MISTAKES as _PART_C

MISTAKES = _PART_A + _PART_B + _PART_C
