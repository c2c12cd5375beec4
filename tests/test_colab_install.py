"""The Colab install cell: REPO is its one source, it never force-upgrades, it is idempotent and
asks for a restart (one line) only when pip replaced a package the kernel had already imported."""

import importlib.metadata as md
import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from workbook.course import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_notebook_badge_and_install_cell_use_repo(path):
    cells = nbformat.read(path, as_version=4).cells
    url = f"https://colab.research.google.com/github/{colab.REPO}/blob/main/{path.parent.name}/{path.name}"
    assert cells[0].cell_type == "markdown" and url in cells[0].source, "the first cell is the Colab badge"
    assert cells[1].cell_type == "code" and cells[1].source == colab.install_cell_source(), \
        "the second cell is workbook.course.colab.install_cell_source(); rebuild with python scripts/build_notebooks.py"


def test_repo_is_written_nowhere_else():
    """Change REPO in workbook/course/colab.py and rebuild: no other hand-written file names the address."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix == ".ipynb" or name == "workbook/course/colab.py" or not path.is_file():
            continue
        try:
            if colab.REPO in path.read_text(encoding="utf-8"):
                offenders.append(name)
        except UnicodeDecodeError:
            continue
    assert not offenders, f"{colab.REPO!r} is written out in {offenders}; read workbook.course.colab.REPO instead"


def _run_cell(monkeypatch, *, installed: bool, versions_after: dict[str, str] | None = None, loaded=("numpy",)):
    """Exec the install cell as if on Colab; returns the pip commands it ran."""
    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (real_find_spec(name, *a) if installed else None)
                        if name in ("workbook", "transformer_lens") else real_find_spec(name, *a))
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw)))

    class Dist:
        def __init__(self, name, version):
            self.metadata, self.version = {"Name": name}, version

    before = {"numpy": "2.1.3", "torch": "2.11.0", "transformers": "5.15.0", "never_imported_pkg": "1.0"}
    after = {**before, **(versions_after or {})}
    monkeypatch.setattr(md, "distributions", lambda: [Dist(n, v) for n, v in before.items()])
    monkeypatch.setattr(md, "packages_distributions", lambda: {n: [n] for n in before})
    monkeypatch.setattr(md, "version", lambda name: after[name])
    for name in loaded:
        monkeypatch.setitem(sys.modules, name, sys.modules.get(name) or type(sys)(name))
    exec(compile(colab.install_cell_source(), "<install cell>", "exec"), {"__name__": "__cell__"})
    return calls


def test_install_cell_installs_from_repo_without_forcing_upgrades(monkeypatch, capsys):
    calls = _run_cell(monkeypatch, installed=False)
    assert len(calls) == 1
    cmd, kw = calls[0]
    assert cmd[1:4] == ["-m", "pip", "install"] and f"git+https://github.com/{colab.REPO}.git" in cmd
    assert not {"-U", "--upgrade", "--force-reinstall", "--upgrade-strategy", "--no-deps"} & set(cmd), \
        "pip must keep what Colab already has in a compatible version"
    assert kw.get("check") is True
    assert capsys.readouterr().out == "", "nothing already imported changed: no restart line"


def test_install_cell_asks_for_a_restart_in_one_line_when_an_imported_package_changed(monkeypatch, capsys):
    assert "never_imported_pkg" not in sys.modules
    _run_cell(monkeypatch, installed=False, versions_after={"numpy": "2.3.0", "never_imported_pkg": "2.0"},
              loaded=("numpy",))
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and out.startswith("Restart the session")
    assert "numpy" in out and "never_imported_pkg" not in out, "only packages imported before the install need a restart"


def test_install_cell_is_a_no_op_when_installed_or_off_colab(monkeypatch, capsys):
    assert _run_cell(monkeypatch, installed=True) == []
    monkeypatch.delitem(sys.modules, "google.colab")
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    exec(compile(colab.install_cell_source(), "<install cell>", "exec"), {"__name__": "__cell__"})
    assert calls == [] and capsys.readouterr().out == ""


def test_setup_fallback_runs_the_same_cell(monkeypatch):
    monkeypatch.setattr(sys, "_workbook_cell_ran", 0, raising=False)
    monkeypatch.setattr(colab, "install_cell_source", lambda repo=None: "import sys\nsys._workbook_cell_ran += 1")
    colab._install_from_github(quiet=True)
    assert sys._workbook_cell_ran == 1
