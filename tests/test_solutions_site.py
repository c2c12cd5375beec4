"""``scripts/solutions_site.py`` (``bash scripts/dev.sh solutions``) on two tiny notebooks: one page per
notebook with its outputs and figures embedded (each figure once), an index with the timings, exit 1 if one fails,
the committed notebooks untouched."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def _notebook(*cells: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny chapter")] + [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def test_site_executes_notebooks_and_writes_pages(tmp_path: Path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "exercises.md").write_text("# Exercise list\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n")
    (tmp_path / "docs" / "instructor_guide.md").write_text("# Guide\n\nPrint [the list](exercises.md).\n")
    nbformat.write(_notebook("print('hello from the solution', 6 * 7)",
                             "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()",
                             # an open figure as the cell's value: the inline backend shows it twice
                             "fig = plt.figure()\nplt.plot([0, 1], [0, 1])\nfig"),
                   tmp_path / "solutions" / "07_tiny.ipynb")
    nbformat.write(_notebook("print('before')", "raise ValueError('planted failure')", "print('never runs')"),
                   tmp_path / "solutions" / "08_broken.ipynb")
    committed = {p.name: p.read_text() for p in (tmp_path / "solutions").iterdir()}
    out = tmp_path / "site"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "solutions_site.py"), "--root", str(tmp_path),
                           "--out", str(out), "--timeout", "120"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, "a failing notebook makes the command fail\n" + proc.stdout + proc.stderr[-2000:]
    assert "FAILED: 08_broken.ipynb" in proc.stdout
    page = (out / "07_tiny.html").read_text()
    assert "hello from the solution 42" in page
    assert page.count('src="data:image/png;base64,') == 2, "figures are embedded in the page, each once"
    broken = (out / "08_broken.html").read_text()
    assert "before" in broken and "planted failure" in broken and "never runs" in broken
    index = (out / "index.html").read_text()
    assert "href='07_tiny.html'" in index and "href='08_broken.html'" in index and "exercises.html" in index
    assert "| 1 | 2 |" not in (out / "exercises.html").read_text(), "markdown tables are rendered"
    assert 'href="exercises.html"' in (out / "instructor_guide.html").read_text(), "links between docs follow them"
    timings = json.loads((out / "timings.json").read_text())
    rows = {r["notebook"]: r for r in timings["notebooks"]}
    assert rows["07_tiny.ipynb"]["error"] is None and rows["07_tiny.ipynb"]["seconds"] > 0
    assert rows["07_tiny.ipynb"]["slowest_cell_s"] is not None
    assert "planted failure" in rows["08_broken.ipynb"]["error"]
    assert timings["machine"]["cpus"] >= 1
    assert {p.name: p.read_text() for p in (tmp_path / "solutions").iterdir()} == committed, \
        "the executed copies go to the site only; the committed solutions stay as they are"

