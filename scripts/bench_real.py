"""The benchmark's rows on real models (issue #22): SmolLM2-135M-Instruct and the zoo's ``mixture``
model on IOI (16 pairs, seed 0), each measured in a fresh child process

    python scripts/bench_real.py NAME [--methods]    (prints the rows as JSON on its last line)

so that its peak RSS is the model plus one method. Rows:

* faithfulness of one greedy circuit from EAP scores (~1000 edges on SmolLM2, ~300 on mixture),
  baselines precomputed, in plain forwards of the batch (``run_model`` with the padding mask, no
  grad); a 4-size faithfulness curve (50, 200, 1000, 5000 edges; info) in the same forwards;
* ``--methods``: AtP and EAP against a bare 2 fwd + 1 bwd, EAP-IG (m=5) and EAP-GP (k=5) against a
  bare fwd+bwd, GradDrop and AtP* (their default node kinds) against their floor
  (:func:`bench_common.bare_graddrop_floor`: 2 fwd + one bwd per layer), ``patch_nodes`` of every
  head and ``verify_top`` of the top 50 EAP edges in plain forwards per head / edge, and the peak
  RSS of every method (``VmHWM`` reset before each call, whole process). The reset hands freed
  memory back to the OS, so the call after it faults its memory in afresh: it is done before every
  step of that run, the reference passes too, so that a method and its floor start alike (before,
  only the methods paid it).

One SmolLM2 round takes minutes on a 2-core CPU, so the methods are timed once each, in a second
round after an untimed first (a method's first call in a process grows the heap to its peak for
the first time: on SmolLM2 EAP-IG took 7.2-10.9 s as a first call against 7.0-7.4 s later, while
its reference pass had long been warm): every method's reference pass is timed right before
and/or after it, and its ratio is to the mean of those (``rounds`` repeats the faithfulness steps;
the median of the ratios is reported).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
from bench_common import (
    Row,
    bare_2fwd_1bwd,
    bare_forward_backward,
    bare_graddrop_floor,
    peak_rss_gb,
    reset_peak_rss,
)

SPECS = {  # name: (label, pairs, circuit edges, curve sizes, faithfulness rounds)
    "smollm2": ("SmolLM2 IOI", 16, 1000, (50, 200, 1000, 5000), 1),
    "mixture": ("mixture IOI", 16, 300, (50, 200, 1000, 5000), 3),
    "tiny-llama": ("tiny Llama IOI", 4, 20, (5, 10, 20, 50), 1),  # the smoke test's stand-in
}
TARGETS = {"faithfulness": 3.0, "AtP": 1.3, "EAP": 2.0, "EAP-IG": 6.5, "EAP-GP": 12.0, "GradDrop": 1.2, "AtP*": 1.2,
           "patch_nodes": 0.6, "verify_top": 0.5, "memory": 4.0}
METHODS = ("AtP", "EAP", "EAP-IG", "EAP-GP", "GradDrop", "AtP*", "patch_nodes", "verify_top")


def load(name: str):
    """``(model, task)``: a zoo model on IOI, or a tiny random Llama (saved and loaded as a local folder)."""
    _, n, *_ = SPECS[name]
    if name != "tiny-llama":
        from workbook.models import zoo

        return zoo.load(name, task="ioi", n=n, seed=0)
    import workbook as wb
    from workbook.models.local import save_tiny_model
    from workbook.tasks.prompt import ioi_task

    with tempfile.TemporaryDirectory() as d:
        model = wb.load_pretrained(save_tiny_model(Path(d) / "llama", "llama", n_layers=2, n_heads=4, n_kv_heads=2))
    return model, ioi_task(model, n=n)


def plain_forward(model, task) -> None:
    """One no-grad forward of the clean batch as the methods run it (``run_model``, padding mask)."""
    from workbook.core.runs import run_model

    with torch.no_grad():
        run_model(model, task.clean, task.attention_mask)


def run_steps(steps: list[tuple[str, Callable[[], object]]], memory: tuple[str, ...] = ()) -> list[tuple]:
    """Run ``steps`` in order; ``[(name, seconds, peak RSS GB or None)]`` (peak: steps in ``memory``).
    With ``memory``, every step starts from a trimmed heap (see the module docstring)."""
    log = []
    for name, fn in steps:
        if memory:
            reset_peak_rss()
        t0 = time.perf_counter()
        fn()
        log.append((name, time.perf_counter() - t0, peak_rss_gb() if name in memory else None))
    return log


def ratio(log: list[tuple], name: str, unit: str) -> float:
    """Median over ``name``'s steps of its time / the mean of the ``unit`` steps nearest before and after it."""
    out = []
    for i, (n, t, _) in enumerate(log):
        if n == name:
            ref = [u for m, u, _ in log[:i] if m == unit][-1:] + [u for m, u, _ in log[i + 1 :] if m == unit][:1]
            out.append(t / statistics.mean(ref))
    return statistics.median(out)


def seconds(log: list[tuple], name: str) -> float:
    return statistics.median(t for n, t, _ in log if n == name)


def measure(name: str, model, task, methods: bool) -> list[Row]:
    """Every real-model row of ``model`` on ``task`` (labelled from ``SPECS[name]``)."""
    import workbook as wb
    from workbook.analysis import circuits
    from workbook.arch.graph import Graph
    from workbook.core.runs import baselines
    from workbook.patching.verify import verify_top

    label, _, n_edges, sizes, rounds = SPECS[name]
    label = f"[{label} B{task.batch_size}]"
    graph = Graph.from_model(model)
    L, H = model.cfg.n_layers, model.cfg.n_heads
    rss_model = peak_rss_gb()
    fwd = lambda: plain_forward(model, task)  # noqa: E731
    fb = lambda: bare_forward_backward(model, task)  # noqa: E731
    keep: dict = {}
    fwd(), fb()  # warm-up (allocator, lazily built pieces)
    rows = []
    if methods:
        bare = lambda: bare_2fwd_1bwd(model, task)  # noqa: E731
        steps = [
            ("2fwd+1bwd", bare), ("AtP", lambda: wb.atp(model, task, ("head", "mlp"))),
            ("EAP", lambda: keep.__setitem__("eap", wb.eap(model, task))), ("2fwd+1bwd", bare),
            ("fwd+bwd", fb), ("EAP-IG", lambda: wb.eap_ig(model, task, steps=5)),
            ("EAP-GP", lambda: wb.eap_gp(model, task, steps=5)), ("fwd+bwd", fb),
            ("GradDrop", lambda: wb.graddrop(model, task)), ("floor", lambda: bare_graddrop_floor(model, task)),
            ("AtP*", lambda: wb.atp_star(model, task)),
            ("fwd", fwd), ("patch_nodes", lambda: wb.patch_nodes(model, task, "head")),
            ("fwd", fwd), ("verify_top", lambda: verify_top(model, task, keep["eap"], k=50)), ("fwd", fwd),
        ]
        run_steps(steps)  # warm-up round, untimed (see the module docstring)
        log = run_steps(steps, memory=METHODS)
        fwd_s = seconds(log, "fwd")
        unit = {"AtP": "2fwd+1bwd", "EAP": "2fwd+1bwd", "EAP-IG": "fwd+bwd", "EAP-GP": "fwd+bwd",
                "GradDrop": "floor", "AtP*": "floor"}
        desc = {"AtP": "AtP (heads+MLPs) / bare 2 fwd + 1 bwd",
                "EAP": f"EAP ({graph.n_edges} edges) / bare 2 fwd + 1 bwd",
                "EAP-IG": "EAP-IG (m=5, inputs) / fwd+bwd", "EAP-GP": "EAP-GP (k=5) / fwd+bwd",
                "GradDrop": f"GradDrop (heads) / floor 2 fwd + {L} bwd",
                "AtP*": f"AtP* (all kinds) / floor 2 fwd + {L} bwd"}
        for m, u in unit.items():
            rows.append(Row(f"{label} {desc[m]}", ratio(log, m, u), TARGETS[m], "<=",
                            note=f"{seconds(log, m):.3g} s vs {seconds(log, u):.3g} s"))
        rows.append(Row(f"{label} patch_nodes of all {L * H} heads, per head",
                        ratio(log, "patch_nodes", "fwd") / (L * H), TARGETS["patch_nodes"], "<=", "fwd",
                        f"{seconds(log, 'patch_nodes'):.3g} s; 1 fwd {fwd_s:.3g} s"))
        rows.append(Row(f"{label} verify_top of 50 EAP edges, per edge", ratio(log, "verify_top", "fwd") / 50,
                        TARGETS["verify_top"], "<=", "fwd", f"{seconds(log, 'verify_top'):.3g} s"))
        peaks = {n: p for n, _, p in log if p is not None}
        worst = max(peaks, key=peaks.get)
        rows.append(Row(f"{label} peak memory (RSS), every method", peaks[worst], TARGETS["memory"], "<=", "GB",
                        f"worst {worst}; " + ", ".join(f"{k} {v:.2f}" for k, v in peaks.items())
                        + f"; {rss_model:.2f} GB after loading; methods timed in {sum(t for _, t, _ in log):.0f} s"))
    scores = keep["eap"] if "eap" in keep else wb.eap(model, task)
    base = baselines(model, task)
    circuit = circuits.greedy(scores, n_edges, graph)
    res = {}
    faith = lambda: res.__setitem__("f", circuits.faithfulness(model, task, circuit, base))  # noqa: E731
    curve = lambda: res.__setitem__("c", circuits.faithfulness_curve(model, task, scores, sizes))  # noqa: E731
    steps = [("fwd", fwd), ("faithfulness", faith), ("fwd", fwd), ("curve", curve)]
    log = run_steps(steps * rounds + [("fwd", fwd)])
    edges, values = res["c"]
    rows.append(Row(f"{label} faithfulness, 1 circuit ({circuit.n_edges} edges) / 1 fwd",
                    ratio(log, "faithfulness", "fwd"), TARGETS["faithfulness"], "<=", "fwd",
                    f"{seconds(log, 'faithfulness'):.3g} s vs 1 fwd "
                    f"{seconds(log, 'fwd'):.3g} s; greedy on EAP, faithfulness {res['f']:.3f}; {rounds} round(s)"))
    rows.append(Row(f"{label} faithfulness curve, {len(sizes)} sizes / 1 fwd", ratio(log, "curve", "fwd"), unit="fwd",
                    note=f"{seconds(log, 'curve'):.3g} s; edges {edges}: " + ", ".join(f"{v:.2f}" for v in values)))
    return rows


def child(name: str, methods: bool) -> list[Row]:
    """Load ``name`` and measure it; a model that cannot be loaded gives one n/a row saying why."""
    try:
        model, task = load(name)
    except Exception as e:  # e.g. SmolLM2 neither cached nor downloadable
        why = f"skipped: {type(e).__name__}: {e}"[:300]
        return [Row(f"[{SPECS[name][0]}] real-model rows", float("nan"), note=why)]
    return measure(name, model, task, methods)


def real_rows(name: str, methods: bool) -> list[Row]:
    """:func:`child` in a fresh subprocess (this script); its rows."""
    cmd = [sys.executable, str(Path(__file__).resolve()), name] + (["--methods"] if methods else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "WORKBOOK_PROGRESS": "0"})
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return [Row(**r) for r in json.loads(out.stdout.strip().splitlines()[-1])]


if __name__ == "__main__":
    os.environ.setdefault("WORKBOOK_PROGRESS", "0")
    os.environ.setdefault("TQDM_DISABLE", "1")
    torch.set_num_threads(1)
    rows = child(sys.argv[1], "--methods" in sys.argv[2:])
    print(json.dumps([asdict(r) for r in rows], default=str))
