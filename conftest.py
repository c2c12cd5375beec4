"""Repo-root pytest configuration for nbval (unit-test fixtures live in tests/conftest.py).

Notebooks under notebooks/ and solutions/ are collected by nbval in *lax* mode: every cell
is executed, and only cells tagged ``nbval-check-output`` (present only in solutions/) have
their stored output compared, after the sanitiser in nbval_sanitize.cfg. Images, HTML,
widgets, JavaScript and stderr (warnings) are never compared.
"""

import os
from pathlib import Path

# Inherited by the notebook kernels nbval starts. Thread count: workbook.setup() uses one torch
# thread unless WORKBOOK_THREADS=N says otherwise; WORKBOOK_THREADS=default leaves torch's own
# choice, and OMP_NUM_THREADS is then left unset too (the "unset" variant).
os.environ.setdefault("WORKBOOK_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("WORKBOOK_THREADS", "").strip().lower() != "default":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["WORKBOOK_WIDGETS"] = "0"
# the optional "Now on GPT-2 small" sections print one line and skip (no download, no hub probe);
# tests/test_real_models.py runs them on local random folders instead
os.environ.setdefault("WORKBOOK_REAL_MODELS", "offline")

SKIP_COMPARE = ("image/png", "image/jpeg", "image/svg+xml", "text/html", "application/javascript",
                "application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json", "stderr")
SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")


def pytest_configure(config):
    opt = config.option
    if getattr(opt, "nbval_lax", False) or getattr(opt, "nbval", False):
        if getattr(opt, "nbval_sanitize_with", None) is None and SANITIZE.exists():
            opt.nbval_sanitize_with = str(SANITIZE)


def pytest_collectstart(collector):
    path = getattr(collector, "path", None)
    if path is not None and path.suffix == ".ipynb" and hasattr(collector, "skip_compare"):
        collector.skip_compare = tuple(collector.skip_compare) + SKIP_COMPARE
