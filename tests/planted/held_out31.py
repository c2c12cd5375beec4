"""Held-out set #31, written blind on 2026-12-07 (round 31) by three writers at once: ``held_out31a`` (patch heads,
AtP, the QK fix for queries: 15), ``held_out31b`` (the QK fix for keys, GradDrop, EAP: 15) and ``held_out31c``
(EAP-IG: 3, GradPath: 4, verify_top: 3), 40 mistakes in all. Each written out inline (the chapter's solution copied
and changed where the learner slips), none among the 1353 ideas already planted for any exercise it transfers to
(six keep state across calls, a kind of slip planted before only for verify_top and EAP), each checked against the
correct solution on the chapter's own model and task or, where the specimen hides it, on a random 3-layer x 5-head
GPT-2 of the same kind (one with attention scaled by 1/(layer + 1)), on a second call, or with other arguments of
the exercise, as the writers' tables say.
"""

from tests.planted.held_out31a import MISTAKES as _PART_A
from tests.planted.held_out31b import MISTAKES as _PART_B
from tests.planted.held_out31c import MISTAKES as _PART_C

MISTAKES = _PART_A + _PART_B + _PART_C
