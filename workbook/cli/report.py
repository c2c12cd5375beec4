"""Every method against full activation patching, on every shipped model: the report behind ``python -m workbook``.

* :data:`METHODS` — the method registry: name -> where the function lives, how it is called,
  and which ground truth it is compared with (``"nodes"``: heads + MLPs, ``"qk"``: query and key
  inputs of every head, ``"edges"``: exact edge patching). A method that refuses a model (a
  :class:`~workbook.core.errors.WorkbookError`, e.g. GradDrop on a 1-layer specimen) is reported
  as *not available* with the refusal, instead of failing the run.
* :func:`model_names` / :func:`tasks_of` / :func:`load` — specimens (:mod:`workbook.models.specimens`),
  trained models (:mod:`workbook.models.zoo`; the ``mixture`` model has several tasks), and ``"random"``
  (a seeded random GPT-2 with a random task, always there).
* :func:`ground_truth` — activation patching for one truth family (noising convention:
  ``effect = M(clean with node := corrupt) - M(clean)``).
* :func:`run_model` — run every method on one model, compare with the truth, save figures.
* :func:`write_summary` — ``report.json`` and ``report.md`` for a list of model results.

Every comparison uses :func:`workbook.core.scores.compare`: recall@k; false negatives (truly
important components, ``|truth| >= tau x max|truth|``, that the method ranks outside its top K,
K = how many are truly important); verification cost (patches, in the method's order, to reach
them all); scale (median estimate/truth on them); Spearman on magnitudes.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from workbook.analysis import circuits
from workbook.attribution.atp import atp
from workbook.attribution.atp_star import atp_star
from workbook.attribution.eap import eap
from workbook.attribution.eap_gp import eap_gp
from workbook.attribution.eap_ig import eap_ig
from workbook.attribution.graddrop import graddrop
from workbook.attribution.qk_fix import atp_qk_fix
from workbook.core.errors import WorkbookError
from workbook.core.runs import progress
from workbook.core.scores import Scores, compare, comparison_table, concat_scores
from workbook.core.task import Task
from workbook.course import plots
from workbook.models import zoo
from workbook.models.loading import build_gpt2
from workbook.models.specimens import SPECIMENS, build
from workbook.patching.edges import patch_edges
from workbook.patching.nodes import patch_nodes

__all__ = [
    "Method",
    "METHODS",
    "TRUTHS",
    "model_names",
    "tasks_of",
    "load",
    "ground_truth",
    "run_method",
    "run_model",
    "random_model",
]

RANDOM = "random"


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Method:
    """One attribution method in the report.

    ``fn`` is called as ``fn(model, task, **kwargs)``;
    ``steps_arg`` names the integration-steps keyword (overridden by ``--steps``); ``truth`` is
    the :data:`TRUTHS` family it is compared with.
    """

    name: str
    fn: Callable[..., Scores]
    truth: str
    kwargs: dict = field(default_factory=dict)
    steps_arg: str | None = None


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("AtP", atp, "nodes", {"what": ("head", "mlp")}),
        Method("AtP (q,k)", atp, "qk", {"what": ("q", "k")}),
        Method("AtP* QK fix", atp_qk_fix, "qk", {"what": ("q", "k")}),
        Method("GradDrop", graddrop, "nodes", {"what": ("head", "mlp")}),
        Method("AtP*", atp_star, "qk", {"what": ("q", "k")}),
        Method("EAP", eap, "edges"),
        Method("EAP-IG", eap_ig, "edges", {"steps": 5}, steps_arg="steps"),
        Method("EAP-GP", eap_gp, "edges", {"steps": 5}, steps_arg="steps"),
    ]
}

#: ground-truth family -> (node kinds patched, or "edges"; human description)
TRUTHS: dict[str, tuple[tuple[str, ...], str]] = {
    "nodes": (("head", "mlp"), "node patching of head outputs and MLPs"),
    "qk": (("q", "k"), "node patching of every head's query and key"),
    "edges": (("edges",), "exact edge patching"),
}


# --------------------------------------------------------------------------- models


def model_names(include_random: bool | None = None) -> list[str]:
    """Names ``--model`` accepts: specimens, then zoo models, then ``"random"``.

    ``include_random=None`` lists ``"random"`` only when neither specimens nor zoo exist.
    """
    built = list(SPECIMENS)
    names = list(zoo.trained_models())
    names += [s for s in built if s not in names]
    if include_random or (include_random is None and not names):
        names.append(RANDOM)
    return names


def random_model(seed: int = 0, n_layers: int = 2, d_model: int = 64, n_heads: int = 4, batch: int = 8, seq: int = 8):
    """A seeded random GPT-2 and a random task (corrupt = clean with the first half resampled)."""

    d_vocab = 50
    model = build_gpt2(
        seed=seed, n_layers=n_layers, d_model=d_model, n_heads=n_heads, d_vocab=d_vocab, n_ctx=max(32, seq)
    )
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, d_vocab, (batch, seq), generator=g)
    corrupt = clean.clone()
    corrupt[:, : seq // 2] = torch.randint(0, d_vocab, (batch, seq // 2), generator=g)
    task = Task(clean, corrupt, clean[:, 1], corrupt[:, 1], name="random")
    return model, task


def tasks_of(name: str) -> list[str | None]:
    """The tasks ``--task`` may pick for model ``name``: a zoo model's tasks, ``[None]`` for a fixed task."""
    if name in zoo.trained_models():
        return list(zoo.tasks(name))
    return [None]


def load(name: str, task: str | None = None):
    """``(model, task)`` for a name from :func:`model_names` (or ``"random"``).

    ``task`` picks one of :func:`tasks_of`.
    """
    if task is not None and task not in tasks_of(name):
        valid = [t for t in tasks_of(name) if t]
        raise WorkbookError(
            f"model {name!r} has no task {task!r}; "
            + (f"its tasks: {', '.join(valid)}." if valid else "its task is fixed.")
        )
    if name == RANDOM:
        return random_model()
    if name in zoo.trained_models():
        return zoo.load(name, task=task)

    if name in list(SPECIMENS):
        return build(name)
    raise WorkbookError(f"unknown model {name!r}; valid names: {', '.join(model_names(include_random=True))}.")


# --------------------------------------------------------------------------- truth


def ground_truth(model, task: Task, family: str) -> Scores:
    """Full activation patching (noising) for a :data:`TRUTHS` family."""

    if family not in TRUTHS:
        raise WorkbookError(f"unknown ground truth {family!r}; choose from {sorted(TRUTHS)}.")
    t0 = time.perf_counter()
    if family == "edges":
        out = patch_edges(model, task)
    else:
        out = concat_scores([patch_nodes(model, task, k) for k in TRUTHS[family][0]], "activation patching")
    out.info["seconds"] = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------- methods
def run_method(method: Method, model, task: Task, steps: int | None = None) -> Scores | None:
    """Run one method; ``info['seconds']`` is its wall time."""
    kwargs = dict(method.kwargs)
    if steps is not None and method.steps_arg:
        kwargs[method.steps_arg] = steps
    t0 = time.perf_counter()
    out = method.fn(model, task, **kwargs)
    seconds = time.perf_counter() - t0
    out = Scores(out.names, out.values, method.name, out.kind, out.per_example, dict(out.info))
    out.info["seconds"] = seconds
    return out


def _slug(name: str) -> str:
    name = name.replace("*", "_star")
    return "_".join("".join(c if c.isalnum() else " " for c in name).split()).lower()


def _passes(info: dict) -> str:
    if "passes" in info:
        return str(info["passes"])
    f, b = info.get("forward_passes"), info.get("backward_passes")
    return f"{f} fwd + {b} bwd" if f is not None else "?"


def specimen_highlights(name: str) -> list[str]:
    """Component/edge names a specimen module declares (upper-case string constants), to circle in plots."""

    if name not in SPECIMENS:
        return []
    mod = importlib.import_module(SPECIMENS[name])
    return list(dict.fromkeys(v.split("@")[0] for k, v in vars(mod).items() if k.isupper() and isinstance(v, str)))


def circuit_sizes(n_edges: int) -> list[int]:
    """Circuit sizes for a faithfulness curve: 1, 2, 4, ... and every edge."""
    sizes, n = [], 1
    while n < n_edges:
        sizes.append(n)
        n *= 2
    return sizes + [n_edges]


def _faithfulness_figure(model, task: Task, edge_scores: dict[str, Scores], path: Path) -> str | None:
    """Faithfulness-vs-circuit-size curves (greedy circuits, :mod:`workbook.analysis.circuits`), if available."""
    if not edge_scores:
        return None

    sizes = circuit_sizes(len(next(iter(edge_scores.values()))))
    curves = {name: circuits.faithfulness_curve(model, task, sc, sizes) for name, sc in edge_scores.items()}
    ax = plots.faithfulness_curves(curves, title="Faithfulness vs circuit size (greedy circuits)")
    return plots.save(ax, path)


def _method_row(method: Method, model, task: Task, truths: dict, truth_info: dict, k: int, tau: float,
                steps: int | None) -> tuple[dict, Scores | None]:
    """One method's report row (and its scores), computing its ground truth on first use."""
    try:
        est = run_method(method, model, task, steps)
    except WorkbookError as err:  # e.g. a method that needs more layers than this model has
        reason = f"{type(err).__name__}: {err}"
        return {"method": method.name, "truth": method.truth, "available": False, "reason": reason}, None
    if method.truth not in truths:
        t = truths[method.truth] = ground_truth(model, task, method.truth)
        truth_info[method.truth] = {"description": TRUTHS[method.truth][1], "n": len(t), "seconds": t.info["seconds"],
                                    "passes": _passes(t.info), "top": t.top(min(k, len(t)))}
    row = compare(est, truths[method.truth], k=k, tau=tau)
    row.update({"method": method.name, "truth": method.truth, "available": True, "seconds": est.info["seconds"],
                "passes": _passes(est.info), "n": len(est)})
    return row, est


def run_model(
    name: str,
    methods: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    k: int = 5,
    tau: float = 0.5,
    quick: bool = False,
    steps: int | None = None,
    log: Callable[[str], None] = print,
    task: str | None = None,
) -> dict:
    """Run the chosen methods (default: all) on model ``name`` and compare each with its ground truth.

    ``task`` picks one of a multi-task model's tasks (:func:`tasks_of`; default its first).
    With ``quick`` the batch is cut to 4 examples and integration steps to 3. Figures (one
    scatter per method, plus faithfulness curves when :mod:`workbook.analysis.circuits` provides them)
    go to ``out_dir/<model>/`` (``out_dir/<model>_<task>/`` for a multi-task model). Returns a
    JSON-ready dict with one row per method.
    """

    torch.manual_seed(0)
    t_load = time.perf_counter()
    model, task_obj = load(name, task)
    label = name if len(tasks_of(name)) == 1 else f"{name}/{task_obj.name}"
    task = task_obj
    if quick:
        task = task.subset(slice(0, 4))
        steps = steps or 3
    chosen = list(methods) if methods else list(METHODS)
    result: dict = {
        "model": name,
        "task": task.name,
        "label": label,
        "n_layers": int(model.cfg.n_layers),
        "n_heads": int(model.cfg.n_heads),
        "d_model": int(model.cfg.d_model),
        "batch": task.batch_size,
        "seq_len": task.seq_len,
        "load_seconds": time.perf_counter() - t_load,
        "truth": {},
        "methods": [],
        "figures": [],
    }
    fig_dir = Path(out_dir) / _slug(label) if out_dir is not None else None
    if fig_dir is not None:
        fig_dir.mkdir(parents=True, exist_ok=True)
    highlights = specimen_highlights(name)
    truths: dict[str, Scores] = {}
    estimates: dict[str, list[Scores]] = {}
    for mname in progress(chosen, total=len(chosen), desc=f"{label}: methods", enabled=len(chosen) > 1):
        row, est = _method_row(METHODS[mname], model, task, truths, result["truth"], k, tau, steps)
        result["methods"].append(row)
        if est is None:
            continue
        truth = truths[METHODS[mname].truth]
        estimates.setdefault(METHODS[mname].truth, []).append(est)
        if fig_dir is not None:

            ax = plots.scatter_vs_truth(est, truth, highlight=[h for h in highlights if h in est],
                                        title=f"{label}: {mname} vs activation patching")
            result["figures"].append(plots.save(ax, fig_dir / f"scatter_{_slug(mname)}.png"))
    if fig_dir is not None and "edges" in estimates:
        named = {e.method: e for e in estimates["edges"]}
        named["activation patching"] = truths["edges"]
        try:
            fig = _faithfulness_figure(model, task, named, fig_dir / "faithfulness.png")
        except WorkbookError as err:  # e.g. a graph the circuit code cannot handle
            log(f"  (faithfulness curves skipped: {type(err).__name__}: {err})")
            fig = None
        if fig:
            result["figures"].append(fig)
    result["tables"] = {fam: comparison_table(ests, truths[fam], k=k, tau=tau) for fam, ests in estimates.items()}
    return result
