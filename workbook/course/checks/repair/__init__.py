"""The one-line repair of a failing learner check: one edit of one line that makes the function pass.

Layers, lowest first (each module imports only the ones above it in this list):

- ``source``: the learner's function as an ``ast`` to edit, and how an edit is shown;
- ``scope``: what an edit may read about the function (names bound, calls, methods);
- ``names``: twin names a slip swaps (``clean_q`` / ``corr_q``) and einsum index swaps;
- ``statements``: edits of a whole statement (an update deleted, ``+=`` for ``=``, two lines moved);
- ``recipes``: edits that replace a small recipe (a median for a mean, a clamp for a zero);
- ``nodes``: every one-node edit of one expression (an axis, a bound, an operator, a twin);
- ``edits``: all candidate edits of a function, most common slips first (:class:`~.edits.Edit`);
- ``search``: :func:`one_line_fix`, which runs the check on each edit in quick mode within a time budget
  (``WORKBOOK_REPAIR_SECONDS``, default 20 s; 0 turns it off) and confirms the first pass in full;
- ``meaning``: what a fix means for the method, read off its line (a clamp of a product before the sum, a
  difference subtracted the opposite way, a condition on state kept across calls);
- ``axes``: :func:`described`, the fix's words made concrete (what the axis, count or zeroed index it changes
  holds on a test case) with its meaning.

Nothing is approximated: a reported fix passes the check the learner's function failed.
"""

from workbook.course.checks.repair.axes import described
from workbook.course.checks.repair.search import BUDGET_ENV, budget, one_line_fix, passes

__all__ = ["BUDGET_ENV", "budget", "described", "one_line_fix", "passes"]
