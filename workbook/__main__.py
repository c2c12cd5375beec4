"""``python -m workbook`` (or ``when-gradients-mislead``): every method against activation patching.

Runs AtP, AtP* (QK fix, GradDrop), EAP, EAP-IG and EAP-GP on the shipped specimens and trained
models, compares each with full activation patching (node methods with node patching, edge
methods with exact edge patching) and prints passes, wall time, recall@k, false negatives
(truly important components, |effect| >= tau x max, that the method ranks outside its top K),
verification cost, scale error and rank correlation. Figures and ``report.json`` / ``report.md`` go to ``--out``.

``python -m workbook doctor`` checks an install instead (see :mod:`workbook.cli.doctor`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from workbook.cli import doctor, report, summary
from workbook.cli.report import METHODS


def build_parser() -> argparse.ArgumentParser:

    p = argparse.ArgumentParser(
        prog="python -m workbook",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="python -m workbook doctor: check this install (versions, offline models, one method, widgets, hub).",
    )
    p.add_argument("--model", dest="models", action="append", metavar="NAME",
                   help="model to run (repeatable, or comma-separated); 'all' = every shipped model. "
                        "Use --list to see the names.")
    p.add_argument("--task", dest="tasks", action="append", metavar="TASK",
                   help="task of a multi-task model such as 'mixture' (repeatable, or comma-separated); "
                        "default: every task of each model. Use --list to see each model's tasks.")
    p.add_argument("--method", dest="methods", action="append", metavar="NAME",
                   help=f"method to run (repeatable or comma-separated; default all): {', '.join(METHODS)}")
    p.add_argument("--out", default="out/report", help="folder for figures, report.json and report.md")
    p.add_argument("--quick", action="store_true", help="fast subset: 4 examples per task, 3 integration steps")
    p.add_argument("--k", type=int, default=5, help="k for recall@k")
    p.add_argument("--tau", "--threshold", dest="tau", type=float, default=0.5,
                   help="a component is truly important if |effect| >= tau x max|effect|; a false negative is a "
                        "truly important component the method ranks outside its top K (K = how many there are)")
    p.add_argument("--steps", type=int, default=None, help="integration steps for EAP-IG / EAP-GP (default 5)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--list", action="store_true", help="list model and method names and exit")
    return p


def _split(values: Sequence[str] | None) -> list[str]:
    return [v.strip() for item in (values or []) for v in item.split(",") if v.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["doctor"]:  # python -m workbook doctor: the participant install check

        return doctor.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)

    import torch


    torch.set_num_threads(max(1, args.threads))
    valid_models = report.model_names()
    accepted = valid_models + ([report.RANDOM] if report.RANDOM not in valid_models else [])
    if args.list:
        print("models: " + ", ".join(accepted))
        for m in accepted:
            if report.tasks_of(m) != [None]:
                print(f"  tasks of {m}: " + ", ".join(report.tasks_of(m)))
        print("methods: " + ", ".join(report.METHODS))
        return 0
    models = _split(args.models) or ["all"]
    models = valid_models if models == ["all"] else models
    bad = [m for m in models if m not in accepted]
    if bad:
        parser.error(f"unknown model {', '.join(map(repr, bad))}; valid names: {', '.join(accepted)} (or 'all')")
    wanted = _split(args.tasks)
    runs = [(m, t) for m in models for t in report.tasks_of(m) if not wanted or t in wanted]
    offered = {t for m in models for t in report.tasks_of(m) if t}
    bad = [t for t in wanted if t not in offered]
    if bad or not runs:
        listing = "; ".join(f"{m}: {', '.join(t for t in report.tasks_of(m) if t) or 'a fixed task'}" for m in models)
        parser.error(f"unknown task {', '.join(map(repr, bad or wanted))} for the chosen model(s); tasks: {listing}")
    methods = _split(args.methods) or list(report.METHODS)
    bad = [m for m in methods if m not in report.METHODS]
    if bad:
        parser.error(f"unknown method {', '.join(map(repr, bad))}; valid names: {', '.join(report.METHODS)}")
    if args.k < 1 or not 0 < args.tau <= 1:
        parser.error("--k must be >= 1 and --tau in (0, 1]")

    out = Path(args.out)
    print(f"When Gradients Mislead: {len(methods)} methods x {len(runs)} model/task runs -> {out.resolve()}")
    t0 = time.perf_counter()
    results = []
    for name, task in runs:
        res = report.run_model(name, methods, out, k=args.k, tau=args.tau, quick=args.quick, steps=args.steps,
                               task=task)
        results.append(res)
        print(summary.format_model(res, k=args.k), flush=True)
    json_path, md_path = summary.write_summary(results, out, k=args.k, tau=args.tau)
    n_fig = sum(len(r["figures"]) for r in results)
    print(f"\n{n_fig} figures in {out.resolve()}/<model>/; summary: {json_path.resolve()} and {md_path.resolve()}")
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
