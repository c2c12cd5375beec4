"""scripts/hunt_deep.py: its definitions, and one end-to-end run on the small IOI model (the mixture is too slow here)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from tests._tol import F32
from workbook.core.scores import Scores

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hunt():
    spec = importlib.util.spec_from_file_location("hunt_deep", ROOT / "scripts" / "hunt_deep.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["hunt_deep"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_false_negative_definitions(hunt):
    truth = Scores(["a", "b", "c", "d"], torch.tensor([4.0, -3.0, 0.5, 0.1]))
    est = Scores(["a", "b", "c", "d"], torch.tensor([0.01, -2.0, 0.9, 0.0]))
    assert hunt.important(truth, 0.5) == ["a", "b"]
    assert hunt.missed(est, truth, 0.5) == ["a"], "a is ranked 3rd, outside the top K = 2"
    assert hunt.verification_cost(est, truth, 0.5) == 3
    crit = hunt.Crit(0.5, gap=10.0)  # floor = 2 % of 10 = 0.2
    assert crit.important(truth) == ["a", "b"] and crit.significant(truth) == ["a", "b", "c"]
    tiny = truth.with_values(truth.values * 0.01)
    assert crit.important(tiny) == [] and crit.missed(est, tiny) == [] and crit.summary(est, tiny) is None


def test_hunt_runs_end_to_end_on_a_small_model(hunt, tmp_path):
    out = tmp_path / "hunt.md"
    hunt.main(["--model", "ioi", "--tasks", "ioi", "--n", "3", "--out", str(out)])
    md = out.read_text()
    for heading in ("## Summary", "## 1. Saturation", "## 2. Cancellation", "## 3. Zero gradient",
                    "## 4. Path saturation", "## 5. Faithfulness", "## Runtime"):
        assert heading in md
    data = json.loads(out.with_suffix(".json").read_text())
    (res,) = data["results"]
    assert res["task"] == "ioi" and res["n"] == 3
    fa = res["faithfulness"]
    assert set(fa) == {"EAP", "EAP-IG", "EAP-GP", "edge patching"}
    # the full circuit: its metric is M(clean) to float32 rounding of the metrics (F32 x scale);
    # the ratio divides that by the gap, which must be clear
    scale, gap = max(abs(res["clean"]), abs(res["corrupt"])), abs(res["clean"] - res["corrupt"])
    assert gap > 0.1 * scale
    for curve in fa.values():
        assert curve["n_edges"][-1] == 110 and abs(curve["faithfulness"][-1] - 1.0) <= F32 * scale / gap
    for row in res["edges"]["zero_rows"]:
        assert row["component"] in res["edges"]["summary"]["EAP"]["missed"]
    assert (tmp_path / "hunt_faithfulness.png").stat().st_size > 1000
    # the table is re-rendered from the JSON alone, identically
    out.unlink()
    hunt.main(["--render-only", "--out", str(out)])
    assert out.read_text() == md
