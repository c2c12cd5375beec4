"""``python -m workbook`` (or ``when-gradients-mislead``): every method against activation patching.

Runs AtP, AtP* (QK fix, GradDrop), EAP, EAP-IG and EAP-GP on every failure mode, compares each with
activation patching (node methods with node patching, edge methods with exact edge patching, on a
pool of each method's top edges for large graphs) and prints passes, wall time, recall@k, false
negatives (truly important components, |effect| >= tau x max, that the method ranks outside its top
K), verification cost, scale error and rank correlation. The default run (about two minutes): the four
specimens, the mixture model on IOI and SmolLM2-135M on IOI (its ground truth cached after the first
run); --full: every model and task with exact edge patching. Figures and report.json / report.md go to --out.

``python -m workbook doctor`` checks an install instead (see :mod:`workbook.cli.doctor`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from workbook.cli import doctor, plan, report, summary
from workbook.cli.report import METHODS
from workbook.core.errors import WorkbookError


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m workbook`` (``doctor`` is dispatched before it)."""
    p = argparse.ArgumentParser(
        prog="python -m workbook",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="python -m workbook doctor: check this install (versions, offline models, one method, widgets, hub).",
    )
    p.add_argument("--full", action="store_true",
                   help="every model and task (the trained ioi/induction models, all six mixture tasks, every SmolLM2 "
                        f"task) with exact patching of every edge up to {plan.FULL_EXACT_EDGES} edges, and "
                        "faithfulness curves there: tens of minutes (the default plan: about two minutes)")
    p.add_argument("--model", dest="models", action="append", metavar="NAME",
                   help="model to run (repeatable, or comma-separated); 'all' = every model. "
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


def _list() -> int:
    pretrained = report.pretrained_names()
    names = plan.all_models() + ([report.RANDOM] if report.RANDOM not in plan.all_models() else [])
    print("models: " + ", ".join(f"{m} (pretrained, downloaded on first use)" if m in pretrained else m for m in names))
    for m in names:
        if report.tasks_of(m) != [None]:
            print(f"  tasks of {m}: " + ", ".join(report.tasks_of(m)))
    print("methods: " + ", ".join(report.METHODS))
    print("default plan: " + plan.describe(plan.default_plan()) + "; --full: every model and task")
    return 0


def _runs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[list[plan.Run], list[str]]:
    """The checked runs and methods of the command line (``parser.error`` on a bad name)."""
    accepted = plan.all_models() + ([report.RANDOM] if report.RANDOM not in plan.all_models() else [])
    models = _split(args.models)
    bad = [m for m in models if m not in accepted and m != "all"]
    if bad:
        parser.error(f"unknown model {', '.join(map(repr, bad))}; valid names: {', '.join(accepted)} (or 'all')")
    wanted = _split(args.tasks)
    runs = plan.choose(models, wanted, args.full)
    listed = plan.all_models() if not models or models == ["all"] else models
    offered = {t for m in listed for t in report.tasks_of(m) if t}
    bad = [t for t in wanted if t not in offered]
    if bad or not runs:
        listing = "; ".join(f"{m}: {', '.join(t for t in report.tasks_of(m) if t) or 'a fixed task'}" for m in listed)
        parser.error(f"unknown task {', '.join(map(repr, bad or wanted))} for the chosen model(s); tasks: {listing}")
    methods = _split(args.methods) or list(report.METHODS)
    bad = [m for m in methods if m not in report.METHODS]
    if bad:
        parser.error(f"unknown method {', '.join(map(repr, bad))}; valid names: {', '.join(report.METHODS)}")
    if args.k < 1 or not 0 < args.tau <= 1:
        parser.error("--k must be >= 1 and --tau in (0, 1]")
    return runs, methods


def _unavailable(run: plan.Run, err: WorkbookError) -> str:
    first = (str(err).strip().splitlines() or [""])[0]
    first = first if len(first) <= 160 else first[:157] + "..."
    return f"== {run.label}: not run: {run.model} could not be loaded ({type(err).__name__}: {first})"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the report; returns the exit status (``doctor`` as the first argument runs the install check)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["doctor"]:  # python -m workbook doctor: the participant install check
        return doctor.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(max(1, args.threads))
    if args.list:
        return _list()
    runs, methods = _runs(parser, args)
    out = Path(args.out)
    bare = not (args.models or args.tasks or args.full)
    print(f"When Gradients Mislead: {len(methods)} methods x {len(runs)} model/task runs -> {out.resolve()}")
    print(("default plan (--full: every model and task, exact edge patching; tens of minutes): " if bare else "runs: ")
          + plan.describe(runs), flush=True)
    t0, cpu0 = time.perf_counter(), time.process_time()
    results, skipped = [], []
    failed: dict[str, str] = {}  # model -> why it could not be loaded (its other tasks are not tried again)
    for run in runs:
        if run.model in failed:
            skipped.append(f"== {run.label}: not run: {run.model} could not be loaded ({failed[run.model]}, above)")
            print(skipped[-1], flush=True)
            continue
        try:
            res = report.run_model(run.model, methods, out, k=args.k, tau=args.tau, quick=args.quick,
                                   steps=args.steps, **run.options())
        except WorkbookError as err:  # a pretrained model that cannot be downloaded here: say so, go on
            if not run.pretrained:
                raise
            skipped.append(_unavailable(run, err))
            failed[run.model] = type(err).__name__
            print(skipped[-1], flush=True)
            continue
        results.append(res)
        print(summary.format_model(res, k=args.k, tau=args.tau), flush=True)
    json_path, md_path = summary.write_summary(results, out, k=args.k, tau=args.tau, skipped=skipped)
    n_fig = sum(len(r["figures"]) for r in results)
    print(f"\n{n_fig} figures in {out.resolve()}/<model>/; summary: {json_path.resolve()} and {md_path.resolve()}")
    per_run = ", ".join(f"{r['label']} {r['seconds']:.0f} s" for r in results)
    cpu = time.process_time() - cpu0
    print(f"total {time.perf_counter() - t0:.1f} s, CPU {cpu:.0f} s with {args.threads} thread(s) ({per_run})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
