"""Smoke test of scripts/benchmark.py: every section runs in its tiny mode (no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
import math
import statistics
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("wb_benchmark", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses need their module registered
    spec.loader.exec_module(mod)
    return mod


def test_row_status(bench):
    assert bench.Row("a", 1.2, 1.3, "<=").status == "PASS"
    assert bench.Row("a", 1.3, 1.3, "<=").status == "PASS"
    assert bench.Row("a", 1.31, 1.3, "<=").status == "MISS"
    assert bench.Row("a", 2.0, 2, "<").status == "MISS"
    assert bench.Row("a", 3.0, 3, ">=").status == "PASS"
    assert bench.Row("a", 2.9, 3, ">=").status == "MISS"
    assert bench.Row("a", 0.5).status == "info"
    assert bench.Row("a", float("nan"), 1.0, "<=").status == "n/a"
    assert "PASS" in bench.Row("a", 1.0, 1.3, "<=").format()


def test_quick_run_prints_every_section(bench, tmp_path):
    lines: list[str] = []
    res = bench.run(quick=True, out=tmp_path, log=lines.append)
    text = "\n".join(lines)
    for key in ("nproc", "load average", "torch", "transformer_lens", "AtP (heads+MLPs) / bare", "QK fix", "EAP (",
                "EAP-IG (m=", "EAP-GP (k=", "peak memory", "patch_nodes(head)+(mlp) speed-up", "patch_edges, every one",
                "verify_top", "hannamw", "circuitkit", "TL attribution_patch", "TL act_patch", "[tiny Llama IOI B",
                "faithfulness, 1 circuit", "[mixture IOI B16] faithfulness curve", "whole benchmark wall time"):
        assert key in text, key
    for size in ("comparison", "edge-heavy", "gpt2-small"):
        assert f"[{size}] EAP-IG" in text, size
    names = [r.name for r in res["rows"]]
    assert len(names) == len(set(names)) >= 20
    for r in res["rows"]:
        assert r.status in ("PASS", "MISS", "info", "n/a")
        if "hannamw" in r.name or "circuitkit" in r.name or "main job" in r.name:
            continue  # n/a without a checkout / the peers' TransformerLens 3 python (scripts/peers_env.sh) / --real
        # a difference of two timings (QK fix extra cost) may dip below 0 on a noisy machine
        assert math.isfinite(r.value) and (r.value > 0 or "extra cost" in r.name), r
    mem = [r for r in res["rows"] if "peak memory" in r.name]
    assert mem and all(0.05 < r.value < 64 for r in mem)  # GB of a real process
    assert [r["size"] for r in res["scaling"]] == ["comparison", "edge-heavy", "gpt2-small"]
    assert Path(res["plot"]).exists() and Path(res["plot"]).stat().st_size > 1000
    saved = json.loads((tmp_path / "benchmark.json").read_text())
    assert len(saved["rows"]) == len(res["rows"]) and all("status" in r for r in saved["rows"])


def test_bare_passes_and_timer(bench):
    import bench_common  # scripts/ is on the path once benchmark.py is loaded

    model, task = bench.random_setup(1, 16, 2, batch=2, seq=4)
    bench_common.bare_2fwd_1bwd(model, task)
    assert all(p.requires_grad for p in model.parameters())  # parameters unfrozen afterwards
    assert model.cfg.use_split_qkv_input and model.cfg.use_attn_result  # the fused bare pass restores the flags
    calls = []
    t = bench.median_time(lambda: calls.append(1), repeats=3, warmup=1)
    assert len(calls) == 4 and t >= 0


REAL_ROWS = ("AtP (heads+MLPs)", "EAP (", "EAP-IG (m=5", "EAP-GP (k=5", "GradDrop (heads) / floor",
             "AtP* (all kinds) / floor", "patch_nodes of all", "verify_top of 50", "peak memory (RSS)",
             "faithfulness, 1 circuit", "faithfulness curve")


def test_real_only_rows(bench, tmp_path):
    """``--real-only --quick``: the real-model rows on a tiny random Llama (every row) and mixture (faithfulness)."""
    assert bench.main(["--real-only", "--quick", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "benchmark.json").read_text())["rows"]
    assert rows[-1]["name"] == "whole benchmark wall time" and rows[-1]["status"] == "info"
    real = rows[:-1]
    llama = [r for r in real if r["name"].startswith("[tiny Llama IOI B")]
    mix = [r for r in real if r["name"].startswith("[mixture IOI B16]")]
    assert len(llama) + len(mix) == len(real) and len(mix) == 2
    for key in REAL_ROWS:
        assert sum(key in r["name"] for r in llama) == 1, key
    for r in real:
        row = bench.Row(**{k: v for k, v in r.items() if k != "status"})
        assert math.isfinite(r["value"]) and r["value"] > 0, r
        if "curve" in r["name"]:
            assert r["status"] == "info" and r["unit"] == "fwd"
        else:  # a target, a ratio (or GB) and PASS/MISS, in the printed line too
            assert r["op"] == "<=" and r["target"] > 0 and r["status"] in ("PASS", "MISS"), r
            assert f"<= {r['target']:g}" in row.format() and r["status"] in row.format()
    assert next(r for r in llama if "peak memory" in r["name"])["unit"] == "GB"


def test_real_helpers(bench, monkeypatch):
    import bench_real

    log = [("fwd", 1.0, None), ("m", 3.0, 0.5), ("fwd", 2.0, None), ("m", 8.0, 0.5)]
    assert bench_real.ratio(log, "m", "fwd") == pytest.approx(statistics.median([3 / 1.5, 8 / 2]))
    assert bench_real.seconds(log, "fwd") == 1.5

    def fail(name):
        raise OSError("no cache, no network")

    monkeypatch.setattr(bench_real, "load", fail)
    (row,) = bench_real.child("smollm2", True)
    assert row.status == "n/a" and "no network" in row.note
