#!/usr/bin/env python
"""Generate the learner and solution notebooks from the one source per chapter.

    python scripts/build_notebooks.py                 # rebuild every chapter (executes solutions)
    python scripts/build_notebooks.py --only 02       # one chapter
    python scripts/build_notebooks.py --no-execute    # do not execute; keep the stored outputs
    python scripts/build_notebooks.py --check         # compare with the committed notebooks, exit 1 on drift

``chapters/NN_slug.py`` (jupytext py:percent) -> ``notebooks/NN_slug.ipynb`` (exercises, no
outputs) and ``solutions/NN_slug.ipynb`` (solutions, executed; outputs kept only in cells marked
``# NBVAL_CHECK_OUTPUT`` in the chapter). The markers are described in ``chapters/README.md``;
nbval's comment markers become nbval's cell *tags* (``nbval-check-output``,
``nbval-ignore-output``, ``nbval-skip``), so learners never see them in the code.
Output is deterministic: stable cell ids, sorted keys, kernel "python3", no widget state.
Solutions execute with one CPU thread and ``WORKBOOK_STRICT_DIGITS=1`` (a compared number on
a rounding edge fails the build, see ``workbook.core.scores.fmt``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import difflib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
LEARNER_DIR = "notebooks"
SOLUTION_DIR = "solutions"

EXERCISE, END_EXERCISE = "# EXERCISE", "# END EXERCISE"
SOLUTION, END_SOLUTION = "# SOLUTION", "# END SOLUTION"
CHECK_OUTPUT = "# NBVAL_CHECK_OUTPUT"
#: the real-model section: run (and its claims compared) in the solution notebooks; the learner twins,
#: identical there, skip it under nbval so the suite runs SmolLM2 once per chapter
REAL_SECTION = re.compile(r"^## \d+\. Now on a real model")
# nbval comment marker in a chapter -> nbval cell tag in the generated notebooks
MARKER_TAGS = {"# NBVAL_CHECK_OUTPUT": "nbval-check-output", "# NBVAL_IGNORE_OUTPUT": "nbval-ignore-output",
               "# NBVAL_SKIP": "nbval-skip"}
CHECK_TAG = MARKER_TAGS[CHECK_OUTPUT]
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
NB_METADATA = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
# MIME types never stored: widget state, JavaScript bundles, heavy HTML.
DROP_MIME = ("application/vnd.jupyter.widget-view+json", "application/javascript",
             "application/vnd.jupyter.widget-state+json", "text/html")
CHAPTER_GLOB = re.compile(r"^\d\d_[A-Za-z0-9_]+\.py$")


def _set_environ(values: dict[str, str | None]) -> None:
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@contextlib.contextmanager
def scoped_environ(values: dict[str, str | None]):
    """Set (a string) or unset (``None``) environment variables inside the block; restore them after."""
    old = {k: os.environ.get(k) for k in values}
    try:
        _set_environ(values)
        yield
    finally:
        _set_environ(old)


class MarkerError(ValueError):
    """A chapter source has unbalanced or nested EXERCISE/SOLUTION markers."""


def _colab():
    sys.path.insert(0, str(ROOT))
    try:
        from workbook.course import colab
    finally:
        sys.path.pop(0)
    return colab


def _repo_slug() -> str:
    return _colab().REPO


# ---------------------------------------------------------------- cell-level transformations

def _uncomment(line: str) -> str:
    """``    # code`` -> ``    code``; ``    #`` -> ``""`` (an EXERCISE line made live)."""
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    if stripped.startswith("# "):
        return indent + stripped[2:]
    if stripped == "#":
        return ""
    if stripped == "":
        return line
    raise MarkerError(f"line inside an EXERCISE block is not commented out: {line!r}")


def split_variants(source: str) -> tuple[str, str, bool]:
    """Return ``(learner_source, solution_source, has_markers)`` for one code cell.

    Lines between ``# EXERCISE``/``# END EXERCISE`` are uncommented for the learner and dropped
    for the solution; lines between ``# SOLUTION``/``# END SOLUTION`` are kept for the solution
    and dropped for the learner. Marker lines themselves vanish from both.
    """
    learner, solution = [], []
    state = None
    has_markers = False
    for number, line in enumerate(source.split("\n"), start=1):
        tag = line.strip()
        if tag in (EXERCISE, SOLUTION):
            if state is not None:
                raise MarkerError(f"line {number}: {tag!r} opened inside an open {state!r} block")
            state, has_markers = tag, True
            continue
        if tag in (END_EXERCISE, END_SOLUTION):
            if state is None or tag != "# END " + state[2:]:
                raise MarkerError(f"line {number}: {tag!r} without a matching opening marker")
            state = None
            continue
        if state == EXERCISE:
            learner.append(_uncomment(line))
        elif state == SOLUTION:
            solution.append(line)
        else:
            learner.append(line)
            solution.append(line)
    if state is not None:
        raise MarkerError(f"{state!r} block is never closed")
    return "\n".join(learner).rstrip(), "\n".join(solution).rstrip(), has_markers


def split_markers(source: str) -> tuple[str, list[str]]:
    """``(source without nbval marker lines, their nbval tags)`` for one chapter code cell."""
    kept, tags = [], []
    for line in source.split("\n"):
        tag = MARKER_TAGS.get(line.strip())
        if tag is None:
            kept.append(line)
        elif tag not in tags:
            tags.append(tag)
    return "\n".join(kept).strip("\n"), tags


def is_checked(cell) -> bool:
    """True for a generated code cell whose output nbval compares (tag ``nbval-check-output``)."""
    return cell.get("cell_type") == "code" and CHECK_TAG in cell.get("metadata", {}).get("tags", [])


def drop_check_marker(source: str) -> str:
    """The cell source without nbval marker lines (what learners see)."""
    return split_markers(source)[0]


def solution_dropdown(solution_source: str) -> str:
    """The markdown cell shown after an exercise: the solution code in a ``<details>`` block."""
    return ("<details><summary>Solution</summary>\n\n```python\n" + solution_source.strip("\n")
            + "\n```\n\n</details>")


def colab_badge(folder: str, filename: str, repo: str) -> str:
    url = f"https://colab.research.google.com/github/{repo}/blob/main/{folder}/{filename}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def colab_install(repo: str) -> str:
    """Code cell run first: on Colab only, pip-install the course package (``workbook.course.colab.install_cell_source``)."""
    return _colab().install_cell_source(repo)


# ---------------------------------------------------------------- notebook assembly

def _new_cell(kind: str, source: str, metadata: dict | None = None):
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source=source)
    if metadata:
        cell.metadata.update(metadata)
    return cell


def _clean_metadata(metadata: dict) -> dict:
    # Keep only what affects rendering/testing; drop jupytext and execution bookkeeping.
    return {k: copy.deepcopy(v) for k, v in metadata.items() if k in ("tags",)}


def _with_tags(metadata: dict, tags: list[str]) -> dict:
    out = copy.deepcopy(metadata)
    merged = list(dict.fromkeys(list(out.get("tags", [])) + list(tags)))
    if merged:
        out["tags"] = merged
    return out


def _finalise(cells: list, stem: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = nbformat.from_dict(copy.deepcopy(NB_METADATA))
    for index, cell in enumerate(cells):
        cell["id"] = f"{stem[:40]}-{index:03d}"
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    nb.cells = cells
    return nb


def read_chapter(path: Path) -> nbformat.NotebookNode:
    import jupytext

    return jupytext.read(path, fmt="py:percent")


def build_pair(path: Path, repo: str | None = None) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """Build ``(learner, solution)`` notebooks (not executed) from one chapter source."""
    repo = repo or _repo_slug()
    source_nb = read_chapter(path)
    stem = path.stem
    install = colab_install(repo)
    learner = [_new_cell("markdown", colab_badge(LEARNER_DIR, stem + ".ipynb", repo)), _new_cell("code", install)]
    solution = [_new_cell("markdown", colab_badge(SOLUTION_DIR, stem + ".ipynb", repo)), _new_cell("code", install)]
    in_real = False  # inside the "Now on a real model" section: the learner twin's test run skips it
    for cell in source_nb.cells:
        meta = _clean_metadata(cell.metadata)
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            in_real = REAL_SECTION.match(cell.source) is not None
        if cell.cell_type != "code":
            kind = "markdown" if cell.cell_type == "markdown" else cell.cell_type
            learner.append(_new_cell(kind, cell.source, meta))
            solution.append(_new_cell(kind, cell.source, meta))
            continue
        try:
            learn_src, sol_src, has_markers = split_variants(cell.source)
        except MarkerError as err:
            raise MarkerError(f"{path.name}: {err}\n--- cell ---\n{cell.source}") from None
        learn_src, tags = split_markers(learn_src)
        sol_src, _ = split_markers(sol_src)
        learner_meta = _with_tags(meta, [t for t in tags if t == "nbval-skip"] + (["nbval-skip"] if in_real else []))
        learner.append(_new_cell("code", learn_src, learner_meta))
        if has_markers:
            learner.append(_new_cell("markdown", solution_dropdown(sol_src)))
        solution.append(_new_cell("code", sol_src, _with_tags(meta, tags)))
    return _finalise(learner, stem), _finalise(solution, stem)


def _keep_output(output: dict) -> dict | None:
    output = copy.deepcopy(output)
    if output.get("output_type") in ("display_data", "execute_result"):
        data = {k: v for k, v in output.get("data", {}).items() if k not in DROP_MIME}
        if not data:
            return None
        output["data"] = data
        output["metadata"] = {}
    return output


def _coalesce(outputs: list) -> list:
    """Merge consecutive stream outputs of the same name (how the kernel split them is timing)."""
    merged: list = []
    for out in outputs:
        if merged and out.get("output_type") == "stream" and merged[-1].get("output_type") == "stream" \
                and merged[-1].get("name") == out.get("name"):
            merged[-1]["text"] = "".join(merged[-1]["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


def strip_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Keep outputs and execution counts only in compared (``nbval-check-output``) cells."""
    nb = copy.deepcopy(nb)
    nb.metadata = nbformat.from_dict(copy.deepcopy(NB_METADATA))
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict(_clean_metadata(cell.metadata))
        if cell.cell_type != "code":
            continue
        if is_checked(cell):
            cell.outputs = _coalesce([o for o in map(_keep_output, cell.outputs) if o is not None])
        else:
            cell.outputs = []
            cell.execution_count = None
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run a notebook with nbclient in ``cwd`` (progress bars off, Agg backend, one thread, strict digits).

    The optional real-model sections are switched off (``WORKBOOK_REAL_MODELS=0``): their
    outputs are never stored, and the build must not depend on the network.
    """
    from nbclient import NotebookClient

    nb = copy.deepcopy(nb)
    env = {"WORKBOOK_PROGRESS": "0", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "WORKBOOK_THREADS": "1",
           "WORKBOOK_WIDGETS": "0", "WORKBOOK_STRICT_DIGITS": "1", "WORKBOOK_REAL_MODELS": "offline"}
    with scoped_environ(env):
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def dumps(nb: nbformat.NotebookNode) -> str:
    nbformat.validate(nb)
    return nbformat.writes(nb, version=4) + "\n"


# ---------------------------------------------------------------- comparison (--check)

def _comparable(nb: nbformat.NotebookNode, with_outputs: bool) -> list[str]:
    lines = [f"metadata: {dict(nb.metadata)}"]
    for cell in nb.cells:
        lines.append(f"--- cell {cell.get('id')} [{cell.cell_type}] metadata={dict(cell.metadata)}")
        lines.extend(cell.source.split("\n"))
        if with_outputs and cell.cell_type == "code":
            lines.append(f"outputs={cell.outputs!r} execution_count={cell.execution_count!r}")
    return lines


def diff_notebooks(expected: nbformat.NotebookNode, actual: nbformat.NotebookNode, name: str, with_outputs: bool) -> list[str]:
    """Unified diff (cell sources, types, metadata; outputs only when ``with_outputs``)."""
    return list(difflib.unified_diff(_comparable(actual, with_outputs), _comparable(expected, with_outputs),
                                     fromfile=f"committed/{name}", tofile=f"generated/{name}", lineterm="", n=1))


# ---------------------------------------------------------------- driver

@dataclass
class Result:
    chapter: str
    problems: list[str]


def chapter_paths(root: Path = ROOT, only: str | None = None) -> list[Path]:
    paths = sorted(p for p in (root / "chapters").glob("*.py") if CHAPTER_GLOB.match(p.name))
    if only:
        paths = [p for p in paths if p.name.startswith(only)]
    return paths


def process(path: Path, root: Path = ROOT, check: bool = False, run: bool = True, repo: str | None = None) -> Result:
    learner, solution = build_pair(path, repo)
    name = path.stem + ".ipynb"
    learner_path, solution_path = root / LEARNER_DIR / name, root / SOLUTION_DIR / name
    problems: list[str] = []
    if check:
        for kind, nb, target, outputs in (("learner", learner, learner_path, True), ("solution", solution, solution_path, False)):
            if not target.exists():
                problems.append(f"{target.relative_to(root)} is missing")
                continue
            committed = nbformat.read(target, as_version=4)
            diff = diff_notebooks(nb, committed, name, with_outputs=outputs)
            if diff:
                problems.append(f"{target.relative_to(root)} differs from {path.relative_to(root)}:\n" + "\n".join(diff[:40]))
            elif kind == "solution" and any(c.get("outputs") for c in committed.cells if c.cell_type == "code" and not is_checked(c)):
                problems.append(f"{target.relative_to(root)} stores outputs outside compared (nbval-check-output) cells")
        return Result(path.name, problems)
    learner_path.parent.mkdir(parents=True, exist_ok=True)
    solution_path.parent.mkdir(parents=True, exist_ok=True)
    learner_path.write_text(dumps(learner))
    if run:
        solution = execute(solution, cwd=solution_path.parent)
    elif solution_path.exists():
        # Keep the outputs already stored for cells whose source did not change.
        stored = {c.source: c for c in nbformat.read(solution_path, as_version=4).cells if c.cell_type == "code"}
        for cell in solution.cells:
            old = stored.get(cell.source) if cell.cell_type == "code" else None
            if old is not None:
                cell.outputs, cell.execution_count = old.outputs, old.execution_count
    solution_path.write_text(dumps(strip_outputs(solution)))
    return Result(path.name, problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed notebooks; exit 1 on drift")
    parser.add_argument("--only", metavar="NN", help="only chapters whose file name starts with NN")
    parser.add_argument("--no-execute", action="store_true", help="do not execute the solutions (keeps stored outputs of unchanged cells)")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    paths = chapter_paths(args.root, args.only)
    if not paths:
        print(f"no chapters found under {args.root / 'chapters'}" + (f" matching {args.only}" if args.only else ""), file=sys.stderr)
        return 2 if args.only else 0
    failed = 0
    for path in paths:
        try:
            result = process(path, args.root, check=args.check, run=not args.no_execute)
        except MarkerError as err:
            print(f"[error] {err}", file=sys.stderr)
            failed += 1
            continue
        if result.problems:
            failed += 1
            for problem in result.problems:
                print(f"[out of sync] {problem}", file=sys.stderr)
        else:
            print(f"[{'in sync' if args.check else 'built'}] {path.name}")
    if failed and args.check:
        print("Rebuild with: python scripts/build_notebooks.py", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
