"""The model zoo: trained small GPT-2s on synthetic tasks, plus the hand-built specimens.

One call gives a model and its task::

    from workbook import zoo
    zoo.list_models()                 # ['induction', 'ioi', 'cancellation', ...]
    model, task = zoo.load("ioi", n=32, seed=0)
    zoo.info("ioi")                   # accuracy, training settings, description

Trained models live in ``workbook/weights/<name>.safetensors`` + ``.json`` (written by
``scripts/train_models.py``); their tasks come from :mod:`workbook.datasets`. Specimens
(:mod:`workbook.specimens`) are built in code and come with their own fixed task, so ``n`` and
``seed`` do not apply to them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbook import datasets
from workbook.models import load_model as _load_checkpoint
from workbook.specimens import SPECIMENS, build as _build_specimen, describe as _describe_specimen
from workbook.tasks import Task

__all__ = ["WEIGHTS_DIR", "list_models", "trained_models", "load", "load_model", "load_task", "info"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def trained_models() -> list[str]:
    """Names of the shipped trained checkpoints (sorted)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.json") if p.with_suffix(".safetensors").exists())


def list_models() -> list[str]:
    """Every name :func:`load` accepts: trained models, then the specimens."""
    return trained_models() + list(SPECIMENS)


def _check(name: str) -> str:
    if not isinstance(name, str) or name not in list_models():
        raise KeyError(f"unknown zoo model {name!r}; valid names: {list_models()}.")
    return "trained" if name in trained_models() else "specimen"


def _meta(name: str) -> dict[str, Any]:
    return json.loads((WEIGHTS_DIR / f"{name}.json").read_text())


def load_model(name: str):
    """The prepared TransformerBridge ``name`` (eval mode, attribution hooks on)."""
    if _check(name) == "trained":
        return _load_checkpoint(WEIGHTS_DIR / name)
    return _build_specimen(name)[0]


def load_task(name: str, n: int | None = None, seed: int = 0) -> Task:
    """The task of model ``name``: ``n`` prompt pairs (default 32) drawn with ``seed``.

    For specimens the task is fixed by the specimen; passing ``n`` there raises ``ValueError``.
    """
    if _check(name) == "trained":
        return datasets.make(_meta(name)["info"]["task"], n=32 if n is None else n, seed=seed)
    if n is not None:
        raise ValueError(f"{name!r} is a specimen with a fixed task; call load_task({name!r}) without n.")
    return _build_specimen(name)[1]


def load(name: str, n: int | None = None, seed: int = 0):
    """``(model, task)`` for ``name``. Trained models: ``n`` prompt pairs (default 32) from ``seed``."""
    if _check(name) == "trained":
        return load_model(name), load_task(name, n=n, seed=seed)
    if n is not None:
        raise ValueError(f"{name!r} is a specimen with a fixed task; call load({name!r}) without n.")
    return _build_specimen(name)


def info(name: str) -> dict[str, Any]:
    """What is known about ``name``: kind, description, and for trained models accuracy and settings."""
    if _check(name) == "trained":
        meta = _meta(name)
        out = {"kind": "trained", **meta["info"], "architecture": {
            k: meta["hf_config"][k] for k in ("n_layer", "n_embd", "n_head", "vocab_size", "n_positions")
        }}
        out["description"] = (datasets.__doc__ or "") if out.get("task") else ""
        out["task_description"] = datasets.make(out["task"], n=1).description
        return out
    return {"kind": "specimen", "description": _describe_specimen(name)}
