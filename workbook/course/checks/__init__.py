"""Learner checks: ``check_xxx(your_function)`` compares your implementation with the reference.

Modules: ``node_methods`` (chapters 00-02), ``edge_methods`` (03-04), ``workflow`` (05).

Each check runs your function on fresh random small models and on a specimen, and names the
likely mistake when it disagrees. Unfilled stubs print "not done yet" instead of crashing.
"""

from workbook.course.checks._runner import CheckFailed, assert_close_named, learner_check

__all__ = ["CheckFailed", "assert_close_named", "learner_check"]
