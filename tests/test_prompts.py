"""task_from_strings: tokenizer, BOS, padding masks and positions, answers, and its named errors.

Tokens are checked against TransformerLens' own ``to_tokens`` (an independent tokenizer path)
on a GPT-2-style and a Llama-style folder written offline by ``workbook.models.local``.
"""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import workbook as wb
from workbook.models.local import ioi_strings, save_tiny_model
from workbook.tasks.strings import TokenizerVocab, tokenizer_adds_bos

ARCH = {"gpt2": "GPT2LMHeadModel", "llama": "LlamaForCausalLM"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {fam: save_tiny_model(root / fam, fam, d_model=16, n_heads=2) for fam in ARCH}


@pytest.fixture(scope="module")
def bridges(folders):
    """Bridges built the TransformerLens way, with the folder's tokenizer attached."""
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module

    out = {}
    for fam, folder in folders.items():
        hf = AutoModelForCausalLM.from_pretrained(folder)
        tok = AutoTokenizer.from_pretrained(folder)
        out[fam] = wb.prepare(build_bridge_from_module(hf, ARCH[fam], hf_config=hf.config, tokenizer=tok))
    return out


@pytest.fixture(scope="module")
def strings():
    return ioi_strings(4)


def _task(model, s, **kw):
    return wb.task_from_strings(model, s["clean"], s["corrupt"], s["answer"], s["wrong"], **kw)


@pytest.mark.parametrize("fam", ["gpt2", "llama"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_tokens_match_transformerlens_to_tokens(bridges, strings, fam, side):
    model = bridges[fam]
    task = _task(model, strings, padding_side=side)
    assert torch.equal(task.clean, model.to_tokens(strings["clean"], padding_side=side))
    assert torch.equal(task.corrupt, model.to_tokens(strings["corrupt"], padding_side=side))


@pytest.mark.parametrize("fam", ["gpt2", "llama"])
def test_right_and_left_padding_masks_and_positions(bridges, strings, fam):
    model = bridges[fam]
    tok = model.tokenizer
    lengths = [1 + len(tok(c, add_special_tokens=False)["input_ids"]) for c in strings["clean"]]  # + BOS
    assert len(set(lengths)) > 1, "the fixture must need padding"
    S = max(lengths)
    right, left = _task(model, strings, padding_side="right"), _task(model, strings, padding_side="left")
    for i, n in enumerate(lengths):
        assert right.attention_mask[i].tolist() == [1] * n + [0] * (S - n)
        assert left.attention_mask[i].tolist() == [0] * (S - n) + [1] * n
        assert int(right.pos[i]) == n - 1 and int(left.pos[i]) == S - 1
        # the same real tokens, just moved
        assert torch.equal(right.clean[i, :n], left.clean[i, S - n :])
        assert torch.equal(right.corrupt[i, :n], left.corrupt[i, S - n :])
    assert torch.equal(right.answer, left.answer) and torch.equal(right.wrong, left.wrong)


@pytest.mark.parametrize("fam", ["gpt2", "llama"])
def test_answers_are_the_next_token_and_labels_are_real_strings(bridges, strings, fam):
    model = bridges[fam]
    task = _task(model, strings)
    for i, (a, w) in enumerate(zip(strings["answer"], strings["wrong"])):
        full = model.to_tokens(strings["clean"][i] + a)[0]
        assert int(full[-1]) == int(task.answer[i])
        assert task.labels(task.answer[i : i + 1]) == [a] and task.labels(task.wrong[i : i + 1]) == [w]
    assert isinstance(task.vocab, TokenizerVocab) and len(task.vocab) == model.cfg.d_vocab
    bos = task.labels(task.clean[0, :1])[0]
    assert bos == model.tokenizer.bos_token


def test_bos_rule(bridges, folders, strings):
    gpt2_tok = AutoTokenizer.from_pretrained(folders["gpt2"])
    llama_tok = AutoTokenizer.from_pretrained(folders["llama"])
    assert not tokenizer_adds_bos(gpt2_tok) and tokenizer_adds_bos(llama_tok)
    one = {k: v[:1] for k, v in strings.items()}
    n_gpt2 = len(gpt2_tok(one["clean"][0], add_special_tokens=False)["input_ids"])
    n_llama = len(llama_tok(one["clean"][0], add_special_tokens=False)["input_ids"])
    # with a model: TransformerLens' cfg.default_prepend_bos (True for both) -> exactly one BOS
    for fam, n in (("gpt2", n_gpt2), ("llama", n_llama)):
        t = _task(bridges[fam], one)
        assert t.seq_len == n + 1 and int(t.clean[0, 0]) == bridges[fam].tokenizer.bos_token_id
        assert _task(bridges[fam], one, prepend_bos=False).seq_len == n
    # tokenizer only: the tokenizer decides
    assert _task(None, one, tokenizer=gpt2_tok).seq_len == n_gpt2
    t = _task(None, one, tokenizer=llama_tok)
    assert t.seq_len == n_llama + 1 and int(t.clean[0, 0]) == llama_tok.bos_token_id
    assert _task(None, one, tokenizer=gpt2_tok, prepend_bos=True).seq_len == n_gpt2 + 1
    # a model that does not want BOS (as TL says of Pythia and Qwen2)
    model = bridges["gpt2"]
    model.cfg.default_prepend_bos = False
    try:
        assert _task(model, one).seq_len == n_gpt2
    finally:
        model.cfg.default_prepend_bos = True


def test_no_padding_means_no_mask(bridges, strings):
    task = _task(bridges["gpt2"], {k: v[:1] for k, v in strings.items()})
    assert task.attention_mask is None and int(task.pos[0]) == task.seq_len - 1


def test_explicit_tokenizer_overrides_the_model(folders, strings):
    tok = AutoTokenizer.from_pretrained(folders["gpt2"])
    model = wb.load_pretrained(str(folders["gpt2"]))
    task = _task(model, strings, tokenizer=tok)
    assert task.batch_size == 4 and task.labels(task.answer[:1]) == [strings["answer"][0]]


# ---------------------------------------------------------------------------- named errors
def test_multi_token_answer_is_named(bridges, strings):
    s = dict(strings, answer=[" Maryanne"] + strings["answer"][1:])
    with pytest.raises(wb.TaskError, match=r"answer\[0\] ' Maryanne' is \d+ tokens"):
        _task(bridges["gpt2"], s)
    s = dict(strings, wrong=strings["wrong"][:2] + ["Mary"] + strings["wrong"][3:])  # no leading space
    with pytest.raises(wb.TaskError, match=r"wrong\[2\] 'Mary'.*leading space"):
        _task(bridges["llama"], s)


def test_answer_merging_with_the_prompt_is_named(bridges):
    with pytest.raises(wb.TaskError, match="merges with the end of its prompt"):
        wb.task_from_strings(bridges["gpt2"], ["When Mary and John went to the store, John gave it to Mar"],
                             ["When Mary and John went to the store, Mary gave it to Mar"], ["y"], [" John"])


def test_pair_of_different_token_lengths_is_named(bridges, strings):
    s = dict(strings, corrupt=strings["corrupt"][:1] + [strings["corrupt"][1] + " and"] + strings["corrupt"][2:])
    with pytest.raises(wb.TaskError, match=r"example 1: clean and corrupt prompts have different token lengths") as err:
        _task(bridges["gpt2"], s)
    assert repr(s["corrupt"][1]) in str(err.value) and repr(s["clean"][1]) in str(err.value)


def test_empty_batch_and_mismatched_lists(bridges, strings):
    with pytest.raises(wb.TaskError, match="empty batch"):
        wb.task_from_strings(bridges["gpt2"], [], [], [], [])
    with pytest.raises(wb.TaskError, match="one entry per example"):
        wb.task_from_strings(bridges["gpt2"], strings["clean"], strings["corrupt"], strings["answer"][:2], strings["wrong"])
    with pytest.raises(wb.TaskError, match=r"clean\[1\] must be a string"):
        wb.task_from_strings(bridges["gpt2"], ["a", 3], ["a", "b"], [" a", " b"], [" b", " a"])


def test_model_without_tokenizer_is_named(strings):
    model = wb.build_gpt2(seed=0, n_layers=1, d_model=16, n_heads=2, d_vocab=30)
    with pytest.raises(wb.TaskError, match="no tokenizer.*make_task"):
        _task(model, strings)


def test_token_outside_the_model_vocabulary_is_named(folders, strings):
    tok = AutoTokenizer.from_pretrained(folders["gpt2"])
    small = wb.build_gpt2(seed=0, n_layers=1, d_model=16, n_heads=2, d_vocab=100, n_ctx=64)  # tokenizer has ~500
    with pytest.raises(wb.TaskError, match=r"outside the model's vocabulary \(d_vocab=100\)"):
        _task(small, strings, tokenizer=tok)


def test_padding_side_and_context_length(bridges, strings):
    with pytest.raises(wb.TaskError, match="padding_side must be 'right' or 'left'"):
        _task(bridges["gpt2"], strings, padding_side="middle")
    long = {k: [v[0] * (6 if k in ("clean", "corrupt") else 1)] for k, v in strings.items()}
    with pytest.raises(wb.TaskError, match="more than the model's context n_ctx=64"):
        _task(bridges["gpt2"], long)
