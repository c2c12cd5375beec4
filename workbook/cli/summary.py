"""The report's output: a plain-text block per model and ``report.json`` / ``report.md``.

Each table says what its columns mean (:func:`legend`). Three kinds of row are not numbers:
a method that refused the model prints ``not run: <reason>``; a ground truth that is 0
everywhere (nothing to find) prints ``nothing to find``; and a method that returns magnitudes
(GradDrop, AtP*) prints ``n/a (magnitudes)`` for its scale, a ratio to the signed truth that
would mean nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from workbook.cli.report import MAGNITUDES
from workbook.cli.truth import POOL_TOP
from workbook.core.scores import fmt

__all__ = ["legend", "row_cells", "cache_line", "format_model", "write_summary"]

#: what one item of each truth family is, for "every true ... effect is 0"
_ITEMS = {"nodes": "head/MLP", "qk": "query/key", "edges": "edge"}


def legend(k: int = 5, tau: float = 0.5, pool: bool = False) -> list[str]:
    """What the columns of a report table mean (four lines of under 120 characters; five with the pool)."""
    lines = [
        f"recall@{k}: share of the true top {k} in the method's top {k} | false neg: truly important "
        f"(|truth| >= {tau:g} x max)",
        "  but outside the method's top K, K = how many there are | verify: patches, in the method's order, to reach "
        "them all",
        "scale: median estimate/truth on them (1 = right size, < 0 = wrong sign; n/a: GradDrop and AtP* return "
        "magnitudes)",
        "spearman: rank correlation of |estimate| and |truth| over all items (near 0 or < 0: small effects ordered "
        "unlike truth)",
    ]
    if pool:
        lines.append(f"edges: compared on the pool only; an edge no method ranks in its top {POOL_TOP} has no truth.")
    return lines


def _reason(row: dict) -> str:
    return f"not run: {row['reason']}"


def row_cells(row: dict, k: int = 5) -> dict[str, str] | str:
    """The printed cells of one method row (``time``, ``recall``, ``fn``, ``verify``, ``scale``, ``spearman``).

    A string instead when the row has no numbers: ``not run: <reason>`` or ``nothing to find: ...``.
    """
    if not row["available"]:
        return _reason(row)
    if row.get("important", 1) == 0:
        return f"nothing to find: every true {_ITEMS.get(row['truth'], row['truth'])} effect is 0 on this model"
    return {
        "time": fmt(row["seconds"], ".2g"),
        "recall": fmt(row[f"recall@{k}"], ".2f"),
        "fn": str(row["false_negatives"]),
        "verify": str(row["verification_cost"]),
        "scale": MAGNITUDES if row.get("magnitudes") or row["scale"] is None else fmt(row["scale"], ".2g"),
        "spearman": fmt(row["spearman"], ".2f"),
    }


def _secs(seconds: float) -> str:
    return fmt(seconds, ".2g") if seconds < 10 else f"{seconds:.0f}"


def _truth_line(fam: str, t: dict) -> str:
    when = ("shipped" if "shipped" in t else "cached") if "cached" in t else f"{t['passes']}, {_secs(t['seconds'])} s"
    return f"truth [{fam}]: {t['description']}, {t['n']} items, {when}"


def cache_line(result: dict) -> str | None:
    """``ground truth cached from <date>, N s to recompute: <file>`` when a model's truth came from the cache
    (``shipped with the package in <file>`` for what came from :mod:`workbook.patching.shipped_truth`)."""
    cached = [t for t in result["truth"].values() if "cached" in t]
    if not cached:
        return None
    seconds = sum(t["seconds"] for t in cached)
    shipped, date = sorted({t["shipped"] for t in cached if "shipped" in t}), min(t["cached"] for t in cached)
    where = (f"shipped with the package in workbook/patching/data/{', '.join(shipped)} (made by scripts/real_truth.py "
             f"on {date}), " if shipped else f"cached from {date}, ")
    redo = "python scripts/real_truth.py remakes the shipped file" if shipped else "delete it to recompute"
    return f"ground truth {where}{seconds:.0f} s to recompute; cache: {cached[0]['cache_file']} ({redo})"


def format_model(result: dict, k: int = 5, tau: float = 0.5) -> str:
    """Plain-text block for one model: header, ground truths, one row per method, the legend.

    Passes, wall time, recall@k, false negatives, verification cost, scale, Spearman.
    """
    took = f"  [{result['seconds']:.1f} s]" if "seconds" in result else ""
    lines = [
        f"== {result.get('label', result['model'])}  ({result['n_layers']} layers x {result['n_heads']} heads, d_model "
        f"{result['d_model']}; batch {result['batch']} x {result['seq_len']} tokens){took}"
    ]
    lines += [f"   {_truth_line(fam, t)}" for fam, t in result["truth"].items()]
    lines += [f"   {line}" for line in [cache_line(result)] if line]
    head = (
        f"   {'method':<14} {'truth':<6} {'time s':>7} {'recall@' + str(k):>9} {'false neg':>9} {'verify':>7} "
        f"{'scale':>16} {'spearman':>9}  passes"
    )
    lines += [head, "   " + "-" * (len(head) + 20)]
    for r in result["methods"]:
        cells = row_cells(r, k)
        if isinstance(cells, str):
            took = f"{fmt(r['seconds'], '.2g'):>7}  " if r["available"] else ""
            lines.append(f"   {r['method']:<14} {r['truth']:<6} {took}{cells}")
            continue
        lines.append(
            f"   {r['method']:<14} {r['truth']:<6} {cells['time']:>7} {cells['recall']:>9} {cells['fn']:>9} "
            f"{cells['verify']:>7} {cells['scale']:>16} {cells['spearman']:>9}  {r['passes']}"
        )
    lines += ["   " + s for s in legend(k, tau, pool=result.get("edge_truth") == "pool")]
    lines += [f"   {note}" for note in result.get("notes", [])]
    return "\n".join(lines)


def _md_model(r: dict, out: Path, k: int, tau: float) -> list[str]:
    md = [
        f"## {r.get('label', r['model'])}",
        "",
        f"{r['n_layers']} layers x {r['n_heads']} heads, d_model {r['d_model']}, batch {r['batch']} x {r['seq_len']}"
        + (f"; {r['seconds']:.1f} s." if "seconds" in r else "."),
        "",
        f"| method | truth | passes | time (s) | recall@{k} | false neg | verify | scale | spearman | missed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["methods"]:
        cells = row_cells(row, k)
        if isinstance(cells, str):
            md.append(f"| {row['method']} | {row['truth']} | {cells} | | | | | | | |")
            continue
        md.append(
            f"| {row['method']} | {row['truth']} | {row['passes']} | {cells['time']} | {cells['recall']} | "
            f"{cells['fn']} | {cells['verify']} | {cells['scale']} | {cells['spearman']} | "
            f"{', '.join(row['missed'][:5])} |"
        )
    md += ["", *legend(k, tau, pool=r.get("edge_truth") == "pool")]
    md += [f"\nGround truth `{fam}`: {_truth_line(fam, t).split(': ', 1)[1]}." for fam, t in r["truth"].items()]
    md += [f"\n{line[0].upper()}{line[1:]}." for line in [cache_line(r)] if line]
    md += [f"\n{note[0].upper()}{note[1:]}." for note in r.get("notes", [])]
    if r["figures"]:
        shown = [f"`{Path(f).relative_to(out) if Path(f).is_relative_to(out) else f}`" for f in r["figures"]]
        md += ["", "Figures: " + ", ".join(shown)]
    return md + [""]


def write_summary(results: list[dict], out_dir: str | Path, k: int = 5, tau: float = 0.5,
                  skipped: list[str] | None = None) -> tuple[Path, Path]:
    """Write ``report.json`` (everything) and ``report.md`` (one table per model).

    ``skipped``: one line per run that was not made (e.g. a model that could not be downloaded).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "report.json", out / "report.md"
    meta = {
        "k": k,
        "tau": tau,
        "convention": "noising: effect = M(clean with x := corrupt) - M(clean)",
        "torch": torch.__version__,
        "legend": " ".join(legend(k, tau, pool=True)),
        "skipped": list(skipped or []),
    }
    json_path.write_text(json.dumps({"meta": meta, "models": results}, indent=2, default=str))
    md = [
        "# When Gradients Mislead: every method against activation patching",
        "",
        f"Against full activation patching (noising). A component is *truly important* when |truth| >= {tau:g} x "
        "max|truth|. **false neg**: truly important components the method ranks outside its top K (K = how many "
        "are truly important); **verify**: components patched in the method's order until all truly important "
        f"ones are reached; **scale**: median estimate/truth on them (n/a for GradDrop and AtP*, which return "
        f"magnitudes); recall@{k}; Spearman on magnitudes.",
        "",
    ]
    md += [f"*{line}*\n" for line in skipped or []]
    for r in results:
        md += _md_model(r, out, k, tau)
    md_path.write_text("\n".join(md))
    return json_path, md_path
