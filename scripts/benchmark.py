"""Cost benchmarks for the workbook's methods, measured in ONE run on this machine.

    python scripts/benchmark.py [--quick] [--repeats N] [--out out/benchmark]

Every row is a ratio of two wall times measured here (median of ``--repeats``, one torch
thread), printed next to its target with PASS/MISS:

* AtP (heads + MLPs in one call) / bare "2 fwd + 1 bwd" on the same batch. "Bare" is one
  no-grad forward on the corrupt batch plus one forward + backward of the batch-mean metric
  on the clean batch, with no caching hooks. Like the workbook's backward, the bare backward
  freezes the parameters and starts from a grad-requiring embedding (one hook at
  ``hook_embed``), so both sides compute activation gradients only.
* AtP* QK fix: extra cost over plain AtP on (q, k), in forward-equivalents.
* EAP (all edges) / bare; EAP-IG (m=5) / (m+1) x (fwd + bwd); EAP-GP for information.
* workbook EAP / TransformerLens 4.3 ``attribution_patch(..., EdgeAttributionConfig("edge"))``.
* workbook head patching (denoising, like TL) / TL ``get_act_patch_attn_head_out_all_pos``
  (TL's clean ``run_with_cache`` is counted on TL's side: the workbook call caches too).
* exact patching of every edge on the zoo's IOI model and on a random 4-layer model.
* scaling of AtP, EAP-IG and node patching with the number of components (plot saved).

Timing targets belong here, not in the tests.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("WORKBOOK_PROGRESS", "0")
os.environ.setdefault("TQDM_DISABLE", "1")  # TransformerLens' patching sweeps draw bars too (read at tqdm import)

import torch  # noqa: E402

torch.set_num_threads(1)

from workbook.graph import Graph  # noqa: E402
from workbook.hooks import LEAF_HOOK, frozen_params  # noqa: E402
from workbook.models import build_gpt2  # noqa: E402
from workbook.tasks import Task  # noqa: E402


# --------------------------------------------------------------------------- helpers
@dataclass
class Row:
    """One benchmark line: ``value`` compared with ``target`` using ``op`` ('<=', '<' or '' = info)."""

    name: str
    value: float
    target: float | None = None
    op: str = ""
    unit: str = "x"
    note: str = ""

    @property
    def status(self) -> str:
        if self.value != self.value:
            return "n/a"
        if self.target is None:
            return "info"
        ok = self.value <= self.target if self.op == "<=" else self.value < self.target
        return "PASS" if ok else "MISS"

    def format(self) -> str:
        tgt = f"{self.op} {self.target:g}" if self.target is not None else ""
        return f"{self.name:<58} {self.value:>9.3g} {self.unit:<3} {tgt:<8} {self.status:<5} {self.note}"


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine_info() -> dict[str, str]:
    """nproc, CPU model, Python, torch and TransformerLens versions."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(os.cpu_count())
    from importlib.metadata import version

    return {"nproc": nproc, "cpu": cpu, "python": platform.python_version(), "torch": torch.__version__,
            "transformer_lens": version("transformer_lens"), "torch threads": str(torch.get_num_threads())}


def random_task(d_vocab: int, batch: int, seq: int, seed: int = 0) -> Task:
    """Random clean prompts; corrupt = clean with the first half of the positions resampled."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, d_vocab, (batch, seq), generator=g)
    corrupt = clean.clone()
    corrupt[:, : seq // 2] = torch.randint(0, d_vocab, (batch, seq // 2), generator=g)
    return Task(clean, corrupt, clean[:, 1], corrupt[:, 1], name="random")


def random_setup(n_layers: int, d_model: int, n_heads: int, batch: int, seq: int, d_vocab: int = 500, seed: int = 0):
    model = build_gpt2(seed=seed, n_layers=n_layers, d_model=d_model, n_heads=n_heads, d_vocab=d_vocab, n_ctx=max(32, seq))
    return model, random_task(d_vocab, batch, seq, seed)


def _optional(module: str, function: str) -> Callable | None:
    try:
        return getattr(importlib.import_module(module), function, None)
    except ModuleNotFoundError as err:
        if err.name == module:
            return None
        raise


def _leaf(t, hook):
    return t.detach().requires_grad_(True)


def bare_forward(model, tokens: torch.Tensor) -> None:
    """One no-grad forward, no hooks."""
    with torch.no_grad():
        model(tokens)


def bare_forward_backward(model, task: Task) -> None:
    """One forward + backward of the batch-mean metric on the clean batch (activation grads only)."""
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=[(LEAF_HOOK, _leaf)]):
        task.metric_value(model(task.clean)).backward()


def bare_2fwd_1bwd(model, task: Task) -> None:
    bare_forward(model, task.corrupt)
    bare_forward_backward(model, task)


# --------------------------------------------------------------------------- sections
def interleaved_times(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Wall times of every function, run in turn within each repeat (so load drift hits all alike)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return times


def median_ratio(times: dict[str, list[float]], num: Callable[[int], float], den: Callable[[int], float]) -> float:
    """Median over repeats ``r`` of ``num(r) / den(r)`` (ratios taken within a repeat)."""
    n = len(next(iter(times.values())))
    return statistics.median(num(r) / den(r) for r in range(n))


def bench_attribution(model, task: Task, repeats: int, steps: int = 5) -> list[Row]:
    """AtP, QK fix, EAP, EAP-IG, EAP-GP against bare passes on one model and batch.

    All functions run in turn within each repeat; every ratio is the median of per-repeat ratios.
    """
    from workbook.atp import atp
    from workbook.eap import eap

    fns: dict[str, Callable[[], object]] = {
        "fwd": lambda: bare_forward(model, task.clean),
        "fwd+bwd": lambda: bare_forward_backward(model, task),
        "bare": lambda: bare_2fwd_1bwd(model, task),
        "AtP": lambda: atp(model, task, ("head", "mlp")),
        "AtP(q,k)": lambda: atp(model, task, ("q", "k")),
        "EAP": lambda: eap(model, task),
    }
    qk = _optional("workbook.qk_fix", "atp_qk_fix")
    if qk is not None:
        fns["QK fix"] = lambda: qk(model, task, what=("q", "k"))
    extra = {}
    for name, module, fn_name in [("EAP-IG", "workbook.eap_ig", "eap_ig"), ("EAP-GP", "workbook.eap_gp", "eap_gp")]:
        fn = _optional(module, fn_name)
        if fn is not None:
            fns[name] = (lambda f: (lambda: f(model, task, steps=steps)))(fn)
        else:
            extra[name] = module
    T = interleaved_times(fns, repeats)
    ms = {k: statistics.median(v) * 1e3 for k, v in T.items()}
    at = lambda k: (lambda r: T[k][r])  # noqa: E731
    rows = [Row("AtP (heads+MLPs) / bare 2 fwd + 1 bwd", median_ratio(T, at("AtP"), at("bare")), 1.3, "<=",
                note=f"{ms['AtP']:.3g} ms vs {ms['bare']:.3g} ms")]
    if qk is None:
        rows.append(Row("AtP* QK fix extra cost (forward-equivalents)", float("nan"), 2, "<", "fwd", "workbook.qk_fix not available"))
    else:
        extra_fwd = median_ratio(T, lambda r: T["QK fix"][r] - T["AtP(q,k)"][r], at("fwd"))
        rows.append(Row("AtP* QK fix extra cost (forward-equivalents)", extra_fwd, 2, "<", "fwd",
                        f"QK fix {ms['QK fix']:.3g} ms, AtP(q,k) {ms['AtP(q,k)']:.3g} ms, 1 fwd {ms['fwd']:.3g} ms"))
    n_edges = Graph.from_model(model).n_edges
    rows.append(Row(f"EAP ({n_edges} edges) / bare 2 fwd + 1 bwd", median_ratio(T, at("EAP"), at("bare")), 1.5, "<=",
                    note=f"{ms['EAP']:.3g} ms"))
    for name, target in [("EAP-IG", 1.3), ("EAP-GP", None)]:
        label = f"{name} (m={steps}) / {steps + 1} x (fwd + bwd)"
        op = "<=" if target else ""
        if name in extra:
            rows.append(Row(label, float("nan"), target, op, note=f"{extra[name]} not available"))
            continue
        ratio = median_ratio(T, at(name), lambda r: (steps + 1) * T["fwd+bwd"][r])
        rows.append(Row(label, ratio, target, op, note=f"{ms[name]:.3g} ms; 1 fwd+bwd {ms['fwd+bwd']:.3g} ms"))
    return rows


def bench_vs_transformerlens(model, task: Task, repeats: int) -> list[Row]:
    """workbook EAP and head patching against TransformerLens 4.3 on the same model and batch."""
    from transformer_lens.patching import get_act_patch_attn_head_out_all_pos
    from transformer_lens.tools.analysis.attribution_patching import EdgeAttributionConfig, attribution_patch

    from workbook.eap import eap
    from workbook.patching import patch_nodes

    B = task.batch_size
    calls = {"n": 0}

    def metric_fn(logits: torch.Tensor) -> torch.Tensor:
        # TL calls this once per example (on the corrupt run, in batch order), logits [1, S, V]
        b = calls["n"] % B
        calls["n"] += 1
        return task.metric_fn(logits, task.answer[b : b + 1], task.wrong[b : b + 1], task.pos[b : b + 1])[0]

    cfg = EdgeAttributionConfig(granularity="edge")
    t_tl = median_time(lambda: attribution_patch(model, task.clean, task.corrupt, metric_fn, cfg), repeats)
    if calls["n"] % B:
        raise RuntimeError(f"TL called the metric {calls['n']} times, not a multiple of the batch {B}: "
                           "the per-example answers would be misaligned.")
    t_wb = median_time(lambda: eap(model, task, direction="denoising"), repeats)
    rows = [Row("workbook EAP / TL attribution_patch (edge)", t_wb / t_tl, 1.0, "<=",
                note=f"{t_wb * 1e3:.3g} ms vs {t_tl * 1e3:.3g} ms (TL: per example, per position)")]

    def tl_patch() -> None:
        with torch.no_grad():
            _, cache = model.run_with_cache(task.clean)
            get_act_patch_attn_head_out_all_pos(model, task.corrupt, cache, lambda lg: task.metric_value(lg))

    t_tl_p = median_time(tl_patch, repeats)
    t_wb_p = median_time(lambda: patch_nodes(model, task, "head", direction="denoising"), repeats)
    rows.append(Row("workbook patch_nodes(head, denoising) / TL act_patch head", t_wb_p / t_tl_p, 1.0, "<=",
                    note=f"{t_wb_p * 1e3:.3g} ms vs {t_tl_p * 1e3:.3g} ms (both incl. caching)"))
    return rows


def bench_edge_patching(quick: bool) -> list[Row]:
    """Seconds to exactly patch every edge: the zoo's IOI model and a random 4-layer model."""
    from workbook.patching import patch_edges

    rows = []
    zoo = _optional("workbook.zoo", "trained_models") and importlib.import_module("workbook.zoo")
    if zoo is None or "ioi" not in zoo.trained_models():
        rows.append(Row("patch_edges, all edges, IOI model (s)", float("nan"), 60, "<", "s", "zoo model 'ioi' not available"))
    else:
        model, task = zoo.load("ioi")
        if quick:
            task = task.subset(slice(0, 4))
        n = Graph.from_model(model).n_edges
        t0 = time.perf_counter()
        patch_edges(model, task)
        rows.append(Row(f"patch_edges, all {n} edges, IOI model (s)", time.perf_counter() - t0, 60, "<", "s",
                        f"batch {task.batch_size} x {task.seq_len}"))
    L, d, H, B, S = (2, 32, 4, 2, 6) if quick else (4, 48, 12, 4, 8)
    model, task = random_setup(L, d, H, B, S)
    n = Graph.from_model(model).n_edges
    t0 = time.perf_counter()
    patch_edges(model, task)
    rows.append(Row(f"patch_edges, all {n} edges, random {L}L x {H}H d{d} (s)", time.perf_counter() - t0, 60, "<", "s",
                    f"batch {B} x {S}"))
    return rows


def bench_scaling(sizes: list[tuple[int, int, int]], batch: int, seq: int, repeats: int, steps: int = 5) -> list[dict]:
    """Seconds of AtP, EAP-IG (or EAP) and head+MLP patching on random models of growing size.

    ``sizes``: ``(n_layers, d_model, n_heads)``. Returns one dict per size with ``components``
    (heads + MLPs) and the three times.
    """
    from workbook.atp import atp
    from workbook.patching import patch_nodes

    ig = _optional("workbook.eap_ig", "eap_ig")
    out = []
    for L, d, H in sizes:
        model, task = random_setup(L, d, H, batch, seq)
        rec = {"layers": L, "d_model": d, "heads": H, "components": L * (H + 1)}
        rec["unit"] = median_time(lambda: bare_forward_backward(model, task), repeats)
        rec["AtP"] = median_time(lambda: atp(model, task, ("head", "mlp")), repeats)
        if ig is not None:
            rec[f"EAP-IG (m={steps})"] = median_time(lambda: ig(model, task, steps=steps), repeats)
        rec["activation patching"] = median_time(
            lambda: (patch_nodes(model, task, "head"), patch_nodes(model, task, "mlp")), max(1, repeats // 2))
        out.append(rec)
    return out


_SIZE_KEYS = ("layers", "d_model", "heads", "components", "unit")


def scaling_table(recs: list[dict]) -> str:
    """Seconds and, in brackets, cost in units of one clean fwd + bwd of the same model."""
    keys = [k for k in recs[0] if k not in _SIZE_KEYS]
    head = (f"{'layers':>6} {'d_model':>7} {'heads':>5} {'components':>10} {'fwd+bwd (s)':>11} "
            + " ".join(f"{k + ' s [x fwd+bwd]':>34}" for k in keys))
    lines = [head]
    for r in recs:
        cells = " ".join(f"{'%.3g [%.3g]' % (r[k], r[k] / r['unit']):>34}" for k in keys)
        lines.append(f"{r['layers']:>6} {r['d_model']:>7} {r['heads']:>5} {r['components']:>10} {r['unit']:>11.3g} {cells}")
    return "\n".join(lines)


def scaling_plot(recs: list[dict], path: str | Path) -> str:
    from workbook.plots import plt, save

    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    xs = [r["components"] for r in recs]
    for k in [k for k in recs[0] if k not in _SIZE_KEYS]:
        ax.plot(xs, [r[k] / r["unit"] for r in recs], marker="o", label=k)
    ax.set_xlabel("components (heads + MLPs)")
    ax.set_ylabel("cost / one clean fwd+bwd of the same model")
    ax.set_yscale("log")
    ax.set_title("Cost vs model size: attribution is flat, patching grows linearly", fontsize=9)
    ax.legend(fontsize=8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save(fig, path)


# --------------------------------------------------------------------------- main
def run(quick: bool = False, repeats: int | None = None, out: str | Path = "out/benchmark", log: Callable[[str], None] = print) -> dict:
    """Run every section; print and return ``{"machine", "rows", "scaling", "plot"}``."""
    repeats = repeats or (2 if quick else 11)
    info = machine_info()
    log("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    L, d, H, B, S = (2, 32, 4, 2, 6) if quick else (2, 64, 4, 16, 16)
    model, task = random_setup(L, d, H, B, S)
    log(f"main model: random GPT-2 {L} layers x {H} heads, d_model {d}, vocab 500; batch {B} x {S} tokens; "
        f"median of {repeats} repeats")
    head = f"{'measurement':<58} {'value':>9} {'':<3} {'target':<8} {'':<5} note"
    log("\n" + head + "\n" + "-" * len(head))
    rows: list[Row] = []
    for section in (lambda: bench_attribution(model, task, repeats, steps=2 if quick else 5),
                    lambda: bench_vs_transformerlens(model, task, repeats),
                    lambda: bench_edge_patching(quick)):
        new = section()
        for r in new:
            log(r.format())
        rows += new
    sizes = [(1, 32, 2), (2, 32, 4)] if quick else [(1, 64, 4), (2, 64, 4), (4, 64, 4), (4, 128, 8), (6, 128, 8), (8, 128, 8)]
    recs = bench_scaling(sizes, batch=2 if quick else 8, seq=6 if quick else 16, repeats=1 if quick else 3,
                         steps=2 if quick else 5)
    plot = scaling_plot(recs, Path(out) / "scaling.png")
    log("\nscaling (random models, batch %d):\n" % (2 if quick else 8) + scaling_table(recs))
    log(f"\nplot: {Path(plot).resolve()}")
    return {"machine": info, "rows": rows, "scaling": recs, "plot": plot}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny models and batches, 2 repeats (smoke test)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (median is reported)")
    p.add_argument("--out", default="out/benchmark", help="folder for scaling.png")
    args = p.parse_args(argv)
    run(args.quick, args.repeats, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
