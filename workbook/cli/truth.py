"""Ground truth for the report: activation patching, exact or on a pool of edges, cached on disk when asked.

* :data:`TRUTHS` — the truth families: ``"nodes"`` (head outputs and MLPs), ``"qk"`` (every
  head's query and key input), ``"edges"`` (exact edge patching).
* :func:`edge_pool` — the edges worth patching on a large graph: the union of each edge
  method's top :data:`POOL_TOP`. Patching every edge of SmolLM2-135M (70,651 edges, ~0.4 s
  each) takes hours; the pool takes a minute, and every comparison is then made on the pool only.
* :class:`TruthCache` — one JSON file per (model, task) under ``<cache>/truth/`` (``$WORKBOOK_CACHE``,
  default ``~/.cache/workbook``), keyed by the task's tokens and the model's description, so a
  later run reuses the truth (a grown pool patches only the new edges). A new cache is seeded
  from the truth that ships with the package when it was made for this model and these prompt
  pairs (:mod:`workbook.patching.shipped_truth`: SmolLM2 on IOI, 8 pairs), so even the first
  run patches only what the shipped file lacks.
* :func:`ground_truth` — one family, from the cache when it has it.

Noising convention: ``effect = M(clean with x := corrupt) - M(clean)``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from workbook.core.errors import WorkbookError
from workbook.core.scores import Scores, concat_scores
from workbook.core.task import Task
from workbook.patching.edges import patch_edges
from workbook.patching.nodes import patch_nodes
from workbook.patching.shipped_truth import load_shipped, read_shipped

__all__ = ["TRUTHS", "POOL_TOP", "CACHE_VERSION", "cache_root", "task_digest", "edge_pool", "TruthCache",
           "ground_truth"]

#: ground-truth family -> (node kinds patched, or "edges"; human description)
TRUTHS: dict[str, tuple[tuple[str, ...], str]] = {
    "nodes": (("head", "mlp"), "node patching of head outputs and MLPs"),
    "qk": (("q", "k"), "node patching of every head's query and key"),
    "edges": (("edges",), "exact edge patching"),
}
#: each edge method contributes its top POOL_TOP edges (by |score|) to the pool that is patched exactly
POOL_TOP = 50
#: bump when the patching code changes what a cached truth would hold
CACHE_VERSION = 1


def cache_root() -> Path:
    """The cache root: ``$WORKBOOK_CACHE`` if set, else ``~/.cache/workbook`` (shared with the SmolLM2 download)."""
    env = os.environ.get("WORKBOOK_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "workbook"


def task_digest(model, task: Task) -> str:
    """16 hex digits naming a (model, task) pair: the task's tokens and metric, the model's description and shape."""
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    for t in (task.clean, task.corrupt, task.answer, task.wrong, task.pos, task.attention_mask):
        h.update(b"-" if t is None else t.detach().cpu().contiguous().numpy().tobytes())
    h.update(str(getattr(task.metric, "__name__", task.metric)).encode())
    info = getattr(model, "workbook_info", None) or {}
    cfg = model.cfg
    h.update(f"{info.get('description', '')}|{cfg.n_layers}|{cfg.n_heads}|{cfg.d_model}|{cfg.d_vocab}".encode())
    return h.hexdigest()[:16]


def edge_pool(estimates: Sequence[Scores], top: int = POOL_TOP) -> list[str]:
    """The union of each estimate's ``top`` edges by ``|score|`` (in first-seen order)."""
    return list(dict.fromkeys(n for est in estimates for n in est.order()[:top]))


def _today() -> str:
    return datetime.date.today().isoformat()


@dataclass
class TruthCache:
    """The cached ground truth of one (model, task): node families by name, pool edges by edge name."""

    path: Path
    data: dict

    @classmethod
    def open(cls, label: str, model, task: Task, root: Path | None = None) -> "TruthCache":
        """The cache file of ``label`` (e.g. ``"smollm2/ioi"``) on this exact task; empty if absent or
        unreadable, then seeded from the shipped truth of model ``label.split("/")[0]`` (:meth:`seed`)."""
        key = task_digest(model, task)
        slug = "".join(c if c.isalnum() else "_" for c in label)
        path = (root or cache_root()) / "truth" / f"{slug}_B{task.batch_size}_{key}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        if data.get("key") != key:
            data = {"version": CACHE_VERSION, "label": label, "key": key, "families": {}, "edges": {}}
        cache = cls(path, data)
        cache.seed(model, label.split("/")[0], task)
        return cache

    def seed(self, model, model_name: str, task: Task) -> str | None:
        """Fill what this cache lacks from the truth shipped for ``model_name`` on ``task``
        (:func:`workbook.patching.shipped_truth.load_shipped`: only for the same weights and prompt
        pairs). Returns the shipped file's name, or ``None`` when nothing matching ships."""
        data = read_shipped(model, model_name, task)
        if data is None:
            return None
        made = str(data["meta"].get("made", _today()))
        for fam, (kinds, _) in TRUTHS.items():
            if fam == "edges" or fam in self.data["families"]:
                continue
            parts = [load_shipped(model, model_name, task, k, data) for k in kinds]
            if any(p is None for p in parts):
                continue
            self.data["families"][fam] = {
                "names": [n for p in parts for n in p.names], "values": [v for p in parts for v in p.values.tolist()],
                "kind": parts[0].kind, "created": made, "shipped": data["file"], "passes": "shipped",
                "seconds": sum(p.info["recompute_seconds"] for p in parts)}
        edges = load_shipped(model, model_name, task, "edges", data)
        if edges is not None:
            entry = self.data["edges"]
            new = {n: v for n, v in zip(edges.names, edges.values.tolist()) if n not in entry.get("values", {})}
            if new:
                self.put_edges(new, edges.info["recompute_seconds"] * len(new) / len(edges))
                entry["created"] = min(entry.get("created", made), made)
                entry["shipped"] = data["file"]
        return data["file"]

    def family(self, family: str) -> Scores | None:
        """A cached family as :class:`Scores` (``info``: seconds to recompute, passes, ``cached`` date), or None."""
        entry = self.data["families"].get(family)
        if entry is None:
            return None
        info = {"seconds": entry["seconds"], "passes": entry["passes"], "cached": entry["created"]}
        if "shipped" in entry:
            info["shipped"] = entry["shipped"]
        return Scores(entry["names"], entry["values"], "activation patching", entry["kind"], info=info)

    def put_family(self, family: str, scores: Scores) -> None:
        """Store a computed family (its names, values, wall time and passes)."""
        self.data["families"][family] = {
            "names": scores.names, "values": scores.values.tolist(), "kind": scores.kind, "created": _today(),
            "seconds": scores.info["seconds"], "passes": str(scores.info.get("passes", "")),
        }

    def edges(self) -> dict:
        """``{"values": {edge: effect}, "seconds_per_edge": s, "created": date}`` of the pool edges patched so far."""
        return self.data["edges"]

    def put_edges(self, values: dict[str, float], seconds: float) -> None:
        """Add exactly patched pool edges (``seconds`` = the wall time they took)."""
        entry = self.data["edges"]
        old = entry.get("values", {})
        n_old, n_new = len(old), len(values)
        per_old = entry.get("seconds_per_edge", 0.0)
        entry["seconds_per_edge"] = (per_old * n_old + seconds) / max(1, n_old + n_new)
        entry["values"] = {**old, **values}
        entry.setdefault("created", _today())

    def save(self) -> Path:
        """Write the file atomically; returns its path."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)
        return self.path


def _node_family(model, task: Task, family: str) -> Scores:
    t0 = time.perf_counter()
    out = concat_scores([patch_nodes(model, task, k) for k in TRUTHS[family][0]], "activation patching")
    out.info["seconds"] = time.perf_counter() - t0
    return out


def _pool_truth(model, task: Task, pool: Sequence[str], cache: TruthCache | None) -> Scores:
    """Exact patching of the ``pool`` edges, reusing (and growing) the cache's edges."""
    known = dict(cache.edges().get("values", {})) if cache is not None else {}
    missing = [e for e in pool if e not in known]
    seconds, passes = 0.0, "cached"
    if missing:
        t0 = time.perf_counter()
        fresh = patch_edges(model, task, edges=missing)
        seconds = time.perf_counter() - t0
        passes = str(fresh.info.get("passes", ""))
        values = dict(zip(fresh.names, fresh.values.tolist()))
        known.update(values)
        if cache is not None:
            cache.put_edges(values, seconds)
    info = {"seconds": seconds, "passes": passes, "pool": len(pool)}
    if cache is not None and not missing:
        info.update(cached=cache.edges()["created"], seconds=cache.edges()["seconds_per_edge"] * len(pool))
        if "shipped" in cache.edges():
            info["shipped"] = cache.edges()["shipped"]
    return Scores(list(pool), [known[e] for e in pool], "activation patching", "edge", info=info)


def ground_truth(model, task: Task, family: str, pool: Sequence[str] | None = None,
                 cache: TruthCache | None = None) -> Scores:
    """Full activation patching (noising) for a :data:`TRUTHS` family.

    ``pool``: for ``"edges"``, patch only these edges (the comparison is then on them only).
    ``cache``: reuse and extend a :class:`TruthCache` (saved by the caller); a reused truth has
    ``info["cached"]`` (the date it was computed) and ``info["seconds"]`` (what it took then).
    """
    if family not in TRUTHS:
        raise WorkbookError(f"unknown ground truth {family!r}; choose from {sorted(TRUTHS)}.")
    if family == "edges" and pool is not None:
        return _pool_truth(model, task, pool, cache)
    cached = cache.family(family) if cache is not None else None
    if cached is not None:
        return cached
    if family == "edges":
        t0 = time.perf_counter()
        out = patch_edges(model, task)
        out.info["seconds"] = time.perf_counter() - t0
    else:
        out = _node_family(model, task, family)
    if cache is not None:
        cache.put_family(family, out)
    return out
