#!/usr/bin/env python
"""Execute every solution notebook and write a static HTML site with all outputs and figures.

    python scripts/solutions_site.py                  # every chapter -> out/site/index.html
    python scripts/solutions_site.py --only 02        # one chapter
    python scripts/solutions_site.py --out /tmp/site  # somewhere else

An instructor previews the whole course (every printed table and figure) in a browser without
running anything. The committed ``solutions/`` stay small (they keep only the outputs nbval
compares); the executed copies live only under ``--out`` (``out/`` is git-ignored).

The site has ``index.html`` (one row per chapter: title, execution wall time, slowest cell,
status), one page per chapter, the exercise list and the instructor guide from ``docs/``, and
``timings.json`` with the measured times. Widgets are replaced by their static fallback
(``WORKBOOK_WIDGETS=0``); figures are embedded in the pages. Exit status 1 if a notebook failed
(its page still shows the outputs up to the error).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import html
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_notebooks import scoped_environ  # noqa: E402  (a sibling script)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_NAME = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")
DOC_PAGES = ("instructor_guide.md", "exercises.md")
KERNEL_ENV = {"WORKBOOK_PROGRESS": "0", "WORKBOOK_WIDGETS": "0", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
              # one torch thread, as in the tests: the models are tiny, and extra threads only fight
              # over shared cores (set OMP_NUM_THREADS yourself to override)
              "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
              # the real-model sections run on SmolLM2 (offline); WORKBOOK_REAL_MODELS=1 also tries the hub models
              # (from the Hugging Face cache: the kernels are offline), a few minutes per chapter on a CPU
              "WORKBOOK_REAL_MODELS": os.environ.get("WORKBOOK_REAL_MODELS", "offline")}


def solution_paths(root: Path, only: str | None = None) -> list[Path]:
    paths = sorted(p for p in (root / "solutions").glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))
    return [p for p in paths if p.name.startswith(only)] if only else paths


def title_of(nb: nbformat.NotebookNode, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _cell_seconds(cell) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda s: _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int) -> tuple[nbformat.NotebookNode, float, str | None]:
    """Run ``nb`` in ``cwd``; return (executed notebook, wall seconds, error text or None)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    error = None
    start = time.perf_counter()
    # MPLBACKEND unset: the kernel's inline backend, so figures land in the page
    with scoped_environ({**KERNEL_ENV, "MPLBACKEND": None}):
        try:
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                                    resources={"metadata": {"path": str(cwd)}})
            client.execute()
        except CellExecutionError as err:
            error = str(err).strip().splitlines()[-1] if str(err).strip() else "cell failed"
        except Exception as err:  # timeout, dead kernel: still write what ran
            error = f"{type(err).__name__}: {err}"
    return nb, time.perf_counter() - start, error


def drop_repeated_images(nb: nbformat.NotebookNode) -> int:
    """Remove an image output that repeats an earlier one of the same cell; return how many went.

    A cell whose value is a matplotlib Figure that is still open shows it twice under the inline
    backend (once as an open figure, once as the cell's value); the page shows it once.
    """
    dropped = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        seen, kept = set(), []
        for out in cell.get("outputs", []):
            shown = out.get("output_type") in ("display_data", "execute_result")
            png = out.get("data", {}).get("image/png") if shown else None
            if png is not None and png in seen:
                dropped += 1
                continue
            if png is not None:
                seen.add(png)
            kept.append(out)
        cell.outputs = kept
    return dropped


def to_html(nb: nbformat.NotebookNode) -> str:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return body


def markdown_page(title: str, text: str) -> str:
    from nbconvert.filters import markdown2html

    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.45}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .5em}"
            "code,pre{background:#f4f4f4}</style></head>\n<body>\n" + markdown2html(text) + "\n</body></html>\n")


def index_page(rows: list[dict], docs: list[str], machine: dict) -> str:
    head = ("<tr><th>notebook</th><th>title</th><th>execution (s)</th><th>slowest cell (s)</th>"
            "<th>status</th></tr>")
    body = []
    for r in rows:
        slow = "" if r["slowest_cell_s"] is None else f"{r['slowest_cell_s']:.1f}"
        status = "ok" if r["error"] is None else "FAILED: " + html.escape(r["error"])
        body.append(f"<tr><td><a href='{r['page']}'>{html.escape(r['notebook'])}</a></td>"
                    f"<td>{html.escape(r['title'])}</td><td>{r['seconds']:.1f}</td><td>{slow}</td><td>{status}</td></tr>")
    links = "".join(f"<li><a href='{Path(d).stem}.html'>{html.escape(Path(d).stem.replace('_', ' '))}</a></li>"
                    for d in docs)
    when = html.escape(f"{machine['date']} on {machine['cpus']} CPUs, {machine['platform']}, python {machine['python']}")
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>When Gradients Mislead: solutions</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.25em .5em}</style></head>\n<body>\n"
            "<h1>When Gradients Mislead: executed solutions</h1>\n"
            f"<p>Every solution notebook, executed {when}. Widgets are shown as their static fallback.</p>\n"
            f"<table>{head}{''.join(body)}</table>\n"
            + (f"<h2>For instructors</h2><ul>{links}</ul>\n" if links else "") + "</body></html>\n")


def build_site(root: Path, out: Path, only: str | None = None, timeout: int = 600, log=print) -> list[dict]:
    """Execute the matching solution notebooks under ``root`` and write the site to ``out``."""
    paths = solution_paths(root, only)
    if not paths:
        raise SystemExit(f"no solution notebooks under {root / 'solutions'}" + (f" matching {only}" if only else ""))
    out.mkdir(parents=True, exist_ok=True)
    load = round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None  # other work sharing the CPUs
    rows = []
    for path in paths:
        log(f">> executing {path.relative_to(root)}")
        nb = nbformat.read(path, as_version=4)
        nb, seconds, error = execute(nb, path.parent, timeout)
        cells = [s for s in map(_cell_seconds, (c for c in nb.cells if c.cell_type == "code")) if s is not None]
        page = path.stem + ".html"
        drop_repeated_images(nb)
        (out / page).write_text(to_html(nb), encoding="utf-8")
        row = {"notebook": path.name, "title": title_of(nb, path.stem), "page": page, "seconds": round(seconds, 2),
               "slowest_cell_s": round(max(cells), 2) if cells else None, "error": error}
        rows.append(row)
        log(f"   {'ok' if error is None else 'FAILED'} in {seconds:.1f} s" + (f": {error}" if error else ""))
    docs = []
    for name in DOC_PAGES:
        src = root / "docs" / name
        if src.exists():
            text = src.read_text(encoding="utf-8")
            for other in DOC_PAGES:  # links between the docs point at their pages in the site
                text = text.replace(f"]({other}", f"]({Path(other).stem}.html")
            (out / (src.stem + ".html")).write_text(markdown_page(src.stem, text), encoding="utf-8")
            docs.append(name)
    machine = {"date": _dt.date.today().isoformat(), "cpus": os.cpu_count(), "platform": platform.platform(terse=True),
               "python": platform.python_version(), "omp_num_threads": KERNEL_ENV["OMP_NUM_THREADS"],
               "load_average_at_start": load}
    (out / "index.html").write_text(index_page(rows, docs, machine), encoding="utf-8")
    (out / "timings.json").write_text(json.dumps({"machine": machine, "notebooks": rows}, indent=1) + "\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", metavar="NN", help="only notebooks whose name starts with NN")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "site", help="output folder (default out/site)")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = build_site(args.root, args.out, args.only, args.timeout)
    failed = [r["notebook"] for r in rows if r["error"]]
    print(f"site: {(args.out / 'index.html').resolve()}  ({len(rows)} notebooks, {time.perf_counter() - t0:.0f} s"
          + (f", FAILED: {', '.join(failed)}" if failed else "") + ")")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
