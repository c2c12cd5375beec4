"""Held-out set #29, its second half: two more writers, ``held_out29e`` (the QK fix for keys and queries: 5) and
``held_out29f`` (EAP, GradPath, verify_top: 2 each), written blind while the first 32 (``held_out29``) were measured,
against the same list of ideas plus the first 32's ids, to bring every exercise to five. Measured once unseen, on the
probes revised on the first 32 (like ``held_out28c``). Where the chapter's specimen hides a slip, each was checked on a
random 3-layer x 5-head GPT-2 of the same kind (or another step rule), as the writers' tables say.
"""

from tests.planted.held_out29e import MISTAKES as _PART_E
from tests.planted.held_out29f import MISTAKES as _PART_F

MISTAKES = _PART_E + _PART_F
