"""``bash scripts/dev.sh reset-notebooks``: committed notebooks back, learners' changes kept in a backup."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "dev.sh", tmp_path / "scripts" / "dev.sh")
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    for folder in ("notebooks", "solutions"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "00_x.ipynb").write_text(f"committed {folder}\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "init")
    return tmp_path


def _reset(repo: Path) -> str:
    proc = subprocess.run(["bash", "scripts/dev.sh", "reset-notebooks"], cwd=repo, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_reset_restores_committed_notebooks_and_backs_up_changes(repo: Path):
    (repo / "notebooks" / "00_x.ipynb").write_text("learner's work\n")
    (repo / "notebooks" / "my_copy.ipynb").write_text("a new notebook\n")
    (repo / "notebooks" / ".ipynb_checkpoints").mkdir()
    (repo / "notebooks" / ".ipynb_checkpoints" / "00_x-checkpoint.ipynb").write_text("autosave\n")
    (repo / "solutions" / "00_x.ipynb").unlink()
    out = _reset(repo)
    assert "reset 3 file(s)" in out
    assert (repo / "notebooks" / "00_x.ipynb").read_text() == "committed notebooks\n"
    assert (repo / "solutions" / "00_x.ipynb").read_text() == "committed solutions\n"
    assert not (repo / "notebooks" / "my_copy.ipynb").exists()
    assert not (repo / "notebooks" / ".ipynb_checkpoints").exists()
    assert _git(repo, "status", "--porcelain") == ""
    (backup,) = (repo / "out" / "notebook-backups").iterdir()
    assert (backup / "notebooks" / "00_x.ipynb").read_text() == "learner's work\n"
    assert (backup / "notebooks" / "my_copy.ipynb").read_text() == "a new notebook\n"
    assert "already as committed" in _reset(repo)
