"""Learner checks: ``check_xxx(your_function)`` compares your implementation with the reference.

Modules: ``node_methods`` (chapters 00-02), ``edge_methods`` (03-04), ``workflow`` (05),
``beyond`` (06).

Each check runs your function on the chapter's own model and on random models whose sizes all
differ (``cases``), and names what relates your numbers to the reference when it disagrees
(``diagnose_diff``: a named wrong variant, a sign, a scale factor, an offset, a shift, a subset,
...), in words and on the chapter's model. Unfilled stubs print "not done yet" instead of
crashing; TransformerLens 4's ``hook.name`` trap is named (``hook_names``).
"""

from workbook.course.checks._runner import CheckFailed, assert_close_named, learner_check

__all__ = ["CheckFailed", "assert_close_named", "learner_check"]
