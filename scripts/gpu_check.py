"""Run every method on a GPU and compare with the CPU: the check for "methods follow the model's device".

    python scripts/gpu_check.py [--device cuda] [--no-large]

1. A small random GPT-2 and a small random Llama (grouped-query attention, rotary), float64, on
   the device and on the CPU: every method (AtP, QK fix, GradDrop, AtP*, EAP, EAP-IG both
   variants, EAP-GP, patching of every node kind and every edge, top-k verification, circuit
   faithfulness, the false-negative bound, direct effects, diagnose) with the task left on the CPU (the methods
   move it), padded prompts included. Scores must agree to 1e-8 relative and come back as CPU tensors.
2. A GPT-2-small-shaped random model (12 layers, d_model 768, 12 heads, vocab 50257; batch 16 x 64),
   float32: timings of one forward+backward, AtP, EAP, EAP-IG (m=5), EAP-GP (k=5), head patching,
   exact patching of 200 edges; peak GPU memory of each call; EAP and EAP-IG compared with the CPU
   run (1e-3 relative: float32 on two kinds of hardware).

Prints one line per check and a summary; exit status 1 if any check fails. About 2-3 minutes on
one H100 (the CPU side of part 2 dominates). On the lent GPU machines TransformerLens is not
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
    for name, fn in (("EAP", lambda: wb.eap(cpu_model, task)), ("EAP-IG (m=5)", lambda: wb.eap_ig(cpu_model, task, steps=5))):
        if name in results:
            try:
                t0 = time.perf_counter()
                compare(f"large: {name} cpu vs {device} (float32)", fn(), results[name], 1e-3)
                print(f"     (cpu run {time.perf_counter() - t0:.3g} s)")
            except Exception as err:  # noqa: BLE001
                report(f"large: {name} cpu vs {device}", False, f"{type(err).__name__}: {err}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--no-large", action="store_true", help="skip the GPT-2-small-shaped part")
    p.add_argument("--large", default="12,768,12,50257,16,64", help="layers,d_model,heads,vocab,batch,seq of part 2")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device visible to torch")
        return 1
    t0 = time.perf_counter()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    print(f"device {name}; torch {torch.__version__}; workbook {wb.__file__}", flush=True)
    small_models(args.device)
    if not args.no_large:
        large_model(args.device, tuple(int(x) for x in args.large.split(",")))
    print(f"\n{len(FAILURES)} failed checks{': ' + ', '.join(FAILURES) if FAILURES else ''}; {time.perf_counter() - t0:.0f} s")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
