"""What a learner's result says when the corrupt prompts are set equal to the clean ones and it is not 0.

With ``task.corrupt = task.clean`` nothing changes when a component is patched, so every effect, estimate and edge
score must be 0; :func:`~.properties.identical_prompts` runs the learner's function on such a task and, when it is
not 0, says what kind of value can be non-zero there, per kind of method (``IDENTICAL_TEXT[kind]``, formatted with
the largest value ``got``, the scale of the real task's values ``scale`` and the word ``noun``).
"""

from __future__ import annotations

__all__ = ["IDENTICAL_TEXT"]

IDENTICAL_TEXT = {
    "default": ("with the corrupt prompts set equal to the clean ones nothing changes when you patch, so every "
                "value must be 0, but yours are not (largest {got:.3g}; on the real task the values go up to "
                "{scale:.3g}). Part of your result is not a delta (corrupt minus clean) of the same prompt "
                "pair: a clean activation used where its delta z(corrupt) - z(clean) belongs (activation times "
                "gradient) or the corrupt activation itself (clean not subtracted), a value written in that is not "
                "the corrupt run's own (the delta itself, the clean value plus something, an ablation to 0 or a "
                "mean, another pair's or position's activation, another hook), or a baseline other than M(clean)."),
    "patching": ("with the corrupt prompts set equal to the clean ones the corrupt activation IS the clean one, so "
                 "writing it in changes nothing and every effect must be 0, but yours are not (largest {got:.3g}; on "
                 "the real task the values go up to {scale:.3g}). So what you write into head h is not the corrupt "
                 "run's own activation of that same layer, head, position and prompt pair: read from another "
                 "layer's cache (a layer index off by one), averaged over positions or over the batch, another "
                 "head's slice, another hook, the corrupt value added to the clean one instead of replacing it, a "
                 "delta or an ablation value; or the baseline is not M(clean) of the "
                 "same unpatched run."),
    "pattern": ("with the corrupt prompts set equal to the clean ones, your 'patched' attention pattern should be "
                "the clean pattern itself (the patched {noun} IS the clean {noun}), so every value must be 0; "
                "yours are not (largest {got:.3g}; real values up to {scale:.3g}). Your two patterns are not "
                "computed the same way, or not the way the model computes them: recompute the pattern with the "
                "model's own recipe (scores q.k divided by attn_scale, causal mask, softmax over the keys, this "
                "layer's and head's q and k, clean everywhere except the one patched {noun}) and subtract the "
                "clean pattern computed the same way."),
}
