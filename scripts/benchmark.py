"""Cost and memory benchmarks of the workbook's methods, measured in ONE run on this machine.

    python scripts/benchmark.py [--quick] [--eap-ig PATH] [--device cuda] [--out out/benchmark]

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
embedding); "bare 2 fwd + 1 bwd" adds one no-grad forward on the corrupt batch. The methods
compute logits only where the built-in metrics read them, which the bare passes do not.

Sections: (1) AtP, EAP, EAP-IG (m=5, inputs), EAP-GP (k=5) against those units at all three
sizes, with targets on gpt2-small and edge-heavy; (2) peak memory of EAP-IG and EAP-GP: the peak
RSS (``VmHWM``) of a fresh subprocess per measurement (model built, one call), whole process; (3)
``patch_nodes`` (heads + MLPs) on edge-heavy against today's algorithm (``bench_baselines``),
the latter timed on a subset and scaled to all nodes, values compared on the subset; (4) exact
patching of every edge of a 6 / 192 / 12 model (B 16, T 32); (5) verifying the top 200 EAP edges
of gpt2-small exactly (``workbook.diagnose.verify_top``): its fixed cost and its cost per edge
timed on every 8th of them, total = fixed + 200 x per edge;
(6) against hannamw/EAP-IG (``--eap-ig PATH`` of a checkout, or ``$EAP_IG_REPO``) on the
comparison model, values compared; (7) against TransformerLens 4.3 on the comparison model.
Timing targets belong here, never in the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("WORKBOOK_PROGRESS", "0")
os.environ.setdefault("TQDM_DISABLE", "1")  # TransformerLens' and hannamw's sweeps draw bars too

import torch  # noqa: E402

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workbook.graph import Graph  # noqa: E402
from workbook.hooks import LEAF_HOOK, frozen_params  # noqa: E402
from workbook.models import build_gpt2  # noqa: E402
from workbook.patching import _fused_attention  # noqa: E402
from workbook.tasks import Task  # noqa: E402

SIZES = {  # name: (layers, d_model, heads, vocab, batch, seq)
    "comparison": (4, 128, 8, 500, 16, 16),
    "edge-heavy": (12, 240, 12, 1000, 32, 64),
    "gpt2-small": (12, 768, 12, 50257, 16, 64),
}
QUICK = {"comparison": (2, 32, 4, 100, 2, 6), "edge-heavy": (3, 24, 4, 60, 4, 8), "gpt2-small": (2, 48, 4, 300, 2, 8)}
ROUNDS = {"comparison": 5, "edge-heavy": 3, "gpt2-small": 2}
TARGETS = {"AtP": 1.3, "EAP": 2.0, "EAP-IG": 6.5, "EAP-GP": 12.0}


# --------------------------------------------------------------------------- helpers
@dataclass
class Row:
    """One benchmark line: ``value`` compared with ``target`` using ``op`` ('<=', '<', '>=' or '' = info)."""

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
        if self.target is None or not self.op:
            return "info"
        ok = {"<=": self.value <= self.target, "<": self.value < self.target, ">=": self.value >= self.target}[self.op]
        return "PASS" if ok else "MISS"

    def format(self) -> str:
        tgt = f"{self.op} {self.target:g}" if self.target is not None and self.op else ""
        return f"{self.name:<62} {self.value:>9.3g} {self.unit:<3} {tgt:<8} {self.status:<5} {self.note}"


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


def interleaved_times(fns: dict[str, Callable[[], object]], rounds: int, warmup: bool = True) -> dict[str, list[float]]:
    """Wall times of every function, run in turn within each round (so load drift hits all alike)."""
    if warmup:
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return times


def median_ratio(times: dict[str, list[float]], num: str, den: Callable[[int], float]) -> float:
    """Median over rounds ``r`` of ``times[num][r] / den(r)`` (ratios taken within a round)."""
    return statistics.median(times[num][r] / den(r) for r in range(len(times[num])))


def machine_info() -> dict[str, str]:
    """nproc, CPU model, load average, Python, torch and TransformerLens versions."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "load average": load, "python": platform.python_version(),
            "torch": torch.__version__, "transformer_lens": version("transformer_lens"), "torch threads": str(torch.get_num_threads())}


def random_task(d_vocab: int, batch: int, seq: int, seed: int = 0) -> Task:
    """Random clean prompts; corrupt = clean with the first half of the positions resampled."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, d_vocab, (batch, seq), generator=g)
    corrupt = clean.clone()
    corrupt[:, : seq // 2] = torch.randint(0, d_vocab, (batch, seq // 2), generator=g)
    return Task(clean, corrupt, clean[:, 1], corrupt[:, 1], name="random")


def random_setup(n_layers: int, d_model: int, n_heads: int, batch: int, seq: int, d_vocab: int = 500, seed: int = 0,
                 device: str = "cpu"):
    model = build_gpt2(seed=seed, n_layers=n_layers, d_model=d_model, n_heads=n_heads, d_vocab=d_vocab, n_ctx=max(32, seq))
    if device != "cpu":
        model = model.to(device)
    return model, random_task(d_vocab, batch, seq, seed).to(device)


def setup(size: str, quick: bool, device: str = "cpu"):
    L, d, H, V, B, S = (QUICK if quick else SIZES)[size]
    return random_setup(L, d, H, B, S, d_vocab=V, device=device)


def describe(size: str, quick: bool) -> str:
    L, d, H, V, B, S = (QUICK if quick else SIZES)[size]
    return f"{size}: {L} layers x {H} heads, d_model {d}, vocab {V}; batch {B} x {S}"


def _leaf(t, hook):
    return t.detach().requires_grad_(True)


def bare_forward(model, tokens: torch.Tensor) -> None:
    """One no-grad forward, fused attention, no hooks."""
    with torch.no_grad(), _fused_attention(model):
        model(tokens)


def bare_forward_backward(model, task: Task) -> None:
    """One forward + backward of the batch-mean metric on the clean batch (activation gradients only)."""
    with _fused_attention(model), frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=[(LEAF_HOOK, _leaf)]):
        task.metric_value(model(task.clean)).backward()


def bare_2fwd_1bwd(model, task: Task) -> None:
    bare_forward(model, task.corrupt)
    bare_forward_backward(model, task)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


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
        "bare": lambda: bare_2fwd_1bwd(model, task),
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
    bare = lambda r: T["bare"][r]  # noqa: E731
    n_edges = Graph.from_model(model).n_edges
    tg = (lambda k: TARGETS[k]) if targets else (lambda k: None)
    op = "<=" if targets else ""
    rows = [
        Row(f"[{size}] AtP (heads+MLPs) / bare 2 fwd + 1 bwd", median_ratio(T, "AtP", bare), tg("AtP"), op,
            note=f"{ms['AtP']:.3g} s vs {ms['bare']:.3g} s"),
        Row(f"[{size}] EAP ({n_edges} edges) / bare 2 fwd + 1 bwd", median_ratio(T, "EAP", bare), tg("EAP"), op,
            note=f"{ms['EAP']:.3g} s"),
        Row(f"[{size}] EAP-IG (m={steps}, inputs) / fwd+bwd", median_ratio(T, "EAP-IG", fb), tg("EAP-IG"), op,
            note=f"{ms['EAP-IG']:.3g} s; 1 fwd+bwd {ms['fwd+bwd']:.3g} s, 1 fwd {ms['fwd']:.3g} s"),
        Row(f"[{size}] EAP-GP (k={steps}) / fwd+bwd", median_ratio(T, "EAP-GP", fb), tg("EAP-GP"), op,
            note=f"{ms['EAP-GP']:.3g} s"),
    ]
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


def peak_rss_gb() -> float:
    """This process's peak resident memory (GB): ``VmHWM`` (reset by exec, unlike ``ru_maxrss``,
    which a child inherits from the large parent it was forked from)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _memory_child(size: str, method: str, quick: bool, steps: int) -> None:
    import workbook as wb

    model, task = setup(size, quick)
    base = peak_rss_gb()
    t0 = time.perf_counter()
    {"EAP-IG": lambda: wb.eap_ig(model, task, steps=steps), "EAP-GP": lambda: wb.eap_gp(model, task, steps=steps),
     "EAP": lambda: wb.eap(model, task)}[method]()
    peak = peak_rss_gb()
    print(json.dumps({"size": size, "method": method, "base_gb": base, "peak_gb": peak, "seconds": time.perf_counter() - t0}))


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
    import workbook as wb
    from bench_baselines import legacy_patch_nodes

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
    return [Row(f"patch_edges, every one of {n} edges, {L}/{d}/{H} model, batch {B} x {S}", dt, 150 if not quick else None,
                "<=" if not quick else "", "s", f"{dt / (n * t_fwd):.3g} no-grad forwards of the batch per edge "
                f"(1 fwd {t_fwd * 1e3:.3g} ms); method {s.info['method']}")]


# --------------------------------------------------------------------------- (5) top-k verification
def bench_verify(model, task: Task, scores, k: int, every: int) -> list[Row]:
    """``verify_top`` of the top ``k`` edges, priced from two timed calls on a sample of them:
    the sample's first edge alone (the fixed cost: caching the clean and corrupt runs) and every
    ``every``-th edge (fixed + per-edge cost); total = fixed + per-edge cost x k."""
    from workbook.diagnose import verify_top
    from workbook.scores import Scores

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
    return [Row(f"[gpt2-small] verify_top: exact effects of the top {len(top)} EAP edges", dt, 60, "<=", "s",
                f"fixed {fixed:.3g} s + {per_edge:.3g} s per edge (timed on every {every}th, {len(sample)} edges); "
                f"most common destinations: {into}")]


# --------------------------------------------------------------------------- (6) hannamw
def bench_hannamw(model, task: Task, path: str | None, rounds: int, steps: int) -> list[Row]:
    """workbook against hannamw/EAP-IG on the same bridge: EAP, EAP-IG (same alphas), exact edge patching."""
    if not path:
        return [Row("vs hannamw/EAP-IG", float("nan"), note="no checkout given (--eap-ig PATH or $EAP_IG_REPO)")]
    import workbook as wb
    from bench_baselines import hannamw_inputs, load_hannamw

    E = load_hannamw(path)
    cfg = model.cfg
    graph = E.graph.Graph.from_model({"n_layers": cfg.n_layers, "n_heads": cfg.n_heads, "parallel_attn_mlp": False, "d_model": cfg.d_model})
    batches, summed, per_ex = hannamw_inputs(task)
    theirs_scores = {}

    def run_theirs(method, **kw):
        E.attribute.attribute(model, graph, batches, summed if method != "exact" else per_ex, method=method, quiet=True, **kw)
        theirs_scores[method] = {e.name: float(e.score) for e in graph.edges.values()}

    ours = {}
    fns = {
        "theirs EAP": lambda: run_theirs("EAP"),
        "ours EAP": lambda: ours.__setitem__("EAP", wb.eap(model, task)),
        "theirs EAP-IG": lambda: run_theirs("EAP-IG-inputs", ig_steps=steps),
        "ours EAP-IG": lambda: ours.__setitem__("EAP-IG-inputs", wb.eap_ig(model, task, steps=steps, alphas="corrupt_end")),
    }
    T = interleaved_times(fns, rounds)
    t0 = time.perf_counter()
    run_theirs("exact")
    t_theirs = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours["exact"] = wb.patch_edges(model, task)
    t_ours = time.perf_counter() - t0

    def agree(method):
        s = ours[method]
        th = theirs_scores[method]
        diff = max(abs(th[wb.to_eap_ig_name(n)] - v) for n, v in zip(s.names, s.values.tolist()))
        return f"max |difference| {diff:.2g} (largest {s.values.abs().max():.3g})"

    rows = []
    for name, target in (("EAP", 0.2), ("EAP-IG", 0.2)):
        key = "EAP" if name == "EAP" else "EAP-IG-inputs"
        r = median_ratio(T, f"ours {name}", lambda i: T[f"theirs {name}"][i])
        rows.append(Row(f"[comparison] workbook {name} / hannamw {name}" + (f" (m={steps})" if name != "EAP" else ""), r, target, "<=",
                        note=f"{statistics.median(T[f'ours {name}']):.3g} s vs {statistics.median(T[f'theirs {name}']):.3g} s; {agree(key)}"))
    rows.append(Row("[comparison] workbook patch_edges / hannamw exact (every edge)", t_ours / t_theirs, 0.1, "<=",
                    note=f"{t_ours:.3g} s vs {t_theirs:.3g} s; {agree('exact')}"))
    return rows


# --------------------------------------------------------------------------- (7) TransformerLens
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
    rows = [Row("[comparison] workbook EAP / TL attribution_patch (edge)", t_wb / t_tl, 1.0, "<=",
                note=f"{t_wb * 1e3:.3g} ms vs {t_tl * 1e3:.3g} ms (TL: per example, per position)")]

    def tl_patch() -> None:
        with torch.no_grad():
            _, cache = model.run_with_cache(task.clean)
            get_act_patch_attn_head_out_all_pos(model, task.corrupt, cache, lambda lg: task.metric_value(lg))

    t_tl_p = median_time(tl_patch, repeats)
    t_wb_p = median_time(lambda: patch_nodes(model, task, "head", direction="denoising"), repeats)
    rows.append(Row("[comparison] workbook patch_nodes(head, denoising) / TL act_patch head", t_wb_p / t_tl_p, 1.0, "<=",
                    note=f"{t_wb_p * 1e3:.3g} ms vs {t_tl_p * 1e3:.3g} ms (both incl. caching)"))
    return rows


# --------------------------------------------------------------------------- plot + main
def scaling_plot(recs: list[dict], path: str | Path) -> str:
    """Cost per fwd+bwd of each method at the three sizes (edges on the x axis)."""
    from workbook.plots import plt, save

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
        log: Callable[[str], None] = print) -> dict:
    """Run every section; print and return ``{"machine", "rows", "scaling", "plot", "seconds"}``."""
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
    for size in ("comparison", "edge-heavy", "gpt2-small"):
        log(f"  ({describe(size, quick)})")
        model, task = setup(size, quick, device)
        new, extra = bench_attribution(size, model, task, 1 if quick else ROUNDS[size], steps, targets=size != "comparison")
        emit(new)
        recs.append(extra["record"])
        models[size] = (model, task, extra["eap"])
    emit(bench_memory(quick, steps) if device == "cpu" else [Row("peak memory", float("nan"), note="CPU runs only")])
    model, task, _ = models["edge-heavy"]
    emit(bench_patch_nodes(model, task, subset=4 if quick else 16))
    emit(bench_all_edges(quick))
    model, task, scores = models["gpt2-small"]
    emit(bench_verify(model, task, scores, k=8 if quick else 200, every=4 if quick else 8))
    model, task, _ = models["comparison"]
    emit(bench_hannamw(model, task, eap_ig or os.environ.get("EAP_IG_REPO"), 1 if quick else 3, steps))
    emit(bench_vs_transformerlens(model, task, 1 if quick else 3))
    plot = scaling_plot(recs, Path(out) / "scaling.png")
    seconds = time.perf_counter() - t_start
    emit([Row("whole benchmark wall time", seconds, None if quick else 600, "" if quick else "<=", "s", "every section and the plot")])
    log(f"\nplot: {Path(plot).resolve()}\nbenchmark wall time: {seconds:.0f} s")
    res = {"machine": info, "rows": rows, "scaling": recs, "plot": plot, "seconds": seconds}
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "benchmark.json").write_text(json.dumps({**res, "rows": [asdict(r) | {"status": r.status} for r in rows]},
                                                         indent=1, default=str))
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny models, one round (smoke test)")
    p.add_argument("--out", default="out/benchmark", help="folder for scaling.png and benchmark.json")
    p.add_argument("--eap-ig", default=None, help="path of a hannamw/EAP-IG checkout to compare with")
    p.add_argument("--device", default="cpu", help="run the timing sections on this device (cuda, ...)")
    p.add_argument("--measure-memory", nargs=2, metavar=("SIZE", "METHOD"), help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=5, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure_memory:
        _memory_child(*args.measure_memory, args.quick, args.steps)
        return 0
    run(args.quick, args.out, args.eap_ig, args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
