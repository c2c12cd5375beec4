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


def test_every_public_name_resolves_and_is_listed():
    for name in wb.__all__:
        assert getattr(wb, name) is not None, name
    assert set(wb.__all__) <= set(dir(wb))
    assert wb.qk_fix is wb.atp_qk_fix and inspect.ismodule(wb.scores) and inspect.ismodule(wb.circuits)
    assert inspect.ismodule(wb.patching) and callable(wb.patching.edge_patched_metric)  # a layer, by attribute
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        wb.not_a_name  # noqa: B018


def test_import_and_setup_do_not_import_transformer_lens():
    """``import workbook; workbook.setup()`` is the first cell of every notebook: it must stay light
    (transformer_lens, transformers and pyplot are imported on first use, not by the package)."""
    import subprocess
    import sys

    code = ("import sys, workbook; workbook.setup(quiet=False); "
            "print(sorted(m for m in ('transformer_lens', 'transformers', 'matplotlib.pyplot', 'circuitsvis') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "| transformer_lens " in out.splitlines()[0]  # the version line still names it
    assert out.strip().splitlines()[-1] == "[]", out
