"""The bottom layer: what every other layer shares, and nothing model-family specific.

======================  ==================================================================
``core.errors``         the error types and input checks (a clear error, never a silent number)
``core.task``           :class:`Task` (clean/corrupt pairs + metric), metrics, noising/denoising
``core.scores``         :class:`Scores`, the common result type; false negatives, verification cost
``core.ranking``        ranks with float-noise ties (what every ranking and Spearman uses)
``core.runs``           forward/backward with hooks, caches, stacked copies, dtype rules, progress
``core.budget``         the memory budget that sizes batched passes
======================  ==================================================================

Imports only torch and the standard library (and, in ``runs``, tqdm).
"""
