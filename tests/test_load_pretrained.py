"""Bring your own model: load_pretrained / bridge_from_hf for every family, named refusals, no random weights."""

from __future__ import annotations

import warnings

import _families as F
import pytest
import torch

import workbook as wb
from tests._tol import F32, assert_close
from workbook.core.errors import ModelError, ModelNotPreparedError, UnsupportedArchitectureError

LOAD_FAMILIES = ("gpt2", "neox", "llama", "qwen2", "gemma", "gemma2")


def _tokenizer(folder):
    """A word-level tokenizer trained offline on a word list, saved next to the model."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["when mary and john went to the store"], trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    fast.save_pretrained(folder)
    return fast


@pytest.mark.parametrize("family", LOAD_FAMILIES)
def test_load_pretrained_folder_gives_the_saved_model(family, tmp_path):
    hf = F.hf_model(family)
    hf.save_pretrained(tmp_path)
    tokens = torch.randint(1, F.V, (2, 5), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = hf(tokens).logits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = wb.load_pretrained(str(tmp_path))
    assert model.tokenizer is None
    with torch.no_grad():
        # float32, the default load path: equal to float32 rounding of the logits
        assert_close(model(tokens), want, F32, what=f"{family}: loaded logits vs the saved model")
    wb.atp(model, F.task())  # prepared and usable


def test_load_pretrained_dtype_and_tokenizer(tmp_path):
    F.hf_model("llama").save_pretrained(tmp_path)
    _tokenizer(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = wb.load_pretrained(str(tmp_path), dtype=torch.float64)
    assert next(model.parameters()).dtype == torch.float64
    assert model.tokenizer is not None and model.tokenizer("mary went")["input_ids"]


def test_missing_weights_are_refused_not_randomised(tmp_path):
    from safetensors.torch import load_file, save_file

    F.hf_model("llama").save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    state = load_file(str(path))
    dropped = next(k for k in state if "q_proj" in k)
    del state[dropped]
    save_file(state, str(path), metadata={"format": "pt"})
    with pytest.raises(ModelError, match="missing") as err:
        wb.load_pretrained(str(tmp_path))
    assert "q_proj" in str(err.value)


def test_unsupported_architectures_are_refused_by_name(tmp_path):
    import transformers as T
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module

    cfg = T.MistralConfig(vocab_size=F.V, hidden_size=16, num_hidden_layers=1, num_attention_heads=4,
                          num_key_value_heads=2, intermediate_size=32, max_position_embeddings=16)
    T.MistralForCausalLM(cfg).save_pretrained(tmp_path)
    with pytest.raises(UnsupportedArchitectureError, match="MistralForCausalLM"):
        wb.load_pretrained(str(tmp_path))
    with pytest.raises(UnsupportedArchitectureError, match="MistralForCausalLM"):
        wb.bridge_from_hf(T.MistralForCausalLM(cfg))
    with pytest.raises(UnsupportedArchitectureError, match="LlamaForCausalLM"):
        wb.bridge_from_hf(T.LlamaModel(T.LlamaConfig(vocab_size=F.V, hidden_size=16, num_hidden_layers=1,
                                                     num_attention_heads=4, intermediate_size=32)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = build_bridge_from_module(T.MistralForCausalLM(cfg).eval(), "MistralForCausalLM", hf_config=cfg)
    wb.prepare(bridge)
    with pytest.raises(UnsupportedArchitectureError, match="MistralForCausalLM"):
        wb.atp(bridge, F.task())


def test_model_not_prepared_is_named():
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module

    hf = F.hf_model("llama")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = build_bridge_from_module(hf, "LlamaForCausalLM", hf_config=hf.config).eval()
    for fn in (wb.eap, wb.atp, wb.patch_nodes):
        with pytest.raises(ModelNotPreparedError, match="prepare"):
            fn(bridge, F.task())


def test_qk_fix_refusal_is_shared_by_every_caller(monkeypatch):
    """A variant the QK fix cannot reproduce is refused by atp_qk_fix, atp_star and graddrop alike."""
    model = F.build("llama")
    from workbook.arch import adapter_for

    monkeypatch.setattr(adapter_for(model), "attn_divisor", lambda layer: 1.0)  # not what the model does
    for fn in (wb.atp_qk_fix, wb.atp_star, lambda m, t: wb.atp_star(m, t, use_graddrop=False),
               lambda m, t: wb.graddrop(m, t, "q", qk_fix=True)):
        with pytest.raises(UnsupportedArchitectureError, match="QK fix"):
            fn(model, F.task())
    wb.atp(model, F.task(), ("q", "k"))  # plain AtP needs no score reproduction
    report = wb.diagnose(model, F.task(), probes=("saturation", "cancellation"), steps=2)
    assert "QK fix" in report.skipped["saturation"] and "cancellation" in report.probes
