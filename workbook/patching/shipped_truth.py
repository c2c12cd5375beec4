"""Shipped ground truth: exact activation patching on a pretrained model, computed once and packaged.

Patching every head, query, key, value and MLP of SmolLM2-135M takes minutes on a CPU. So
``scripts/real_truth.py`` patches them all once (and the edges of a stated pool) and writes
``workbook/patching/data/<model>_<task>_<n>.json``. :func:`load_shipped` returns one kind of it
**only** for the same model and the same prompt pairs: a :func:`fingerprint` of the model's
sizes, raw bytes of three weight slices and every token id (no arithmetic, so the match does
not depend on the CPU); otherwise ``None`` and the caller patches live. Two users:

* the course's real-model sections (:mod:`workbook.course.truth`, which also re-patches a sample);
* the main job (:mod:`workbook.cli.truth`), which seeds its on-disk truth cache from it, so its
  first run on SmolLM2 does not patch for minutes.

Sign convention: noising, ``effect = M(clean with x := corrupt) - M(clean)`` (batch means).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from workbook.core.scores import Scores
from workbook.core.task import Task

__all__ = ["DATA_DIR", "fingerprint", "truth_path", "save_truth", "read_shipped", "load_shipped"]

#: where the shipped truth files live (package data)
DATA_DIR = Path(__file__).resolve().parent / "data"


def fingerprint(model, task: Task) -> str:
    """32 hex digits: the model's sizes, raw bytes of three weight slices and every token id of ``task``."""
    h = hashlib.sha256()
    cfg = model.cfg
    h.update(repr((cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_vocab)).encode())
    params = dict(model.named_parameters())
    names = sorted(params)
    for name in (names[0], names[len(names) // 2], names[-1]):
        h.update(name.encode())
        h.update(params[name].detach().reshape(-1)[:256].cpu().float().numpy().tobytes())
    for t in (task.clean, task.corrupt, task.answer, task.wrong, task.pos):
        h.update(t.cpu().long().numpy().tobytes())
    return h.hexdigest()[:32]


def truth_path(model_name: str, task: Task) -> Path:
    """``DATA_DIR/<model>_<task name>_<pairs>.json``: where the truth of ``model_name`` on ``task`` ships."""
    return DATA_DIR / f"{model_name}_{task.name}_{task.batch_size}.json"


def save_truth(path: Path, model, task: Task, truths: dict[str, Scores], meta: dict) -> Path:
    """Write ``{kind: Scores}`` (exact effects, batch means) with the :func:`fingerprint` and ``meta``
    (``meta["seconds"]``: ``{kind: seconds the patching took}``)."""
    out = {"fingerprint": fingerprint(model, task), "meta": meta,
           "truths": {k: {"names": list(s.names), "values": [float(v) for v in s.values.tolist()],
                          "kind": s.kind, "method": s.method} for k, s in truths.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    return path


def read_shipped(model, model_name: str, task: Task) -> dict | None:
    """The shipped file's contents for ``model_name`` on ``task`` when it exists and its fingerprint
    matches this model and these prompt pairs, else ``None``."""
    path = truth_path(model_name, task)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.get("fingerprint") != fingerprint(model, task):
        return None
    return {**data, "file": path.name}


def load_shipped(model, model_name: str, task: Task, kind: str, data: dict | None = None) -> Scores | None:
    """One kind (``"head"``, ``"mlp"``, ``"q"``, ``"k"``, ``"v"``, ``"edges"``) of the shipped truth as
    :class:`Scores` (float64 values), or ``None`` when nothing matching ships (:func:`read_shipped`;
    pass its result as ``data`` to read the file once). ``info``: ``shipped`` (the file name),
    ``recompute_seconds`` (what patching it took) and the file's other metadata."""
    data = data if data is not None else read_shipped(model, model_name, task)
    if data is None or kind not in data["truths"]:
        return None
    t = data["truths"][kind]
    meta = dict(data["meta"])
    info = {"shipped": data["file"], "recompute_seconds": float(meta.pop("seconds", {}).get(kind, 0.0)), **meta}
    return Scores(t["names"], torch.tensor(t["values"], dtype=torch.float64), t["method"], t["kind"], info=info)
