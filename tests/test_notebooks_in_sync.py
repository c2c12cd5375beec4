"""The committed notebooks/ and solutions/ are exactly what scripts/build_notebooks.py generates."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_notebooks_match_chapter_sources():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_notebooks.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, "notebooks out of sync with chapters/ — run python scripts/build_notebooks.py\n" + proc.stderr[-4000:]
