"""Notebook set-up in one call: install on Colab if needed, pick a device, seed everything.

``REPO`` is the one place the GitHub ``owner/name`` of the course lives: the Colab badge and
the Colab install cell (:func:`install_cell_source`) that ``scripts/build_notebooks.py`` puts at
the top of every notebook, and the fallback install in :func:`setup` (which runs that same
cell), all read it. It is a placeholder until the course is published; change it here and
rebuild the notebooks (``tests/test_colab.py`` checks that every notebook uses it).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
import sys

__all__ = ["REPO", "THREADS_ENV", "install_cell_source", "setup", "in_colab", "pick_device", "seed_everything",
           "set_threads"]

REPO = "when-gradients-mislead/when-gradients-mislead"
THREADS_ENV = "WORKBOOK_THREADS"
_DONE: dict[str, str] = {}


def in_colab() -> bool:
    """True inside Google Colab (its runtime imports ``google.colab``)."""
    return "google.colab" in sys.modules


_INSTALL_CELL = """\
# On Colab, install the course package (does nothing elsewhere; safe to run again).
# Packages Colab already has in a compatible version (torch, numpy, transformers, ...) are kept.
import sys

if "google.colab" in sys.modules:
    import importlib
    import importlib.metadata as md
    import importlib.util
    import subprocess

    if importlib.util.find_spec("workbook") is None or importlib.util.find_spec("transformer_lens") is None:
        before = {d.metadata["Name"].lower(): d.version for d in md.distributions()}
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/{REPO}.git"], check=True)
        importlib.invalidate_caches()
        loaded = {name.split(".")[0] for name in list(sys.modules)}
        changed = sorted({d for m, ds in md.packages_distributions().items() if m in loaded for d in ds
                          if before.get(d.lower()) not in (None, md.version(d))})
        if changed:
            print("Restart the session (Runtime > Restart session), then run this cell again: "
                  + ", ".join(changed) + " changed after being imported.")"""


def install_cell_source(repo: str | None = None) -> str:
    """The Colab install cell at the top of every notebook, for GitHub ``repo`` (default ``REPO``).

    Plain ``pip install git+https://github.com/<repo>.git``, never ``--upgrade``: pip keeps every
    package Colab already has in a version the course accepts (torch, numpy, transformers, ...)
    and installs only what is missing or too old. Idempotent: skipped once ``workbook`` and
    ``transformer_lens`` import. If pip replaced a package this kernel had already imported,
    it prints one line asking for a restart (the second run then does nothing).
    """
    return _INSTALL_CELL.replace("{REPO}", repo or REPO)


def _install_from_github(quiet: bool) -> None:
    """Run the notebooks' install cell (the fallback when :func:`setup` finds nothing installed)."""
    exec(compile(install_cell_source(), "<colab install cell>", "exec"), {"__name__": "__colab_install__"})
    importlib.invalidate_caches()
    if not quiet:
        print(f"installed the course package from github.com/{REPO}")


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else ``"cpu"``: the course models are tiny, so the CPU is fastest.

    Pass ``"auto"`` to take ``cuda``, then ``mps``, when present.
    """
    import torch

    if device not in (None, "auto"):
        return str(torch.device(device))
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
    return "cpu"


def seed_everything(seed: int) -> None:
    """Seed ``random``, ``numpy`` and ``torch`` (CPU and CUDA)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads(threads: int | str | None = None) -> int:
    """Set torch's CPU thread count and return the count in use.

    ``threads``: an integer, ``"default"`` (leave torch's choice: ``OMP_NUM_THREADS`` or the
    number of cores), or ``None`` to read the ``WORKBOOK_THREADS`` environment variable, which
    defaults to ``1``: the course's models are tiny, one thread is about as fast as several, and
    it never oversubscribes a busy or hyper-threaded CPU (two threads on two shared cores made a
    5-second cell take over a minute). The tests also run the notebooks with
    ``WORKBOOK_THREADS=2`` and ``=default`` to show that no compared output depends on it.
    """
    import torch

    if threads is None:
        threads = os.environ.get(THREADS_ENV, "1")
    if str(threads).strip().lower() != "default":
        try:
            n = int(threads)
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be a positive integer or 'default', got {threads!r}.") from None
        if n < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive integer or 'default', got {threads!r}.")
        torch.set_num_threads(n)
    return torch.get_num_threads()


def _plot_defaults() -> None:
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.rcParams.update({"figure.figsize": (6.0, 3.6), "figure.dpi": 100, "axes.grid": True,
                                "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False})


def _version() -> str:
    """The installed package's version (its metadata; the source tree's pyproject otherwise)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("when-gradients-mislead")
    except PackageNotFoundError:
        return "0.1.0 (source tree)"


def _dist_version(name: str) -> str:
    """An installed distribution's version without importing it ("not installed" when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def setup(seed: int = 0, device: str | None = None, quiet: bool = False) -> str:
    """Prepare a notebook session and return the device string.

    Idempotent (a second call only re-seeds). On Colab, installs the course package from
    GitHub (``REPO``) when it is missing, keeping Colab's torch. Elsewhere it never installs
    anything. Seeds ``random``/``numpy``/``torch`` with ``seed``, sets torch's CPU thread count
    (one, or ``WORKBOOK_THREADS``: :func:`set_threads`), sets readable matplotlib
    defaults, turns off tqdm bars when ``WORKBOOK_PROGRESS=0``, and prints one line of
    versions unless ``quiet``.
    """
    if in_colab() and importlib.util.find_spec("transformer_lens") is None:
        _install_from_github(quiet)
    import torch

    seed_everything(seed)
    threads = set_threads()
    first = "device" not in _DONE
    if first or device is not None:
        _DONE["device"] = pick_device(device)
        _plot_defaults()
    dev = _DONE["device"]
    if not quiet and first:
        tl_version = _dist_version("transformer_lens")  # from its metadata: importing it costs seconds
        where = "colab" if in_colab() else "local"
        print(f"workbook {_version()} | torch {torch.__version__} | transformer_lens {tl_version} | {dev} "
              f"({threads} CPU threads) | {where}")
    return dev
