"""Learner checks: ``check_xxx(your_function)`` compares your implementation with the reference.

Modules: ``node_methods`` (chapters 00-02), ``edge_methods`` (03-04), ``workflow`` (05),
``beyond`` (06).

Each check runs your function on the chapter's own model and on random models whose sizes all
differ (``cases``), and names what relates your numbers to the reference when it disagrees
(``diagnose_diff``: a named wrong variant, a sign, a scale factor, an offset; ``structure``: a
shift, a swap, a subset; ``neighbours``: the same method on another node or metric), in words and
on the chapter's model. Where no relation holds, ``properties`` calls your function on inputs with
a known answer (identical prompts give 0, a batch is the mean of its pairs, one step is the
endpoint) and names the property it breaks. Before the relations, ``trace`` runs your function once
more under a line tracer and reads what your variables hold against the model's own activations and
gradients (``quantities``): another layer's tensor inside a layer loop, a cache filled from the wrong
prompts, a cache entry edited in place. A crash is explained from the values on your failing line
(``crash``). Unfilled stubs print "not done yet" instead of crashing; TransformerLens 4's
``hook.name`` trap is named (``hook_names``).
"""

from workbook.course.checks._runner import CheckFailed, assert_close_named, learner_check

__all__ = ["CheckFailed", "assert_close_named", "learner_check"]
