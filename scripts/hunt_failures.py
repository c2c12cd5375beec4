"""Look for each attribution failure mode in the trained zoo models, against activation patching.

    python scripts/hunt_failures.py [--models ioi induction] [--n 32] [--seed 1] [--out out/failures.json]

For every single-task trained model (the 2-layer ``ioi`` and ``induction``; the 6-layer
``mixture`` model has its own hunt, ``scripts/hunt_deep.py``) and its task (``n`` pairs from
``seed``; the default seed 1 is not one the models were trained or evaluated on), noising:

1. saturation — q/k nodes (per head over all positions, and per position) whose true effect
   (``patch_nodes what="q"/"k"``) is significant but whose AtP estimate is far too small or
   ranked far below the true rank; compared with the AtP* QK fix. ``attn max`` = batch-mean
   largest clean attention probability of the head's query row (the node's position for per
   position q nodes, the last position otherwise).
2. cancellation — heads and MLP neurons with ``|true| / |AtP| >= RATIO``; compared with GradDrop
   (a magnitude, so compared with ``|true|``).
3. zero gradient — edges with ``|exact edge effect| / |EAP| >= RATIO``; compared with EAP-IG.
4. path saturation — significant edges where EAP-IG misses |true| by at least ``IG_MISS`` of it
   and EAP-GP's error is at most half of EAP-IG's.

"Significant" = ``|true| >= SIGNIFICANT * max |true|`` over the nodes/edges of that kind.
"Value ok" = the fix's estimate is within 50 % of ``|true|`` (GradDrop, whose sign is lost, on
magnitudes; the others with sign); "rank ok" = the fix ranks the component at most twice its
true rank; the printed verdict also says whether the fix is at least closer than the
uncorrected estimate. Modes that do not occur are reported as such; for path saturation the closest
near-miss (the significant edge where EAP-GP's error is smallest relative to EAP-IG's) is
recorded in the summary.
Fix modules are imported lazily; a missing one is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

os.environ.setdefault("WORKBOOK_PROGRESS", "0")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workbook.attribution.atp import atp  # noqa: E402
from workbook.attribution.eap import eap  # noqa: E402
from workbook.attribution.eap_gp import eap_gp  # noqa: E402
from workbook.attribution.eap_ig import eap_ig  # noqa: E402
from workbook.attribution.graddrop import graddrop  # noqa: E402
from workbook.attribution.qk_fix import atp_qk_fix  # noqa: E402
from workbook.core.runs import cache_activations  # noqa: E402
from workbook.core.scores import Scores, rank_correlation  # noqa: E402
from workbook.models import zoo  # noqa: E402
from workbook.patching.edges import patch_edges  # noqa: E402
from workbook.patching.nodes import patch_nodes  # noqa: E402

RATIO = 5.0
SIGNIFICANT = 0.1
MAX_ROWS_PER_MODE = 3
IG_MISS = 0.25  # path saturation: EAP-IG must miss by at least this share of |true|


def _rel_ok(est: float, true: float, signed: bool = True) -> bool:
    """Within 50 % of the true effect (on magnitudes when ``signed`` is False)."""
    e, t = (est, true) if signed else (abs(est), abs(true))
    return abs(e - t) <= 0.5 * abs(t)


def _row(mode, model, comp, truth: Scores, est: Scores, fixed: Scores | None, fix_name: str, signed=True, **extra):
    row = {
        "mode": mode, "model": model, "component": comp,
        "true": truth[comp], "true_rank": truth.rank(comp),
        "estimate": est[comp], "estimate_method": est.method, "estimate_rank": est.rank(comp),
        "fix_method": fix_name,
        "fixed": fixed[comp] if fixed is not None else None,
        "fixed_rank": fixed.rank(comp) if fixed is not None else None,
        "recovered": _rel_ok(fixed[comp], truth[comp], signed) if fixed is not None else None,
        "rank_recovered": (fixed.rank(comp) <= 2 * truth.rank(comp)) if fixed is not None else None,
        **extra,
    }
    if fixed is not None:
        t = truth[comp] if signed else abs(truth[comp])
        e_est = abs((est[comp] if signed else abs(est[comp])) - t)
        e_fix = abs((fixed[comp] if signed else abs(fixed[comp])) - t)
        est_rank_ok = est.rank(comp) <= 2 * truth.rank(comp)
        row["verdict"] = (
            "fix recovers value" if row["recovered"]
            else "fix recovers rank" if row["rank_recovered"] and not est_rank_ok and e_fix < e_est
            else "fix closer, still off" if e_fix < e_est
            else "fix does not help"
        )
    return row


def _significant(truth: Scores) -> list[str]:
    big = float(truth.values.abs().max())
    return [n for n in truth.order() if abs(truth[n]) >= SIGNIFICANT * big and big > 0]


def _attn_max(model, task, names: list[str]) -> dict[str, float]:
    """Batch-mean largest clean attention probability in the query row(s) of each q/k node.

    ``q@t``: row t; other q/k nodes: the read position's row (the last position)."""
    hooks = [f"blocks.{l}.attn.hook_pattern" for l in range(model.cfg.n_layers)]
    _, acts = cache_activations(model, task.clean, hooks)
    out = {}
    for n in names:
        head, _, rest = n.partition(".")
        l, h = (int(x) for x in head[1:].split("H"))
        pos = int(rest.split("@")[1]) if "@" in rest and rest.startswith("q") else -1
        out[n] = float(acts[hooks[l]][:, h, pos].max(-1).values.mean())
    return out


def hunt_saturation(name, model, task) -> tuple[list[dict], dict]:
    fix = atp_qk_fix
    rows, summary = [], {}
    for per_pos, kind in ((False, "q"), (False, "k"), (True, "q"), (True, "k")):
        truth = patch_nodes(model, task, kind, per_position=per_pos)
        est = atp(model, task, kind, per_position=per_pos)
        fixed = fix(model, task, kind, per_position=per_pos) if fix else None
        tag = f"{kind}, " + ("per position" if per_pos else "all positions")
        summary[tag] = {"spearman_atp": rank_correlation(est, truth),
                        "spearman_fix": rank_correlation(fixed, truth) if fixed else None}
        cands = [c for c in _significant(truth)
                 if abs(truth[c]) >= RATIO * abs(est[c]) or est.rank(c) >= 2 * truth.rank(c) + 3]
        attn = _attn_max(model, task, cands)
        for c in cands[:MAX_ROWS_PER_MODE]:
            rows.append(_row("saturation", name, c, truth, est, fixed, "AtP* QK fix", attn_max=attn[c], nodes=tag))
    return rows, summary


def hunt_cancellation(name, model, task) -> tuple[list[dict], dict]:
    fix = graddrop
    rows, summary = [], {}
    for kind in ("head", "neuron"):
        truth = patch_nodes(model, task, kind)
        est = atp(model, task, kind)
        fixed = fix(model, task, kind) if fix else None
        summary[kind] = {"spearman_atp": rank_correlation(est, truth),
                         "spearman_fix": rank_correlation(fixed, truth) if fixed else None}
        cands = [c for c in _significant(truth) if abs(truth[c]) >= RATIO * abs(est[c])]
        for c in cands[:MAX_ROWS_PER_MODE]:
            rows.append(_row("cancellation", name, c, truth, est, fixed, "AtP* GradDrop", signed=False))
    return rows, summary


def _edges(name, model, task, cache: dict) -> tuple[Scores, Scores]:
    if "edges" not in cache:
        cache["edges"] = (patch_edges(model, task), eap(model, task))
    return cache["edges"]


def hunt_zero_gradient(name, model, task, cache) -> tuple[list[dict], dict]:
    fix = eap_ig
    truth, est = _edges(name, model, task, cache)
    fixed = fix(model, task, steps=5) if fix else None
    cache["eap_ig"] = fixed
    summary = {"spearman_eap": rank_correlation(est, truth),
               "spearman_fix": rank_correlation(fixed, truth) if fixed else None}
    cands = [c for c in _significant(truth) if abs(truth[c]) >= RATIO * abs(est[c])]
    rows = [_row("zero gradient", name, c, truth, est, fixed, "EAP-IG (m=5)") for c in cands[:MAX_ROWS_PER_MODE]]
    return rows, summary


def hunt_path_saturation(name, model, task, cache) -> tuple[list[dict], dict]:
    fix = eap_gp
    truth, _ = _edges(name, model, task, cache)
    ig = cache.get("eap_ig")
    if ig is None or fix is None:
        return [], {"skipped": "EAP-IG or EAP-GP not available"}
    gp = fix(model, task, steps=5)
    summary = {"spearman_ig": rank_correlation(ig, truth), "spearman_gp": rank_correlation(gp, truth)}
    err = lambda s, c: abs(s[c] - truth[c])  # noqa: E731
    sig = _significant(truth)
    cands = [c for c in sig if err(gp, c) <= 0.5 * err(ig, c) and err(ig, c) >= IG_MISS * abs(truth[c])]
    summary["significant_edges"] = len(sig)
    summary["gp_closer_than_ig"] = sum(err(gp, c) < err(ig, c) for c in sig)
    if sig:
        best = min(sig, key=lambda c: err(gp, c) / max(err(ig, c), 1e-12))
        summary["closest_near_miss"] = {"edge": best, "true": truth[best], "eap_ig": ig[best], "eap_gp": gp[best]}
    rows = [_row("path saturation", name, c, truth, ig, gp, "EAP-GP (k=5)") for c in cands[:MAX_ROWS_PER_MODE]]
    return rows, summary


MODES = ("saturation", "cancellation", "zero gradient", "path saturation")


def hunt(models: list[str], n: int, seed: int, log=print) -> dict:
    """Run every hunt on every model; returns ``{"rows": [...], "summary": {...}, "absent": [...]}``."""
    rows, summary, absent = [], {}, []
    for name in models:
        model, task = zoo.load(name, n=n, seed=seed)
        cache: dict = {}
        t0 = time.time()
        found = {}
        for mode, fn in (
            ("saturation", lambda: hunt_saturation(name, model, task)),
            ("cancellation", lambda: hunt_cancellation(name, model, task)),
            ("zero gradient", lambda: hunt_zero_gradient(name, model, task, cache)),
            ("path saturation", lambda: hunt_path_saturation(name, model, task, cache)),
        ):
            r, s = fn()
            rows += r
            found[mode] = len(r)
            summary[f"{name}/{mode}"] = s
            if not r:
                absent.append({"mode": mode, "model": name})
        log(f"{name}: hunted in {time.time() - t0:.0f}s, found {found}")
    return {"rows": rows, "summary": summary, "absent": absent, "settings": {
        "n": n, "seed": seed, "ratio": RATIO, "significant": SIGNIFICANT, "direction": "noising"}}


def _fmt(x, spec="+.3g"):
    return "-" if x is None else (format(x, spec) if isinstance(x, float) else str(x))


def print_table(result: dict, log=print) -> None:
    head = (f"{'mode':16s} {'model':10s} {'component':14s} {'true':>8s} {'est':>8s} {'fixed':>8s}"
            "  ranks true/est/fix  value ok  rank ok  note")
    log(head)
    log("-" * len(head))
    for r in result["rows"]:
        note = r.get("verdict", "fix unavailable")
        if "attn_max" in r:
            note += f"; attn max {r['attn_max']:.2f} ({r['nodes']})"
        ranks = f"{r['true_rank']}/{r['estimate_rank']}/{_fmt(r['fixed_rank'])}"
        log(f"{r['mode']:16s} {r['model']:10s} {r['component']:14s} {_fmt(r['true']):>8s} {_fmt(r['estimate']):>8s} "
            f"{_fmt(r['fixed']):>8s}  {ranks:>18s}  {_fmt(r['recovered']):8s}  {_fmt(r['rank_recovered']):7s}  {note}")
    for a in result["absent"]:
        log(f"{a['mode']:16s} {a['model']:10s} not found naturally (criteria in scripts/hunt_failures.py)")
    log("\nrank correlations (Spearman on |values|) vs activation patching:")
    for k, v in result["summary"].items():
        log(f"  {k}")
        for kk, vv in v.items():
            if isinstance(vv, dict):
                vv = ", ".join(f"{a}={_fmt(b, '.3g') if isinstance(b, float) else b}" for a, b in vv.items())
            log(f"      {kk}: {_fmt(vv, '.3g')}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="out/failures.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    single = [m for m in zoo.trained_models() if len(zoo.tasks(m)) == 1]
    result = hunt(args.models or single, args.n, args.seed)
    print_table(result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
