"""Package-level API: every method is a plain function (``wb.qk_fix`` like ``wb.eap``); Scores keeps float64."""

import importlib
import inspect
import types

import pytest
import torch

import workbook as wb

#: every method the package exports, as a plain function, and the module it lives in
METHODS = {"atp": "attribution.atp", "qk_fix": "attribution.qk_fix", "atp_qk_fix": "attribution.qk_fix",
           "graddrop": "attribution.graddrop", "atp_star": "attribution.atp_star", "eap": "attribution.eap",
           "eap_ig": "attribution.eap_ig", "eap_gp": "attribution.eap_gp", "diagnose": "analysis.diagnose",
           "false_negative_bound": "attribution.fn_bound", "verify_top": "patching.verify"}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_is_a_plain_function(name):
    fn = getattr(wb, name)
    assert inspect.isfunction(fn), f"wb.{name} is {type(fn).__name__}, not a function"
    mod = importlib.import_module(f"workbook.{METHODS[name]}")
    assert isinstance(mod, types.ModuleType) and fn.__module__ == mod.__name__
    assert getattr(wb, name) is fn  # importing the module does not replace the package attribute


def test_qk_fix_is_callable_like_eap():
    model = wb.build_gpt2(seed=0, n_layers=1, d_model=16, n_heads=2, d_vocab=20)
    clean = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    task = wb.Task(clean, clean.flip(1), clean[:, 1], clean[:, 2])
    assert torch.equal(wb.qk_fix(model, task).values, wb.atp_qk_fix(model, task).values)


def test_module_call_equals_function_call():
    model = wb.build_gpt2(seed=0, n_layers=1, d_model=16, n_heads=2, d_vocab=20)
    clean = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    task = wb.Task(clean, clean.flip(1), clean[:, 1], clean[:, 2])
    assert torch.equal(wb.eap(model, task).values, wb.attribution.eap.eap(model, task).values)
    assert torch.equal(wb.atp(model, task, "head").values, wb.attribution.atp.atp(model, task, "head").values)


@pytest.mark.parametrize("dtype, stored", [(torch.float64, torch.float64), (torch.float32, torch.float32),
                                            (torch.float16, torch.float32), (torch.bfloat16, torch.float32)])
def test_scores_keep_float64(dtype, stored):
    v = torch.tensor([1 / 3, -2 / 3], dtype=dtype)
    s = wb.Scores(["a", "b"], v, per_example=v[None].repeat(3, 1))
    assert s.values.dtype == stored and s.per_example.dtype == stored
    if dtype == torch.float64:
        assert s["a"] == 1 / 3  # not rounded through float32
        assert s.select(["b"]).values.dtype == torch.float64 and s.abs().values.dtype == torch.float64
