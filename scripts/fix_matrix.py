"""The fix-for-failure matrix: every estimator x every known failure, against activation patching.

    python scripts/fix_matrix.py                  # every failure -> docs/fix_matrix.md (+ .json)
    python scripts/fix_matrix.py --no-real        # without SmolLM2
    python scripts/fix_matrix.py --failures cancellation flat_region --no-mib --out /tmp/fm.md

**Failures** (rows of :data:`FAILURES`): the four hand-built specimens (``workbook.models.specimens``);
the failures ``scripts/hunt_deep.py`` found in the 6-layer ``mixture`` model (docs/hunt_deep.md:
saturated IOI queries, and edges EAP, EAP-IG or EAP-GP miss on IOI, greater-than, SVA, capital and
gender; the hunt's 16 pairs from data seed 1); and those ``scripts/hunt_real.py`` found in
SmolLM2-135M (docs/hunt_real.md: saturated queries, heads/MLPs, edges EAP misses), on IOI with 8
pairs (seed 0), whose exact effects ship in ``workbook/course/data``.

**Ground truth**: activation patching (noising, ``effect = M(clean with x := corrupt) - M(clean)``):
``patch_nodes`` of every node of the failure's kinds, or exact patching of every edge
(``patch_edges``). SmolLM2 edges: the shipped pool (the top 60 of EAP, EAP-IG, EAP-GP) plus the
top 20 of every other edge estimator, patched now; edges outside the pool count as 0 (as in
hunt_real), so its false negatives are counted among the pool.

**Estimators**: AtP, the AtP* QK fix, GradDrop, AtP* (QK fix inside GradDrop), EAP, EAP-IG (m=5),
EAP-GP (k=5), RelP, GIM and the second-order (HVP) correction of AtP (``block="joint"``, the paper's
2 fwd + 2 bwd). An edge method on a node
failure scores each node by the total of its edges (incoming edges for a q/k/v input: with
noising, EAP's total is then AtP at that input; outgoing edges for a head or MLP output). A
method that cannot score the failure's components gets the reason in its cell, never a number.

**Cells**: ``missed/important (cost)``: truly important = ``|true| >= 0.5 x max|true|``;
missed = ranked outside the method's top K (K = number truly important); cost = components
patched in the method's order until every truly important one is (``workbook.core.scores``).
**CPR / CMD** (``workbook.analysis.mib``, MIB's yardstick) per model and task, for every edge
estimator. The per-estimator summary (wins / fails / worse than the plain gradient) is computed
from the same numbers.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("WORKBOOK_PROGRESS", "0")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import workbook as wb  # noqa: E402
from workbook.attribution.atp_star import atp_star  # noqa: E402
from workbook.attribution.eap_gp import eap_gp  # noqa: E402
from workbook.attribution.eap_ig import eap_ig  # noqa: E402
from workbook.attribution.graddrop import graddrop  # noqa: E402
from workbook.attribution.qk_fix import atp_qk_fix  # noqa: E402
from workbook.core.errors import WorkbookError  # noqa: E402
from workbook.core.scores import Scores, concat_scores  # noqa: E402
from workbook.models import zoo  # noqa: E402

TAU = 0.5
#: CPR/CMD on SmolLM2 too (its 70,651 edges cost 16 edge-masked forwards per estimator; off unless --real-mib)
REAL_MIB = False


@dataclass(frozen=True)
class Failure:
    """One row: a model, a task and the family of components whose ranking fails there."""

    name: str
    model: str
    task: str | None
    n: int | None
    seed: int
    family: str  # "q/k", "nodes" (head + mlp) or "edges"
    what: str  # the failure in words, from the hunt that found it
    target: str | None = None  # the component the failure is about, when one is known

    @property
    def kinds(self) -> tuple[str, ...]:
        return {"q/k": ("q", "k"), "nodes": ("head", "mlp"), "edges": ()}[self.family]

    @property
    def case(self) -> str:
        """The model/task pair (failures of one case share their model, task and CPR/CMD)."""
        return f"{self.model}/{self.task or zoo.tasks(self.model)[0]}"


FAILURES = [
    Failure("saturation", "saturation", None, None, 0, "q/k", "specimen: a saturated softmax hides a query", "L0H0.q"),
    Failure("cancellation", "cancellation", None, None, 0, "nodes", "specimen: direct and indirect effects cancel",
            "L0H1"),
    Failure("flat_region", "flat_region", None, None, 0, "edges", "specimen: a GELU tail with zero gradient",
            "embed->MLP0"),
    Failure("path_saturation", "path_saturation", None, None, 0, "edges",
            "specimen: a gate that saturates along the straight path", "embed->L0H0.q"),
    Failure("mixture ioi q/k", "mixture", "ioi", 16, 1, "q/k", "hunt_deep: AtP misses 4/4 saturated queries",
            "L4H1.q"),
    Failure("mixture ioi edges", "mixture", "ioi", 16, 1, "edges", "hunt_deep: EAP misses embed->L0H2.v",
            "embed->L0H2.v"),
    Failure("mixture greater_than edges", "mixture", "greater_than", 16, 1, "edges",
            "hunt_deep: EAP-IG and EAP-GP miss 1/2", "L0H1->MLP0"),
    Failure("mixture sva edges", "mixture", "sva", 16, 1, "edges", "hunt_deep: EAP misses 2/2, EAP-IG 1/2",
            "MLP0->L1H1.v"),
    Failure("mixture capital edges", "mixture", "capital", 16, 1, "edges", "hunt_deep: EAP, EAP-IG miss MLP0->logits",
            "MLP0->logits"),
    Failure("mixture gender edges", "mixture", "gender", 16, 1, "edges", "hunt_deep: EAP and EAP-GP miss 2/3",
            "L0H6->MLP0"),
    Failure("smollm2 ioi q/k", "smollm2", "ioi", 8, 0, "q/k", "hunt_real: saturated L17H4.q", "L17H4.q"),
    Failure("smollm2 ioi nodes", "smollm2", "ioi", 8, 0, "nodes", "hunt_real (16 pairs): AtP missed a head", None),
    Failure("smollm2 ioi edges", "smollm2", "ioi", 8, 0, "edges", "hunt_real: EAP misses embed->MLP0 (zero gradient)",
            "embed->MLP0"),
]


# ------------------------------------------------------------------------------------------ estimators

def _optional(module: str, name: str) -> Callable | None:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


@dataclass(frozen=True)
class Estimator:
    """A column: how it scores nodes of given kinds, and edges (a string: the reason it cannot)."""

    name: str
    nodes: Callable | str  # (model, task, kinds) -> Scores
    edges: Callable | str  # (model, task) -> Scores
    family: str  # "node" or "edge": which plain gradient it is judged against (AtP or EAP)


def estimators() -> list[Estimator]:
    """The ten columns; a missing module (RelP, GIM, HVP not installed) becomes a stated reason."""
    relp = _optional("workbook.attribution.relp", "relp")
    relp_edges = _optional("workbook.attribution.relp", "relp_edges")
    gim, gim_edges = _optional("workbook.attribution.gim", "gim"), _optional("workbook.attribution.gim", "gim_edges")
    hvp = _optional("workbook.attribution.hvp", "atp_hvp")
    missing = "not available: workbook.attribution.{} is not installed"
    qk_only = "defined for queries and keys only (AtP*'s QK fix)"
    no_edges = "no edge version (it scores nodes; AtP on edges is EAP)"

    def qk(m, t, kinds):
        return atp_qk_fix(m, t, kinds) if set(kinds) <= {"q", "k"} else qk_only

    return [
        Estimator("AtP", lambda m, t, k: wb.atp(m, t, k), "AtP on edges is EAP (its column)", "node"),
        Estimator("QK fix", qk, qk_only, "node"),
        Estimator("GradDrop", lambda m, t, k: graddrop(m, t, what=k), no_edges, "node"),
        Estimator("AtP*", lambda m, t, k: atp_star(m, t, what=k), no_edges, "node"),
        Estimator("EAP", "edge totals", wb.eap, "edge"),
        Estimator("EAP-IG", "edge totals", lambda m, t: eap_ig(m, t, 5), "edge"),
        Estimator("EAP-GP", "edge totals", lambda m, t: eap_gp(m, t, 5), "edge"),
        Estimator("RelP", (lambda m, t, k: relp(m, t, what=k)) if relp else missing.format("relp"),
                  relp_edges or missing.format("relp"), "node"),
        Estimator("GIM", (lambda m, t, k: gim(m, t, what=k)) if gim else missing.format("gim"),
                  gim_edges or missing.format("gim"), "node"),
        Estimator("HVP", (lambda m, t, k: hvp(m, t, what=k, block="joint")) if hvp else missing.format("hvp"),
                  "the HVP correction scores nodes (AtP's second-order term); no edge version", "node"),
    ]


def edge_totals(edges: Scores, names: list[str]) -> Scores:
    """Node scores from edge scores: each name's incoming (``L0H1.q``) or outgoing (``L0H1``, ``MLP0``) total."""
    total = {n: 0.0 for n in names}
    for e, v in zip(edges.names, edges.values.tolist()):
        src, dst = e.split("->")
        if "." in dst and dst in total:  # an input (L0H1.q, L0KV0.k): its incoming edges
            total[dst] += v
        if src in total:  # an output (L0H1, MLP0; MLP0 is also a destination, not counted as one)
            total[src] += v
    return Scores(names, torch.tensor([total[n] for n in names], dtype=torch.float64),
                  f"{edges.method} (edge totals)", "node")


# ------------------------------------------------------------------------------------------ the core

def load_case(failure: Failure):
    if failure.n is None:
        return zoo.load(failure.model)
    return zoo.load(failure.model, n=failure.n, seed=failure.seed, task=failure.task)


def ground_truth(model, task, failure: Failure, edge_scores: dict[str, Scores]) -> Scores:
    """Activation patching of every component of the failure's family (SmolLM2 edges: the pool, module doc)."""
    if failure.family != "edges":
        if failure.model == "smollm2":
            from workbook.course import truth as shipped

            return concat_scores([shipped.ground_truth(model, "smollm2", task, k) for k in failure.kinds])
        return concat_scores([wb.patch_nodes(model, task, k) for k in failure.kinds], method="activation patching")
    if failure.model != "smollm2":
        return wb.patch_edges(model, task)
    from workbook.course import sections
    from workbook.course import truth as shipped

    pool = shipped.ground_truth(model, "smollm2", task, "edges")
    extra = list(dict.fromkeys(e for s in edge_scores.values() for e in s.order()[:20] if e not in pool))
    if extra:
        more = wb.patch_edges(model, task, edges=extra)
        pool = Scores(pool.names + more.names, torch.cat([pool.values.double(), more.values.double()]),
                      pool.method, "edge", None, {**pool.info, "pool": f"a pool of {len(pool) + len(more)}"})
    return sections.pool_truth(pool, next(iter(edge_scores.values())))


def estimate(est: Estimator, model, task, failure: Failure, edge_cache: dict) -> Scores | str:
    """The estimator's scores for the failure's family, or the reason it has none."""
    try:
        if failure.family == "edges":
            return est.edges(model, task) if callable(est.edges) else est.edges
        if est.nodes == "edge totals":
            return edge_cache[est.name] if est.name in edge_cache else est.edges(model, task)
        return est.nodes(model, task, failure.kinds) if callable(est.nodes) else est.nodes
    except (WorkbookError, NotImplementedError) as err:
        return f"refused: {type(err).__name__}: {str(err).splitlines()[0][:160]}"


def cell(scores: Scores | str, truth: Scores, target: str | None) -> dict:
    """``{"missed", "important", "cost", "false_negatives", "target_rank"}`` or ``{"reason"}``."""
    if isinstance(scores, str):
        return {"reason": scores}
    if scores.kind == "edge" and truth.kind == "node":
        scores = edge_totals(scores, truth.names)
    missed = wb.false_negatives(scores, truth, TAU)
    out = {"missed": len(missed), "important": len(wb.important(truth, TAU)),
           "cost": wb.verification_cost(scores, truth, TAU), "false_negatives": missed,
           "spearman": wb.rank_correlation(scores, truth)}
    if target is not None and target in truth:
        out["target_rank"] = {"truth": truth.rank(target), "method": scores.select(truth.names).rank(target)}
    return out


def run_failure(failure: Failure, ests: list[Estimator], case_cache: dict, use_mib: bool) -> dict:
    """Every estimator on one failure; the case's CPR/CMD once per model/task (cached in ``case_cache``)."""
    t0 = time.perf_counter()
    if ("model", failure.case) not in case_cache:
        case_cache[("model", failure.case)] = load_case(failure)
    model, task = case_cache[("model", failure.case)]
    edge_cache = case_cache.setdefault(("edges", failure.case), {})
    for e in ests:
        if e.name not in edge_cache and callable(e.edges):
            got = estimate(e, model, task, Failure(**{**failure.__dict__, "family": "edges"}), {})
            if isinstance(got, Scores):
                edge_cache[e.name] = got
    raw = {e.name: estimate(e, model, task, failure, edge_cache) for e in ests}
    truth = ground_truth(model, task, failure, edge_cache)
    cells = {name: cell(s, truth, failure.target) for name, s in raw.items()}
    if use_mib and ("mib", failure.case) not in case_cache:
        case_cache[("mib", failure.case)] = mib_row(model, task, ests, edge_cache)
    gap = task.baselines(model)
    return {"failure": failure.name, "what": failure.what, "case": failure.case, "family": failure.family,
            "target": failure.target, "n_components": len(truth), "truly_important": wb.important(truth, TAU),
            "baselines": list(gap), "cells": cells, "wall_s": time.perf_counter() - t0}


def mib_row(model, task, ests: list[Estimator], edge_cache: dict) -> dict:
    """CPR/CMD of every edge estimator on one model/task, or the reason it has none."""
    mib = importlib.import_module("workbook.analysis.mib")
    out = {}
    for e in ests:
        if e.name in edge_cache:
            r = mib.mib_scores(model, task, edge_cache[e.name])
            out[e.name] = {"cpr": r["cpr"], "cmd": r["cmd"]}
        else:
            out[e.name] = {"reason": e.edges if isinstance(e.edges, str) else "its edge scores were refused"}
    return out


# ------------------------------------------------------------------------------------------ the verdicts

def verdicts(rows: list[dict], ests: list[Estimator]) -> dict[str, dict]:
    """Per estimator: failures it has no false negative on, ones it misses, ones it is worse than its baseline on.

    The baseline is the plain gradient of its family: AtP on node failures, EAP on edge failures.
    Better = fewer false negatives, or as many at a lower verification cost; worse = the reverse.
    """
    out = {}
    for e in ests:
        wins, fails, worse, better, skipped = [], [], [], [], []
        for r in rows:
            c = r["cells"][e.name]
            if "reason" in c:
                skipped.append(r["failure"])
                continue
            base = r["cells"]["EAP" if r["family"] == "edges" else "AtP"]
            (fails if c["missed"] else wins).append(r["failure"])
            if "missed" in base and e.name not in ("AtP", "EAP"):
                if c["missed"] > base["missed"] or (c["missed"] == base["missed"] and c["cost"] > base["cost"]):
                    worse.append(r["failure"])
                elif c["missed"] < base["missed"] or c["cost"] < base["cost"]:
                    better.append(r["failure"])
        out[e.name] = {"no_false_negative": wins, "misses": fails, "fixes_baseline": better,
                       "worse_than_baseline": worse, "not_scored": skipped}
    return out


# ------------------------------------------------------------------------------------------ rendering

def _fmt_cell(c: dict) -> str:
    if "reason" in c:
        return f"– ({c['reason']})"
    return f"{c['missed']}/{c['important']} ({c['cost']})"


def render(rows: list[dict], ests: list[Estimator], mib: dict, meta: dict) -> str:
    names = [e.name for e in ests]
    lines = ["# The fix-for-failure matrix", "",
             f"Generated by `python scripts/fix_matrix.py` ({meta['wall_s']:.0f} s on {meta['machine']}, torch "
             f"{meta['torch']}, {meta['threads']} thread). Definitions in the script's docstring; unrounded numbers "
             "and each method's false negatives by name in `fix_matrix.json`.", "",
             "Cells: `missed/important (verification cost)` against activation patching; an edge method on a node "
             "failure scores each node by the total of its edges; `–` = the estimator cannot score these components "
             "(reason in brackets).", "", "## Where each estimator wins and where it fails (computed)", ""]
    v = verdicts(rows, ests)
    for e in ests:
        r = v[e.name]
        base = "AtP/EAP" if e.name not in ("AtP", "EAP") else "-"
        line = (f"* **{e.name}**: no false negative on {len(r['no_false_negative'])} of "
                f"{len(rows) - len(r['not_scored'])} failures it scores; misses on: "
                + (", ".join(f"{f} ({_fmt_cell(next(x for x in rows if x['failure'] == f)['cells'][e.name])})"
                             for f in r["misses"]) or "none"))
        if base != "-":
            line += (f"; better than the plain gradient (AtP / EAP: fewer false negatives, or as many at a lower "
                     f"verification cost) on: {', '.join(r['fixes_baseline']) or 'none'}; "
                     f"worse than it on: {', '.join(r['worse_than_baseline']) or 'none'}")
        if r["not_scored"]:
            line += f"; not scored: {len(r['not_scored'])}"
        lines.append(line + ".")
    lines += ["", "## Best estimators per failure (computed: fewest false negatives, then lowest cost)", ""]
    for r in rows:
        scored = {n: c for n, c in r["cells"].items() if "missed" in c}
        key = min((c["missed"], c["cost"]) for c in scored.values())
        best = [n for n, c in scored.items() if (c["missed"], c["cost"]) == key]
        lines.append(f"* **{r['failure']}** (`{r['case']}`, K = {len(r['truly_important'])}): {', '.join(best)} "
                     f"({key[0]} missed, verification cost {key[1]} of {r['n_components']}).")
    lines += ["", "## The matrix", "", "| failure | what | K | " + " | ".join(names) + " |",
              "|---|---|---|" + "---|" * len(names)]
    for r in rows:
        lines.append(f"| {r['failure']} | {r['what']} | {len(r['truly_important'])} | "
                     + " | ".join(_fmt_cell(r["cells"][n]) for n in names) + " |")
    if mib:
        cases = list(mib)
        lines += ["", "## CPR / CMD (MIB's yardstick, `workbook.analysis.mib`) per model and task", "",
                  "CPR: area under faithfulness, edges chosen by signed score (higher is better); CMD: area under "
                  "|1 - f|, edges by |score| (lower is better).", "",
                  "| estimator | " + " | ".join(cases) + " |", "|---|" + "---|" * len(cases)]
        for n in names:
            cells = []
            for case in cases:
                c = mib[case][n]
                cells.append(f"{c['cpr']:.2f} / {c['cmd']:.3f}" if "cpr" in c else "–")
            if any(c != "–" for c in cells):
                lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("Not on MIB's yardstick (no edge scores): " + "; ".join(
            f"{n} ({mib[cases[0]][n]['reason']})" for n in names if "reason" in mib[cases[0]][n]) + ".")
    if mib and not meta.get("real_mib") and any(r["case"].startswith("smollm2") for r in rows):
        lines += ["", "CPR/CMD on SmolLM2: not computed in this run (70,651 edges: 16 edge-masked forwards per "
                  "estimator; `--real-mib` computes them)."]
    if meta.get("skipped"):
        lines += ["", "Not run: " + "; ".join(f"{k} ({v})" for k, v in meta["skipped"].items()) + "."]
    return "\n".join(lines) + "\n"


def build_matrix(failures: list[Failure], use_mib: bool = True, ests: list[Estimator] | None = None,
                 after=None) -> dict:
    """The core: ``{"rows", "mib", "verdicts"}`` for ``failures`` (what the script writes and the test runs).

    ``after(result)``, if given, is called after every failure with the result so far.
    """
    ests = ests or estimators()
    cache: dict = {}
    rows = []
    for f in failures:
        print(f"[{f.name}]", flush=True)
        rows.append(run_failure(f, ests, cache, use_mib and (f.model != "smollm2" or REAL_MIB)))
        if after is not None:
            after(_result(rows, cache, ests))
    return _result(rows, cache, ests)


def _result(rows: list[dict], cache: dict, ests: list[Estimator]) -> dict:
    mib = {case: val for (kind, case), val in cache.items() if kind == "mib"}
    return {"rows": list(rows), "mib": mib, "verdicts": verdicts(rows, ests), "estimators": [e.name for e in ests]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--failures", nargs="+", default=None, help="names (or prefixes) of FAILURES rows")
    ap.add_argument("--no-real", action="store_true", help="skip SmolLM2")
    ap.add_argument("--no-mib", action="store_true", help="skip CPR/CMD")
    ap.add_argument("--real-mib", action="store_true", help="CPR/CMD on SmolLM2 too (slow on a CPU)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "fix_matrix.md")
    ap.add_argument("--render", type=Path, metavar="JSON", help="only re-render the Markdown from a written JSON")
    args = ap.parse_args(argv)
    if args.render:
        data = json.loads(args.render.read_text())
        ests = [e for e in estimators() if e.name in data["estimators"]]
        data["verdicts"] = verdicts(data["rows"], ests)
        args.out.write_text(render(data["rows"], ests, data["mib"], data["meta"]))
        args.render.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"rendered {args.out} from {args.render}")
        return 0
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    chosen = [f for f in FAILURES if not args.failures or any(f.name.startswith(p) for p in args.failures)]
    skipped = {}
    if args.no_real:
        skipped.update({f.name: "--no-real" for f in chosen if f.model == "smollm2"})
    else:
        try:
            zoo.load_model("smollm2")
        except Exception as err:  # noqa: BLE001 - offline without the cached model: say so, go on
            why = f"SmolLM2 not available: {type(err).__name__}"
            skipped.update({f.name: why for f in chosen if f.model == "smollm2"})
    chosen = [f for f in chosen if f.name not in skipped]
    use_mib = not args.no_mib and importlib.util.find_spec("workbook.analysis.mib") is not None
    global REAL_MIB
    REAL_MIB = args.real_mib
    t0 = time.perf_counter()
    ests = estimators()

    def write(result: dict) -> None:  # after every failure: a killed run leaves a consistent report
        done = {r["failure"] for r in result["rows"]}
        pending = {f.name: "not finished when the report was written" for f in chosen if f.name not in done}
        meta = {"wall_s": time.perf_counter() - t0, "machine": f"{platform.machine()} CPU", "torch": torch.__version__,
                "threads": torch.get_num_threads(), "tau": TAU, "skipped": {**skipped, **pending}, "mib": use_mib,
                "real_mib": REAL_MIB}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render(result["rows"], ests, result["mib"], meta))
        args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, **result}, indent=1, sort_keys=True) + "\n")

    write(build_matrix(chosen, use_mib, ests, after=write))
    print(f"wrote {args.out} and {args.out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
