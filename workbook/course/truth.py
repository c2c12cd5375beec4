"""Shipped ground truth for the real-model sections: exact activation patching, computed once.

Patching every head, query, key and MLP of SmolLM2-135M takes minutes on a CPU; a notebook
section has a minute. So ``scripts/real_truth.py`` patches them all once (and the edges of a
stated pool) and writes ``workbook/patching/data/<model>_<task>_<n>.json``
(:mod:`workbook.patching.shipped_truth`, shared with the main job); a section loads it with
:func:`ground_truth`, which returns it **only** for the same model and the same prompt pairs
(a fingerprint of a few raw weight bytes and of every token id: no arithmetic, so the match
does not depend on the CPU), and otherwise patches live. :func:`check_sample` re-patches the
truth's top components live and reports the largest difference relative to the task's total
effect ``|M(clean) - M(corrupt)|``, so every notebook run verifies a sample of what it loads.

Sign convention: noising, ``effect = M(clean with x := corrupt) - M(clean)``.
"""

from __future__ import annotations

import time
from typing import Sequence

from workbook.core.scores import Scores
from workbook.core.task import Task
from workbook.patching.edges import patch_edges
from workbook.patching.nodes import patch_nodes
from workbook.patching.shipped_truth import DATA_DIR, fingerprint, load_shipped, save_truth, truth_path

__all__ = ["DATA_DIR", "fingerprint", "truth_path", "save_truth", "ground_truth", "check_sample"]


def ground_truth(model, model_name: str, task: Task, kind: str, edges: Sequence[str] | None = None) -> Scores:
    """Exact effects of every node of ``kind`` (``"head"``, ``"q"``, ...) or of the pool ``kind="edges"``.

    The shipped file when it was made for this model and these prompt pairs (one line says so),
    else activation patching now (one line with the time). For ``"edges"`` without a shipped
    file, ``edges`` names the pool to patch.
    """
    shipped = load_shipped(model, model_name, task, kind)
    if shipped is not None:
        secs = shipped.info["recompute_seconds"]
        print(f"[ground truth: {len(shipped)} {kind} effects by activation patching, shipped in "
              f"{shipped.info['shipped']} (made by scripts/real_truth.py, {secs:.0f} s to recompute)]")
        return shipped
    t0 = time.perf_counter()
    if kind == "edges":
        if edges is None:
            raise ValueError("no shipped edge truth for this model and task: pass edges= (the pool to patch).")
        truth = patch_edges(model, task, edges=list(edges))
    else:
        truth = patch_nodes(model, task, kind)
    print(f"[ground truth: {len(truth)} {kind} effects by activation patching, now ({time.perf_counter() - t0:.0f} s)]")
    return truth


def check_sample(model, task: Task, truth: Scores, k: int = 3) -> float:
    """Re-patch ``truth``'s top ``k`` live; print and return the largest difference / |M(clean) - M(corrupt)|."""
    names = truth.order()[:k]
    if truth.kind == "edge":
        live = patch_edges(model, task, edges=names)
    else:
        what = "mlp" if names[0].startswith("MLP") else ("head" if "." not in names[0] else names[0].rsplit(".", 1)[1])
        live = patch_nodes(model, task, what, nodes=names)
    clean, corrupt = task.baselines(model)
    gap = abs(clean - corrupt)
    worst = max(abs(live[n] - truth[n]) for n in names) / gap
    verdict = "matches" if worst < 0.01 else "DOES NOT match"
    print(f"live check: patching {', '.join(names)} now {verdict} the ground truth "
          f"(largest difference {'< 1%' if worst < 0.01 else f'{100 * worst:.1f}%'} of |M(clean) - M(corrupt)|)")
    return worst
