#!/usr/bin/env python
"""Run the "Now on a real model" section of each chapter, exactly as the notebook runs it, on stand-ins.

    python scripts/real_model_sections.py --tiny DIR             # tiny random SmolLM2 / GPT-2 / Pythia folders
    python scripts/real_model_sections.py --shaped DIR           # random models SHAPED like SmolLM2-135M, GPT-2
                                                                 # small and Pythia-160M (compute, not results)
    python scripts/real_model_sections.py --real                 # the real SmolLM2, as the notebooks run it
    python scripts/real_model_sections.py --real --record        # ... and write the times to docs/measured_times.json
    python scripts/real_model_sections.py --only 03 ...          # one chapter

**Run times.** ``--real --record`` (every chapter, one torch thread) writes each section's seconds
to ``docs/measured_times.json``: the one record of the sections' run times. The instructor guide
(its table and the plans' notes, ``scripts/workshop_docs.py``) prints them in one wording,
``"N s on a CPU, one thread"`` (``workshop_docs.real_run_time``); the chapters and the README
state no run time of their own but point there.

The section's code cells are read from ``chapters/NN_*.py`` (the code after the
``## N. Now on a real model`` header, up to "Further reading"), after the chapter's setup and
import cells, with ``WORKBOOK_MODEL_DIR`` pointing at the folders written here, so the names
``smollm2``, ``gpt2`` and ``EleutherAI/pythia-160m`` resolve to local random models (the
notebooks themselves run the sections on the real SmolLM2 under nbval)
(:mod:`workbook.course.sections`). ``tests/test_real_models.py`` runs every section this way on
the tiny folders. The shaped model has GPT-2 small's sizes but random weights and a small
trained tokenizer, so it measures compute, not results; likewise a random GPT-NeoX folder
with Pythia-160M's sizes (12 x 12, d 768, vocab 50304, parallel attention, rotary).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_notebooks import scoped_environ  # noqa: E402  (a sibling script)

ROOT = Path(__file__).resolve().parents[1]
HEADER = re.compile(r"^## \d+\. Now on a real model")
MARKER = re.compile(r"^# NBVAL_\w+\s*$", re.M)
FOLDERS = ("smollm2", "gpt2", "EleutherAI--pythia-160m")
SHAPES = {  # the models' sizes (SmolLM2-135M's GGUF metadata; config.json of gpt2 and EleutherAI/pythia-160m)
    "smollm2": ("llama", dict(n_layers=30, d_model=576, n_heads=9, n_kv_heads=3, n_ctx=2048, d_vocab=49152)),
    "gpt2": ("gpt2", dict(n_layers=12, d_model=768, n_heads=12, n_ctx=1024, d_vocab=50257)),
    "EleutherAI--pythia-160m": ("neox", dict(n_layers=12, d_model=768, n_heads=12, n_ctx=2048, d_vocab=50304)),
}


def chapter_paths(only: str | None = None) -> list[Path]:
    paths = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))
    return [p for p in paths if only is None or p.name.startswith(only)]


def section_cells(path: Path) -> tuple[list[str], list[str]]:
    """``(setup and import cells, section code cells)`` of a chapter source, markers removed."""
    import jupytext

    cells = jupytext.read(path, fmt="py:percent").cells
    starts = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and HEADER.match(c.source)]
    if len(starts) != 1:
        raise ValueError(f"{path.name}: expected one '## N. Now on a real model' section, found {len(starts)}")
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    clean = lambda src: MARKER.sub("", src).strip("\n")  # noqa: E731
    head = [clean(cells[i].source) for i in code[:2]]
    body = [clean(cells[i].source) for i in code if i > starts[0]]
    return head, body


def write_folders(folder: Path, shaped: bool) -> Path:
    """Random save_pretrained folders standing in for the hub models: GPT-2 and GPT-NeoX (Pythia) families."""
    from workbook.models.local import save_tiny_model
    from workbook.tasks.prompt import corpus

    folder.mkdir(parents=True, exist_ok=True)
    for name in FOLDERS:
        target = folder / name
        if (target / "config.json").exists():
            continue
        family, sizes = SHAPES[name]
        if not shaped:
            sizes = dict(n_layers=2, d_model=32, n_heads=4, n_ctx=64)
        save_tiny_model(target, family, extra_text=corpus(), **sizes)
    return folder


def run_section(path: Path, model_dir: Path | None, off: bool = False) -> tuple[str, float]:
    """Execute the chapter's setup, imports and section cells; returns (what the section printed, its seconds).

    ``model_dir``: the folder ``WORKBOOK_MODEL_DIR`` points at; ``None`` runs the section on the
    real SmolLM2 (``WORKBOOK_REAL_MODELS=offline``, as the notebooks do), or switched off with
    ``off=True`` (``WORKBOOK_REAL_MODELS=0``).
    """
    head, body = section_cells(path)
    env = {"WORKBOOK_PROGRESS": "0", "MPLBACKEND": "Agg",
           "WORKBOOK_REAL_MODELS": "0" if off else ("offline" if model_dir is None else None),
           "WORKBOOK_MODEL_DIR": None if model_dir is None else str(model_dir)}
    namespace: dict = {"__name__": "__section__"}
    out = io.StringIO()
    with scoped_environ(env):
        with contextlib.redirect_stdout(io.StringIO()):
            for src in head:
                exec(compile(src, f"{path.name}:setup", "exec"), namespace)
        with contextlib.redirect_stdout(out):
            t0 = time.perf_counter()
            for i, src in enumerate(body):
                exec(compile(src, f"{path.name}:section cell {i}", "exec"), namespace)
            seconds = time.perf_counter() - t0
    return out.getvalue(), seconds


def record(times: dict[str, float], model_dir: Path) -> None:
    path = ROOT / "docs" / "measured_times.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    import torch

    data["real_models"] = {
        "machine": {"date": date.today().isoformat(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
                    "load_average_at_start": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None},
        "how": ("`python scripts/real_model_sections.py --real --record`: each chapter's real-model section "
                "run on the CPU on SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI, dequantised), one torch thread"),
        "sections": [{"chapter": k, "seconds": round(v, 1)} for k, v in sorted(times.items())],
    }
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--tiny", type=Path, help="write/use tiny random folders here")
    kind.add_argument("--shaped", type=Path, help="write/use GPT-2-small-shaped random folders here")
    kind.add_argument("--real", action="store_true", help="the real SmolLM2 (offline; as the notebooks run it)")
    parser.add_argument("--only", help="chapter number, e.g. 03")
    parser.add_argument("--record", action="store_true", help="write the times to docs/measured_times.json")
    parser.add_argument("--quiet", action="store_true", help="print only the times")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import torch

    torch.set_num_threads(1)
    model_dir = None if args.real else write_folders(args.tiny or args.shaped, shaped=args.shaped is not None)
    times = {}
    for path in chapter_paths(args.only):
        text, seconds = run_section(path, model_dir)
        times[path.name[:2]] = seconds
        if not args.quiet:
            print(f"===== {path.name}\n{text}")
        print(f"{path.name}: section ran in {seconds:.1f} s", flush=True)
    if args.record:
        if not args.real or args.only:
            parser.error("--record needs --real and every chapter")
        record(times, model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
