"""Stability of every circuit the course prints, across 5 data resamples -> docs/stability.md (+ .json).

    python scripts/stability_report.py              # every case below (SmolLM2 too, if it can be had offline)
    python scripts/stability_report.py --no-real    # the shipped models only (~3 min on 1 thread)
    python scripts/stability_report.py --cases ch05-ioi --out /tmp/stab.md

The circuits the chapters print (``grep -n "greedy\\|faithfulness" chapters/*.py``):

* chapter 03, section 3: greedy circuits of EAP, EAP-IG (m=5) and exact edge patching on the
  ``mixture`` model's SVA task (8 pairs), 20-50 edges, and their faithfulness curves;
* chapter 03, section 6 and chapter 05, section 7: greedy circuits of EAP and EAP-IG on
  SmolLM2-135M IOI (8 pairs), 100 and 1000 edges;
* chapter 04, section 6: greedy circuits of EAP, EAP-IG, EAP-GP (unit and scaled steps) on the
  2-layer ``ioi`` model (16 pairs), 5-80 edges;
* chapter 05, section 3: greedy circuits of EAP, EAP-IG and EAP-GP on ``mixture`` IOI (8 pairs),
  10-160 edges (exact edge patching added as the reference);
* chapter 06, section 5: top-n circuits of EAP, RelP and exact edge patching on the 2-layer ``ioi``
  model (16 pairs), 10-40 edges.

Each is redrawn with data seeds 0-4 (seed 0 is the chapter's own sample; the others draw new
prompt pairs from the same grammar, same ``n``), scored again, and its circuit selected again at
each size (greedy or top-n, as the chapter does; :mod:`workbook.analysis.stability`). Reported
per method and size: the pairwise Jaccard overlap of the edge sets (mean and minimum over the 10
pairs), the stable core (edges in all 5 circuits) against the union, and the spread of the
faithfulness of those circuits (each on its own prompts). With :mod:`workbook.analysis.mib`
present, also the spread of MIB's CPR/CMD over the resamples (not on SmolLM2: too slow on a CPU).
Exact edge patching (a reference, not a method) is included where the chapter prints its circuit,
and on chapter 05's IOI: its spread is what the *model and data* change; a method's spread beyond
it is the method's.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("WORKBOOK_PROGRESS", "0")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import workbook as wb  # noqa: E402
from workbook.analysis.stability import stability  # noqa: E402
from workbook.attribution.eap_gp import eap_gp  # noqa: E402
from workbook.attribution.eap_ig import eap_ig  # noqa: E402
from workbook.models import zoo  # noqa: E402

SEEDS = (0, 1, 2, 3, 4)
EAP = ("EAP", wb.eap)
IG = ("EAP-IG (m=5)", lambda m, t: eap_ig(m, t, 5))
GP = ("EAP-GP (k=5)", lambda m, t: eap_gp(m, t, 5))
GP_SCALED = ("EAP-GP (k=5, scaled)", lambda m, t: eap_gp(m, t, 5, step_size="scaled"))
EXACT = ("exact edge patching", lambda m, t: wb.patch_edges(m, t))

RELP = ("RelP (edges)", lambda m, t: importlib.import_module("workbook.attribution.relp").relp_edges(m, t))

#: name -> (chapter, model, task, n, methods, circuit sizes the chapter prints, selection)
CASES = {
    "ch03-sva": ("03 s3", "mixture", "sva", 8, (EAP, IG, EXACT), (20, 30, 40, 50, 100), "greedy"),
    "ch04-ioi2": ("04 s6", "ioi", None, 16, (EAP, IG, GP, GP_SCALED), (5, 10, 20, 40, 80), "greedy"),
    "ch05-ioi": ("05 s3", "mixture", "ioi", 8, (EAP, IG, GP, EXACT), (10, 20, 40, 80, 160), "greedy"),
    "ch06-ioi2": ("06 s5", "ioi", None, 16, (EAP, RELP, EXACT), (10, 20, 40), "top_n"),
    "real-ioi": ("03 s6, 05 s7", "smollm2", "ioi", 8, (EAP, IG), (100, 1000), "greedy"),
}


def builder(model_name: str, task: str | None, n: int):
    model = zoo.load_model(model_name)
    return lambda seed: (model, zoo.load_task(model_name, n=n, seed=seed, task=task))


def run_case(name: str, use_mib: bool) -> dict:
    chapter, model_name, task, n, methods, sizes, select = CASES[name]
    build = builder(model_name, task, n)
    rows = {}
    for label, fn in methods:
        t0 = time.perf_counter()
        st = stability(fn, build, SEEDS, sizes, select=select, curves=True, mib=use_mib and model_name != "smollm2")
        rows[label] = {**st.summary(), "method": label, "wall_s": time.perf_counter() - t0}
        js = ", ".join(f"{k}: J {v['jaccard_mean']:.2f}" for k, v in rows[label]["sizes"].items())
        print(f"  {name} {label}: {js}", flush=True)
    return {"chapter": chapter, "model": model_name, "task": task or zoo.tasks(model_name)[0], "n": n,
            "sizes": list(sizes), "select": select, "methods": rows}


def _range(values) -> str:
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}-{max(values)}"


def case_table(case: dict) -> list[str]:
    lines = ["| method | requested | edges after pruning | Jaccard mean | Jaccard min | core / union | "
             "faithfulness min-max (std) |", "|---|---|---|---|---|---|---|"]
    for label, r in case["methods"].items():
        for size, s in r["sizes"].items():
            f = r["faithfulness"][size]
            lines.append(f"| {label} | {size} | {_range(s['edges_after_pruning'])} | {s['jaccard_mean']:.2f} | "
                         f"{s['jaccard_min']:.2f} | {s['core']} / {s['union']} | "
                         f"{f['min']:.2f}-{f['max']:.2f} ({f['std']:.2f}) |")
    mib_rows = [(label, r["mib"]) for label, r in case["methods"].items() if "mib" in r]
    if mib_rows:
        lines += ["", "MIB yardstick per resample (CPR: higher is better; CMD: lower is better; largest std of "
                  "f over MIB's 10 edge fractions, signed / absolute curve):", "",
                  "| method | CPR min-max (std) | CMD min-max (std) | largest std of f (signed / absolute) |",
                  "|---|---|---|---|"]
        for label, m in mib_rows:
            worst = [max(p["std"] for p in m["curves"][c]) for c in ("signed", "absolute")]
            lines.append(f"| {label} | {m['cpr']['min']:.2f}-{m['cpr']['max']:.2f} ({m['cpr']['std']:.2f}) | "
                         f"{m['cmd']['min']:.2f}-{m['cmd']['max']:.2f} ({m['cmd']['std']:.2f}) | "
                         f"{worst[0]:.2f} / {worst[1]:.2f} |")
    return lines


def findings(cases: dict) -> list[str]:
    """Sentences computed from the numbers: per case, the most and least stable method at each size."""
    out = []
    for name, case in cases.items():
        methods = case["methods"]
        for size in map(str, case["sizes"]):
            js = {m: r["sizes"][size]["jaccard_mean"] for m, r in methods.items()}
            best, worst = max(js, key=js.get), min(js, key=js.get)
            exact = js.get(EXACT[0])
            line = (f"* **{name}**, {size} edges: most stable {best} (mean Jaccard {js[best]:.2f}), least stable "
                    f"{worst} ({js[worst]:.2f})")
            if exact is not None:
                less = [m for m, v in js.items() if m != EXACT[0] and v < exact - 0.05]
                line += f"; below exact patching's own {exact:.2f} by > 0.05: {', '.join(less) or 'none'}"
            out.append(line + ".")
        spread = {m: max(f["std"] for f in r["faithfulness"].values()) for m, r in methods.items()}
        out.append(f"* **{name}**: largest std of faithfulness over the resamples at any size: "
                   + ", ".join(f"{m} {v:.2f}" for m, v in spread.items()) + ".")
    return out


def render(cases: dict, meta: dict) -> str:
    lines = ["# Circuit stability across data resamples", "",
             f"Generated by `python scripts/stability_report.py` ({meta['wall_s']:.0f} s on {meta['machine']}, "
             f"torch {meta['torch']}, {meta['threads']} thread). Every circuit the chapters print, redrawn on data "
             f"seeds {list(SEEDS)} (seed 0 = the chapter's sample) with the same number of prompt pairs; selection "
             "and pruning as in each chapter (`workbook.analysis.circuits.greedy` or `top_n`); definitions in the "
             "script's docstring and `workbook.analysis.stability`. Unrounded numbers in `stability.json`.", "",
             "**Jaccard**: pairwise `|A & B| / |A | B|` of the resamples' edge sets (10 pairs; 1 = the same "
             "circuit every time). **core / union**: edges in all 5 circuits / in any. **faithfulness**: each "
             "resample's circuit on its own prompts, `(m(C) - m(corrupt)) / (m(clean) - m(corrupt))`.", "",
             "## Findings (computed)", ""]
    lines += findings(cases)
    if meta.get("skipped"):
        lines += ["", "Not run: " + "; ".join(f"{k} ({v})" for k, v in meta["skipped"].items()) + "."]
    if not meta["mib"]:
        lines += ["", "MIB CPR/CMD spread: not computed (`workbook.analysis.mib` was not available to this run)."]
    elif any(c["model"] == "smollm2" for c in cases.values()):
        lines += ["", "MIB CPR/CMD spread on SmolLM2: not computed (its 70,651 edges cost 16 edge-masked forwards "
                  "per method and resample, too slow on this CPU for 5 resamples)."]
    for name, case in cases.items():
        lines += ["", f"## {name}: chapter {case['chapter']}, `{case['model']}` {case['task']}, {case['n']} pairs, "
                  f"{case['select']} selection", ""]
        lines += case_table(case)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--no-real", action="store_true", help="skip SmolLM2")
    ap.add_argument("--no-mib", action="store_true", help="do not compute MIB's CPR/CMD even if available")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "stability.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    use_mib = not args.no_mib and importlib.util.find_spec("workbook.analysis.mib") is not None
    t0, cases, skipped = time.perf_counter(), {}, {}

    def write() -> None:  # after every case: a killed run leaves a consistent report of what is done
        pending = {k: "not finished when the report was written" for k in args.cases
                   if k not in cases and k not in skipped}
        meta = {"wall_s": time.perf_counter() - t0, "machine": f"{platform.machine()} CPU", "torch": torch.__version__,
                "threads": torch.get_num_threads(), "seeds": list(SEEDS), "mib": use_mib,
                "skipped": {**skipped, **pending}}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render(cases, meta))
        payload = json.dumps({"meta": meta, "cases": cases}, indent=1, sort_keys=True)
        args.out.with_suffix(".json").write_text(payload + "\n")

    for name in args.cases:
        if CASES[name][1] == "smollm2":
            if args.no_real:
                skipped[name] = "--no-real"
                continue
            try:
                zoo.load_model("smollm2")
            except Exception as err:  # noqa: BLE001 - offline without the cached model: say so, go on
                skipped[name] = f"SmolLM2 not available: {type(err).__name__}"
                continue
        print(f"[{name}]", flush=True)
        cases[name] = run_case(name, use_mib)
        write()
    write()
    print(f"wrote {args.out} and {args.out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
