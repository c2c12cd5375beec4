"""Shipped ground truth (workbook.patching.shipped_truth): written once, loaded only for the same model
and prompt pairs, and seeding the main job's truth cache (workbook.cli.truth) so its first run does not patch."""

import json
from pathlib import Path

import pytest
import torch

from workbook.cli import report, summary
from workbook.cli.truth import TruthCache, ground_truth
from workbook.core.scores import concat_scores
from workbook.core.task import Task
from workbook.patching import shipped_truth as S
from workbook.patching.edges import patch_edges
from workbook.patching.nodes import patch_nodes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def shipped_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "DATA_DIR", tmp_path / "data")
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "data"


def _ship(model, task, kinds=("head", "mlp", "q", "k"), edges=None):
    truths = {k: patch_nodes(model, task, k) for k in kinds}
    if edges is not None:
        truths["edges"] = patch_edges(model, task, edges=edges)
    meta = {"seconds": {k: 10.0 + i for i, k in enumerate(truths)}, "made": "2026-01-02"}
    return S.save_truth(S.truth_path("random", task), model, task, truths, meta), truths


def test_round_trip_and_fingerprint_refuses_other_models_and_prompts(shipped_dir):
    model, task = report.random_model()
    path, truths = _ship(model, task, kinds=("head",))
    assert path == shipped_dir / f"random_{task.name}_{task.batch_size}.json"
    got = S.load_shipped(model, "random", task, "head")
    assert got.names == truths["head"].names and torch.equal(got.values, truths["head"].values.double())
    assert got.info["shipped"] == path.name and got.info["recompute_seconds"] == 10.0
    assert S.load_shipped(model, "random", task, "mlp") is None  # a kind the file lacks
    other_model, _ = report.random_model(seed=1)
    assert S.read_shipped(other_model, "random", task) is None
    corrupt = task.corrupt.clone()
    corrupt[0, 0] = (corrupt[0, 0] + 1) % model.cfg.d_vocab
    other = Task(task.clean, corrupt, task.answer, task.wrong, name=task.name)
    assert S.fingerprint(model, other) != S.fingerprint(model, task)
    assert S.load_shipped(model, "random", other, "head") is None


def test_truth_cache_is_seeded_from_the_shipped_file(shipped_dir, tmp_path):
    model, task = report.random_model()
    pool = ["L0H0->L1H1.q", "embed->MLP1", "L1H2->logits"]
    path, truths = _ship(model, task, edges=pool)
    cache = TruthCache.open("random", model, task, root=tmp_path / "cache")
    nodes = ground_truth(model, task, "nodes", cache=cache)
    want = concat_scores([truths["head"], truths["mlp"]])
    assert nodes.names == want.names and torch.equal(nodes.values.double(), want.values.double())
    assert nodes.info["shipped"] == path.name and nodes.info["seconds"] == 10.0 + 11.0
    qk = ground_truth(model, task, "qk", cache=cache)
    assert qk.names == truths["q"].names + truths["k"].names
    edges = ground_truth(model, task, "edges", pool=pool[1:], cache=cache)  # inside the shipped pool: no patching
    assert edges.info["shipped"] == path.name and edges.info["passes"] == "cached"
    assert edges.values.tolist() == [truths["edges"][e] for e in pool[1:]]
    grown = ground_truth(model, task, "edges", pool=pool + ["embed->L1H0.k"], cache=cache)  # one edge patched now
    live = patch_edges(model, task, edges=["embed->L1H0.k"])
    assert "shipped" not in grown.info and grown["embed->L1H0.k"] == live["embed->L1H0.k"]


def test_report_says_the_truth_came_from_the_shipped_file(shipped_dir):
    model, task = report.random_model()
    _ship(model, task)
    result = report.run_model("random", ["AtP", "AtP (q,k)"], log=lambda s: None, cache_truth=True)
    assert result["truth"]["nodes"]["shipped"] and result["truth"]["qk"]["shipped"]
    text = summary.format_model(result)
    assert "shipped with the package in workbook/patching/data/random_" in text and "s to recompute" in text
    assert "items, shipped" in text


def test_smollm2_truth_ships_with_the_package():
    data = json.loads((S.DATA_DIR / "smollm2_IOI_8.json").read_text())
    assert set(data["truths"]) == {"head", "mlp", "q", "k", "v", "edges"}
    assert len(data["truths"]["head"]["names"]) == 30 * 9 and data["meta"]["n"] == 8 and data["meta"]["seed"] == 0
    package_data = (ROOT / "pyproject.toml").read_text().split("[tool.setuptools.package-data]")[1].split("\n[")[0]
    assert '"patching/data/*.json"' in package_data  # the file is installed with the package
