"""Every method against full activation patching, on every shipped model: the report behind ``python -m workbook``.

* :data:`METHODS` — the method registry: name -> where the function lives, how it is called,
  and which ground truth it is compared with (``"nodes"``: heads + MLPs, ``"qk"``: query and key
  inputs of every head, ``"edges"``: exact edge patching). Modules are imported lazily; a
  method whose module is missing is reported as *not available* instead of failing the run.
* :func:`model_names` / :func:`tasks_of` / :func:`load` — specimens (:mod:`workbook.specimens`),
  trained models (:mod:`workbook.zoo`; the ``mixture`` model has several tasks), and ``"random"``
  (a seeded random GPT-2 with a random task, always there).
* :func:`ground_truth` — activation patching for one truth family (noising convention:
  ``effect = M(clean with node := corrupt) - M(clean)``).
* :func:`run_model` — run every method on one model, compare with the truth, save figures.
* :func:`write_summary` — ``report.json`` and ``report.md`` for a list of model results.

Every comparison uses :func:`workbook.scores.compare`: recall@k; false negatives (truly
important components, ``|truth| >= tau x max|truth|``, that the method ranks outside its top K,
K = how many are truly important); verification cost (patches, in the method's order, to reach
them all); scale (median estimate/truth on them); Spearman on magnitudes.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from workbook.scores import Scores, compare, comparison_table
from workbook.tasks import Task
from workbook.validate import WorkbookError

__all__ = [
    "Method",
    "METHODS",
    "TRUTHS",
    "model_names",
    "tasks_of",
    "load",
    "concat_scores",
    "ground_truth",
    "run_method",
    "run_model",
    "write_summary",
    "random_model",
]

RANDOM = "random"


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Method:
    """One attribution method in the report.

    ``module``/``function`` are imported lazily; ``kwargs`` are passed after ``(model, task)``;
    ``steps_arg`` names the integration-steps keyword (overridden by ``--steps``); ``truth`` is
    the :data:`TRUTHS` family it is compared with.
    """

    name: str
    module: str
    function: str
    truth: str
    kwargs: dict = field(default_factory=dict)
    steps_arg: str | None = None

    def resolve(self) -> Callable | None:
        """The callable, or ``None`` when its module (or function) does not exist yet."""
        try:
            mod = importlib.import_module(self.module)
        except ModuleNotFoundError as err:
            if err.name and (self.module == err.name or self.module.startswith(err.name + ".")):
                return None
            raise
        return getattr(mod, self.function, None)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("AtP", "workbook.atp", "atp", "nodes", {"what": ("head", "mlp")}),
        Method("AtP (q,k)", "workbook.atp", "atp", "qk", {"what": ("q", "k")}),
        Method("AtP* QK fix", "workbook.qk_fix", "atp_qk_fix", "qk", {"what": ("q", "k")}),
        Method("GradDrop", "workbook.graddrop", "graddrop", "nodes", {"what": ("head", "mlp")}),
        Method("AtP*", "workbook.atp_star", "atp_star", "qk", {"what": ("q", "k")}),
        Method("EAP", "workbook.eap", "eap", "edges"),
        Method("EAP-IG", "workbook.eap_ig", "eap_ig", "edges", {"steps": 5}, steps_arg="steps"),
        Method("EAP-GP", "workbook.eap_gp", "eap_gp", "edges", {"steps": 5}, steps_arg="steps"),
    ]
}

#: ground-truth family -> (node kinds patched, or "edges"; human description)
TRUTHS: dict[str, tuple[tuple[str, ...], str]] = {
    "nodes": (("head", "mlp"), "node patching of head outputs and MLPs"),
    "qk": (("q", "k"), "node patching of every head's query and key"),
    "edges": (("edges",), "exact edge patching"),
}


# --------------------------------------------------------------------------- models
def _zoo():
    try:
        return importlib.import_module("workbook.zoo")
    except ModuleNotFoundError as err:
        if err.name in ("workbook.zoo",):
            return None
        raise


def _specimens() -> list[str]:
    from workbook.specimens import SPECIMENS

    return [name for name, mod in SPECIMENS.items() if importlib.util.find_spec(mod) is not None]


def model_names(include_random: bool | None = None) -> list[str]:
    """Names ``--model`` accepts: specimens, then zoo models, then ``"random"``.

    ``include_random=None`` lists ``"random"`` only when neither specimens nor zoo exist.
    """
    zoo = _zoo()
    built = _specimens()
    names = list(zoo.trained_models()) if zoo is not None else []
    names += [s for s in built if s not in names]
    if include_random or (include_random is None and not names):
        names.append(RANDOM)
    return names


def random_model(seed: int = 0, n_layers: int = 2, d_model: int = 64, n_heads: int = 4, batch: int = 8, seq: int = 8):
    """A seeded random GPT-2 and a random task (corrupt = clean with the first half resampled)."""
    from workbook.models import build_gpt2

    d_vocab = 50
    model = build_gpt2(seed=seed, n_layers=n_layers, d_model=d_model, n_heads=n_heads, d_vocab=d_vocab, n_ctx=max(32, seq))
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, d_vocab, (batch, seq), generator=g)
    corrupt = clean.clone()
    corrupt[:, : seq // 2] = torch.randint(0, d_vocab, (batch, seq // 2), generator=g)
    task = Task(clean, corrupt, clean[:, 1], corrupt[:, 1], name="random")
    return model, task


def tasks_of(name: str) -> list[str | None]:
    """The tasks ``--task`` may pick for model ``name``: a zoo model's tasks, ``[None]`` for a fixed task."""
    zoo = _zoo()
    if zoo is not None and name in zoo.trained_models():
        return list(zoo.tasks(name))
    return [None]


def load(name: str, task: str | None = None):
    """``(model, task)`` for a name from :func:`model_names` (or ``"random"``); ``task`` picks one of :func:`tasks_of`."""
    if task is not None and task not in tasks_of(name):
        valid = [t for t in tasks_of(name) if t]
        raise WorkbookError(f"model {name!r} has no task {task!r}; "
                            + (f"its tasks: {', '.join(valid)}." if valid else "its task is fixed."))
    if name == RANDOM:
        return random_model()
    zoo = _zoo()
    if zoo is not None and name in zoo.trained_models():
        return zoo.load(name, task=task)
    from workbook.specimens import build

    if name in _specimens():
        return build(name)
    raise WorkbookError(f"unknown model {name!r}; valid names: {', '.join(model_names(include_random=True))}.")


# --------------------------------------------------------------------------- truth
def concat_scores(parts: Sequence[Scores], method: str | None = None) -> Scores:
    """Join several :class:`Scores` (e.g. heads and MLPs) into one, summing their ``info`` costs."""
    names = [n for p in parts for n in p.names]
    values = torch.cat([p.values for p in parts])
    pe = None
    if all(p.per_example is not None for p in parts):
        pe = torch.cat([p.per_example for p in parts], 1)
    info: dict = {}
    for key in ("seconds", "forward_passes", "backward_passes"):
        vals = [p.info[key] for p in parts if key in p.info]
        if vals:
            info[key] = sum(vals)
    if "forward_passes" in info:
        info["passes"] = f"{info['forward_passes']} fwd"
    return Scores(names, values, method or parts[0].method, parts[0].kind, pe, info)


def ground_truth(model, task: Task, family: str) -> Scores:
    """Full activation patching (noising) for a :data:`TRUTHS` family."""
    from workbook.patching import patch_edges, patch_nodes

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
    """Run one method; ``None`` if its module is not available. ``info['seconds']`` is wall time."""
    fn = method.resolve()
    if fn is None:
        return None
    kwargs = dict(method.kwargs)
    if steps is not None and method.steps_arg:
        kwargs[method.steps_arg] = steps
    t0 = time.perf_counter()
    out = fn(model, task, **kwargs)
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
    from workbook.specimens import SPECIMENS

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
    """Faithfulness-vs-circuit-size curves (greedy circuits, :mod:`workbook.circuits`), if available."""
    try:
        circuits = importlib.import_module("workbook.circuits")
    except ModuleNotFoundError as err:
        if err.name == "workbook.circuits":
            return None
        raise
    if not edge_scores:
        return None
    from workbook import plots

    sizes = circuit_sizes(len(next(iter(edge_scores.values()))))
    curves = {name: circuits.faithfulness_curve(model, task, sc, sizes) for name, sc in edge_scores.items()}
    ax = plots.faithfulness_curves(curves, title="Faithfulness vs circuit size (greedy circuits)")
    return plots.save(ax, path)


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
    scatter per method, plus faithfulness curves when :mod:`workbook.circuits` provides them)
    go to ``out_dir/<model>/`` (``out_dir/<model>_<task>/`` for a multi-task model). Returns a
    JSON-ready dict with one row per method.
    """
    from workbook.hooks import progress

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
        method = METHODS[mname]
        try:
            est = run_method(method, model, task, steps)
        except WorkbookError as err:  # e.g. a method that needs more layers than this model has
            result["methods"].append({"method": mname, "truth": method.truth, "available": False,
                                      "reason": f"{type(err).__name__}: {err}"})
            continue
        if est is None:
            result["methods"].append({"method": mname, "truth": method.truth, "available": False,
                                      "reason": "not available (module not written yet)"})
            continue
        if method.truth not in truths:
            truths[method.truth] = ground_truth(model, task, method.truth)
            t = truths[method.truth]
            result["truth"][method.truth] = {
                "description": TRUTHS[method.truth][1], "n": len(t), "seconds": t.info["seconds"],
                "passes": _passes(t.info), "top": t.top(min(k, len(t))),
            }
        row = compare(est, truths[method.truth], k=k, tau=tau)
        row.update({"method": mname, "truth": method.truth, "available": True, "seconds": est.info["seconds"],
                    "passes": _passes(est.info), "n": len(est)})
        result["methods"].append(row)
        estimates.setdefault(method.truth, []).append(est)
        if fig_dir is not None:
            from workbook import plots

            path = fig_dir / f"scatter_{_slug(mname)}.png"
            ax = plots.scatter_vs_truth(est, truths[method.truth], highlight=[h for h in highlights if h in est],
                                        title=f"{label}: {mname} vs activation patching")
            result["figures"].append(plots.save(ax, path))
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


# --------------------------------------------------------------------------- output
def format_model(result: dict, k: int = 5) -> str:
    """Plain-text block for one model: passes, wall time, recall@k, false negatives, verification cost, scale, Spearman."""
    lines = [f"== {result.get('label', result['model'])}  ({result['n_layers']} layers x {result['n_heads']} heads, d_model "
             f"{result['d_model']}; batch {result['batch']} x {result['seq_len']} tokens)"]
    for fam, t in result["truth"].items():
        lines.append(f"   truth [{fam}]: {t['description']}, {t['n']} items, {t['passes']}, {t['seconds']:.2g} s")
    head = (f"   {'method':<14} {'truth':<6} {'time s':>7} {'recall@' + str(k):>9} {'false neg':>9} {'verify':>7} "
            f"{'scale':>6} {'spearman':>9}  passes")
    lines += [head, "   " + "-" * (len(head) + 20)]
    for r in result["methods"]:
        if not r["available"]:
            lines.append(f"   {r['method']:<14} {r['truth']:<6} {r['reason']}")
            continue
        lines.append(
            f"   {r['method']:<14} {r['truth']:<6} {r['seconds']:>7.2g} "
            f"{r[f'recall@{k}']:>9.2f} {r['false_negatives']:>9d} {r['verification_cost']:>7d} {r['scale']:>6.2g} "
            f"{r['spearman']:>9.2f}  {r['passes']}"
        )
    return "\n".join(lines)


def write_summary(results: list[dict], out_dir: str | Path, k: int = 5, tau: float = 0.5) -> tuple[Path, Path]:
    """Write ``report.json`` (everything) and ``report.md`` (one table per model)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "report.json", out / "report.md"
    meta = {"k": k, "tau": tau, "convention": "noising: effect = M(clean with x := corrupt) - M(clean)",
            "torch": torch.__version__}
    json_path.write_text(json.dumps({"meta": meta, "models": results}, indent=2, default=str))
    md = ["# When Gradients Mislead: every method against activation patching", "",
          f"Against full activation patching (noising). A component is *truly important* when |truth| >= {tau:g} x "
          "max|truth|. **false neg**: truly important components the method ranks outside its top K (K = how many "
          "are truly important); **verify**: components patched in the method's order until all truly important "
          f"ones are reached; **scale**: median estimate/truth on them; recall@{k}; Spearman on magnitudes.", ""]
    for r in results:
        md += [f"## {r.get('label', r['model'])}", "",
               f"{r['n_layers']} layers x {r['n_heads']} heads, d_model {r['d_model']}, batch {r['batch']} x {r['seq_len']}.", "",
               f"| method | truth | passes | time (s) | recall@{k} | false neg | verify | scale | spearman | missed |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for row in r["methods"]:
            if not row["available"]:
                md.append(f"| {row['method']} | {row['truth']} | {row['reason']} | | | | | | | |")
                continue
            md.append(f"| {row['method']} | {row['truth']} | {row['passes']} | {row['seconds']:.2g} | "
                      f"{row[f'recall@{k}']:.2f} | {row['false_negatives']} | {row['verification_cost']} | "
                      f"{row['scale']:.2g} | {row['spearman']:.2f} | "
                      f"{', '.join(row['missed'][:5])} |")
        for fam, t in r["truth"].items():
            md.append(f"\nGround truth `{fam}`: {t['description']} ({t['n']} items, {t['passes']}, {t['seconds']:.2g} s).")
        if r["figures"]:
            md += ["", "Figures: " + ", ".join(f"`{Path(f).relative_to(out) if Path(f).is_relative_to(out) else f}`" for f in r["figures"])]
        md.append("")
    md_path.write_text("\n".join(md))
    return json_path, md_path
