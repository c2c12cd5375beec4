"""Which model/task runs ``python -m workbook`` makes: the default plan (about two minutes) or ``--full``.

The default plan shows every method against activation patching on every failure mode, fast:

* the four specimens (:data:`SPECIMEN_RUNS`: saturation, cancellation, flat_region,
  path_saturation), with exact node and edge patching (a few dozen edges each);
* the ``mixture`` model on one task (:data:`MIXTURE_TASK`, IOI): exact node patching, and exact
  patching of a pool of edges (each edge method's top ones) instead of all 3,628;
* the real model SmolLM2-135M-Instruct on IOI with :data:`PRETRAINED_PAIRS` prompt pairs: exact
  node patching and a pool of edges, cached on disk after the first run (:mod:`workbook.cli.truth`).

``--full`` runs every task of every model (the trained ``ioi`` and ``induction`` models, all six
tasks of ``mixture``, every SmolLM2 task) with exact patching of every edge up to
:data:`FULL_EXACT_EDGES` edges (SmolLM2's 70,651 keep the pool: patching them all takes hours),
and faithfulness curves wherever the edge truth is exact. ``--model``/``--task`` pick runs
explicitly (with the default or the ``--full`` settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from workbook.cli import report

__all__ = ["Run", "SPECIMEN_RUNS", "MIXTURE", "MIXTURE_TASK", "PRETRAINED_TASK", "PRETRAINED_PAIRS", "EXACT_EDGES",
           "FULL_EXACT_EDGES", "all_models", "make_run", "default_plan", "full_plan", "choose", "describe"]

SPECIMEN_RUNS = ("saturation", "cancellation", "flat_region", "path_saturation")
MIXTURE, MIXTURE_TASK = "mixture", "ioi"
#: the pretrained model and task of the default plan, and its prompt pairs
PRETRAINED_TASK, PRETRAINED_PAIRS = "ioi", 8
#: a graph with more edges than this gets a pool of exactly patched edges (default plan) ...
EXACT_EDGES = 600
#: ... and with ``--full``
FULL_EXACT_EDGES = 20_000


@dataclass(frozen=True)
class Run:
    """One model/task of the report and how its ground truth is obtained (the options of :func:`report.run_model`)."""

    model: str
    task: str | None = None
    n: int | None = None
    exact_edges_max: int | None = EXACT_EDGES
    cache_truth: bool = False
    faithfulness: bool | None = None

    @property
    def label(self) -> str:
        """``model`` or ``model/task`` (as the report names it)."""
        return self.model if self.task is None or len(report.tasks_of(self.model)) == 1 else f"{self.model}/{self.task}"

    @property
    def pretrained(self) -> bool:
        """Whether the model is downloaded on first use (it may be unavailable offline)."""
        return self.model in report.pretrained_names()

    def options(self) -> dict:
        """Keyword arguments for :func:`workbook.cli.report.run_model`."""
        return {"task": self.task, "n": self.n, "exact_edges_max": self.exact_edges_max,
                "cache_truth": self.cache_truth, "faithfulness": self.faithfulness}


def all_models() -> list[str]:
    """Every model ``--model all`` runs: zoo models, specimens, then pretrained ones."""
    return report.model_names() + [p for p in report.pretrained_names() if p not in report.model_names()]


def make_run(model: str, task: str | None = None, full: bool = False) -> Run:
    """The :class:`Run` of one model/task: pretrained models get :data:`PRETRAINED_PAIRS` pairs and a cached truth."""
    pre = model in report.pretrained_names()
    return Run(model, task, n=PRETRAINED_PAIRS if pre else None,
               exact_edges_max=FULL_EXACT_EDGES if full else EXACT_EDGES, cache_truth=pre)


def default_plan() -> list[Run]:
    """The runs of a bare ``python -m workbook`` (module docstring); models that are not there are left out."""
    names = report.model_names()
    runs = [make_run(s) for s in SPECIMEN_RUNS if s in names]
    if MIXTURE in names and MIXTURE_TASK in report.tasks_of(MIXTURE):
        runs.append(make_run(MIXTURE, MIXTURE_TASK))
    runs += [make_run(p, PRETRAINED_TASK) for p in report.pretrained_names() if PRETRAINED_TASK in report.tasks_of(p)]
    return runs


def full_plan() -> list[Run]:
    """Every task of every model, exact edge patching wherever it fits (``--full``)."""
    return [make_run(m, t, full=True) for m in all_models() for t in report.tasks_of(m)]


def choose(models: Sequence[str], tasks: Sequence[str], full: bool) -> list[Run]:
    """The runs for ``--model``/``--task``/``--full`` (names already checked).

    No model and no task: :func:`default_plan` (or :func:`full_plan`). Otherwise every task of
    each model (``"all"``: :func:`all_models`), kept only if ``tasks`` names it.
    """
    if not models and not tasks:
        return full_plan() if full else default_plan()
    names = all_models() if not models or list(models) == ["all"] else list(models)
    return [make_run(m, t, full) for m in names for t in report.tasks_of(m) if not tasks or t in tasks]


def describe(runs: Sequence[Run]) -> str:
    """The runs in one phrase, e.g. ``"saturation, cancellation, mixture/ioi, smollm2/ioi (8 pairs)"``."""
    return ", ".join(r.label + (f" ({r.n} pairs)" if r.n else "") for r in runs)
