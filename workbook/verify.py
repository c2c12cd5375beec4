"""Screen, then verify: activation-patch the top ``k`` components of an estimate.

:func:`verify_top` is the last step of the AtP* workflow (an estimate nominates, patching
judges), also exported as ``workbook.verify_top``; :func:`check_verify_top` is the learner check
of chapter 5's exercise (wrapped by :mod:`workbook.checks.workflow`).
"""

from __future__ import annotations

import torch

from workbook.patching import patch_edges, patch_nodes
from workbook.scores import Scores
from workbook.tasks import Task
from workbook.validate import WorkbookError

__all__ = ["verify_top", "check_verify_top"]


def verify_top(model, task: Task, scores: Scores, k: int = 5) -> Scores:
    """Activation-patch the ``k`` components an estimate ranks highest by ``|score|``.

    Works for node names (``L0H1``, ``MLP0``, ``L0H1.q``/``.k``/``.v``, ``L0N3``) and edge names
    (``src->dst``). Returns :class:`Scores` (method ``"activation patching"``) with the exact
    noising effects ``M(clean with c := corrupt) - M(clean)`` of those ``k`` components, in the
    estimate's ranking order. Also ``workbook.verify_top``. Cost: per component, the clean run
    resumed from its layer (:mod:`workbook.resume`), batched; an edge into layer ``l`` of an
    ``L``-layer model costs about ``(L - l) / L`` of a forward.
    """
    if k < 1:
        raise WorkbookError(f"k must be >= 1, got {k}.")
    names = scores.order(absolute=True)[:k]
    exact: dict[str, float] = {}
    groups: dict[str, list[str]] = {}
    for n in names:
        if "->" in n:
            groups.setdefault("edge", []).append(n)
        elif n.startswith("MLP"):
            groups.setdefault("mlp", []).append(n)
        elif "." in n:
            groups.setdefault(n.rsplit(".", 1)[1], []).append(n)
        elif "N" in n[1:]:
            groups.setdefault("neuron", []).append(n)
        else:
            groups.setdefault("head", []).append(n)
    for what, group in groups.items():
        res = patch_edges(model, task, edges=group) if what == "edge" else patch_nodes(model, task, what, nodes=group)
        exact.update({n: float(res[n]) for n in group})
    return Scores(names, torch.tensor([exact[n] for n in names]), method="activation patching",
                  kind=scores.kind, info={"forward_passes": len(names) + 1, "passes": f"{len(names)} patched fwd"})


def _toy(seed: int):
    from workbook.models import build_gpt2

    model = build_gpt2(seed=seed, n_layers=2, d_model=32, n_heads=2, d_vocab=20)
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, 20, (4, 6), generator=g)
    corrupt = clean.clone()
    corrupt[:, 1:3] = torch.randint(0, 20, (4, 2), generator=g)
    return model, Task(clean, corrupt, clean[:, 1], (clean[:, 1] + 7) % 20)


def check_verify_top(learner_fn) -> None:
    """Learner check for ``verify_top(model, task, scores, k) -> Scores``: random models + a specimen."""
    from workbook.atp import atp
    from workbook.checks._runner import CheckFailed, assert_close_named

    from workbook.specimens import build

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
