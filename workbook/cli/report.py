"""Every method against full activation patching, on every model: the report behind ``python -m workbook``.

* :data:`METHODS` — the method registry: name -> where the function lives, how it is called,
  which ground truth it is compared with (``"nodes"``: heads + MLPs, ``"qk"``: query and key
  inputs of every head, ``"edges"``: exact edge patching; :mod:`workbook.cli.truth`), and whether
  it returns magnitudes (GradDrop, AtP*: ``|effect|``, so their scale and signed statistics are
  n/a). A method that refuses a model (a :class:`~workbook.core.errors.WorkbookError`, e.g.
  GradDrop on a 1-layer specimen) is reported as *not run* with the refusal, instead of failing the run.
* :func:`model_names` / :func:`pretrained_names` / :func:`tasks_of` / :func:`load` — specimens
  (:mod:`workbook.models.specimens`), trained models (:mod:`workbook.models.zoo`; the ``mixture``
  model has several tasks), pretrained models (``smollm2``: downloaded and converted on first use),
  and ``"random"`` (a seeded random GPT-2 with a random task, always there).
* :func:`run_model` — run the methods on one model/task, then the ground truth each needs
  (exact; on a large graph, exact patching of a pool of edges; cached on disk when asked),
  compare, save figures.

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
from workbook.cli.truth import POOL_TOP, TRUTHS, TruthCache, edge_pool, ground_truth
from workbook.core.errors import WorkbookError
from workbook.core.runs import progress
from workbook.core.scores import Scores, compare, comparison_table, concat_scores
from workbook.core.task import Task
from workbook.course import plots
from workbook.models import zoo
from workbook.models.loading import build_gpt2
from workbook.models.specimens import SPECIMENS, build

__all__ = [
    "Method",
    "METHODS",
    "TRUTHS",
    "MAGNITUDES",
    "model_names",
    "pretrained_names",
    "tasks_of",
    "load",
    "ground_truth",
    "run_method",
    "method_row",
    "run_model",
    "random_model",
    "concat_scores",
]

RANDOM = "random"
#: what the report prints for the scale (and the signed statistics) of a method that returns magnitudes
MAGNITUDES = "n/a (magnitudes)"


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Method:
    """One attribution method in the report.

    ``fn`` is called as ``fn(model, task, **kwargs)``;
    ``steps_arg`` names the integration-steps keyword (overridden by ``--steps``); ``truth`` is
    the :data:`TRUTHS` family it is compared with; ``magnitudes``: its scores are ``|effect|``
    (non-negative), so a ratio to the signed truth (scale) and signed correlations mean nothing.
    """

    name: str
    fn: Callable[..., Scores]
    truth: str
    kwargs: dict = field(default_factory=dict)
    steps_arg: str | None = None
    magnitudes: bool = False


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("AtP", atp, "nodes", {"what": ("head", "mlp")}),
        Method("AtP (q,k)", atp, "qk", {"what": ("q", "k")}),
        Method("AtP* QK fix", atp_qk_fix, "qk", {"what": ("q", "k")}),
        Method("GradDrop", graddrop, "nodes", {"what": ("head", "mlp")}, magnitudes=True),
        Method("AtP*", atp_star, "qk", {"what": ("q", "k")}, magnitudes=True),
        Method("EAP", eap, "edges"),
        Method("EAP-IG", eap_ig, "edges", {"steps": 5}, steps_arg="steps"),
        Method("EAP-GP", eap_gp, "edges", {"steps": 5}, steps_arg="steps"),
    ]
}


# --------------------------------------------------------------------------- models


def model_names(include_random: bool | None = None) -> list[str]:
    """Names ``--model`` accepts offline: zoo models, then specimens, then ``"random"``.

    ``include_random=None`` lists ``"random"`` only when neither specimens nor zoo exist.
    Pretrained models are listed by :func:`pretrained_names`.
    """
    built = list(SPECIMENS)
    names = list(zoo.trained_models())
    names += [s for s in built if s not in names]
    if include_random or (include_random is None and not names):
        names.append(RANDOM)
    return names


def pretrained_names() -> list[str]:
    """Pretrained models the report can run (``smollm2``): downloaded and converted on first use, then cached.

    The hook onto :func:`workbook.models.zoo.pretrained_models`; empty when the zoo has none.
    """
    listed = getattr(zoo, "pretrained_models", None)
    return list(listed()) if listed is not None else []


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
    if name in zoo.trained_models() or name in pretrained_names():
        return list(zoo.tasks(name))
    return [None]


def load(name: str, task: str | None = None, n: int | None = None):
    """``(model, task)`` for a name from :func:`model_names`, :func:`pretrained_names` or ``"random"``.

    ``task`` picks one of :func:`tasks_of`; ``n`` the number of prompt pairs of a zoo or
    pretrained model (default: the zoo's). Loading a pretrained model may download it (it raises a
    :class:`~workbook.core.errors.ModelError` when that is impossible).
    """
    if task is not None and task not in tasks_of(name):
        valid = [t for t in tasks_of(name) if t]
        raise WorkbookError(
            f"model {name!r} has no task {task!r}; "
            + (f"its tasks: {', '.join(valid)}." if valid else "its task is fixed.")
        )
    if name == RANDOM:
        return random_model()
    if name in zoo.trained_models() or name in pretrained_names():
        return zoo.load(name, task=task, n=n)
    if name in list(SPECIMENS):
        return build(name)
    names = model_names(include_random=True) + pretrained_names()
    raise WorkbookError(f"unknown model {name!r}; valid names: {', '.join(names)}.")


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


def method_row(method: Method, est: Scores, truth: Scores, k: int = 5, tau: float = 0.5) -> dict:
    """One method's report row: :func:`~workbook.core.scores.compare`, plus its cost.

    For a magnitude method (``method.magnitudes``) ``scale``, ``scale_error`` and ``pearson`` are
    ``None`` and ``magnitudes`` is True: a ratio of ``|estimate|`` to a signed truth means nothing.
    """
    row = compare(est, truth, k=k, tau=tau)
    row.update({"method": method.name, "truth": method.truth, "available": True, "seconds": est.info["seconds"],
                "passes": _passes(est.info), "n": len(est), "magnitudes": method.magnitudes})
    if method.magnitudes:
        row.update(scale=None, scale_error={}, pearson=None)
    return row


def _refusal(method: Method, err: WorkbookError) -> dict:
    return {"method": method.name, "truth": method.truth, "available": False, "reason": str(err),
            "error": type(err).__name__}


def _run_methods(chosen: Sequence[str], model, task: Task, steps: int | None, label: str):
    """``(estimates, refusals)``: each method's scores, or its refusal row."""
    estimates: dict[str, Scores] = {}
    refused: dict[str, dict] = {}
    bar = progress(chosen, total=len(chosen), desc=f"{label}: methods", enabled=len(chosen) > 1)
    for mname in bar:
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(mname)
        try:
            estimates[mname] = run_method(METHODS[mname], model, task, steps)
        except WorkbookError as err:  # e.g. a method that needs more layers than this model has
            refused[mname] = _refusal(METHODS[mname], err)
    return estimates, refused


def _truth_info(fam: str, t: Scores, k: int, pool: Sequence[str] | None, n_edges: int,
                cache: TruthCache | None) -> dict:
    info = {"description": TRUTHS[fam][1], "n": len(t), "seconds": t.info["seconds"], "passes": _passes(t.info),
            "top": t.top(min(k, len(t)))}
    if fam == "edges" and pool is not None:
        info.update(description=f"exact edge patching of a pool of {len(pool)} of the {n_edges} edges (each edge "
                                f"method's top {POOL_TOP})", pool=len(pool), of=n_edges)
    if "cached" in t.info and cache is not None:
        info.update(cached=t.info["cached"], cache_file=str(cache.path))
        info.update({"shipped": t.info["shipped"]} if "shipped" in t.info else {})
    return info


def _truths(model, task: Task, label: str, estimates: dict[str, Scores], result: dict, k: int,
            exact_edges_max: int | None, cache_truth: bool, log: Callable[[str], None]) -> dict[str, Scores]:
    """The ground truth of every family the estimates need (a pool of edges on a large graph), into ``result``."""
    families = list(dict.fromkeys(METHODS[m].truth for m in estimates))
    edge_ests = [e for m, e in estimates.items() if METHODS[m].truth == "edges"]
    n_edges = len(edge_ests[0]) if edge_ests else 0
    pool = edge_pool(edge_ests, POOL_TOP) if edge_ests and exact_edges_max is not None \
        and n_edges > exact_edges_max else None
    result["edge_truth"] = None if not edge_ests else "pool" if pool is not None else "exact"
    cache = TruthCache.open(label, model, task) if cache_truth else None
    if cache is not None and any(f not in cache.data["families"] for f in families if f != "edges"):
        log(f"   {label}: computing the ground truth once (exact patching: minutes; then cached in {cache.path}) ...")
    truths: dict[str, Scores] = {}
    for fam in progress(families, total=len(families), desc=f"{label}: ground truth", enabled=len(families) > 1):
        truths[fam] = ground_truth(model, task, fam, pool=pool if fam == "edges" else None, cache=cache)
        result["truth"][fam] = _truth_info(fam, truths[fam], k, pool, n_edges, cache)
        if cache is not None:
            cache.save()
    return truths


def _faithfulness_figure(model, task: Task, edge_scores: dict[str, Scores], path: Path) -> str | None:
    """Faithfulness-vs-circuit-size curves (greedy circuits, :mod:`workbook.analysis.circuits`), if available."""
    if not edge_scores:
        return None

    sizes = circuit_sizes(len(next(iter(edge_scores.values()))))
    curves = {name: circuits.faithfulness_curve(model, task, sc, sizes) for name, sc in edge_scores.items()}
    ax = plots.faithfulness_curves(curves, title="Faithfulness vs circuit size (greedy circuits)")
    return plots.save(ax, path)


def _figures(result: dict, fig_dir: Path, model, task: Task, estimates: dict[str, Scores],
             truths: dict[str, Scores], faithfulness: bool | None, log: Callable[[str], None]) -> None:
    """One scatter per truth family (its methods against the truth), and faithfulness curves of the edge methods."""
    label = result["label"]
    highlights = specimen_highlights(result["model"])
    short = {"nodes": "head/MLP", "qk": "query/key", "edges": "edge"}
    for fam, truth in truths.items():
        ests = [e if not METHODS[m].magnitudes else Scores(e.names, e.values, f"{m} (magnitudes)", e.kind)
                for m, e in estimates.items() if METHODS[m].truth == fam]
        ax = plots.scatter_vs_truth(ests, truth, highlight=[h for h in highlights if h in truth],
                                    title=f"{label}: methods vs {short.get(fam, fam)} patching")
        result["figures"].append(plots.save(ax, fig_dir / f"scatter_{fam}.png"))
    named = {e.method: e for m, e in estimates.items() if METHODS[m].truth == "edges"}
    if not named or not (faithfulness or (faithfulness is None and result["edge_truth"] == "exact")):
        if named and result["edge_truth"] == "pool":
            result["notes"].append("faithfulness curves: drawn only where every edge is patched exactly (--full)")
        return
    if result["edge_truth"] == "exact":
        named["activation patching"] = truths["edges"]
    try:
        fig = _faithfulness_figure(model, task, named, fig_dir / "faithfulness.png")
    except WorkbookError as err:  # e.g. a graph the circuit code cannot handle
        log(f"  (faithfulness curves skipped: {type(err).__name__}: {err})")
        fig = None
    if fig:
        result["figures"].append(fig)


def _header(name: str, task_name: str, label: str, model, task: Task, load_seconds: float) -> dict:
    return {"model": name, "task": task_name, "label": label, "n_layers": int(model.cfg.n_layers),
            "n_heads": int(model.cfg.n_heads), "d_model": int(model.cfg.d_model), "batch": task.batch_size,
            "seq_len": task.seq_len, "load_seconds": load_seconds, "truth": {}, "methods": [], "figures": [],
            "notes": []}


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
    n: int | None = None,
    exact_edges_max: int | None = None,
    cache_truth: bool = False,
    faithfulness: bool | None = None,
) -> dict:
    """Run the chosen methods (default: all) on model ``name`` and compare each with its ground truth.

    ``task`` picks one of a multi-task model's tasks (:func:`tasks_of`; default its first), ``n``
    its number of prompt pairs (zoo and pretrained models). With ``quick`` the batch is cut to 4
    examples and integration steps to 3. The methods run first, then the ground truth each
    needs: exact, except that a graph with more than ``exact_edges_max`` edges gets exact
    patching of a pool of edges (:func:`workbook.cli.truth.edge_pool`) and every edge comparison
    is made on that pool; ``cache_truth`` reuses the truth cached by an earlier run
    (:class:`workbook.cli.truth.TruthCache`). Figures (one scatter per truth family; faithfulness curves
    when ``faithfulness``, by default when the edge truth is exact) go to ``out_dir/<model>/``
    (``out_dir/<model>_<task>/`` for a multi-task model). Returns a JSON-ready dict with one row
    per method, ``seconds`` (the run's wall time) and ``cpu_seconds`` (its CPU time).
    """
    torch.manual_seed(0)
    t_run, cpu_run = time.perf_counter(), time.process_time()
    model, task_obj = load(name, task, n=n)
    task_name = task or task_obj.name
    label = name if len(tasks_of(name)) == 1 else f"{name}/{task_name}"
    if quick:
        task_obj = task_obj.subset(slice(0, 4))
        steps = steps or 3
    chosen = list(methods) if methods else list(METHODS)
    result = _header(name, task_name, label, model, task_obj, time.perf_counter() - t_run)
    estimates, refused = _run_methods(chosen, model, task_obj, steps, label)
    truths = _truths(model, task_obj, label, estimates, result, k, exact_edges_max, cache_truth, log)
    for mname in chosen:
        method = METHODS[mname]
        ok = mname in estimates
        row = method_row(method, estimates[mname], truths[method.truth], k, tau) if ok else refused[mname]
        result["methods"].append(row)
    if out_dir is not None:
        fig_dir = Path(out_dir) / _slug(label)
        fig_dir.mkdir(parents=True, exist_ok=True)
        _figures(result, fig_dir, model, task_obj, estimates, truths, faithfulness, log)
    by_family: dict[str, list[Scores]] = {}
    for mname, est in estimates.items():
        by_family.setdefault(METHODS[mname].truth, []).append(est)
    result["tables"] = {fam: comparison_table(ests, truths[fam], k=k, tau=tau) for fam, ests in by_family.items()}
    result["seconds"], result["cpu_seconds"] = time.perf_counter() - t_run, time.process_time() - cpu_run
    return result
