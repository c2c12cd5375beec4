"""The report's output: a plain-text block per model and ``report.json`` / ``report.md``."""

from __future__ import annotations

import json
from pathlib import Path

import torch

__all__ = ["format_model", "write_summary"]


def format_model(result: dict, k: int = 5) -> str:
    """Plain-text block for one model.

    Passes, wall time, recall@k, false negatives, verification cost, scale, Spearman.
    """
    lines = [
        f"== {result.get('label', result['model'])}  ({result['n_layers']} layers x {result['n_heads']} heads, d_model "
        f"{result['d_model']}; batch {result['batch']} x {result['seq_len']} tokens)"
    ]
    for fam, t in result["truth"].items():
        lines.append(f"   truth [{fam}]: {t['description']}, {t['n']} items, {t['passes']}, {t['seconds']:.2g} s")
    head = (
        f"   {'method':<14} {'truth':<6} {'time s':>7} {'recall@' + str(k):>9} {'false neg':>9} {'verify':>7} "
        f"{'scale':>6} {'spearman':>9}  passes"
    )
    lines += [head, "   " + "-" * (len(head) + 20)]
    for r in result["methods"]:
        if not r["available"]:
            lines.append(f"   {r['method']:<14} {r['truth']:<6} {r['reason']}")
            continue
        lines.append(
            f"   {r['method']:<14} {r['truth']:<6} {r['seconds']:>7.2g} "
            f"{r[f'recall@{k}']:>9.2f} {r['false_negatives']:>9d} {r['verification_cost']:>7d} {r['scale']:>6.2g} "
            f"{r['spearman']:>9.2f}  {r['passes']}"
        )
    return "\n".join(lines)


def write_summary(results: list[dict], out_dir: str | Path, k: int = 5, tau: float = 0.5) -> tuple[Path, Path]:
    """Write ``report.json`` (everything) and ``report.md`` (one table per model)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "report.json", out / "report.md"
    meta = {
        "k": k,
        "tau": tau,
        "convention": "noising: effect = M(clean with x := corrupt) - M(clean)",
        "torch": torch.__version__,
    }
    json_path.write_text(json.dumps({"meta": meta, "models": results}, indent=2, default=str))
    md = [
        "# When Gradients Mislead: every method against activation patching",
        "",
        f"Against full activation patching (noising). A component is *truly important* when |truth| >= {tau:g} x "
        "max|truth|. **false neg**: truly important components the method ranks outside its top K (K = how many "
        "are truly important); **verify**: components patched in the method's order until all truly important "
        f"ones are reached; **scale**: median estimate/truth on them; recall@{k}; Spearman on magnitudes.",
        "",
    ]
    for r in results:
        md += [
            f"## {r.get('label', r['model'])}",
            "",
            f"{r['n_layers']} layers x {r['n_heads']} heads, d_model {r['d_model']}, "
            f"batch {r['batch']} x {r['seq_len']}.",
            "",
            f"| method | truth | passes | time (s) | recall@{k} | false neg | verify | scale | spearman | missed |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in r["methods"]:
            if not row["available"]:
                md.append(f"| {row['method']} | {row['truth']} | {row['reason']} | | | | | | | |")
                continue
            md.append(
                f"| {row['method']} | {row['truth']} | {row['passes']} | {row['seconds']:.2g} | "
                f"{row[f'recall@{k}']:.2f} | {row['false_negatives']} | {row['verification_cost']} | "
                f"{row['scale']:.2g} | {row['spearman']:.2f} | "
                f"{', '.join(row['missed'][:5])} |"
            )
        for fam, t in r["truth"].items():
            md.append(
                f"\nGround truth `{fam}`: {t['description']} ({t['n']} items, {t['passes']}, {t['seconds']:.2g} s)."
            )
        if r["figures"]:
            md += [
                "",
                "Figures: "
                + ", ".join(
                    f"`{Path(f).relative_to(out) if Path(f).is_relative_to(out) else f}`" for f in r["figures"]
                ),
            ]
        md.append("")
    md_path.write_text("\n".join(md))
    return json_path, md_path
