"""Shared pieces of scripts/benchmark.py and scripts/bench_baselines.py: the result row, timing
helpers (interleaved rounds, medians of per-round ratios), random models and tasks, and the bare
passes every ratio is measured against."""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from workbook.core.runs import LEAF_HOOK, frozen_params, fused_attention
from workbook.core.task import Task
from workbook.models.loading import build_gpt2


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
            "torch": torch.__version__, "transformer_lens": version("transformer_lens"),
            "torch threads": str(torch.get_num_threads())}


def random_task(d_vocab: int, batch: int, seq: int, seed: int = 0) -> Task:
    """Random clean prompts; corrupt = clean with the first half of the positions resampled."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, d_vocab, (batch, seq), generator=g)
    corrupt = clean.clone()
    corrupt[:, : seq // 2] = torch.randint(0, d_vocab, (batch, seq // 2), generator=g)
    return Task(clean, corrupt, clean[:, 1], corrupt[:, 1], name="random")


def random_setup(n_layers: int, d_model: int, n_heads: int, batch: int, seq: int, d_vocab: int = 500, seed: int = 0,
                 device: str = "cpu"):
    model = build_gpt2(seed=seed, n_layers=n_layers, d_model=d_model, n_heads=n_heads, d_vocab=d_vocab,
                       n_ctx=max(32, seq))
    if device != "cpu":
        model = model.to(device)
    return model, random_task(d_vocab, batch, seq, seed).to(device)


def _leaf(t, hook):
    return t.detach().requires_grad_(True)


def bare_forward(model, tokens: torch.Tensor) -> None:
    """One no-grad forward, fused attention, no hooks."""
    with torch.no_grad(), fused_attention(model):
        model(tokens)
    _sync(tokens)


def bare_forward_backward(model, task: Task) -> None:
    """One forward + backward of the batch-mean metric on the clean batch (activation gradients only)."""
    with fused_attention(model), frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=[(LEAF_HOOK, _leaf)]):
        task.metric_value(model(task.clean)).backward()
    _sync(task.clean)


def _sync(t: torch.Tensor) -> None:
    """Wait for the GPU (its kernels run asynchronously), so that wall times mean what they say."""
    if t.is_cuda:
        torch.cuda.synchronize(t.device)


def bare_2fwd_1bwd(model, task: Task) -> None:
    """One no-grad forward on the corrupt batch and one forward + backward on the clean one."""
    bare_forward(model, task.corrupt)
    bare_forward_backward(model, task)


def bare_graddrop_floor(model, task: Task, n_backward: int | None = None) -> None:
    """What GradDrop and AtP* cannot avoid: a no-grad corrupt forward, a clean forward and one
    backward per dropped layer (``n_backward``, default every layer) through the retained graph."""
    n = n_backward or model.cfg.n_layers
    bare_forward(model, task.corrupt)
    with fused_attention(model), frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=[(LEAF_HOOK, _leaf)]):
        m = task.metric_value(model(task.clean))
        for i in range(n):
            m.backward(retain_graph=i < n - 1)
    _sync(task.clean)


def peak_rss_gb() -> float:
    """This process's peak resident memory (GB): ``VmHWM`` (reset by exec and by :func:`reset_peak_rss`,
    unlike ``ru_maxrss``, which a child inherits from the large parent it was forked from)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0: ``5`` into ``/proc/self/clear_refs``), after
    handing freed memory back to the OS (``gc``, glibc's ``malloc_trim``) so that what an earlier call
    freed does not count; False where the reset is not possible (the peak is then the process's so far)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def resume_floor(model, task: Task, destinations: list[str]) -> float:
    """The matmul multiply-adds that exact patching by resuming (``workbook.patching.resume``) cannot
    skip, per edge into ``destinations``, in bare no-grad forwards (GPT-2-shaped models; an estimate:
    attention's softmax, the norms and the one recomputed head of a q/k/v edge are left out).

    An edge into layer ``l`` recomputes that layer's MLP and every later layer (keys and values at
    every position; queries, the output projection and the MLP of the last layer only at the
    positions the metric reads) and unembeds the read positions; an edge into the logits only the
    last. A bare forward runs every layer and unembeds every position."""
    from workbook.arch.graph import parse_node

    cfg = model.cfg
    D, L, V = int(cfg.d_model), int(cfg.n_layers), int(cfg.d_vocab)
    F = int(getattr(cfg, "d_mlp", None) or 4 * D)
    B, P = task.batch_size, task.seq_len
    U = task.logit_positions()
    rows, read = B * P, B * (P if U is None else int(U.numel()))

    def layer(rest: int) -> int:  # k, v at every row; q, o, attention and the MLP at ``rest`` rows
        return 2 * D * D * rows + (2 * D * D + 2 * D * F + 2 * P * D) * rest

    def edge(dest: str) -> int:
        if dest == "logits":
            return D * V * read
        l = parse_node(dest)["layer"]
        own = 2 * D * F * (read if l == L - 1 else rows)
        return own + sum(layer(read if j == L - 1 else rows) for j in range(l + 1, L)) + D * V * read

    bare = L * layer(rows) + D * V * rows
    return statistics.mean(edge(d) for d in destinations) / bare
