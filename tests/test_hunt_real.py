"""scripts/hunt_real.py end to end on a tiny random Llama-shaped model (grouped-query attention), in seconds.

Checks the report's structure and that its numbers are the run's: recomputed here with the library
functions on the same task, they match the JSON, and the Markdown shows the JSON's numbers.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

import workbook as wb
from workbook.core.scores import false_negatives, verification_cost
from workbook.models.local import save_tiny_model

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("Mary", "John", "Tom", "Sarah")  # single tokens in the tiny tokenizer
ARGS = ["--tasks", "toy", "--seeds", "0", "1", "--n", "4", "--pool-dests", "1", "--pool-top", "12",
        "--fn-top", "2", "--fn-samples", "8", "--sizes", "5", "20", "--neuron-candidates", "4",
        "--model-label", "tiny random Llama (test)"]


def toy_task(model, n: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        a, b, c = (NAMES[int(j)] for j in torch.randperm(len(NAMES), generator=g)[:3])
        t = "When {X} and {Y} went to the store, {S} gave a drink to"
        rows.append((t.format(X=a, Y=b, S=b), t.format(X=a, Y=b, S=c), " " + a, " " + b))
    clean, corrupt, answer, wrong = map(list, zip(*rows))
    return wb.task_from_strings(model, clean, corrupt, answer, wrong, name="toy")


@pytest.fixture(scope="module")
def hunt():
    spec = importlib.util.spec_from_file_location("hunt_real", ROOT / "scripts" / "hunt_real.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["hunt_real"] = mod
    spec.loader.exec_module(mod)
    mod.TASKS["toy"] = toy_task  # a task is one entry of the dict
    return mod


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "llama", "llama", n_layers=2, n_heads=4, n_kv_heads=2)


@pytest.fixture(scope="module")
def run(hunt, folder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hunt")
    out, cache = tmp / "hunt.md", tmp / "cache"
    lines = []
    argv = ARGS + ["--model-dir", str(folder), "--cache", str(cache), "--out", str(out)]
    data = hunt.main(argv, log=lambda *a, **k: lines.append(" ".join(map(str, a))))
    return {"argv": argv, "out": out, "md": out.read_text(), "data": data, "lines": lines, "cache": cache}


def test_report_structure(run):
    md, data = run["md"], run["data"]
    for heading in ("## What this shows", "## Runs", "## False negatives per method and node kind",
                    "## Cost of each method", "## 1. Saturation", "## 2. Cancellation", "## 3. Zero gradient",
                    "## 4. Path saturation", "## 5. False-negative bound", "## 6. Faithfulness", "## Runtime"):
        assert heading in md, heading
    assert "tiny random Llama (test)" in md and "2 k/v heads" in md and "1 torch thread" in md
    res = data["results"]
    assert [(r["task"], r["seed"], r["n"]) for r in res] == [("toy", 0, 4), ("toy", 1, 4)]
    assert json.loads(run["out"].with_suffix(".json").read_text()) == json.loads(json.dumps(data, default=float))
    # one progress line per step, with the elapsed time
    assert any("toy seed 0: patch_nodes head" in x for x in run["lines"])
    assert all(x.startswith("[") for x in run["lines"] if "toy seed" in x)
    # grouped k/v nodes are named per k/v head
    assert res[0]["top_true"]["k"][0][0].count("KV") == 1
    r0 = res[0]
    assert r0["neuron_layers"] and r0["neuron_candidates"]["n"] <= 12 and res[1]["neuron_candidates"] is None
    assert set(r0["faithfulness"]) == {"EAP", "EAP-IG", "EAP-GP", "exact on the pool"} and "faithfulness" not in res[1]
    for r in res:
        assert r["fwd_bwd_seconds"] > 0 and all(v > 0 for v in r["cost"].values())
        assert r["pool"]["size"] == len(set(r["pool"]["edges"])) and r["pool"]["size"] < r["pool"]["of"]


def test_numbers_come_from_the_run(hunt, run, folder):
    model = wb.load_pretrained(folder)
    for r in run["data"]["results"]:
        task = toy_task(model, n=4, seed=r["seed"])
        clean, corr = task.baselines(model)
        assert r["clean"] == pytest.approx(clean, abs=1e-6) and r["corrupt"] == pytest.approx(corr, abs=1e-6)
        heads, q = wb.patch_nodes(model, task, "head"), wb.patch_nodes(model, task, "q")
        for c, v in r["top_true"]["head"]:
            assert v == pytest.approx(heads[c], abs=1e-6)
        atp_h, atp_q = wb.atp(model, task, "head"), wb.atp(model, task, "q")
        s = r["fn"]["head|AtP|0.5"]
        assert s["missed"] == false_negatives(atp_h, heads, 0.5)
        assert s["verification_cost"] == verification_cost(atp_h, heads, 0.5)
        assert s["important"] == len(wb.important(heads, 0.5))
        for c, v in r["top_true"]["q"]:
            assert v == pytest.approx(q[c], abs=1e-6)
        for x in r["saturation"]:  # every saturation row is a q/k node AtP misses at tau 0.1
            assert x["atp"] == pytest.approx((atp_q if x["kind"] == "q" else wb.atp(model, task, "k"))[x["component"]])
        exact = wb.patch_edges(model, task, edges=r["pool"]["edges"])
        for c, v in r["top_true"]["edge"]:
            assert v == pytest.approx(exact[c], abs=1e-6)
        if r["neuron_check"]:
            assert r["neuron_check"]["max_abs_diff"] < 1e-5
    md = run["md"]
    r = run["data"]["results"][0]
    assert f"| toy s0 | {r['clean']:.4g} | {r['corrupt']:.4g} |" in md
    assert f"{r['fwd_bwd_seconds']:.2f}" in md and f"{r['fn_bound']['max_unverified_true']:.3g}" in md
    # the summary bullet sums the per-run false negatives of the JSON
    res = run["data"]["results"]
    missed = sum(len(x["fn"]["head|AtP|0.5"]["missed"]) for x in res)
    imp = sum(x["fn"]["head|AtP|0.5"]["important"] for x in res)
    assert f"head (tau 0.5): AtP {missed}/{imp}," in md
    assert hunt.fn_totals(res, run["data"]["meta"]) in md


def test_render_only_and_cache(hunt, run):
    out = run["out"]
    out.unlink()
    hunt.main(["--render-only", "--out", str(out)], log=lambda *a, **k: None)
    assert out.read_text() == run["md"]
    lines = []
    again = hunt.main(run["argv"], log=lambda *a, **k: lines.append(" ".join(map(str, a))))
    assert sum("cached" in x for x in lines) == 2 and not any("patch_nodes" in x for x in lines)
    assert again["results"] == json.loads(json.dumps(run["data"]["results"], default=float))
    assert again["meta"]["reused_parts"] == 2


def test_pieces(hunt, folder):
    model = wb.load_pretrained(folder)
    task = toy_task(model, n=4, seed=0)
    # the resumed neuron patch is patch_nodes' neuron patch
    mine = hunt.patch_neurons(model, task, 1)
    ref = wb.patch_nodes(model, task, "neuron", nodes=mine.names)
    assert torch.allclose(mine.values, ref.values.double(), atol=1e-6)
    assert mine.values.abs().max() > 0
    # GradDrop's head/MLP scores are AtP*'s (the script takes them from one AtP* call)
    gd = wb.graddrop(model, task, ["head", "mlp"])
    star = wb.atp_star(model, task, ["q", "k", "v", "head", "mlp", "neuron"])
    assert torch.allclose(star.select(gd.names).values, gd.values)
    # the pool reference ranks every pool edge above every other edge, in the exact order
    ig = wb.eap_ig(model, task, 5)
    pool = [n for n, _ in ig.top(10)][::2]
    exact = wb.patch_edges(model, task, edges=pool)
    ref = hunt.pool_reference(exact, ig)
    assert len(ref) == len(ig) and ref.order()[: len(pool)] == exact.order()
