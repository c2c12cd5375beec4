"""Cost and memory benchmarks of the workbook's methods, measured in ONE run on this machine.

    python scripts/benchmark.py [--quick] [--real | --real-only] [--main-job] [--eap-ig PATH] [--tl3-python PATH]
                                [--device cuda]
                                [--out out/benchmark]

Every row is a ratio of wall times measured here in interleaved rounds (median of the per-round
ratios), one torch thread, float32, random GPT-2-architecture models, printed next to its target
with PASS/MISS. Sizes (``--quick``: tiny stand-ins of each, for CI):

======================  =================================  ==========
name                    layers / d_model / heads, vocab     batch x seq
======================  =================================  ==========
``comparison``          4 / 128 / 8, 500 (1519 edges)       16 x 16
``edge-heavy``          12 / 240 / 12, 1000 (32491 edges)   32 x 64
``gpt2-small``          12 / 768 / 12, 50257 (32491 edges)  16 x 64
======================  =================================  ==========

Units. "fwd+bwd" is one bare forward + backward of the batch-mean metric on the clean batch
(``model(tokens)``: every logit, no hooks, fused attention, parameters frozen, a grad-requiring
embedding); "bare 2 fwd + 1 bwd" adds one no-grad forward ("fwd", timed in the same round). The methods
compute logits only where the built-in metrics read them, which the bare passes do not.

Sections: (1) AtP, EAP, EAP-IG (m=5, inputs), EAP-GP (k=5) against those units at all three
sizes, with targets on gpt2-small and edge-heavy; (2) peak memory of EAP-IG and EAP-GP: the peak
RSS (``VmHWM``) of a fresh subprocess per measurement (model built, one call), whole process; (3)
``patch_nodes`` (heads + MLPs) on edge-heavy against today's algorithm (``bench_baselines``),
the latter timed on a subset and scaled to all nodes, values compared on the subset; (4) exact
patching of every edge of a 6 / 192 / 12 model (B 16, T 32); (5) verifying the top 200 EAP edges
of gpt2-small exactly (``workbook.patching.verify.verify_top``): its fixed cost and its cost per edge
timed on every 8th of them, total = fixed + 200 x per edge;
(6) against hannamw/EAP-IG (``--eap-ig PATH`` of a checkout, or ``$EAP_IG_REPO``) on the
comparison model, values compared, in two set-ups of the same weights: on our TransformerLens 4
bridge (info rows), and in its standard set-up, a TransformerLens 3 ``HookedTransformer`` with
its required flags (TL 4 removed that class; ``--tl3-python PATH`` or ``$TL3_PYTHON``: a Python
whose ``transformer_lens`` is 3.x: ``bash scripts/peers_env.sh`` makes it, see below; the targets
apply here); (6b) against circuitkit 0.2.0 (``scripts/bench_circuitkit.py``, a child process under the
same TL 3 Python): ours/theirs for EAP, EAP-IG (inputs, activations) and node patching, each <= 0.5,
and a score-parity row where the definitions match (``bench_baselines.bench_circuitkit`` names where
they do not); (7) against TransformerLens 4.3 on the comparison model;
(8) real models (``scripts/bench_real.py``, each in a fresh process, IOI, 16 pairs): the faithfulness of
one circuit and a 4-size curve in forwards on the zoo's ``mixture`` model, and with ``--real`` the
same on SmolLM2-135M-Instruct plus every method against its bare passes, ``patch_nodes`` of every
head, ``verify_top`` of 50 edges and each method's peak RSS (minutes on a 2-core CPU, hence the
flag); ``--real-only``: section (8) alone, with SmolLM2. ``--quick`` runs (8) on a tiny random Llama
and ``mixture`` in this process; (0) ``python -m workbook`` (the main job, default plan) in a fresh
process, wall time, with ``--real`` or ``--main-job`` (an n/a row otherwise).

Issue #22's rows, all from one run of ``python scripts/benchmark.py --real --tl3-python PY --eap-ig PATH``:
target 1 the main job (0); 2 and 3 the real-model rows (8); 4 ``[edge-heavy] EAP-IG / its floor``,
``[gpt2-small] verify_top ... forwards per edge`` and ``workbook EAP / hannamw EAP (HookedTransformer ...)``;
5 the circuitkit rows (6b); target 6 is ``scripts/gpu_check.py`` (a GPU run, no row here).
Timing targets belong here, never in the tests.

The peers' Python (sections 6 and 6b). ``bash scripts/peers_env.sh [DIR]`` creates, idempotently, a
venv (default ``~/.cache/workbook/peers/tl3``) with torch 2.13.0, then transformer_lens 3.8.0 and
circuitkit 0.2.0 (which pins TL 3.8.0), and prints its python; hannamw/EAP-IG is a plain checkout::

    git clone https://github.com/hannamw/EAP-IG ~/.cache/workbook/peers/src/hannamw+EAP-IG
    python scripts/benchmark.py --tl3-python "$(bash scripts/peers_env.sh | tail -1)" \
        --eap-ig ~/.cache/workbook/peers/src/hannamw+EAP-IG

Neither peer is imported by workbook or shipped with it (circuitkit's licence is source-available):
they run in child processes under that Python. Without them their rows print ``n/a``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Callable

os.environ.setdefault("WORKBOOK_PROGRESS", "0")
os.environ.setdefault("TQDM_DISABLE", "1")  # TransformerLens' and hannamw's sweeps draw bars too

import torch  # noqa: E402

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_real  # noqa: E402
from bench_baselines import bench_circuitkit, bench_hannamw, bench_vs_transformerlens  # noqa: E402
from bench_common import (  # noqa: E402
    Row,
    bare_forward,
    bare_forward_backward,
    interleaved_times,
    machine_info,
    median_ratio,
    median_time,
    peak_rss_gb,
    random_setup,
    resume_floor,
)

from workbook.arch.graph import Graph  # noqa: E402
from workbook.core.task import Task  # noqa: E402

SIZES = {  # name: (layers, d_model, heads, vocab, batch, seq)
    "comparison": (4, 128, 8, 500, 16, 16),
    "edge-heavy": (12, 240, 12, 1000, 32, 64),
    "gpt2-small": (12, 768, 12, 50257, 16, 64),
}
QUICK = {"comparison": (2, 32, 4, 100, 2, 6), "edge-heavy": (3, 24, 4, 60, 4, 8), "gpt2-small": (2, 48, 4, 300, 2, 8)}
# edge-heavy: 4 rounds, because its bare fwd+bwd alternates between two speeds from one round to the next on
# a shared 2-core machine (the floor 6.3-6.6 s or 7.2-7.7 s in an 8-round run) while EAP-IG stays within
# 7.6-8.2 s: a 2-round median of the floor row is one draw of the two modes
ROUNDS = {"comparison": 5, "edge-heavy": 4, "gpt2-small": 2}
TARGETS = {"AtP": 1.3, "EAP": 2.0, "EAP-IG": 6.5, "EAP-GP": 12.0}
FLOOR_TARGET = 1.15  # EAP-IG on edge-heavy / its floor (issue #22 target 4)
VERIFY_FWD_TARGET = 0.35  # verify_top of the top 200 gpt2-small edges, forwards per edge (issue #22 target 4)
MAIN_JOB_TARGET = 120.0  # python -m workbook, seconds (issue #22 target 1)


def setup(size: str, quick: bool, device: str = "cpu"):
    L, d, H, V, B, S = (QUICK if quick else SIZES)[size]
    return random_setup(L, d, H, B, S, d_vocab=V, device=device)


def describe(size: str, quick: bool) -> str:
    L, d, H, V, B, S = (QUICK if quick else SIZES)[size]
    return f"{size}: {L} layers x {H} heads, d_model {d}, vocab {V}; batch {B} x {S}"


# --------------------------------------------------------------------------- (1) attribution
def bench_attribution(size: str, model, task: Task, rounds: int, steps: int, targets: bool) -> tuple[list[Row], dict]:
    """AtP, EAP, EAP-IG and EAP-GP against the bare passes; returns rows and the last EAP scores."""
    import workbook as wb

    keep = {}

    def eap():
        keep["EAP"] = wb.eap(model, task)

    fns = {
        "fwd": lambda: bare_forward(model, task.clean),
        "fwd+bwd": lambda: bare_forward_backward(model, task),
        "AtP": lambda: wb.atp(model, task, ("head", "mlp")),
        "EAP": eap,
        "EAP-IG": lambda: wb.eap_ig(model, task, steps=steps),
        "EAP-GP": lambda: wb.eap_gp(model, task, steps=steps),
    }
    if not targets:  # the small model also prices the AtP* QK fix (its extra cost in forwards)
        fns["AtP(q,k)"] = lambda: wb.atp(model, task, ("q", "k"))
        fns["QK fix"] = lambda: wb.atp_qk_fix(model, task, what=("q", "k"))
    if targets:  # large models: one bare fwd+bwd warms the allocator; a cold first call costs little next to seconds
        bare_forward_backward(model, task)
    T = interleaved_times(fns, rounds, warmup=not targets)
    ms = {k: statistics.median(v) for k, v in T.items()}
    fb = lambda r: T["fwd+bwd"][r]  # noqa: E731
    bare = lambda r: T["fwd"][r] + T["fwd+bwd"][r]  # noqa: E731  (= bare_2fwd_1bwd: same passes, same round)
    n_edges = Graph.from_model(model).n_edges
    tg = (lambda k: TARGETS[k]) if targets else (lambda k: None)
    op = "<=" if targets else ""
    rows = [
        Row(f"[{size}] AtP (heads+MLPs) / bare 2 fwd + 1 bwd", median_ratio(T, "AtP", bare), tg("AtP"), op,
            note=f"{ms['AtP']:.3g} s vs {ms['fwd'] + ms['fwd+bwd']:.3g} s"),
        Row(f"[{size}] EAP ({n_edges} edges) / bare 2 fwd + 1 bwd", median_ratio(T, "EAP", bare), tg("EAP"), op,
            note=f"{ms['EAP']:.3g} s"),
        Row(f"[{size}] EAP-IG (m={steps}, inputs) / fwd+bwd", median_ratio(T, "EAP-IG", fb), tg("EAP-IG"), op,
            note=f"{ms['EAP-IG']:.3g} s; 1 fwd+bwd {ms['fwd+bwd']:.3g} s, 1 fwd {ms['fwd']:.3g} s"),
        Row(f"[{size}] EAP-GP (k={steps}) / fwd+bwd", median_ratio(T, "EAP-GP", fb), tg("EAP-GP"), op,
            note=f"{ms['EAP-GP']:.3g} s"),
    ]
    if targets:  # what EAP-IG cannot avoid: the corrupt forward and m fwd+bwd, before any edge is scored
        floor = statistics.median((T["fwd"][r] + steps * T["fwd+bwd"][r]) / T["fwd+bwd"][r] for r in range(rounds))
        to_floor = median_ratio(T, "EAP-IG", lambda r: T["fwd"][r] + steps * T["fwd+bwd"][r])
        rows.insert(3, Row(f"[{size}]   EAP-IG's passes alone (1 fwd + {steps} fwd+bwd) / fwd+bwd", floor, None, "",
                           note="the rest of EAP-IG's ratio is scoring every edge at every position"))
        rows.insert(4, Row(f"[{size}] EAP-IG (m={steps}) / its floor (1 fwd + {steps} fwd+bwd, same rounds)", to_floor,
                           FLOOR_TARGET if size == "edge-heavy" else None, "<=" if size == "edge-heavy" else "", "x",
                           "issue #22 target 4: the distance to the floor printed above" if size == "edge-heavy"
                           else "the same distance, info"))
    if not targets:
        extra_fwd = statistics.median((T["QK fix"][r] - T["AtP(q,k)"][r]) / T["fwd"][r] for r in range(rounds))
        rows.append(Row(f"[{size}] AtP* QK fix extra cost over AtP(q,k), in forwards", extra_fwd, 2, "<", "fwd",
                        f"QK fix {ms['QK fix']:.3g} s, AtP(q,k) {ms['AtP(q,k)']:.3g} s"))
    rec = {"size": size, "edges": n_edges, **{f"{k} s": v for k, v in ms.items()},
           **{k: median_ratio(T, k, fb) for k in ("AtP", "EAP", "EAP-IG", "EAP-GP")}}
    return rows, {"record": rec, "eap": keep.get("EAP")}


# --------------------------------------------------------------------------- (2) memory
def measure_memory(size: str, method: str, quick: bool, steps: int) -> dict:
    """In a fresh subprocess: build ``size``, call ``method`` once; peak RSS before and after (GB)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure-memory", size, method, "--steps", str(steps)]
    if quick:
        cmd.append("--quick")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "WORKBOOK_PROGRESS": "0"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _memory_child(size: str, method: str, quick: bool, steps: int) -> None:
    import workbook as wb

    model, task = setup(size, quick)
    base = peak_rss_gb()
    t0 = time.perf_counter()
    {"EAP-IG": lambda: wb.eap_ig(model, task, steps=steps), "EAP-GP": lambda: wb.eap_gp(model, task, steps=steps),
     "EAP": lambda: wb.eap(model, task)}[method]()
    peak = peak_rss_gb()
    print(json.dumps({"size": size, "method": method, "base_gb": base, "peak_gb": peak,
                      "seconds": time.perf_counter() - t0}))


def bench_memory(quick: bool, steps: int) -> list[Row]:
    rows = []
    for size in ("gpt2-small",) if quick else ("gpt2-small", "edge-heavy"):
        for method in ("EAP-IG", "EAP-GP"):
            m = measure_memory(size, method, quick, steps)
            rows.append(Row(f"[{size}] {method} peak memory (process RSS)", m["peak_gb"], 4.0, "<=", "GB",
                            f"{m['base_gb']:.2f} GB after building the model; {m['seconds']:.3g} s"))
    return rows


# --------------------------------------------------------------------------- (3) node patching
def bench_patch_nodes(model, task: Task, subset: int) -> list[Row]:
    """patch_nodes(head) + patch_nodes(mlp) against today's algorithm (timed on ``subset`` nodes, scaled)."""
    from bench_baselines import legacy_patch_nodes

    import workbook as wb

    t0 = time.perf_counter()
    new = {**wb.patch_nodes(model, task, "head").to_dict(), **wb.patch_nodes(model, task, "mlp").to_dict()}
    t_new = time.perf_counter() - t0
    heads = [n for n in new if not n.startswith("MLP")]
    mlps = [n for n in new if n.startswith("MLP")]
    pick_h = heads[: max(1, subset - subset // 8)]
    pick_m = mlps[: max(1, subset // 8)]
    t0 = time.perf_counter()
    old = {**legacy_patch_nodes(model, task, "head", pick_h), **legacy_patch_nodes(model, task, "mlp", pick_m)}
    t_old = (time.perf_counter() - t0) * len(new) / len(old)
    scale = max(abs(v) for v in old.values())
    diff = max(abs(old[n] - new[n]) for n in old)
    return [Row("[edge-heavy] patch_nodes(head)+(mlp) speed-up over today", t_old / t_new, 3.0, ">=", "x",
                f"{t_new:.3g} s vs today {t_old:.3g} s (today timed on {len(old)} of {len(new)} nodes, scaled); "
                f"max |difference| {diff:.2g} (largest effect {scale:.3g})")]


# --------------------------------------------------------------------------- (4) all edges
def bench_all_edges(quick: bool) -> list[Row]:
    import workbook as wb

    L, d, H, V, B, S = (2, 32, 4, 100, 2, 6) if quick else (6, 192, 12, 1000, 16, 32)
    model, task = random_setup(L, d, H, B, S, d_vocab=V)
    n = Graph.from_model(model).n_edges
    t_fwd = median_time(lambda: bare_forward(model, task.clean), 3)
    t0 = time.perf_counter()
    s = wb.patch_edges(model, task)
    dt = time.perf_counter() - t0
    return [Row(f"patch_edges, every one of {n} edges, {L}/{d}/{H} model, batch {B} x {S}", dt,
                150 if not quick else None, "<=" if not quick else "", "s",
                f"{dt / (n * t_fwd):.3g} no-grad forwards of the batch per edge "
                f"(1 fwd {t_fwd * 1e3:.3g} ms); method {s.info['method']}")]


# --------------------------------------------------------------------------- (5) top-k verification
def bench_verify(model, task: Task, scores, k: int, every: int) -> list[Row]:
    """``verify_top`` of the top ``k`` edges, priced from two timed calls on a sample of them:
    the sample's first edge alone (the fixed cost: caching the clean and corrupt runs) and every
    ``every``-th edge (fixed + per-edge cost); total = fixed + per-edge cost x k."""
    from workbook.core.scores import Scores
    from workbook.patching.verify import verify_top

    top = scores.order(absolute=True)[:k]
    sample = top[::every]

    def timed(names: list[str]) -> float:
        sub = Scores(names, torch.tensor([scores[n] for n in names]), kind="edge")
        t0 = time.perf_counter()
        verify_top(model, task, sub, k=len(names))
        return time.perf_counter() - t0

    t_one, t_many = timed(sample[:1]), timed(sample)
    per_edge = max(0.0, (t_many - t_one) / max(1, len(sample) - 1))
    fixed = max(0.0, t_one - per_edge)
    dt = fixed + per_edge * len(top)
    layers = Counter(n.split("->")[1].split(".")[0] for n in top)
    into = ", ".join(f"{d} {c}" for d, c in layers.most_common(4))
    # what the per-edge cost is made of: an edge into layer l resumes the clean run from l, so the
    # sample recomputes sum(L - l) layers (an edge into the logits: the final norm and unembedding)
    graph = Graph.from_model(model)
    resumed = sum(graph.n_layers - graph.dest_layer(n.split("->")[1]) for n in sample[1:])
    per_layer = max(0.0, t_many - t_one) / max(resumed, 1e-9)
    t_fwd = median_time(lambda: bare_forward(model, task.clean), 3)
    fwd_row = Row(f"[gpt2-small] verify_top of the top {len(top)} EAP edges, forwards per edge",
                  dt / (len(top) * t_fwd),
                  VERIFY_FWD_TARGET if len(top) >= 200 else None, "<=" if len(top) >= 200 else "", "fwd",
                  f"{dt:.3g} s / ({len(top)} x 1 bare no-grad fwd {t_fwd:.3g} s); issue #22 target 4")
    floor = resume_floor(model, task, [n.split("->")[1] for n in top])
    floor_row = Row(f"[gpt2-small]   verify_top's arithmetic floor for these {len(top)} edges, forwards per edge",
                    floor, None, "", "fwd", "the matmuls that resuming from each edge's layer cannot skip "
                    "(bench_common.resume_floor); the row above is this floor plus overheads")
    # seconds are context only (they depend on the machine); the target is the ratio row above
    return [fwd_row, floor_row,
            Row(f"[gpt2-small] verify_top: exact effects of the top {len(top)} EAP edges", dt, None, "", "s",
                f"absolute time, info (the target is forwards per edge); fixed {fixed:.3g} s + {per_edge:.3g} s "
                f"per edge (timed on every {every}th, {len(sample)} edges); "
                f"most common destinations: {into}; the timed edges resume {resumed / max(1, len(sample) - 1):.3g} "
                f"layers each on average, {per_layer:.3g} s per resumed layer (one fwd {graph.n_layers} layers)")]


# --------------------------------------------------------------------------- (0) the main job
def bench_main_job(run_it: bool) -> list[Row]:
    """``python -m workbook`` (the README's main job, default plan) in a fresh process, wall time (issue #22
    target 1); its report goes to a temporary folder. Only with ``run_it`` (``--real`` / ``--main-job``)."""
    name = "[main job] python -m workbook (default plan), wall time"
    if not run_it:
        return [Row(name, float("nan"), MAIN_JOB_TARGET, "<=", "s", "run with --real or --main-job (minutes)")]
    import tempfile

    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "workbook", "--out", tmp], cwd=root, capture_output=True, text=True,
                             env={**os.environ, "WORKBOOK_PROGRESS": "0"})
        dt = time.perf_counter() - t0
    if out.returncode:
        return [Row(name, float("nan"), MAIN_JOB_TARGET, "<=", "s", f"failed: {out.stderr.strip()[-300:]}")]
    return [Row(name, dt, MAIN_JOB_TARGET, "<=", "s", "includes start-up and any first-run caching (ground truth)")]


# --------------------------------------------------------------------------- (8) real models
def bench_real_models(quick: bool, smollm2: bool, emit: Callable[[list[Row]], None]) -> None:
    """mixture (faithfulness rows) and, with ``smollm2``, SmolLM2 (every row), each in a fresh process;
    ``quick``: a tiny random Llama (every row) and mixture, in this process. Emits each model's rows."""
    if quick:
        emit(bench_real.child("tiny-llama", True))
        emit(bench_real.child("mixture", False))
        return
    emit(bench_real.real_rows("mixture", False))
    if smollm2:
        emit(bench_real.real_rows("smollm2", True))


# --------------------------------------------------------------------------- plot + main
def scaling_plot(recs: list[dict], path: str | Path) -> str:
    """Cost per fwd+bwd of each method at the three sizes (edges on the x axis)."""
    import matplotlib

    matplotlib.use("Agg")  # a script: never a window
    import matplotlib.pyplot as plt

    from workbook.course.plots import save

    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    for k in ("AtP", "EAP", "EAP-IG", "EAP-GP"):
        ax.plot(range(len(recs)), [r[k] for r in recs], marker="o", label=k)
    ax.set_xticks(range(len(recs)), [r["size"] for r in recs])
    ax.set_ylabel("cost / one bare fwd+bwd of the same batch")
    ax.set_yscale("log")
    ax.set_title("Attribution cost at three sizes", fontsize=9)
    ax.legend(fontsize=8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save(fig, path)


def run(quick: bool = False, out: str | Path = "out/benchmark", eap_ig: str | None = None, device: str = "cpu",
        log: Callable[[str], None] = print, tl3_python: str | None = None, real: bool = False,
        real_only: bool = False, main_job: bool = False) -> dict:
    """Run every section (``real_only``: section 8 alone, with SmolLM2; ``real``: SmolLM2 in section 8);
    print and return ``{"machine", "rows", "scaling", "plot", "seconds"}``."""
    t_start = time.perf_counter()
    steps = 2 if quick else 5
    info = machine_info()
    log("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + f"; device {device}")
    head = f"{'measurement':<62} {'value':>9} {'':<3} {'target':<8} {'':<5} note"
    log("\n" + head + "\n" + "-" * len(head))
    rows: list[Row] = []

    def emit(new: list[Row]) -> None:
        for r in new:
            log(r.format())
        rows.extend(new)

    recs, models = [], {}
    for size in () if real_only else ("comparison", "edge-heavy", "gpt2-small"):
        log(f"  ({describe(size, quick)})")
        model, task = setup(size, quick, device)
        new, extra = bench_attribution(size, model, task, 1 if quick else ROUNDS[size], steps,
                                       targets=size != "comparison")
        emit(new)
        recs.append(extra["record"])
        models[size] = (model, task, extra["eap"])
    if not real_only:
        cpu_only = [Row("peak memory", float("nan"), note="CPU runs only")]
        emit(bench_memory(quick, steps) if device == "cpu" else cpu_only)
        model, task, _ = models["edge-heavy"]
        emit(bench_patch_nodes(model, task, subset=4 if quick else 16))
        emit(bench_all_edges(quick))
        model, task, scores = models["gpt2-small"]
        emit(bench_verify(model, task, scores, k=8 if quick else 200, every=4 if quick else 8))
        model, task, _ = models["comparison"]
        tl3 = tl3_python or os.environ.get("TL3_PYTHON")
        emit(bench_hannamw(model, task, eap_ig or os.environ.get("EAP_IG_REPO"), 1 if quick else 3, steps, tl3))
        emit(bench_circuitkit(model, task, tl3, 1 if quick else 2, steps))
        emit(bench_vs_transformerlens(model, task, 1 if quick else 2))
    smollm2 = (real or real_only) and not quick
    log("  (real models, IOI: " + ("a tiny random Llama and mixture" if quick else "mixture" + (
        " and SmolLM2-135M-Instruct" if smollm2 else "; SmolLM2 with --real")) + ")")
    bench_real_models(quick, smollm2, emit)
    if not real_only:
        emit(bench_main_job((real or main_job) and not quick))
    plot = scaling_plot(recs, Path(out) / "scaling.png") if recs else None
    seconds = time.perf_counter() - t_start
    timed = not (quick or real or real_only or main_job)  # the 10-minute target is the default run's
    emit([Row("whole benchmark wall time", seconds, 600 if timed else None, "<=" if timed else "", "s",
              "every section and the plot" if not real_only else "section (8) only")])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    log(f"\nplot: {Path(plot).resolve() if plot else '-'}\nbenchmark wall time: {seconds:.0f} s; "
        f"load average now {load}")
    res = {"machine": info, "rows": rows, "scaling": recs, "plot": plot, "seconds": seconds}
    Path(out).mkdir(parents=True, exist_ok=True)
    saved = {**res, "rows": [asdict(r) | {"status": r.status} for r in rows]}
    (Path(out) / "benchmark.json").write_text(json.dumps(saved, indent=1, default=str))
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny models, one round (smoke test)")
    p.add_argument("--out", default="out/benchmark", help="folder for scaling.png and benchmark.json")
    p.add_argument("--eap-ig", default=None, help="path of a hannamw/EAP-IG checkout to compare with")
    p.add_argument("--tl3-python", default=None,
                   help="a python whose transformer_lens is 3.x, to run hannamw/EAP-IG on a HookedTransformer")
    p.add_argument("--real", action="store_true", help="add SmolLM2-135M-Instruct to the real-model section (minutes)")
    p.add_argument("--real-only", action="store_true", help="run the real-model section alone (with SmolLM2)")
    p.add_argument("--main-job", action="store_true", help="time python -m workbook too (minutes; on with --real)")
    p.add_argument("--device", default="cpu", help="run the timing sections on this device (cuda, ...)")
    p.add_argument("--measure-memory", nargs=2, metavar=("SIZE", "METHOD"), help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=5, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure_memory:
        _memory_child(*args.measure_memory, args.quick, args.steps)
        return 0
    run(args.quick, args.out, args.eap_ig, args.device, tl3_python=args.tl3_python, real=args.real,
        real_only=args.real_only, main_job=args.main_job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
