"""Held-out set #30, written blind on 2026-12-07 (round 30) by three writers at once: ``held_out30a`` (patch heads,
AtP, the QK fix for queries: 15), ``held_out30b`` (the QK fix for keys, GradDrop, EAP: 15) and ``held_out30c``
(EAP-IG, GradPath, verify_top: 3 each), 39 mistakes in all. Each written out inline (the chapter's solution copied
and changed where the learner slips), none among the ideas already planted for any exercise it transfers to (1314
in all), each checked against the correct solution on the chapter's own model and task or, where the specimen hides
it, on a random 3-layer x 5-head GPT-2 of the same kind, on another model the chapter builds or with other arguments
of the exercise, as the writers' tables say (it crashes, returns a wrong shape, type or names, or differs by at
least 2 % of the largest magnitude).
"""

from tests.planted.held_out30a import MISTAKES as _PART_A
from tests.planted.held_out30b import MISTAKES as _PART_B
from tests.planted.held_out30c import MISTAKES as _PART_C

MISTAKES = _PART_A + _PART_B + _PART_C
