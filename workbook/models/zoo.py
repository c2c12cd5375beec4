"""The model zoo: trained small GPT-2s on synthetic tasks, plus the hand-built specimens.

One call gives a model and its task::

    from workbook.models import zoo
    zoo.list_models()                 # ['induction', 'ioi', 'mixture', 'cancellation', ...]
    model, task = zoo.load("ioi", n=32, seed=0)
    model, task = zoo.load("mixture", task="sva", n=16)   # a model trained on several tasks
    zoo.tasks("mixture")              # ['ioi', 'greater_than', 'sva', 'capital', 'hypernymy', 'gender']
    zoo.info("ioi")                   # accuracy, training settings, description

Trained models live in ``workbook/models/weights/<name>.safetensors`` + ``.json`` (written by
``scripts/train_models.py``). A single-task model's task comes from :mod:`workbook.tasks.synthetic`;
the ``mixture`` model (6 layers, trained on six tasks modelled on Hanna et al. 2024) takes its
tasks from :mod:`workbook.tasks.mixture`; without ``task=`` it loads its first task. Specimens
(:mod:`workbook.models.specimens`) are built in code and come with their own fixed task, so ``n`` and
``seed`` do not apply to them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbook.core.task import Task
from workbook.models.loading import load_model as _load_checkpoint
from workbook.models.specimens import SPECIMENS
from workbook.models.specimens import build as _build_specimen
from workbook.models.specimens import describe as _describe_specimen
from workbook.tasks import mixture as mixture_tasks
from workbook.tasks import synthetic as datasets

__all__ = ["WEIGHTS_DIR", "list_models", "trained_models", "tasks", "load", "load_model", "load_task", "info"]

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


def tasks(name: str) -> list[str]:
    """The task names model ``name`` accepts as ``task=`` (one for single-task models and specimens)."""
    if _check(name) == "trained":
        info = _meta(name)["info"]
        return list(info["tasks"]) if "tasks" in info else [info["task"]]
    return [_build_specimen(name)[1].name]


def _task_name(name: str, task: str | None) -> str:
    valid = tasks(name)
    if task is None:
        return valid[0]
    if task not in valid:
        raise KeyError(f"model {name!r} has no task {task!r}; its tasks: {valid}.")
    return task


def load_task(name: str, n: int | None = None, seed: int = 0, task: str | None = None) -> Task:
    """The task ``task`` (default: the model's first) of model ``name``: ``n`` pairs (default 32) from ``seed``.

    For specimens the task is fixed by the specimen; passing ``n`` there raises ``ValueError``.
    """
    kind = _check(name)
    task = _task_name(name, task)
    if kind == "trained":
        n = 32 if n is None else n
        if "tasks" in _meta(name)["info"]:
            return mixture_tasks.make(task, n=n, seed=seed)
        return datasets.make(task, n=n, seed=seed)
    if n is not None:
        raise ValueError(f"{name!r} is a specimen with a fixed task; call load_task({name!r}) without n.")
    return _build_specimen(name)[1]


def load(name: str, n: int | None = None, seed: int = 0, task: str | None = None):
    """``(model, task)`` for model ``name`` and one of its :func:`tasks` (default: the first).

    Trained models: ``n`` prompt pairs (default 32) drawn with ``seed``. Specimens: their fixed task.
    """
    kind = _check(name)
    _task_name(name, task)
    if kind == "trained":
        return load_model(name), load_task(name, n=n, seed=seed, task=task)
    if n is not None:
        raise ValueError(f"{name!r} is a specimen with a fixed task; call load({name!r}) without n.")
    return _build_specimen(name)


def info(name: str) -> dict[str, Any]:
    """What is known about ``name``: kind, description, and for trained models accuracy and settings."""
    if _check(name) == "trained":
        meta = _meta(name)
        out = {"kind": "trained", **meta["info"], "architecture": {
            k: meta["hf_config"][k] for k in ("n_layer", "n_embd", "n_head", "n_inner", "vocab_size", "n_positions")
        }}
        if "tasks" in out:
            out["description"] = mixture_tasks.__doc__ or ""
            out["task_descriptions"] = {t: mixture_tasks.DESCRIPTION[t] for t in out["tasks"]}
        else:
            out["description"] = datasets.__doc__ or ""
            out["task_description"] = datasets.make(out["task"], n=1).description
        return out
    return {"kind": "specimen", "description": _describe_specimen(name)}
