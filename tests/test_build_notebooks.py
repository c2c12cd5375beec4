"""The generator's marker transformations, on a tiny synthetic chapter (no kernel needed)."""

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "scripts" / "build_notebooks.py")
bn = importlib.util.module_from_spec(_spec)
sys.modules["build_notebooks"] = bn
_spec.loader.exec_module(bn)

CHAPTER = '''# %% [markdown]
# # Tiny chapter

# %%
def f(x):
    """Double x."""
    # EXERCISE
    # # YOUR CODE HERE
    # raise NotImplementedError("f")
    # END EXERCISE
    # SOLUTION
    return 2 * x
    # END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
print(round(f(0.5), 3))

# %%
print("free", f(1))
'''


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "07_tiny.py").write_text(CHAPTER)
    return tmp_path


def _code(nb):
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_split_variants_learner_and_solution():
    learner, solution, marked = bn.split_variants(CHAPTER.split("# %%\n")[1])
    assert marked
    assert 'raise NotImplementedError("f")' in learner and "# YOUR CODE HERE" in learner
    assert "return 2 * x" not in learner
    assert "return 2 * x" in solution and "NotImplementedError" not in solution
    assert "# EXERCISE" not in learner + solution and "# SOLUTION" not in learner + solution


@pytest.mark.parametrize("bad, message", [
    ("# EXERCISE\n# x = 1\n", "never closed"),
    ("# SOLUTION\nx = 1\n# END EXERCISE\n", "without a matching"),
    ("# EXERCISE\n# SOLUTION\n# END SOLUTION\n# END EXERCISE\n", "opened inside"),
    ("# EXERCISE\nx = 1\n# END EXERCISE\n", "not commented out"),
])
def test_unbalanced_markers_raise(bad, message):
    with pytest.raises(bn.MarkerError, match=message):
        bn.split_variants(bad)


def test_learner_notebook(repo):
    learner, _ = bn.build_pair(repo / "chapters" / "07_tiny.py", repo="me/course")
    assert "colab.research.google.com/github/me/course/blob/main/notebooks/07_tiny.ipynb" in learner.cells[0].source
    assert "git+https://github.com/me/course.git" in learner.cells[1].source and "google.colab" in learner.cells[1].source
    code = _code(learner)
    assert any('raise NotImplementedError("f")' in s for s in code)
    assert not any("return 2 * x" in s for s in code)
    # the dropdown right after the exercise cell holds the solution
    idx = next(i for i, c in enumerate(learner.cells) if "NotImplementedError" in c.source)
    dropdown = learner.cells[idx + 1]
    assert dropdown.cell_type == "markdown" and dropdown.source.startswith("<details><summary>Solution</summary>")
    assert "return 2 * x" in dropdown.source and "NotImplementedError" not in dropdown.source
    # learner notebooks compare nothing: the check marker is dropped, no tag, no outputs anywhere
    assert not any("NBVAL" in s for s in code)
    assert not any(c.metadata.get("tags") for c in learner.cells)
    assert all(c.outputs == [] and c.execution_count is None for c in learner.cells if c.cell_type == "code")


def test_solution_notebook_and_output_stripping(repo):
    _, solution = bn.build_pair(repo / "chapters" / "07_tiny.py", repo="me/course")
    assert "/blob/main/solutions/07_tiny.ipynb" in solution.cells[0].source
    assert not any("<details>" in c.source for c in solution.cells)
    # fake an execution: every code cell gets an output and a count
    for n, cell in enumerate(c for c in solution.cells if c.cell_type == "code"):
        cell.execution_count = n + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"out {n}\n"),
                        nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "x"}})]
    stripped = bn.strip_outputs(solution)
    kept = [c for c in stripped.cells if c.cell_type == "code" and c.outputs]
    assert len(kept) == 1 and kept[0].metadata["tags"] == ["nbval-check-output"]
    assert "NBVAL" not in kept[0].source and kept[0].source.startswith("print(round(")
    assert kept[0].execution_count is not None
    assert [o.output_type for o in kept[0].outputs] == ["stream"], "widget state must be dropped"
    others = [c for c in stripped.cells if c.cell_type == "code" and not bn.is_checked(c)]
    assert all(c.execution_count is None and c.outputs == [] for c in others)
    assert not any("NBVAL" in c.source for c in stripped.cells)


def test_output_is_deterministic_and_valid(repo):
    a = bn.dumps(bn.build_pair(repo / "chapters" / "07_tiny.py", repo="me/course")[0])
    b = bn.dumps(bn.build_pair(repo / "chapters" / "07_tiny.py", repo="me/course")[0])
    assert a == b
    nb = json.loads(a)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert [c["id"] for c in nb["cells"]] == [f"07_tiny-{i:03d}" for i in range(len(nb["cells"]))]


def test_check_detects_drift(repo, capsys):
    chapter = repo / "chapters" / "07_tiny.py"
    assert bn.main(["--root", str(repo), "--check"]) == 1  # nothing generated yet
    assert bn.main(["--root", str(repo), "--no-execute"]) == 0
    assert bn.main(["--root", str(repo), "--check"]) == 0
    chapter.write_text(CHAPTER.replace("Double x.", "Twice x."))
    capsys.readouterr()
    assert bn.main(["--root", str(repo), "--check"]) == 1
    err = capsys.readouterr().err
    assert "notebooks/07_tiny.ipynb differs" in err and "Twice x." in err
    # hand-added outputs outside compared cells are drift too
    assert bn.main(["--root", str(repo), "--no-execute"]) == 0
    sol = repo / "solutions" / "07_tiny.ipynb"
    nb = nbformat.read(sol, as_version=4)
    free = next(c for c in nb.cells if c.cell_type == "code" and "free" in c.source)
    free.outputs = [nbformat.v4.new_output("stream", name="stdout", text="free 2\n")]
    nbformat.write(nb, sol)
    assert bn.main(["--root", str(repo), "--check"]) == 1


def test_stream_pieces_are_merged():
    out = [nbformat.v4.new_output("stream", name="stdout", text="a\n"),
           nbformat.v4.new_output("stream", name="stdout", text="b\n"),
           nbformat.v4.new_output("stream", name="stderr", text="w\n")]
    merged = bn._coalesce(out)
    assert [(o.name, "".join(o.text)) for o in merged] == [("stdout", "a\nb\n"), ("stderr", "w\n")]


def test_markers_become_tags_and_skip_reaches_the_learner():
    src, tags = bn.split_markers("# NBVAL_SKIP\nx = 1\n# NBVAL_IGNORE_OUTPUT\nprint(x)")
    assert src == "x = 1\nprint(x)" and tags == ["nbval-skip", "nbval-ignore-output"]
    assert bn.split_markers("y = 2") == ("y = 2", [])


NBVAL_PROBE = """from pathlib import Path
import nbformat
nb = nbformat.v4.new_notebook()
nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
wrong = [nbformat.v4.new_output("stream", name="stdout", text="2\\n")]
checked = nbformat.v4.new_code_cell("print(1)", metadata={"tags": ["nbval-check-output"]}, outputs=wrong)
free = nbformat.v4.new_code_cell("print(1)", outputs=wrong)
ignored = nbformat.v4.new_code_cell("print(1)", metadata={"tags": ["nbval-ignore-output"]}, outputs=wrong)
skipped = nbformat.v4.new_code_cell("raise SystemExit", metadata={"tags": ["nbval-skip"]})
for n, cell in enumerate([checked, free, ignored]):
    cell.execution_count = n + 1
for name, cells in {"checked": [checked], "free": [free, ignored, skipped]}.items():
    nb.cells = cells
    nbformat.write(nb, Path(name + ".ipynb"))
"""


@pytest.mark.slow
def test_this_nbval_honours_the_cell_tags(tmp_path):
    """nbval (lax) compares a cell tagged nbval-check-output, ignores untagged/ignore-tagged ones, skips nbval-skip."""
    import subprocess

    subprocess.run([sys.executable, "-c", NBVAL_PROBE], cwd=tmp_path, check=True)
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "--nbval-lax",
            "--nbval-current-env", "-q", "-c", str(tmp_path / "none.ini"), "--rootdir", str(tmp_path)]
    (tmp_path / "none.ini").write_text("[pytest]\n")
    bad = subprocess.run(base + ["checked.ipynb"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "1 failed" in bad.stdout, bad.stdout[-2000:]
    good = subprocess.run(base + ["free.ipynb"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert good.returncode == 0 and "2 passed, 1 skipped" in good.stdout, good.stdout[-2000:]
