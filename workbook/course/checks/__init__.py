"""Learner checks: ``check_xxx(your_function)`` compares your implementation with the reference.

Modules: ``node_methods`` (chapters 00-02), ``edge_methods`` (03-04), ``workflow`` (05),
``beyond`` (06).

Each check runs your function on the chapter's own model and on random models whose sizes all
differ (``cases``), and names what relates your numbers to the reference when it disagrees
(``diagnose_diff``: a named wrong variant, a sign, a scale factor, an offset; ``structure``: a
shift, a swap, a subset; ``neighbours``: the same method on another node or metric), in words and
on the chapter's model. Where no relation holds, ``properties`` calls your function on inputs with
a known answer (identical prompts give 0, a batch is the mean of its pairs, one step is the
endpoint) and names the property it breaks; a result that changes when the prompt pairs come in another order is
named first (``batch_order``). Method-specific probes read what your function did: GradDrop's backward passes
(``pass_count``), EAP-IG's points and their weights (``path_points``, ``point_weights``), verify_top's jointly
patched, per-position, wrong-metric or stale effects (``joint_edges``, ``top_effects``, ``earlier_calls``).
Before the relations, ``trace`` runs your function once
more under a line tracer and reads what your variables hold against the model's own activations and
gradients (``quantities``): another layer's tensor inside a layer loop, a cache filled from the wrong
prompts, a cache entry edited in place. A crash is explained from the values on your failing line
(``crash``) and the error's meaning in words (``known_errors``). Unfilled stubs print "not done yet"
instead of crashing; TransformerLens 4's ``hook.name`` trap is named (``hook_names``). When a check
fails, ``repair`` looks for one edit of one line of your function (a sum for a mean, a bound one short,
two operands swapped, another axis, a twin variable such as ``corr_q`` for ``clean_q``, ...;
``repair.edits``) that makes it pass every test case, running the check in a verdict-only mode
(``quick``) and once more in full, and puts it first in the message (``WORKBOOK_REPAIR_SECONDS``,
default 20; 0 turns it off), with what the fix means for the method where its line shows it (``repair.meaning``).
"""

from workbook.course.checks._runner import CheckFailed, assert_close_named, learner_check

__all__ = ["CheckFailed", "assert_close_named", "learner_check"]
