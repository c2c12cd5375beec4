"""The words of the EAP and EAP-IG learner checks (:mod:`.edge_methods`): each planted variant's or relation's key
(``sign``, ``scale:B``, ``groups:<the edge groups that are wrong>``) mapped to the diagnosis the learner reads."""

from __future__ import annotations

from workbook.course.checks.diagnose_diff import ZERO_TEXT
from workbook.course.checks.neighbours import METRIC_WORDS

__all__ = ["EAP_HINTS", "IG_HINTS", "ONLY_EMBED", "QKV_GRADS"]

QKV_GRADS = ("the gradient of a q/k/v destination is the one at that head's own input (graph.stack_dest_grads "
             "reads hook_q_input / hook_k_input / hook_v_input: one copy of the residual stream per head and input), "
             "not the residual stream's own gradient (resid_pre: the sum over every reader of it, q, k, v of every "
             "head and the skip path) and not the gradient after the projection (hook_q/k/v).")

ONLY_EMBED = ("only the edges out of the embedding are right: every other source's delta must be that source's own "
    "write, z_u(corrupt) - z_u(clean) at its hook (a head's output, an MLP's output), not the embedding's change "
    "or another source's.")

EAP_HINTS = {
    "sign": "the sign is flipped: the delta must be z(corrupt) - z(clean) (noising), not clean - corrupt, and the "
    "gradient that of the metric M itself (not of a loss -M).",
    "wrong_run": "you took the gradient on the corrupt run; EAP (noising) differentiates the CLEAN run.",
    "avg_grad": "you averaged the gradients of the clean and the corrupt run: EAP (noising) takes the gradient on the "
    "clean run only (averaging gradients along a path is EAP-IG).",
    "at_source": "every edge out of a source has the same score: you used the gradient at the source's "
    "output (dM/dz_u) instead of at each destination's input (before its LayerNorm), "
    "so the destination's LN Jacobian and path are missed.",
    "last_pos": "you kept only the last position: the metric is read there, but a source's output at EVERY "
    "position reaches later destinations through attention; sum the products over positions (p) too.",
    "means_first": "you averaged the deltas and the gradients over the batch BEFORE multiplying them: the mean "
    "of a product is not the product of the means; multiply per example (the einsum keeps b), then average.",
    "denoising": "this is the denoising estimate: (clean - corrupt) times the gradient on the corrupt run. "
    "Noising takes z(corrupt) - z(clean) and differentiates the clean run.",
    "no_mean": "the scores are B times too large: the gradients are per example, so the einsum sums over the "
    "batch; divide by B (task.batch_size) to get the batch mean.",
    "scale:B": "the scores are B times too large: the gradients of cache_activations_and_grads are already per "
    "example, so the einsum sums over the batch; divide by B (task.batch_size) once, not zero times.",
    "scale:1/B": "the scores are 1/B too small: the gradients are already per example (the batch mean's 1/B "
    "undone), so divide the einsum's sum over the batch by B exactly once.",
    "abs_per_pair": "you took |score| per prompt pair before averaging: EAP keeps the sign; average the signed "
    "per-pair scores over the batch (an absolute value belongs to ranking, after the average).",
    "zero": ZERO_TEXT[:-2] + "; or the delta and the gradient each summed over d_model before they meet (no dot "
    "product): the gradient at a LayerNorm's input sums to 0 over d_model, so that product is 0).",
    **{f"metric_{k}": f"these scores differentiate {w}, not the task's metric: take the gradient of "
                      "task.metric_value(logits) (the logit difference, averaged over the batch)." for k, w in
       METRIC_WORDS.items()},
    "squared": "you squared each pair's score ((delta . grad)^2): EAP is the signed product delta . grad, summed "
    "over positions and d_model, averaged over pairs.",
    "abs_delta": "you took the absolute value of the delta (|z(corrupt) - z(clean)|): keep its sign, the direction "
    "of the change matters as much as its size.",
    "unit_delta": "you normalised the delta to unit length: EAP multiplies the raw change z(corrupt) - z(clean) by "
    "the gradient; its size is part of the estimate.",
    "sums_product": "you multiplied the delta's sum over d_model by the gradient's sum (no dot product): pair each "
    "d_model component of the delta with the same component of the gradient, then sum ('sbpd,tbpd->st').",
    "scale:B/n_sources": "you divided the sum over the batch by the number of sources (e.g. deltas.shape[0] of a "
    "[n_sources, batch, ...] stack) where the batch size B belongs: average over the batch axis.",
    "groups:edges out of MLPs,edges out of heads": ONLY_EMBED,
    "groups:edges into keys,edges into queries,edges into values": "right for the edges into MLPs and the logits "
    "but wrong for the edges into queries, keys and values: " + QKV_GRADS,
}

IG_HINTS = {
    "sign": "the sign is flipped: the delta must be z(corrupt) - z(clean).",
    "corrupt_end": "your alphas include the corrupt endpoint (k = 0..m-1); the paper uses k = 1..m, "
    "which ends at the clean input (so m = 1 is EAP). Walking from clean toward corrupt "
    "gives the same wrong set of points.",
    "no_average": "the scores are m times too large: average the gradients over the m steps.",
    "activations": "this matches the activations variant: interpolate the INPUT embedding (hook_embed) "
    "and let the model recompute everything downstream.",
    "last_point": "these are the plain EAP scores: every gradient was taken at the clean input (alpha = 1). Is the "
    "interpolated embedding actually used (the straight-through hook passed to the run, with THIS step's "
    "target bound, e.g. `target=target`)?",
    "zero_to_m": "you averaged m + 1 points (k = 0..m): the paper's points are k = 1..m (m = 1 is EAP).",
    "midpoint": "you took the midpoints alpha = (k - 1/2)/m of the m intervals; the points are alpha = k/m for "
    "k = 1..m (the right end of each interval, so the last one is the clean input).",
    "trapezoid": "this is the trapezoid rule (k = 0..m, the two end points weighted 1/2); EAP-IG averages the m "
    "points alpha = k/m, k = 1..m, with equal weights.",
    "no_clean_end": "the clean end point (k = m, alpha = 1) is missing: your loop stops one point early (k = 1..m-1, "
    "e.g. range(1, m)); take k = 1..m, so m points, and divide by m.",
    "no_clean_end_m1": "you averaged the m - 1 points k = 1..m-1: the clean end point (alpha = 1) is missing; take "
    "k = 1..m (range(1, m + 1)).",
    "reversed": "your points run the wrong way, past the corrupt input: e_corrupt + alpha (e_corrupt - e_clean) "
    "extrapolates beyond it. Interpolate e_corrupt + alpha (e_clean - e_corrupt), alpha = k/m.",
    "clean_twice": "the clean point (alpha = 1) is counted twice: m + 1 gradients averaged, the last one again at "
    "the clean input; take the m points alpha = k/m, k = 1..m, each once.",
    "linspace": "your points are torch.linspace(0, 1, m): they include the corrupt end (alpha = 0) and are spaced "
    "1/(m-1); the points are alpha = k/m for k = 1..m.",
    "scale:m": "the scores are m times too large: average the gradients over the m steps (divide the sum by m).",
    "scale:1/m": "the scores are m times too small: divide the gradient sum by m once, not twice.",
    "scale:m/(m+1)": "the scores are m/(m+1) of the expected: you divided the sum of m gradients by m + 1.",
    "scale:B": "the scores are B times too large: divide the einsum's sum over the batch by B once.",
    "scale:1/B": "the scores are 1/B too small: the gradients are already per example (the batch mean's 1/B undone), "
    "so you divided by B once too often.",
    "alpha_scaled_delta": "you scaled each point's delta by its alpha and kept the clean gradient at every point: "
    "in EAP-IG the delta is the same z(corrupt) - z(clean) at every step, and the GRADIENT is taken at each "
    "interpolated point (the input embedding moved to e_corrupt + alpha (e_clean - e_corrupt)).",
    "scale:B/n_sources": EAP_HINTS["scale:B/n_sources"],
    "groups:edges out of MLPs,edges out of heads": ONLY_EMBED,
    "groups:edges into keys,edges into queries,edges into values": "right for the edges into MLPs and the logits "
    "but wrong for the edges into queries, keys and values: " + QKV_GRADS,
}
