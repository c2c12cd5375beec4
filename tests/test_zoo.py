"""The model zoo: shipped checkpoints load, solve their task, and the training script works."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from workbook import datasets, zoo
from workbook.models import load_model, save_model
from workbook.specimens import SPECIMENS
from workbook.validate import check_model

ROOT = Path(__file__).resolve().parents[1]
ACC_BAR = 0.9  # held-out accuracy every shipped model must reach
GAP_BAR = 3.0  # M(clean) - M(corrupt), logit-diff units
HELD_OUT_SEED = 777  # neither a training stream seed nor the script's EVAL_SEED


def _train_script():
    spec = importlib.util.spec_from_file_location("train_models", ROOT / "scripts" / "train_models.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_models"] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


TRAINED = zoo.trained_models()


def test_trained_models_shipped():
    train = _train_script()
    assert set(TRAINED) == set(train.CONFIGS), "every config in scripts/train_models.py has shipped weights"
    for name in TRAINED:
        size = (zoo.WEIGHTS_DIR / f"{name}.safetensors").stat().st_size
        assert size < 5_000_000, f"{name} checkpoint is {size} bytes; keep shipped weights small"


def test_list_models_and_unknown_name():
    names = zoo.list_models()
    assert names[: len(TRAINED)] == TRAINED and set(SPECIMENS) <= set(names)
    for fn in (zoo.load, zoo.load_model, zoo.load_task, zoo.info):
        with pytest.raises(KeyError, match="valid names") as err:
            fn("no_such_model")
        assert "ioi" in str(err.value) and "saturation" in str(err.value)


@pytest.mark.parametrize("name", TRAINED)
def test_model_loads_ready_for_attribution(name):
    model, task = zoo.load(name, n=8, seed=0)
    assert not model.training
    check_model(model)
    _, cache = model.run_with_cache(task.clean[:2])
    for hook in ("blocks.0.attn.hook_result", "blocks.0.hook_q_input", "blocks.0.hook_mlp_in"):
        assert hook in cache, f"{hook} missing: attribution hooks are not switched on"
    assert model.cfg.d_vocab == len(task.vocab)


@pytest.mark.parametrize("name", TRAINED)
def test_accuracy_and_clean_corrupt_gap(name):
    model, task = zoo.load(name, n=256, seed=HELD_OUT_SEED)
    with torch.no_grad():
        clean_logits = model(task.clean)
    acc = float((clean_logits[:, -1].argmax(-1) == task.answer).float().mean())
    assert acc >= ACC_BAR, f"{name}: held-out accuracy {acc:.3f} < {ACC_BAR}"
    m_clean, m_corr = task.baselines(model)
    assert m_clean - m_corr >= GAP_BAR, f"{name}: clean {m_clean:.2f} vs corrupt {m_corr:.2f}"


@pytest.mark.parametrize("name", TRAINED)
def test_recorded_info_matches_recomputation(name):
    inf = zoo.info(name)
    assert inf["kind"] == "trained" and inf["script"] == "scripts/train_models.py"
    for key in ("accuracy", "seed", "steps", "task", "config", "eval_seed", "description", "architecture"):
        assert key in inf, key
    model = zoo.load_model(name)
    task = datasets.make(inf["task"], n=inf["eval_n"], seed=inf["eval_seed"])
    with torch.no_grad():
        acc = float((model(task.clean)[:, -1].argmax(-1) == task.answer).float().mean())
    assert abs(acc - inf["accuracy"]) < 1e-9, "the json accuracy is what the shipped weights score"


@pytest.mark.parametrize("name", TRAINED)
def test_save_load_bit_identical(name, tmp_path):
    model, task = zoo.load(name, n=8, seed=2)
    with torch.no_grad():
        before = model(task.clean)
    save_model(model, tmp_path / name, note="roundtrip")
    again = load_model(tmp_path / name)
    with torch.no_grad():
        after = again(task.clean)
    assert torch.equal(before, after)
    assert again.workbook_info == {"note": "roundtrip"}


def test_load_task_deterministic_and_sized():
    a, b = zoo.load_task("ioi", n=5, seed=9), zoo.load_task("ioi", n=5, seed=9)
    assert a.batch_size == 5 and torch.equal(a.clean, b.clean)
    assert zoo.load_task("ioi").batch_size == 32


def test_training_script_smoke(tmp_path):
    train = _train_script()
    logs: list[str] = []
    for name in train.CONFIGS:
        path = train.train_and_save(name, tmp_path, max_steps=3, log=logs.append)
        assert path.exists() and path.with_suffix(".json").exists()
        model = load_model(path)
        assert model.workbook_info["steps"] == 3 and model.workbook_info["task"] == name
        assert 0.0 <= model.workbook_info["accuracy"] <= 1.0
    assert any("accuracy" in line for line in logs)
    # seeded: two short runs give identical weights
    cfg = train.CONFIGS["ioi"]
    a, _ = train.train_hf(cfg, max_steps=2, log=lambda s: None)
    b, _ = train.train_hf(cfg, max_steps=2, log=lambda s: None)
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), k


@pytest.mark.parametrize("name", sorted(SPECIMENS))
def test_specimens_delegate(name):
    if importlib.util.find_spec(SPECIMENS[name]) is None:
        pytest.skip(f"specimen module {SPECIMENS[name]} not written yet")
    model, task = zoo.load(name)
    assert not model.training
    assert zoo.info(name)["kind"] == "specimen" and zoo.info(name)["description"]
    with pytest.raises(ValueError, match="fixed task"):
        zoo.load(name, n=4)


@pytest.mark.parametrize("name", TRAINED)
def test_trained_model_has_natural_qk_saturation(name):
    """The hunt's headline claim: AtP misses a significant q/k node and the QK fix gets closer."""
    qk_fix = pytest.importorskip("workbook.qk_fix")
    from workbook.atp import atp
    from workbook.patching import patch_nodes

    model, task = zoo.load(name, n=16, seed=1)
    found = []
    for kind in ("q", "k"):
        truth = patch_nodes(model, task, kind)
        est = atp(model, task, kind)
        fixed = qk_fix.atp_qk_fix(model, task, kind)
        big = float(truth.values.abs().max())
        for n in truth.names:
            t = truth[n]
            if abs(t) >= 0.1 * big and abs(est[n]) * 5 <= abs(t) and abs(fixed[n] - t) < abs(est[n] - t):
                found.append(n)
    assert found, f"{name}: no q/k node where AtP underestimates 5x and the QK fix improves"
