"""Learner check for chapter 05 (the workflow): verify the top of an estimate by patching.

``check_verify_top(verify_top_k)`` runs the learner's ``verify_top_k(model, task, scores, k)``
on the cancellation specimen and two random models against
:func:`workbook.patching.verify.verify_top`, and names the usual mistakes (ranking by the signed
score, returning |effect|, a flipped sign, returning the estimate instead of patching).
"""

from __future__ import annotations

import torch

from workbook.attribution.atp import atp
from workbook.core.scores import Scores
from workbook.core.task import Task
from workbook.course.checks._runner import CheckFailed, assert_close_named, learner_check
from workbook.models.loading import build_gpt2
from workbook.models.specimens import build
from workbook.patching.verify import verify_top

__all__ = ["check_verify_top"]

def _toy(seed: int):
    model = build_gpt2(seed=seed, n_layers=2, d_model=32, n_heads=2, d_vocab=20)
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, 20, (4, 6), generator=g)
    corrupt = clean.clone()
    corrupt[:, 1:3] = torch.randint(0, 20, (4, 2), generator=g)
    return model, Task(clean, corrupt, clean[:, 1], (clean[:, 1] + 7) % 20)


@learner_check
def check_verify_top(learner_fn) -> None:
    """Learner check for ``verify_top(model, task, scores, k) -> Scores``: random models + a specimen."""
    # the specimen first: its top effects have both signs, which tells |effect| from a sign flip
    cases = [build("cancellation"), _toy(1), _toy(2)]
    for i, (model, task) in enumerate(cases):
        est = atp(model, task, ("head", "mlp"))
        k = 3
        want = verify_top(model, task, est, k)
        got = learner_fn(model, task, est, k)
        if not isinstance(got, Scores):
            raise CheckFailed(f"return a workbook Scores (names + values), got {type(got).__name__}.")
        if len(got) != k:
            raise CheckFailed(f"case {i}: expected {k} components, got {len(got)}: keep exactly the top k.")
        if set(got.names) != set(want.names):
            signed = est.order(absolute=False)[:k]
            if set(got.names) == set(signed):
                raise CheckFailed("wrong components: you ranked by the signed score; rank by |score| "
                                  "(a large negative effect matters as much as a large positive one).")
            raise CheckFailed(f"case {i}: wrong components {sorted(got.names)}; the estimate's top {k} by |score| "
                              f"are {sorted(want.names)}.")
        got_v = torch.tensor([got[n] for n in want.names])
        est_v = torch.tensor([est[n] for n in want.names])
        assert_close_named(got_v, want.values, f"case {i}: patched effects", atol=1e-4, rtol=1e-3, hints=[
            (lambda a, e: bool((e > 0).any() and (e < 0).any()) and torch.allclose(a, e.abs(), atol=1e-4, rtol=1e-3),
             "you returned |effect|: keep the sign, it tells the direction of the effect."),
            (lambda a, e: torch.allclose(a, -e, atol=1e-4, rtol=1e-3),
             "sign flipped: noising effect is M(clean with c := corrupt) - M(clean), not the other way round."),
            (lambda a, e: torch.allclose(a, est_v, atol=1e-5),
             "these are the estimate's own values: verification must *patch* the model (workbook.patch_nodes)."),
        ])
