#!/usr/bin/env python
"""Precision and recall of the diagnoser against full activation patching.

    python scripts/calibrate_diagnoser.py --sweep --cache /tmp/cal   # both models -> docs/diagnoser_calibration.md
    python scripts/calibrate_diagnoser.py --only mixture             # the mixture tasks only (~10 min, one thread)
    python scripts/calibrate_diagnoser.py --cache /tmp/cal --rediagnose   # diagnose again, reuse the cached truth
    python scripts/calibrate_diagnoser.py --render-only --cache /tmp/cal  # rewrite the Markdown from the cache

For each model and task (noising, ``effect = M(clean with x := corrupt) - M(clean)``):
:func:`workbook.diagnose` with its defaults (timed), then the ground truth by exact patching:
every head, MLP, query and key (:func:`workbook.patch_nodes`), and edges — every edge of the
mixture model, a pool on SmolLM2 (the top ``--pool`` edges by |EAP|, |EAP-IG|, |EAP-IG 4x| and
|EAP-GP| plus every flagged edge; edges outside the pool count as unseen). Then, per family and
suspect method (AtP on q/k nodes and on head/MLP outputs, EAP on edges, EAP-IG on both):

* **real false negatives**: :func:`workbook.false_negatives` of the suspect against the truth, in
  families whose largest true effect reaches 5 % of ``|M(clean) - M(corrupt)|`` (the chapters' floor);
* **really wrong** (a flagged component): the suspect's estimate does not agree with the truth
  (same sign, within 1.5x) and it is a real false negative or off by >= 0.1 x the total effect;
* **precision** = really wrong / flagged; **recall** = real false negatives flagged / real false
  negatives; the same two for the findings the diagnoser's own verification *confirmed*, and how
  often its verdict (confirmed or not) matches the truth's.

``--sweep`` also re-flags the mixture runs (no patching) over a grid of thresholds: that grid is
how the defaults were chosen; SmolLM2 is the held-out check.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import workbook as wb  # noqa: E402
from workbook.analysis.diagnose import Thresholds, flag  # noqa: E402
from workbook.analysis.diagnosis import agrees  # noqa: E402
from workbook.core.scores import concat_scores  # noqa: E402

SUSPECTS = (("q/k", "AtP"), ("nodes", "AtP"), ("edges", "EAP"), ("nodes", "EAP-IG"), ("edges", "EAP-IG"))
FLOOR, RELATIVE = 0.05, 0.1
SMOLLM2 = Path.home() / ".cache/workbook/models/SmolLM2-135M-Instruct-Q4_1-f32"


def ground_truth(model, task, edges: list[str] | None, known: dict | None = None) -> dict[str, wb.Scores]:
    """Exact effects: heads + MLPs, queries + keys, and ``edges`` (``None``: every edge of the graph);
    what ``known`` (an earlier run's truth of the same task) already holds is not patched again."""
    known = dict(known or {})
    if "nodes" not in known:
        parts = [wb.patch_nodes(model, task, "head"), wb.patch_nodes(model, task, "mlp")]
        known["nodes"] = concat_scores(parts, "patching")
    if "q/k" not in known:
        known["q/k"] = concat_scores([wb.patch_nodes(model, task, "q"), wb.patch_nodes(model, task, "k")], "patching")
    if edges is None:
        known["edges"] = known.get("edges") or wb.patch_edges(model, task)
    else:
        have = known.get("edges")
        missing = [e for e in edges if have is None or e not in have]
        if missing:
            new = wb.patch_edges(model, task, edges=missing)
            known["edges"] = new if have is None else concat_scores([have, new], "edge patching")
    return known


def edge_pool(d, top: int) -> list[str]:
    """The top ``top`` edges of every edge method the diagnoser ran, plus every flagged edge."""
    pool = {f.component for f in d.findings if f.family == "edges"}
    for s in d.measurements.scores.get("edges", {}).values():
        pool.update(s.order()[:top])
    return sorted(pool)


def judge(flagged: set[str], confirmed: set[str] | None, S: wb.Scores, T: wb.Scores, total: float) -> dict:
    """Counts for one family and suspect: false negatives, flags, really wrong ones (see the module doc)."""
    matters = float(T.values.abs().max()) >= FLOOR * total
    fns = set(wb.false_negatives(S.select(T.names), T)) if matters else set()
    flagged = {c for c in flagged if c in T}
    wrong = {c for c in flagged if not agrees(S[c], T[c]) and (c in fns or abs(S[c] - T[c]) >= RELATIVE * total)}
    row = {"fn": len(fns), "fn_flagged": len(fns & flagged), "flags": len(flagged), "wrong": len(wrong)}
    if confirmed is not None:
        confirmed &= flagged
        row.update({"confirmed": len(confirmed), "confirmed_wrong": len(confirmed & wrong),
                    "fn_confirmed": len(fns & confirmed), "verdict_ok": len(flagged) - len(confirmed ^ wrong)})
    return row


def evaluate(findings, meas, truth: dict[str, wb.Scores], total: float, verified: bool) -> dict[tuple, dict]:
    """``{(family, suspect): counts}`` for a list of findings against the full truth."""
    out = {}
    for fam, suspect in SUSPECTS:
        if suspect not in meas.scores.get(fam, {}):
            continue
        mine = [f for f in findings if f.family == fam and f.suspect == suspect]
        conf = {f.component for f in mine if f.confirmed} if verified else None
        out[(fam, suspect)] = judge({f.component for f in mine}, conf, meas.scores[fam][suspect], truth[fam], total)
    return out


def run_case(model, task, pool: int | None, known: dict | None) -> dict:
    """One diagnosis (timed), its ground truth (reusing ``known``) and the counts; what the cache keeps."""
    t0, c0 = time.perf_counter(), time.process_time()
    d = wb.diagnose(model, task, progress_bar=True)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    truth = ground_truth(model, task, None if pool is None else edge_pool(d, pool), known)
    return {"diagnosis": d, "truth": truth, "seconds": seconds, "cpu": cpu, "total": d.total_effect,
            "rows": evaluate(d.findings, d.measurements, truth, d.total_effect, True)}


def cases(only: str | None, seeds: list[int], n_mixture: int, n_smollm: int, pool: int):
    """``(model label, task label, run(known truth))``: the six mixture tasks per seed, then SmolLM2 IOI."""
    from workbook.models import zoo

    if only in (None, "mixture"):
        model = zoo.load_model("mixture")
        for seed in seeds:
            for t in zoo.tasks("mixture"):
                yield "mixture", f"{t} s{seed}", lambda known, t=t, seed=seed: run_case(
                    model, zoo.load_task("mixture", n=n_mixture, seed=seed, task=t), None, known)
    if only in (None, "smollm2") and SMOLLM2.exists():
        from workbook.tasks.prompt import ioi_task

        def smol(known):
            model = wb.load_pretrained(str(SMOLLM2))
            return run_case(model, ioi_task(model, n=n_smollm, seed=0), pool, known)

        yield "SmolLM2-135M", f"ioi n{n_smollm} s0", smol


def add(acc: dict, row: dict) -> None:
    for k, v in row.items():
        acc[k] = acc.get(k, 0) + v


def pct(a: int, b: int) -> str:
    return f"{a}/{b} = {100 * a / b:.0f}%" if b else "-"


def cells(acc: dict) -> str:
    return (f"{acc['fn']} | {pct(acc['fn_flagged'], acc['fn'])} | {pct(acc['fn_confirmed'], acc['fn'])} | "
            f"{acc['flags']} | {pct(acc['wrong'], acc['flags'])} | {acc['confirmed']} | "
            f"{pct(acc['confirmed_wrong'], acc['confirmed'])} | {pct(acc['verdict_ok'], acc['flags'])} |")


def group(model: str, task: str) -> str:
    """A table's row group: the mixture's tasks together, each SmolLM2 batch on its own."""
    return "mixture (6 tasks x 2 seeds)" if model == "mixture" else f"{model}, {task}"


def table(results: dict) -> list[str]:
    """The Markdown table, one row per :func:`group`, family and suspect (summed over the group's tasks)."""
    lines = ["| model | family | suspect | real FN | recall (flagged) | recall (confirmed) | flags | "
             "precision (flags) | confirmed | precision (confirmed) | verdict matches truth |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for model in sorted(dict.fromkeys(group(*key) for key in results), key=lambda g: (not g.startswith("mix"), g)):
        total: dict = {}
        for (fam, suspect) in SUSPECTS:
            acc: dict = {}
            for key, res in results.items():
                if group(*key) == model and (fam, suspect) in res["rows"]:
                    add(acc, res["rows"][(fam, suspect)])
            if acc:
                add(total, acc)
                lines.append(f"| {model} | {fam} | {suspect} | " + cells(acc))
        lines.append(f"| **{model}** | all | | " + cells(total))
    return lines


GRID = [(ratio, size, gap) for ratio in (1.5, 2.0, 3.0) for size in (0.1, 0.2, 0.3, 0.5) for gap in (1.0, 1.5)]


def sweep(results: dict) -> list[str]:
    """Flag-level precision / recall of the mixture runs re-flagged over :data:`GRID` (no patching);
    the last row turns the rank rule off (defaults otherwise); the defaults' row is in bold."""
    lines = ["| ratio | size | rank_gap | rank rule | real FN flagged (AtP, EAP) | flags | precision (flags) "
             "| EAP-IG: FN flagged | flags | precision |", "|---|---|---|---|---|---|---|---|---|---|"]
    for ratio, size, gap, rank in [g + (True,) for g in GRID] + [(1.5, 0.3, 1.5, False)]:
        screen: dict = {}
        ig: dict = {}
        for (model, _), res in results.items():
            if model != "mixture":
                continue
            m, total = res["diagnosis"].measurements, res["total"]
            th = Thresholds(total, RELATIVE, ratio, 0.5, 0.05 if rank else float("inf"), gap, size)
            for (fam, suspect), row in evaluate(flag(m, th), m, res["truth"], total, False).items():
                add(ig if suspect == "EAP-IG" else screen, row)
        default = (ratio, size, gap, rank) == (1.5, 0.3, 1.5, True)
        row = [f"**{ratio:g}**" if default else f"{ratio:g}", f"{size:g}", f"{gap:g}", "on" if rank else "off"]
        for acc in (screen, ig):
            row += [pct(acc["fn_flagged"], acc["fn"]), str(acc["flags"]), pct(acc["wrong"], acc["flags"])]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def fixes(results: dict) -> list[str]:
    """Per model: the fix recommended for each confirmed component (or "patch it"), counted."""
    lines = []
    for model in dict.fromkeys(group(*key) for key in results):
        count: dict[str, int] = {}
        for key, res in results.items():
            if group(*key) != model:
                continue
            for c in res["diagnosis"].untrustworthy():
                own = [f for f in res["diagnosis"].findings if f.component == c and f.recommended]
                key = own[0].recommended if own else "patch it"
                count[key] = count.get(key, 0) + 1
        lines.append(f"* {model}: " + (", ".join(f"{k} {v}" for k, v in sorted(count.items())) or "nothing confirmed"))
    return lines


def details(results: dict) -> list[str]:
    lines = []
    for (model, task), res in results.items():
        d = res["diagnosis"]
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in getattr(d.measurements, "seconds", {}).items())
        cpu = res.get("cpu", float("nan"))
        lines += [f"### {model}, {task}: {res['seconds']:.0f} s wall, {cpu:.0f} s CPU", "",
                  f"Stages: {stages or '-'}.", "", "```", d.report(12), "```", ""]
    return lines


def render(results: dict, out: Path, with_sweep: bool) -> None:
    text = ["# The diagnoser against full activation patching", "",
            "Written by `scripts/calibrate_diagnoser.py` (its docstring defines every column); the rules are in "
            "`workbook/analysis/diagnose.py` and `workbook/analysis/recovery.py`. The thresholds were chosen on "
            "the mixture runs (the sweep below); SmolLM2-135M is the held-out check: one IOI batch per row, so "
            "few false negatives to find — read it as a check, not an estimate. Ground truth: every head, MLP, "
            "query and key patched; every edge of the mixture model; on SmolLM2 a pool of edges (the top edges "
            "of each edge method and every flagged edge). `real FN`: the suspect's false negatives "
            "(`wb.false_negatives`, families whose largest effect reaches 5 % of the total effect). "
            "`precision (flags)`: flagged components whose suspect estimate really is wrong (not within 1.5x with "
            "the same sign, and a false negative or off by >= 0.1 x the total effect); `confirmed`: what the "
            "diagnoser itself confirmed by its own (pool) patching, i.e. what it reports as untrustworthy. "
            f"torch threads: {torch.get_num_threads()}.", ""]
    text += table(results) + [""]
    times = [f"{m} {t} {r['seconds']:.0f} / {r.get('cpu', float('nan')):.0f} s" for (m, t), r in results.items()]
    text += ["Time of `diagnose` (defaults, one torch thread; wall / CPU seconds, the CPU time is the one that "
             "does not depend on what else the machine runs): " + ", ".join(times), ""]
    text += ["Fixes recommended for the confirmed components (each measured against patching):", ""]
    text += fixes(results) + [""]
    if with_sweep:
        text += ["## Threshold sweep (mixture, flags only)", ""] + sweep(results) + [""]
    text += ["## The reports", ""] + details(results)
    out.write_text("\n".join(text) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=("mixture", "smollm2"))
    p.add_argument("--seeds", default="0,1", help="data seeds of the mixture tasks")
    p.add_argument("--n", type=int, default=8, help="prompt pairs per mixture task")
    p.add_argument("--smollm-n", type=int, default=8)
    p.add_argument("--pool", type=int, default=30, help="SmolLM2: top edges per method in the edge pool")
    p.add_argument("--cache", type=Path, help="keep each run's truth (and diagnosis) here and reuse them")
    p.add_argument("--rediagnose", action="store_true", help="run diagnose again; reuse only the cached truth")
    p.add_argument("--render-only", action="store_true")
    p.add_argument("--sweep", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "diagnoser_calibration.md")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    results: dict = {}
    cache = {}
    if a.cache:
        a.cache.mkdir(parents=True, exist_ok=True)
        cache = dict(pickle.loads(f.read_bytes()) for f in sorted(a.cache.glob("*.pkl")))
    seeds = [int(x) for x in a.seeds.split(",")]
    for model, task, run in ([] if a.render_only else cases(a.only, seeds, a.n, a.smollm_n, a.pool)):
        old = cache.get((model, task))
        if old is not None and not a.rediagnose:
            results[(model, task)] = old
            continue
        results[(model, task)] = res = run(old["truth"] if old else None)
        print(f"{model} {task}: diagnose {res['seconds']:.1f} s", flush=True)
        if a.cache:
            (a.cache / f"{model}_{task}.pkl".replace(" ", "_")).write_bytes(pickle.dumps(((model, task), res)))
    if a.render_only:
        results = cache
    render(results, a.out, a.sweep)
    print("\n".join(table(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
