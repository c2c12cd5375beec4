"""Hunt the four attribution failures in the 6-layer ``mixture`` model, task by task, against patching.

    python scripts/hunt_deep.py                       # all six tasks -> docs/hunt_deep.md (+ .json, figure)
    python scripts/hunt_deep.py --tasks ioi sva --n 8 --out /tmp/hunt.md   # a quick look

For each task of ``zoo.load("mixture", task=...)`` (``--n`` prompt pairs from ``--seed``; seed 1
is neither the training stream nor the training script's held-out set), noising convention:

* ground truth: :func:`workbook.patching.nodes.patch_nodes` (kinds head, mlp, neuron, q, k; q/k also
  per position) and exact patching of every edge (:func:`workbook.patching.nodes.patch_edges`);
* estimates: AtP, the AtP* QK fix (q/k), GradDrop (head, mlp, neuron), EAP, EAP-IG (m=5),
  EAP-GP (k=5, unit steps);
* direct / indirect split of heads, MLPs and neurons (:mod:`workbook.patching.direct_effects`).

False negatives (the course's definition): with ``tau`` = ``--tau`` (0.5), a component is *truly
important* when ``|true| >= tau * max|true|`` among the components of its kind; a method
*misses* it when it ranks it (by ``|estimate|``) outside its top ``K``, ``K`` = the number of
truly important components. *Verification cost* = how many components must be patched in the
method's order before every truly important one has been patched. A group of components (one
node kind, or the edges) whose largest true effect is below ``MIN_EFFECT`` (2 %) of the task's
``|M(clean) - M(corrupt)|`` has nothing important: with a saturated metric such a group's
"important" components would be noise (shown as ``–``).

The four hunts (rows list every hit; "significant" = ``|true| >= SIGNIFICANT * max|true|`` and
above the 2 % floor):

1. saturation — q/k nodes AtP misses; "QK fix recovers" = the QK fix ranks it inside its top K.
   Also counted: significant q/k nodes with ``|true| >= RATIO * |AtP|``.
2. cancellation — heads, MLPs and neurons (all positions; heads and MLPs also per position)
   with ``|true| >= SIGNIFICANT * max`` of their group and above a lower search floor
   (``SEARCH_FLOOR`` = 0.1 % of the gap: individual neurons are small), ``|true| >= RATIO * |AtP|``
   (the *ratio hits*, all listed with their split), and direct and indirect effects of opposite
   signs, the smaller part at least ``CANCEL_SHARE * |true|`` (so something really cancels; a
   part that is ~0 with a stray sign does not count); GradDrop's value and rank beside AtP's.
   "GradDrop exposes" = GradDrop ranks it within twice its true rank while AtP does not.
3. zero gradient — edges EAP misses; "EAP-IG recovers" = EAP-IG ranks it inside its top K.
   Also counted: significant edges with ``|true| >= RATIO * |EAP|``.
4. path saturation — edges EAP-IG misses and EAP-GP ranks inside its top K (and the reverse);
   significant edges where EAP-GP's error is at most half EAP-IG's.

Faithfulness curves (Hanna et al.'s figure): greedy circuits (:func:`workbook.analysis.circuits.greedy`)
from EAP, EAP-IG, EAP-GP and from the exact edge effects themselves, evaluated at
:data:`SIZES`; the edge count each needs for 80 % normalised faithfulness is the smallest
evaluated size that reaches it (:func:`workbook.analysis.circuits.edges_to_reach`).
Every number in the Markdown table comes from this run; the JSON holds them unrounded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

os.environ.setdefault("WORKBOOK_PROGRESS", "0")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hunt_failures import _attn_max  # noqa: E402  (a sibling script: the same attention-peak probe)

from workbook.analysis import circuits  # noqa: E402
from workbook.arch.graph import Graph  # noqa: E402
from workbook.attribution.atp import atp  # noqa: E402
from workbook.attribution.eap import eap  # noqa: E402
from workbook.attribution.eap_gp import eap_gp  # noqa: E402
from workbook.attribution.eap_ig import eap_ig  # noqa: E402
from workbook.attribution.graddrop import graddrop  # noqa: E402
from workbook.attribution.qk_fix import atp_qk_fix  # noqa: E402
from workbook.core.scores import Scores, false_negatives, important, rank_correlation, verification_cost  # noqa: E402
from workbook.models import zoo
from workbook.patching.direct_effects import direct_effects  # noqa: E402
from workbook.patching.edges import patch_edges
from workbook.patching.nodes import patch_nodes  # noqa: E402

MODEL = "mixture"
RATIO = 5.0
SIGNIFICANT = 0.1
MIN_EFFECT = 0.02
SEARCH_FLOOR = 0.001
CANCEL_SHARE = 0.1
LEVEL = 0.8
SIZES = [5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1000, 1500, 2000, 3000]


# --------------------------------------------------------------------------- false negatives
# the course's definitions (workbook.core.scores): important(truth, tau), false_negatives(est, truth, tau),
# verification_cost(est, truth, tau); ties of float noise rank last
missed = false_negatives


class Crit:
    """The hunt's thresholds for one task: ``tau`` (false negatives) and the absolute floor.

    ``floor = MIN_EFFECT * |M(clean) - M(corrupt)|``: a group of components whose largest true
    effect is below it has nothing important (its "important" components would be noise-level
    nodes of a saturated metric), and no component below it counts as significant.
    """

    def __init__(self, tau: float, gap: float):
        self.tau, self.gap, self.floor = tau, abs(gap), MIN_EFFECT * abs(gap)

    def active(self, truth: Scores) -> bool:
        return float(truth.values.abs().max()) >= self.floor

    def important(self, truth: Scores) -> list[str]:
        return important(truth, self.tau) if self.active(truth) else []

    def missed(self, est: Scores, truth: Scores) -> list[str]:
        return missed(est, truth, self.tau) if self.active(truth) else []

    def significant(self, truth: Scores, floor: float | None = None) -> list[str]:
        """``|true| >= SIGNIFICANT * max`` and at least ``floor`` (default: the 2 % floor)."""
        floor = self.floor if floor is None else floor
        big = float(truth.values.abs().max())
        return [c for c in important(truth, SIGNIFICANT) if abs(truth[c]) >= floor] if big >= floor else []

    def max_share(self, truth: Scores) -> float:
        """The largest true effect of a group as a share of ``|M(clean) - M(corrupt)|``."""
        return float(truth.values.abs().max()) / self.gap

    def summary(self, est: Scores, truth: Scores) -> dict | None:
        """False-negative summary of ``est``; ``None`` when the group has nothing above the floor."""
        if not self.active(truth):
            return None
        return {"important": len(important(truth, self.tau)), "missed": missed(est, truth, self.tau),
                "verification_cost": verification_cost(est, truth, self.tau),
                "spearman": rank_correlation(est, truth), "max_true": float(truth.values.abs().max())}


# --------------------------------------------------------------------------- one task
class Timer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, label: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t0
        return out


def _entry(comp: str, truth: Scores, **est: Scores) -> dict:
    row = {"component": comp, "true": truth[comp], "true_rank": truth.rank(comp)}
    for key, sc in est.items():
        row[key] = sc[comp]
        row[f"{key}_rank"] = sc.select(truth.names).rank(comp)
    return row


def hunt_saturation(model, task, crit: Crit, t: Timer) -> dict:
    out = {"groups": {}, "rows": []}
    for per_pos in (False, True):
        truth = {k: t("truth q/k" + (" per pos" if per_pos else ""), patch_nodes, model, task, k, per_pos) for k in "qk"}
        est = {k: t("AtP q/k", atp, model, task, k, per_pos) for k in "qk"}
        fix = {k: t("QK fix", atp_qk_fix, model, task, k, per_pos) for k in "qk"}
        for k in "qk":
            tag = f"{k}" + (" per position" if per_pos else " (all positions)")
            tr, a, f = truth[k], est[k], fix[k]
            big = [c for c in crit.significant(tr) if abs(tr[c]) >= RATIO * abs(a[c])]
            out["groups"][tag] = {"n": len(tr), "atp": crit.summary(a, tr), "qk_fix": crit.summary(f, tr),
                                  "max_share": crit.max_share(tr),
                                  "ratio_hits": len(big),
                                  "ratio_hits_fix_within_50pct": sum(abs(f[c] - tr[c]) <= 0.5 * abs(tr[c]) for c in big)}
            fix_missed = set(crit.missed(f, tr))
            rows = crit.missed(a, tr)
            attn = _attn_max(model, task, rows)
            for c in rows:
                out["rows"].append({**_entry(c, tr, atp=a, qk_fix=f), "nodes": tag, "attn_max": attn[c],
                                    "recovered": c not in fix_missed})
    return out


def hunt_cancellation(model, task, crit: Crit, t: Timer) -> dict:
    out = {"groups": {}, "rows": []}
    for kind, per_pos in (("head", False), ("mlp", False), ("neuron", False), ("head", True), ("mlp", True)):
        tr = t(f"truth {kind}" + (" per pos" if per_pos else ""), patch_nodes, model, task, kind, per_pos)
        a = t("AtP nodes", atp, model, task, kind, per_pos)
        g = t("GradDrop", graddrop, model, task, kind, per_pos)
        sig = crit.significant(tr, SEARCH_FLOOR * crit.gap)
        ratio = [c for c in sig if abs(tr[c]) >= RATIO * abs(a[c])]
        # direct effects of the candidates only (one patched run each; every neuron would double the cost)
        d = t("direct effects", direct_effects, model, task, kind, per_pos, nodes=ratio) if ratio else None
        kind = kind + ("@pos" if per_pos else "")
        indirect = {c: tr[c] - d[c] for c in ratio}
        cancel = [c for c in ratio if d[c] * indirect[c] < 0 and min(abs(d[c]), abs(indirect[c])) >= CANCEL_SHARE * abs(tr[c])]
        out["groups"][kind] = {"n": len(tr), "atp": crit.summary(a, tr), "graddrop": crit.summary(g, tr),
                               "max_share": crit.max_share(tr), "significant": len(sig), "ratio_hits": len(ratio),
                               "cancellations": len(cancel)}
        out.setdefault("ratio_hits", []).extend(
            {"kind": kind, **_entry(c, tr, atp=a, graddrop=g), "direct": d[c], "indirect": indirect[c]} for c in ratio)
        for c in cancel:
            row = _entry(c, tr, atp=a, graddrop=g)
            row.update(kind=kind, direct=d[c], indirect=indirect[c],
                       exposed=row["graddrop_rank"] <= 2 * row["true_rank"] < row["atp_rank"])
            out["rows"].append(row)
    return out


def hunt_edges(model, task, crit: Crit, t: Timer) -> tuple[dict, dict[str, Scores]]:
    tr = t("truth edges", patch_edges, model, task)
    sc = {"EAP": t("EAP", eap, model, task), "EAP-IG": t("EAP-IG", eap_ig, model, task, 5),
          "EAP-GP": t("EAP-GP", eap_gp, model, task, 5)}
    e, ig, gp = sc["EAP"], sc["EAP-IG"], sc["EAP-GP"]
    summary = {m: crit.summary(s, tr) for m, s in sc.items()}
    sig = crit.significant(tr)
    zero = [c for c in sig if abs(tr[c]) >= RATIO * abs(e[c])]
    ig_missed, gp_missed = set(crit.missed(ig, tr)), set(crit.missed(gp, tr))
    zrows = [{**_entry(c, tr, eap=e, eap_ig=ig), "recovered": c not in ig_missed} for c in crit.missed(e, tr)]
    err = lambda s, c: abs(s[c] - tr[c])  # noqa: E731
    prows = [{**_entry(c, tr, eap_ig=ig, eap_gp=gp), "gp_recovers": c not in gp_missed}
             for c in sorted(ig_missed | gp_missed, key=tr.order().index)]
    path = {"gp_half_error": sum(err(gp, c) <= 0.5 * err(ig, c) for c in sig),
            "ig_half_error": sum(err(ig, c) <= 0.5 * err(gp, c) for c in sig),
            "gp_closer": sum(err(gp, c) < err(ig, c) for c in sig), "significant": len(sig),
            "gp_info": {k: v for k, v in gp.info.items() if "distance" in k}}
    out = {"n": len(tr), "summary": summary, "significant": len(sig), "zero_ratio_hits": len(zero),
           "max_share": crit.max_share(tr),
           "zero_ratio_hits_ig_within_50pct": sum(err(ig, c) <= 0.5 * abs(tr[c]) for c in zero),
           "zero_rows": zrows, "path": path, "path_rows": prows}
    return out, {**sc, "edge patching": tr}


def faithfulness(model, task, scores: dict[str, Scores], t: Timer) -> dict:
    n_edges = Graph.from_model(model).n_edges
    sizes = [s for s in SIZES if s < n_edges] + [n_edges]
    out = {}
    for m, sc in scores.items():
        counts, faith = t("faithfulness curves", circuits.faithfulness_curve, model, task, sc, sizes)
        out[m] = {"sizes": sizes, "n_edges": counts, "faithfulness": faith,
                  "edges_for_80": circuits.edges_to_reach(counts, faith, LEVEL)}
    return out


def hunt_task(name: str, n: int, seed: int, tau: float, model_name: str = MODEL, log=print) -> dict:
    model, task = zoo.load(model_name, task=name, n=n, seed=seed)
    t = Timer()
    t0 = time.perf_counter()
    clean, corr = task.baselines(model)
    crit = Crit(tau, clean - corr)
    res = {"task": name, "n": n, "seed": seed, "clean": clean, "corrupt": corr, "floor": crit.floor}
    res["saturation"] = hunt_saturation(model, task, crit, t)
    res["cancellation"] = hunt_cancellation(model, task, crit, t)
    res["edges"], edge_scores = hunt_edges(model, task, crit, t)
    res["faithfulness"] = faithfulness(model, task, edge_scores, t)
    res["seconds"] = {**t.seconds, "total": time.perf_counter() - t0}
    log(f"{name}: {res['seconds']['total']:.0f}s")
    return res


# --------------------------------------------------------------------------- report
def _f(x, spec="+.3g") -> str:
    return "–" if x is None else format(x, spec)


def _fn(s: dict | None) -> str:
    return "–" if s is None else f"{len(s['missed'])}/{s['important']} (cost {s['verification_cost']})"


SAT_GROUPS = ("q (all positions)", "k (all positions)", "q per position", "k per position")
NODE_GROUPS = ("head", "mlp", "neuron", "head@pos", "mlp@pos")
SHORT = {"q (all positions)": "q", "k (all positions)": "k", "q per position": "q@pos", "k per position": "k@pos"}
RUNTIME = ("truth q/k", "truth q/k per pos", "AtP q/k", "QK fix", "truth head", "truth mlp", "truth neuron",
           "truth head per pos", "truth mlp per pos", "AtP nodes", "GradDrop", "direct effects", "truth edges",
           "EAP", "EAP-IG", "EAP-GP", "faithfulness curves", "total")


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def markdown(results: list[dict], meta: dict, fig: str | None) -> str:
    tau = meta["tau"]
    md = [f"# Failure hunt on the zoo model `{meta['model']}`", "",
          f"Generated by `{meta['command']}` ({meta['seconds']:.0f} s on {meta['machine']}, "
          f"torch {meta['torch']}, {meta['threads']} thread). Model `{meta['model']}` "
          f"({meta['arch']}); {meta['n']} prompt pairs per task from seed {meta['seed']}; noising convention. "
          "Definitions are in the docstring of `scripts/hunt_deep.py`; the unrounded numbers are in "
          f"`{meta['json']}`.", "",
          f"**False negatives** (cells `missed/important (cost)`): truly important = `|true| >= {tau} x max|true|` "
          "of that kind; missed = ranked outside the method's top K, K = number truly important; cost = "
          "components patched in the method's order until all truly important ones are found. `–` = no component "
          f"of that group reaches {MIN_EFFECT:.0%} of the task's |M(clean) - M(corrupt)| (nothing important to miss).", ""]
    md += ["## Summary", ""]
    head = ["task", "M(clean)", "M(corrupt)"]
    for tag in SAT_GROUPS:
        head += [f"{SHORT[tag]} AtP", f"{SHORT[tag]} QK fix"]
    for kind in NODE_GROUPS[:3]:
        head += [f"{kind} AtP", f"{kind} GradDrop"]
    head += ["edge EAP", "edge EAP-IG", "edge EAP-GP"]
    rows = []
    for r in results:
        sg, cg, eg = r["saturation"]["groups"], r["cancellation"]["groups"], r["edges"]["summary"]
        cells = [r["task"], _f(r["clean"], ".3g"), _f(r["corrupt"], ".3g")]
        for tag in SAT_GROUPS:
            cells += [_fn(sg[tag]["atp"]), _fn(sg[tag]["qk_fix"])]
        for kind in NODE_GROUPS[:3]:
            cells += [_fn(cg[kind]["atp"]), _fn(cg[kind]["graddrop"])]
        rows.append(cells + [_fn(eg[m]) for m in ("EAP", "EAP-IG", "EAP-GP")])
    md += _table(head, rows)
    md += ["", "Largest true effect of each group, as a share of |M(clean) - M(corrupt)| (how concentrated "
           "each task's computation is):", ""]
    md += _table(["task"] + [SHORT[t] for t in SAT_GROUPS] + list(NODE_GROUPS) + ["edge"], [
        [r["task"]] + [f"{r['saturation']['groups'][t]['max_share']:.2%}" for t in SAT_GROUPS]
        + [f"{r['cancellation']['groups'][k]['max_share']:.2%}" for k in NODE_GROUPS]
        + [f"{r['edges']['max_share']:.2%}"] for r in results])

    md += ["", "## 1. Saturation: q/k nodes AtP misses", "",
           "Rows: truly important q/k nodes AtP ranks outside its top K; `attn max` = batch-mean largest clean "
           "attention probability of the node's query row (the last position for all-position nodes).", ""]
    md += _table(["task", "node", "true", "AtP", "QK fix", "rank true/AtP/QK fix", "attn max", "QK fix recovers"], [
        [r["task"], x["component"], _f(x["true"]), _f(x["atp"]), _f(x["qk_fix"]),
         f"{x['true_rank']}/{x['atp_rank']}/{x['qk_fix_rank']}", f"{x['attn_max']:.2f}", "yes" if x["recovered"] else "no"]
        for r in results for x in r["saturation"]["rows"]])
    md += ["", f"Significant q/k nodes with `|true| >= {RATIO:g} x |AtP|` (in brackets: how many the QK fix gets "
           "within 50 %):", ""]
    md += _table(["task"] + [SHORT[t] for t in SAT_GROUPS], [
        [r["task"]] + [f"{r['saturation']['groups'][t]['ratio_hits']} ({r['saturation']['groups'][t]['ratio_hits_fix_within_50pct']})"
                       for t in SAT_GROUPS] for r in results])

    md += ["", "## 2. Cancellation: direct and indirect effects of opposite sign", "",
           f"Searched: heads, MLPs and all {meta['neurons']} MLP neurons (all positions), heads and MLPs per position. "
           f"Candidates: `|true| >= {SIGNIFICANT} x max` of the group and `>= {SEARCH_FLOOR:.1%}` of the gap (*significant*), "
           f"and `|true| >= {RATIO:g} x |AtP|` (*ratio hits*). A cancellation also needs direct effect (everything "
           "downstream frozen, `workbook.patching.direct_effects`) and indirect effect (total - direct) of opposite signs, the "
           f"smaller at least {CANCEL_SHARE:g} x |true|. Counts `significant / ratio hits / cancellations`:", ""]
    md += _table(["task"] + list(NODE_GROUPS), [
        [r["task"]] + [f"{g['significant']} / {g['ratio_hits']} / {g['cancellations']}"
                       for g in (r["cancellation"]["groups"][k] for k in NODE_GROUPS)] for r in results])
    canc = [(r["task"], x) for r in results for x in r["cancellation"]["rows"]]
    md += ["", "Cancellations found:" if canc else "**No cancellation found** in any group of any task.", ""]
    if canc:
        md += _table(["task", "component", "true", "direct", "indirect", "AtP", "GradDrop", "rank true/AtP/GradDrop",
                      "GradDrop exposes"], [
            [t, x["component"], _f(x["true"]), _f(x["direct"]), _f(x["indirect"]), _f(x["atp"]), _f(x["graddrop"]),
             f"{x['true_rank']}/{x['atp_rank']}/{x['graddrop_rank']}", "yes" if x["exposed"] else "no"] for t, x in canc])
        md.append("")
    md += ["Every ratio hit with its split (where AtP is at least 5x too small, and why):", ""]
    md += _table(["task", "group", "component", "true", "direct", "indirect", "AtP", "GradDrop", "rank true/AtP/GradDrop"], [
        [r["task"], x["kind"], x["component"], _f(x["true"]), _f(x["direct"]), _f(x["indirect"]), _f(x["atp"]),
         _f(x["graddrop"]), f"{x['true_rank']}/{x['atp_rank']}/{x['graddrop_rank']}"]
        for r in results for x in r["cancellation"].get("ratio_hits", [])])

    md += ["", "## 3. Zero gradient: edges EAP misses", "", "Rows: truly important edges EAP ranks outside its top K.", ""]
    md += _table(["task", "edge", "true", "EAP", "EAP-IG", "rank true/EAP/EAP-IG", "EAP-IG recovers"], [
        [r["task"], x["component"], _f(x["true"]), _f(x["eap"]), _f(x["eap_ig"]),
         f"{x['true_rank']}/{x['eap_rank']}/{x['eap_ig_rank']}", "yes" if x["recovered"] else "no"]
        for r in results for x in r["edges"]["zero_rows"]])
    md += ["", f"Significant edges with `|true| >= {RATIO:g} x |EAP|`: " + "; ".join(
        f"{r['task']} {r['edges']['zero_ratio_hits']} of {r['edges']['significant']} "
        f"({r['edges']['zero_ratio_hits_ig_within_50pct']} within 50 % with EAP-IG)" for r in results) + "."]

    md += ["", "## 4. Path saturation: EAP-GP against EAP-IG", "",
           "Rows: truly important edges EAP-IG or EAP-GP ranks outside its top K.", ""]
    md += _table(["task", "edge", "true", "EAP-IG", "EAP-GP", "rank true/IG/GP", "EAP-GP in its top K"], [
        [r["task"], x["component"], _f(x["true"]), _f(x["eap_ig"]), _f(x["eap_gp"]),
         f"{x['true_rank']}/{x['eap_ig_rank']}/{x['eap_gp_rank']}", "yes" if x["gp_recovers"] else "no"]
        for r in results for x in r["edges"]["path_rows"]])
    md += ["", "Significant edges where EAP-GP's error is at most half EAP-IG's (GP) and the reverse (IG): " + "; ".join(
        f"{r['task']} GP {r['edges']['path']['gp_half_error']} / IG {r['edges']['path']['ig_half_error']} of "
        f"{r['edges']['path']['significant']}" for r in results) + "."]

    methods = list(results[0]["faithfulness"]) if results else []
    if results:
        sizes = results[0]["faithfulness"][methods[0]]["sizes"]
        md += ["", "## 5. Faithfulness: edges needed for 80 % normalised faithfulness", "",
               f"Greedy circuits requested at {', '.join(map(str, sizes))} edges, then pruned (edges that do not "
               "connect the input to the logits are dropped, so a circuit can end smaller, even empty); the count is "
               "the smallest evaluated circuit (after pruning) reaching 0.8 (`>` = none did). `edge patching` selects "
               "by the exact single-edge effects (a reference, not a method). Last column: requested sizes whose "
               "circuit pruned to 0 edges.", ""]
        at = 100 if 100 in sizes else sizes[len(sizes) // 2]
        md += _table(["task"] + methods + [f"faithfulness at {at} requested edges ({' / '.join(methods)})",
                                           "pruned to empty (" + " / ".join(methods) + ")"], [
            [r["task"]] + [str(r["faithfulness"][m]["edges_for_80"]) if r["faithfulness"][m]["edges_for_80"]
                           else f"> {sizes[-1]}" for m in methods]
            + [" / ".join(f"{r['faithfulness'][m]['faithfulness'][sizes.index(at)]:.2f}" for m in methods)]
            + [" / ".join(",".join(str(q) for q, n in zip(sizes, r["faithfulness"][m]["n_edges"]) if n == 0) or "none"
                          for m in methods)]
            for r in results])
    if fig:
        md += ["", f"![faithfulness curves]({fig})"]
    md += ["", "## Runtime (seconds)", ""]
    md += _table(["task"] + list(RUNTIME), [[r["task"]] + [f"{r['seconds'].get(k, 0.0):.1f}" for k in RUNTIME]
                                           for r in results])
    return "\n".join(md) + "\n"


def figure(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(results))
    rows = (len(results) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, r in zip(axes.flat, results):
        for m, c in r["faithfulness"].items():
            pts = [(n, f) for n, f in zip(c["n_edges"], c["faithfulness"]) if n > 0]  # 0-edge circuits: not on a log axis
            ax.plot(*zip(*pts), marker="o", ms=2.5, label=m, ls=":" if m == "edge patching" else "-")
        ax.axhline(LEVEL, color="grey", lw=0.7, ls="--")
        ax.set_xscale("log")
        ax.set_title(r["task"], fontsize=10)
        ax.set_xlabel("edges in circuit (after pruning)")
        ax.set_ylabel("normalised faithfulness")
    for ax in list(axes.flat)[len(results):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MODEL, help="a zoo model (default: the mixture model)")
    parser.add_argument("--tasks", nargs="*", default=None, help="default: every task of the model")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tau", type=float, default=0.5)
    parser.add_argument("--out", default="docs/hunt_deep.md", help="Markdown table; .json and _faithfulness.png beside it")
    parser.add_argument("--render-only", action="store_true",
                        help="recompute nothing: rewrite the table and figure from the .json beside --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    json_path, fig_path = out.with_suffix(".json"), out.with_name(out.stem + "_faithfulness.png")
    if args.render_only:
        data = json.loads(json_path.read_text())
        figure(data["results"], fig_path)
        out.write_text(markdown(data["results"], data["meta"], fig_path.name))
        print(f"rewrote {out} and {fig_path} from {json_path}")
        return
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tasks = args.tasks or zoo.tasks(args.model)
    t0 = time.perf_counter()
    results = [hunt_task(name, args.n, args.seed, args.tau, args.model) for name in tasks]
    out.parent.mkdir(parents=True, exist_ok=True)
    figure(results, fig_path)
    inf = zoo.info(args.model)["architecture"]
    meta = {"command": "python scripts/hunt_deep.py" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(argv or sys.argv[1:])),
            "seconds": time.perf_counter() - t0, "machine": f"{platform.machine()} CPU", "torch": torch.__version__,
            "threads": torch.get_num_threads(), "model": args.model, "n": args.n,
            "neurons": (inf["n_inner"] or 4 * inf["n_embd"]) * inf["n_layer"], "seed": args.seed, "tau": args.tau,
            "arch": f"{inf['n_layer']} layers, d_model {inf['n_embd']}, {inf['n_head']} heads, d_mlp {inf['n_inner'] or 4 * inf['n_embd']}",
            "json": json_path.name}
    json_path.write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    out.write_text(markdown(results, meta, fig_path.name))
    print(f"wrote {out}, {json_path}, {fig_path} in {meta['seconds']:.0f}s")


if __name__ == "__main__":
    main()
