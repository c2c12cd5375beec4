"""workbook.course.colab.setup (never installs outside Colab) and workbook.course.widgets.widgets_available."""

import random
import sys

import numpy as np
import pytest
import torch

from workbook.course import colab
from workbook.course.widgets import widgets_available


def test_setup_seeds_returns_device_and_is_idempotent(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(colab, "_install_from_github", lambda quiet: calls.append(quiet))
    monkeypatch.setattr(colab, "_DONE", {})
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert colab.setup(seed=3) == "cpu"
    line = capsys.readouterr().out.strip()
    assert line.count("\n") == 0 and "torch" in line and "transformer_lens" in line and "workbook" in line
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    assert colab.setup(seed=3) == "cpu"
    assert capsys.readouterr().out == "", "second call must not print again"
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a, "setup must re-seed every generator"
    assert colab.setup(seed=3, quiet=True) == "cpu"
    assert calls == [], "setup installed something outside Colab"


def test_setup_installs_only_on_colab_when_missing(monkeypatch):
    calls = []
    monkeypatch.setattr(colab, "_install_from_github", lambda quiet: calls.append(quiet))
    monkeypatch.setattr(colab, "_DONE", {})
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    colab.setup(quiet=True)
    assert calls == [], "transformer_lens is importable: nothing to install"
    monkeypatch.setattr(colab.importlib.util, "find_spec", lambda name: None)
    colab.setup(quiet=True)
    assert calls == [True]


def test_pick_device():
    assert colab.pick_device() == "cpu"
    assert colab.pick_device("cpu") == "cpu"
    assert colab.pick_device("auto") in ("cpu", "cuda", "mps")
    with pytest.raises(RuntimeError):
        colab.pick_device("not-a-device")


def test_repo_constant_feeds_badges():
    assert colab.REPO.count("/") == 1


def test_widgets_available_is_conservative(monkeypatch):
    monkeypatch.delenv("WORKBOOK_WIDGETS", raising=False)
    assert widgets_available() is False  # plain python under pytest: no kernel, no frontend
    monkeypatch.setenv("WORKBOOK_WIDGETS", "1")
    assert widgets_available() is True
    monkeypatch.setenv("WORKBOOK_WIDGETS", "0")
    assert widgets_available() is False


def test_setup_sets_the_thread_count_from_the_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(colab, "_DONE", {"device": "cpu"})
        monkeypatch.setenv("WORKBOOK_THREADS", "2")
        colab.setup(quiet=True)
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("WORKBOOK_THREADS", "default")
        assert colab.set_threads() == 2, "'default' leaves the count alone"
        monkeypatch.delenv("WORKBOOK_THREADS")
        assert colab.set_threads() == 1, "one thread unless told otherwise"
        monkeypatch.setenv("WORKBOOK_THREADS", "two")
        with pytest.raises(ValueError, match="WORKBOOK_THREADS"):
            colab.setup(quiet=True)
    finally:
        torch.set_num_threads(before)
