"""Learner check for chapter 05 (the workflow): verify the top of an estimate by patching.

``check_verify_top(verify_top_k)`` runs the learner's ``verify_top_k(model, task, scores, k)``
on the cancellation specimen and two random models against
:func:`workbook.verify.verify_top`, and names the usual mistakes (ranking by the signed
score, returning |effect|, a flipped sign, returning the estimate instead of patching).
"""

from __future__ import annotations

from workbook.checks._runner import learner_check
from workbook.verify import check_verify_top as _verify_top_cases

__all__ = ["check_verify_top"]

check_verify_top = learner_check(_verify_top_cases)
