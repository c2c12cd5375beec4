"""Model building, wrapping, saving/loading, and the real pretrained-loading path (tested offline)."""

import pytest
import torch
from transformers import GPT2LMHeadModel

import workbook as wb
from tests._tol import F32, assert_close
from workbook.models.loading import gpt2_config


def test_build_gpt2_is_prepared_and_reproducible():
    a = wb.build_gpt2(seed=7, n_layers=2, d_model=32, n_heads=2, d_vocab=30)
    b = wb.build_gpt2(seed=7, n_layers=2, d_model=32, n_heads=2, d_vocab=30)
    assert not a.training
    assert a.cfg.use_attn_result and a.cfg.use_split_qkv_input and a.cfg.use_hook_mlp_in
    toks = torch.randint(0, 30, (2, 6))
    with torch.no_grad():
        assert torch.equal(a(toks), b(toks))
    for hook in ("blocks.1.attn.hook_result", "blocks.0.hook_q_input", "blocks.1.hook_mlp_in", "blocks.0.attn.hook_attn_scores"):
        assert hook in a.hook_dict


def test_bridge_logits_match_hf_model():
    cfg = gpt2_config(n_layers=2, d_model=32, n_heads=4, d_vocab=40)
    torch.manual_seed(1)
    hf = GPT2LMHeadModel(cfg).eval()
    toks = torch.randint(0, 40, (3, 7))
    with torch.no_grad():
        want = hf(toks).logits.clone()
    bridge = wb.bridge_from_hf(hf)
    with torch.no_grad():
        got = bridge(toks)
    assert_close(got, want, F32)  # float32: to rounding of the logits


def test_pretrained_path_from_a_local_folder(tmp_path):
    """The gpt2 code path (GPT2LMHeadModel.from_pretrained + wrap), fed a locally saved model."""
    cfg = gpt2_config(n_layers=2, d_model=32, n_heads=2, d_vocab=40)
    torch.manual_seed(2)
    hf = GPT2LMHeadModel(cfg).eval()
    toks = torch.randint(0, 40, (2, 5))
    with torch.no_grad():
        want = hf(toks).logits.clone()
    hf.save_pretrained(tmp_path / "tiny-gpt2")
    model = wb.load_pretrained(str(tmp_path / "tiny-gpt2"))
    assert not model.training and model.cfg.use_attn_result
    with torch.no_grad():
        assert_close(model(toks), want, F32)  # float32: to rounding of the logits


def test_pretrained_missing_offline_gives_clear_error(tmp_path):
    with pytest.raises(wb.ModelError, match="could not load"):
        wb.load_pretrained(str(tmp_path / "no-such-model"))


def test_save_and_load_round_trip(tmp_path):
    model = wb.build_gpt2(seed=5, n_layers=2, d_model=32, n_heads=2, d_vocab=30)
    path = wb.save_model(model, tmp_path / "m", task="demo", accuracy=0.5)
    assert path.exists() and path.stat().st_size < 2_000_000
    loaded = wb.load_model(tmp_path / "m")
    toks = torch.randint(0, 30, (2, 6))
    with torch.no_grad():
        assert torch.equal(loaded(toks), model(toks))
    assert loaded.workbook_info["accuracy"] == 0.5


def test_boot_native_model_is_rejected_with_reason():
    from transformer_lens import TransformerBridge, TransformerBridgeConfig

    cfg = TransformerBridgeConfig(d_model=16, d_head=8, n_heads=2, n_layers=1, n_ctx=8, d_vocab=10, act_fn="gelu", seed=0)
    native = TransformerBridge.boot_native(cfg)
    with pytest.raises(wb.ModelError, match="boot_native"):
        wb.prepare(native)


def test_non_bridge_is_rejected():
    with pytest.raises(wb.ModelError, match="TransformerBridge"):
        wb.prepare(torch.nn.Linear(2, 2))


def test_attention_view_static_and_circuitsvis():
    from workbook.course.plots import attention_patterns
    from workbook.models.specimens import saturation

    model, task = saturation.build()
    fig = attention_patterns(model, task, layer=0, static=True)
    assert len(fig.axes) == model.cfg.n_heads
    html = attention_patterns(model, task, layer=0, static=False)
    assert "circuits-vis" in html.local_src or "CircuitsVis" in html.local_src or len(html.local_src) > 1000
