"""Parity of workbook's MIB yardstick (:mod:`workbook.analysis.mib`) with MIB's own code.

    python scripts/mib_parity.py [--write docs/mib_parity.md]

For each case (a tiny random GPT-2 and the shipped 6-layer ``mixture`` model on IOI): compute
EAP edge scores with workbook, write them as an MIB/hannamw circuit JSON
(:func:`workbook.analysis.interop.to_eap_ig_json`, MIB's sign: ``loss=True``), read that file
back (:func:`~workbook.analysis.interop.from_eap_ig_json`) and compute CPR/CMD with
:func:`workbook.analysis.mib.mib_scores`; then run ``scripts/mib_parity_child.py`` under a
TransformerLens 3 Python, which evaluates the *same file* with MIB's ``evaluate_area_under_curve``
(unmodified but for the substitutions its docstring lists), and compare.

Needs ``$TL3_PYTHON`` (a Python with ``transformer_lens`` 3.x), ``$MIB_REPO``
(hannamw/MIB-circuit-track) and ``$EAP_IG_REPO`` (hannamw/EAP-IG); they default to the copies under
``~/.cache/workbook/peers`` that ``scripts/peers_env.sh`` creates.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workbook.analysis.interop import from_eap_ig_json, to_eap_ig_json  # noqa: E402
from workbook.analysis.mib import mib_scores  # noqa: E402
from workbook.core.task import logit_diff  # noqa: E402

PEERS = Path.home() / ".cache" / "workbook" / "peers"
CHILD = Path(__file__).resolve().parent / "mib_parity_child.py"


def peer_paths() -> dict[str, Path]:
    """The TL 3 Python and the two checkouts ($TL3_PYTHON, $MIB_REPO, $EAP_IG_REPO or the defaults)."""
    return {
        "tl3_python": Path(os.environ.get("TL3_PYTHON", PEERS / "tl3" / "bin" / "python")),
        "mib_repo": Path(os.environ.get("MIB_REPO", PEERS / "src" / "hannamw+MIB-circuit-track")),
        "eap_repo": Path(os.environ.get("EAP_IG_REPO", PEERS / "src" / "hannamw+EAP-IG")),
    }


def missing_peers() -> str | None:
    """Why the parity cannot run here (what to set or install), or ``None`` when it can."""
    p = peer_paths()
    checks = [
        (p["tl3_python"].exists(), f"no TransformerLens 3 Python at {p['tl3_python']} (set $TL3_PYTHON)"),
        ((p["mib_repo"] / "MIB_circuit_track" / "evaluation.py").exists(),
         f"no hannamw/MIB-circuit-track checkout at {p['mib_repo']} (set $MIB_REPO)"),
        ((p["eap_repo"] / "src" / "eap" / "evaluate.py").exists(),
         f"no hannamw/EAP-IG checkout at {p['eap_repo']} (set $EAP_IG_REPO)"),
    ]
    bad = [why for ok, why in checks if not ok]
    if bad:
        return "; ".join(bad) + ". Run `bash scripts/peers_env.sh` to create them."
    ok = subprocess.run([str(p["tl3_python"]), "-c", "from transformer_lens import HookedTransformer"],
                        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    if ok.returncode:
        return f"{p['tl3_python']} cannot import transformer_lens.HookedTransformer (TransformerLens 3 needed)."
    return None


def run_mib(model, task, circuit: Path, batch_size: int, workdir: Path) -> dict:
    """MIB's CPR/CMD of ``circuit`` on ``model``/``task``, from the TL 3 child process."""
    from bench_baselines import hf_gpt2_state

    if task.metric_fn is not logit_diff or task.attention_mask is not None:
        raise ValueError("the parity child knows the logit difference on unpadded prompts only")
    if not bool((task.pos == task.seq_len - 1).all()):
        raise ValueError("MIB's metric reads the last position; the task's pos must be the last token")
    hf_config, state = hf_gpt2_state(model)
    with torch.no_grad():
        logits = model(task.clean)
    p = peer_paths()
    inp, out = workdir / "in.pt", workdir / "out.json"
    torch.save({"hf_config": hf_config, "state_dict": state, "clean": task.clean, "corrupt": task.corrupt,
                "answer": task.answer, "wrong": task.wrong, "bridge_logits": logits, "batch_size": batch_size,
                "circuit": str(circuit), "mib_repo": str(p["mib_repo"]), "eap_repo": str(p["eap_repo"])}, inp)
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    cmd = [str(p["tl3_python"]), str(CHILD), str(inp), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"mib_parity_child.py failed:\n{done.stderr[-3000:]}")
    res = json.loads(out.read_text())
    if res["logits_max_abs_diff"] > 1e-4:
        diff = res["logits_max_abs_diff"]
        raise RuntimeError(f"the HookedTransformer's logits differ from the bridge's by {diff:.3g}")
    return res


def parity(model, task, scores, batch_size: int = 8) -> dict:
    """Workbook's and MIB's CPR/CMD of ``scores`` (through one circuit file); differences included."""
    with tempfile.TemporaryDirectory() as tmp:
        circuit = Path(tmp) / "circuit.json"
        to_eap_ig_json(circuit, model, scores, loss=True)
        read = from_eap_ig_json(circuit, loss=True).scores
        t0 = time.perf_counter()
        ours = mib_scores(model, task, read)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        theirs = run_mib(model, task, circuit, batch_size, Path(tmp))
        t_theirs = time.perf_counter() - t0
    diff_f = max(
        abs(a - b)
        for key in ("signed", "absolute")
        for a, b in zip(ours[key]["faithfulness"], theirs[key]["faithfulness"])
    )
    same_counts = all(ours[k]["n_edges"] == theirs[k]["weighted_edge_counts"] for k in ("signed", "absolute"))
    return {"ours": ours, "mib": theirs, "cpr_diff": abs(ours["cpr"] - theirs["cpr"]),
            "cmd_diff": abs(ours["cmd"] - theirs["cmd"]), "max_faithfulness_diff": diff_f,
            "same_pruned_counts": same_counts, "seconds": {"workbook": t_ours, "mib_child": t_theirs}}


def tiny_case(seed: int = 3):
    """A random 4-layer x 4-head GPT-2 (weights drawn with std 0.3, so its logits are peaked) and a
    task on it: answer = the clean run's top token, wrong = the corrupt run's (positions 3 and 6
    resampled), read at the last position; the clean-corrupt gap is about 0.19 of the metric."""
    import workbook as wb

    model = wb.build_gpt2(seed=seed, n_layers=4, n_heads=4, d_model=32, d_vocab=40, initializer_range=0.3)
    g = torch.Generator().manual_seed(0)
    clean = torch.randint(1, 40, (12, 9), generator=g)
    corrupt = clean.clone()
    corrupt[:, 3] = torch.randint(1, 40, (12,), generator=g)
    corrupt[:, 6] = torch.randint(1, 40, (12,), generator=g)
    with torch.no_grad():
        answer, wrong = model(clean)[:, -1].argmax(-1), model(corrupt)[:, -1].argmax(-1)
    wrong = torch.where(wrong == answer, answer % 39 + 1, wrong)
    return model, wb.make_task(clean, corrupt, answer, wrong, name="tiny random")


def cases() -> dict:
    """name -> (model, task, EAP edge scores): the tiny random GPT-2 and the mixture model's IOI."""
    import workbook as wb
    from workbook.models import zoo

    tiny, task = tiny_case()
    mix, mix_task = zoo.load("mixture", task="ioi", n=16)
    return {"tiny GPT-2 (4 layers x 4 heads, random)": (tiny, task, wb.eap(tiny, task)),
            "mixture IOI (6 layers x 8 heads, trained)": (mix, mix_task, wb.eap(mix, mix_task))}


def markdown(results: dict) -> str:
    lines = [
        "# MIB parity: workbook's CPR/CMD vs MIB's own evaluation code", "",
        "Generated by `python scripts/mib_parity.py --write docs/mib_parity.md`. Each case: workbook's EAP edge",
        "scores, written as one MIB/hannamw circuit JSON (MIB's sign), evaluated by",
        "`workbook.analysis.mib.mib_scores` (TransformerLens 4 bridge) and by MIB's",
        "`evaluate_area_under_curve` (hannamw/MIB-circuit-track b759df3 + hannamw/EAP-IG 795f560, TransformerLens",
        "3 `HookedTransformer` with the same weights; `scripts/mib_parity_child.py` lists the substitutions).",
        "Tolerance of the test (`tests/test_mib.py`): 1e-3 on CPR and CMD.", "",
        "| case | edges | CPR workbook | CPR MIB | CMD workbook | CMD MIB | max abs diff of f | pruned counts equal |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        o, m = r["ours"], r["mib"]
        lines.append(f"| {name} | {o['n_edges']} | {o['cpr']:.6f} | {m['cpr']:.6f} | {o['cmd']:.6f} | {m['cmd']:.6f} | "
                     f"{r['max_faithfulness_diff']:.2e} | {r['same_pruned_counts']} |")
    lines += ["", "Per-fraction faithfulness (signed selection / absolute selection):", ""]
    for name, r in results.items():
        for key in ("signed", "absolute"):
            lines.append(f"* {name}, {key}: workbook " + ", ".join(f"{v:.4f}" for v in r["ours"][key]["faithfulness"]))
            lines.append("  MIB " + ", ".join(f"{v:.4f}" for v in r["mib"][key]["faithfulness"]))
    lines.append("")
    for name, r in results.items():
        m = r["mib"]
        lines.append(f"* {name}: child transformer_lens {m['transformer_lens']}, torch {m['torch']}; HookedTransformer "
                     f"logits vs the bridge's max |diff| {m['logits_max_abs_diff']:.2g}; seconds: workbook "
                     f"{r['seconds']['workbook']:.1f}, MIB child {r['seconds']['mib_child']:.1f} (both curves).")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", type=Path, default=None, help="write the markdown table here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    why = missing_peers()
    if why:
        sys.exit(f"cannot run MIB's code: {why}")
    results = {name: parity(m, t, s) for name, (m, t, s) in cases().items()}
    text = markdown(results)
    print(text)
    if args.write:
        args.write.write_text(text)


if __name__ == "__main__":
    main()
