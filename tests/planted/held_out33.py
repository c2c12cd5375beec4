"""Held-out set #33, written blind on 2026-12-08 (round 33) by three writers at once: ``held_out33a`` (patch heads: 5,
AtP: 4, the QK fix for queries: 3), ``held_out33b`` (the QK fix for keys: 4, GradDrop: 3, EAP: 3) and ``held_out33c``
(EAP-IG: 4, GradPath: 3, verify_top: 3), 32 mistakes in all. Each written out inline (the chapter's solution copied
and changed where the learner slips), none among the 1431 ideas already planted for any exercise it transfers to
(the writers found fewer new ideas than the five per exercise asked for), each checked against the correct solution
on the chapter's own model and task or, where the specimen hides it, on a random 3-layer x 5-head GPT-2 of the same
kind, on a second call, or with other arguments of the exercise (a numeric step size, a non-linear metric), as the
writers' tables say.
"""

from tests.planted.held_out33a import MISTAKES as _PART_A
from tests.planted.held_out33b import MISTAKES as _PART_B
from tests.planted.held_out33c import MISTAKES as _PART_C

MISTAKES = _PART_A + _PART_B + _PART_C
