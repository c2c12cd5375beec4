"""Held-out set #29, written blind on 2026-12-07 (round 29) by four writers: ``held_out29a`` (patch heads, AtP, the QK
fix for queries: 13), ``held_out29b`` (the QK fix for keys, GradDrop: 4, one left out below), ``held_out29c``
(EAP-IG, GradPath, verify_top: 10) and ``held_out29d`` (GradDrop and EAP, written when part b ran out of time: 6),
32 mistakes in all (3-5 per exercise). Each written out inline (the chapter's solution copied and changed where the
learner slips), none among the ideas already planted for its exercise (1270 in all; a few ideas repeat across the
exercises of one writer, e.g. estimates z-scored over the heads, a flat buffer indexed ``l + h``), each checked against
the correct solution on the chapter's own model and task, or where the specimen hides it (part d) on a random
3-layer x 5-head model of the same kind (it crashes, returns a wrong shape, type or names, or differs by at least 2 %
of the largest magnitude).

Left out before measuring: ``qkk_per_key_sum_kept_with_keepdim``, which its writer flagged as the planted
``qkq_batch_mean_keepdim`` moved to another exercise (the brief counts a slip that transfers as already planted).
"""

from tests.planted.held_out29a import MISTAKES as _PART_A
from tests.planted.held_out29b import MISTAKES as _PART_B
from tests.planted.held_out29c import MISTAKES as _PART_C
from tests.planted.held_out29d import MISTAKES as _PART_D

LEFT_OUT = ("qkk_per_key_sum_kept_with_keepdim",)
MISTAKES = [m for m in _PART_A + _PART_B + _PART_C + _PART_D if m[1] not in LEFT_OUT]
