"""Reading-quality rules every chapter source follows (chapters/README.md): checked, not hoped for."""

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))
SETUP = ("# NBVAL_IGNORE_OUTPUT\nimport workbook\n\n"
         "device = workbook.setup()  # on Colab: installs the course package; everywhere: seeds, threads, device")
PAPERS = {  # arXiv ids each chapter must link
    "00": ["2403.00745"], "01": ["2403.00745"], "02": ["2403.00745"],
    "03": ["2310.10348", "2403.17806", "1703.01365"], "04": ["2502.06852", "2403.17806", "1703.01365"],
    "05": ["2403.00745", "2310.10348", "2403.17806", "2502.06852", "1703.01365"],
    "06": ["2508.21258", "2504.13151", "2510.00845"],  # RelP, MIB, circuit stability
}
RAW_FLOAT = re.compile(r"\{[^{}]*:[^{}]*\d*[fge]\}")  # an f-string float format, e.g. {x:.2f}


def _cells(path):
    return jupytext.read(path, fmt="py:percent").cells


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_setup_imports_and_no_echo(path):
    code = [c.source for c in _cells(path) if c.cell_type == "code"]
    assert code[0].strip() == SETUP, "the first code cell is the uniform setup cell"
    for src in code:
        assert not re.search(r"(from|import)\s+[\w.]*\b_\w+|import[^\n]*\b_\w+", src), f"private import in:\n{src}"
        last = src.strip().split("\n")[-1]
        assert not re.match(r"torch\.manual_seed\(", last), "a cell ending in torch.manual_seed(...) echoes a Generator"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_papers_linked_and_further_reading_at_the_end(path):
    cells = _cells(path)
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    for arxiv in PAPERS[path.stem[:2]]:
        assert f"arxiv.org/abs/{arxiv}" in text, f"{path.name} must link arXiv {arxiv}"
    assert cells[-1].cell_type == "markdown" and cells[-1].source.startswith("## Further reading")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_compared_cells_print_no_raw_floats(path):
    """A compared cell prints claims; a float goes through wb.scores.fmt (checked at build time)."""
    for cell in _cells(path):
        if cell.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in cell.source:
            assert not RAW_FLOAT.search(cell.source), f"raw float format in a compared cell of {path.name}:\n{cell.source}"


#: a visual view of the chapter's failure, drawn in the notebook: a matplotlib figure, a circuit
#: graph, circuitsvis or a widget, before the real-model section
VISUAL = re.compile(r"plt\.show\(\)|draw_circuit\(|attention_patterns\(|ipywidgets\.")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_shows_its_failure_in_a_picture(path):
    code = []
    for cell in _cells(path):
        if cell.cell_type == "markdown" and re.match(r"^## \d+\. Now on a real model", cell.source):
            break
        if cell.cell_type == "code":
            code.append(cell.source)
    assert any(VISUAL.search(src) for src in code), f"{path.name} draws no figure, circuit graph or widget"


def test_the_hook_name_trap_is_taught_where_hooks_first_appear():
    """TransformerLens 4 reports ``hook.name`` as the bridge's own name (``blocks.0.attn.hook_z`` ->
    ``blocks.0.attn.o.hook_in``); the first chapter that writes a hook function shows it live."""
    first = next(p for p in CHAPTERS if any("model.hooks(" in c.source for c in _cells(p) if c.cell_type == "code"))
    cells = _cells(first)
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "hook.name" in code and "registered" in code, f"{first.name}: print hook.name next to the registered name"
    assert "KeyError" in text and "close over" in text.lower(), f"{first.name} must name the trap and the safe pattern"
