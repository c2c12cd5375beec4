"""Offline save_pretrained folders with trained tokenizers (workbook.models.local)."""

import hashlib

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from workbook.models.local import FAMILIES, NAMES, WORDS, ioi_strings, save_tiny_model

EXPECTED = {  # what the real families' tokenizers do
    "gpt2": dict(adds_bos=False, bos="<|endoftext|>", piece="\u0120Mary", model="GPT2LMHeadModel"),
    "neox": dict(adds_bos=False, bos="<|endoftext|>", piece="\u0120Mary", model="GPTNeoXForCausalLM"),
    "qwen2": dict(adds_bos=False, bos=None, piece="\u0120Mary", model="Qwen2ForCausalLM"),
    "llama": dict(adds_bos=True, bos="<s>", piece="\u2581Mary", model="LlamaForCausalLM"),
    "gemma": dict(adds_bos=True, bos="<bos>", piece="\u2581Mary", model="GemmaForCausalLM"),
}


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("family", FAMILIES)
def test_folder_loads_with_auto_classes(tmp_path, family):
    folder = save_tiny_model(tmp_path / family, family, d_model=16, n_heads=2)
    want = EXPECTED[family]
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert type(model).__name__ == want["model"] and model.config.vocab_size == len(tok)
    assert tok.bos_token == want["bos"]
    ids = tok(" Mary")["input_ids"]
    assert (ids[0] == tok.bos_token_id) == want["adds_bos"]
    assert tok.convert_ids_to_tokens(tok(" Mary", add_special_tokens=False)["input_ids"]) == [want["piece"]]
    for w in WORDS:
        assert len(tok(" " + w, add_special_tokens=False)["input_ids"]) == 1, w
    s = ioi_strings(5)
    for c, r in zip(s["clean"], s["corrupt"]):
        assert len(tok(c)["input_ids"]) == len(tok(r)["input_ids"])
    with torch.no_grad():
        logits = model(torch.tensor([tok(s["clean"][0])["input_ids"]])).logits
    assert torch.isfinite(logits).all()
    norms = [p for n, p in model.named_parameters() if "norm" in n.lower() or ".ln_" in n]
    assert norms and all(not torch.allclose(p, torch.full_like(p, float(p.detach().flatten()[0]))) for p in norms)


def test_deterministic(tmp_path):
    a = _digest(save_tiny_model(tmp_path / "a", "llama", seed=3))
    b = _digest(save_tiny_model(tmp_path / "b", "llama", seed=3))
    c = _digest(save_tiny_model(tmp_path / "c", "llama", seed=4))
    assert a == b
    assert a["tokenizer.json"] == c["tokenizer.json"] and a["model.safetensors"] != c["model.safetensors"]


def test_ioi_strings():
    s = ioi_strings(6, seed=1)
    assert s == ioi_strings(6, seed=1) and len(s["clean"]) == 6
    for c, r, a, w in zip(s["clean"], s["corrupt"], s["answer"], s["wrong"]):
        assert a != w and a.strip() in NAMES and w.strip() in NAMES
        assert c.count(w.strip()) == 2 and r.count(a.strip()) == 2  # the repeated name is the subject
    with pytest.raises(ValueError, match="unknown family"):
        save_tiny_model("unused", "bert")
