"""Held-out set #28, written blind on 2026-12-07 (round 28) by two writers at once: ``held_out28a`` (patch heads, AtP,
the QK fix for queries and keys, GradDrop) and ``held_out28b`` (EAP, EAP-IG, GradPath, verify_top), 41 mistakes (five
per exercise, but four for EAP-IG and two for verify_top); then ``held_out28c``, a third writer's one EAP-IG and three
verify_top mistakes, written after the first 41 were measured and measured once themselves at 6a1ef65 (the probes
revised on the 41). Each written out inline (the chapter's solution copied and changed where the learner slips), none
among the ideas already planted for its exercise (1225 in all; several ideas repeat across the exercises of one
writer, e.g. a clipped gradient, a row-max normaliser), each checked against the correct solution on the chapter's
own model and task, or where the specimen hides it on another model the chapter builds (the zoo's mixture or
induction model) (it crashes, returns a wrong shape, type, names or non-finite values, or differs by at least 2 % of
the largest magnitude).
"""

from tests.planted.held_out28a import MISTAKES as _PART_A
from tests.planted.held_out28b import MISTAKES as _PART_B
from tests.planted.held_out28c import MISTAKES as _PART_C

MISTAKES = _PART_A + _PART_B + _PART_C
