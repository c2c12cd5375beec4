"""Package-level API: method modules stay importable *and* callable; Scores keeps float64."""

import importlib
import inspect
import sys
import types

import pytest
import torch

import workbook as wb

METHOD_MODULES = ["atp", "atp_star", "diagnose", "eap", "eap_gp", "eap_ig", "graddrop"]


@pytest.mark.parametrize("name", METHOD_MODULES)
def test_import_gives_the_module_and_calling_it_calls_the_method(name):
    mod = importlib.import_module(f"workbook.{name}")
    assert isinstance(mod, types.ModuleType) and mod is sys.modules[f"workbook.{name}"]
    assert getattr(wb, name) is mod
    exec(f"import workbook.{name} as m", ns := {})
    assert ns["m"] is mod  # `import workbook.eap as m` used to give the function
    ns = {}
    exec(f"from workbook import {name} as f", ns)
    assert ns["f"] is mod
    fn = getattr(mod, name)
    assert callable(mod) and inspect.isfunction(fn)
    assert inspect.signature(mod) == inspect.signature(fn)


def test_calling_the_module_looks_the_function_up_at_call_time(monkeypatch):
    calls = []
    monkeypatch.setattr(wb.eap, "eap", lambda *a, **k: calls.append((a, k)) or "patched")
    assert wb.eap(1, task=2) == "patched" and calls == [((1,), {"task": 2})]


def test_module_call_equals_function_call():
    model = wb.build_gpt2(seed=0, n_layers=1, d_model=16, n_heads=2, d_vocab=20)
    clean = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    task = wb.Task(clean, clean.flip(1), clean[:, 1], clean[:, 2])
    assert torch.equal(wb.eap(model, task).values, wb.eap.eap(model, task).values)
    assert torch.equal(wb.atp(model, task, "head").values, wb.atp.atp(model, task, "head").values)


@pytest.mark.parametrize("dtype, stored", [(torch.float64, torch.float64), (torch.float32, torch.float32),
                                            (torch.float16, torch.float32), (torch.bfloat16, torch.float32)])
def test_scores_keep_float64(dtype, stored):
    v = torch.tensor([1 / 3, -2 / 3], dtype=dtype)
    s = wb.Scores(["a", "b"], v, per_example=v[None].repeat(3, 1))
    assert s.values.dtype == stored and s.per_example.dtype == stored
    if dtype == torch.float64:
        assert s["a"] == 1 / 3  # not rounded through float32
        assert s.select(["b"]).values.dtype == torch.float64 and s.abs().values.dtype == torch.float64
