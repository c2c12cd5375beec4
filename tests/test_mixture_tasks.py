"""The six synthetic tasks of the mixture model: prompts, corruptions, metrics, accuracy, training rows."""

import random

import pytest
import torch

from workbook.core.errors import TaskError
from workbook.tasks import mixture as mt
from workbook.tasks import mixture_vocab as vocab

# the slots each task's corruption may change (everything else must be identical)
CORRUPTED_SLOT = {"ioi": "S", "greater_than": "Y", "sva": "S", "capital": "C", "hypernymy": "H", "gender": "P"}


@pytest.mark.parametrize("name", mt.TASK_NAMES)
def test_task_pairs_line_up(name):
    task = mt.make(name, n=12, seed=3)
    assert task.clean.shape == task.corrupt.shape and task.clean.shape[0] == 12
    assert (task.clean[:, 0] == mt.ID["<bos>"]).all()
    assert task.vocab is mt.VOCAB and task.name == name
    diff = (task.clean != task.corrupt).sum(1)
    assert (diff >= 1).all(), "every corrupt prompt differs from its clean prompt"
    # the differing positions are the corrupted slot of the template
    for i in range(12):
        template = mt.TEMPLATES[name][i % len(mt.TEMPLATES[name])].split()
        slot = {p + 1 for p, w in enumerate(template) if w == "{" + CORRUPTED_SLOT[name] + "}"}
        assert set((task.clean[i] != task.corrupt[i]).nonzero()[:, 0].tolist()) == slot, (name, i)
    # answers are readable words
    assert all(isinstance(mt.VOCAB[int(a)], str) for a in task.answer)


@pytest.mark.parametrize("name", mt.TASK_NAMES)
def test_deterministic_and_templates(name):
    a, b = mt.make(name, n=6, seed=5), mt.make(name, n=6, seed=5)
    assert torch.equal(a.clean, b.clean) and torch.equal(a.answer, b.answer)
    assert not torch.equal(a.clean, mt.make(name, n=6, seed=6).clean)
    one = mt.make(name, n=4, seed=0, template=1)
    words = mt.TEMPLATES[name][1].split()
    fixed = [p for p, w in enumerate(words) if not w.startswith("{")]
    for p in fixed:
        assert {mt.VOCAB[int(t)] for t in one.clean[:, p + 1]} == {words[p]}


def test_examples_are_what_the_module_doc_says():
    ioi = mt.examples("ioi", 40, seed=1)
    for e in ioi:
        names = [w for w in e.clean if w in mt.NAMES]
        assert len(names) == 3 and names.count(e.wrong) == 2 and names.count(e.answer) == 1
        assert e.corrupt.count(e.wrong) == 1 and e.target == e.answer
    for e in mt.examples("greater_than", 40, seed=1):
        assert int(e.target) > int(e.answer) and e.wrong == "01" and "01" in e.corrupt
    for e in mt.examples("capital", 40, seed=1):
        country = e.clean[e.clean.index("of") + 1]
        assert mt.CAPITALS[country] == e.answer and e.wrong != e.answer
    for e in mt.examples("hypernymy", 40, seed=1):
        (p,) = [i for i, (a, b) in enumerate(zip(e.clean, e.corrupt)) if a != b]
        assert vocab.CATEGORY_OF[e.clean[p]] == e.answer and vocab.CATEGORY_OF[e.corrupt[p]] == e.wrong
    for e in mt.examples("gender", 40, seed=1):
        assert {e.answer, e.wrong} == {"he", "she"}
        (p,) = [i for i, (a, b) in enumerate(zip(e.clean, e.corrupt)) if a != b]
        female = e.clean[p] in mt.FEMALE_JOBS
        assert (e.answer == "she") == female and (e.corrupt[p] in mt.MALE_JOBS) == female
    for e in mt.examples("sva", 40, seed=1):
        assert (e.answer in mt.SG_VERBS) == (e.wrong in mt.PL_VERBS)


def test_bad_arguments_are_named():
    with pytest.raises(KeyError, match="unknown mixture task"):
        mt.make("nope")
    with pytest.raises(TaskError, match="templates 0..3"):
        mt.make("ioi", template=4)
    with pytest.raises(TaskError, match="positive int"):
        mt.make("sva", n=0)
    with pytest.raises(TaskError, match="not in the mixture vocabulary"):
        mt.encode(["Mary", "Zebediah"])


def _logits_with(probs_by_word: dict[str, float]) -> torch.Tensor:
    """[1, 1, V] logits whose softmax puts the given probabilities on the given words (rest tiny)."""
    logits = torch.full((1, 1, len(mt.VOCAB)), -30.0)
    for w, p in probs_by_word.items():
        logits[0, 0, mt.ID[w]] = torch.log(torch.tensor(p))
    return logits


def test_greater_than_metric_and_correctness():
    logits = _logits_with({"50": 0.6, "70": 0.3, "20": 0.1})
    yy, pos = torch.tensor([mt.ID["40"]]), torch.tensor([0])
    val = mt.greater_than_prob_diff(logits, yy, torch.tensor([mt.ID["01"]]), pos)
    assert val.item() == pytest.approx(0.9 - 0.1, abs=1e-4)
    # the threshold itself counts as "not greater"
    val = mt.greater_than_prob_diff(logits, torch.tensor([mt.ID["50"]]), yy, pos)
    assert val.item() == pytest.approx(0.3 - 0.7, abs=1e-4)
    top1 = torch.tensor([mt.ID["50"], mt.ID["40"], mt.ID["Mary"]])
    assert mt.correct("greater_than", top1, torch.tensor([mt.ID["40"]] * 3)).tolist() == [True, False, False]


def test_sva_metric_and_correctness():
    logits = _logits_with({"is": 0.5, "was": 0.2, "are": 0.3})
    pos = torch.tensor([0])
    sg = mt.sva_prob_diff(logits, torch.tensor([mt.ID["is"]]), torch.tensor([mt.ID["are"]]), pos)
    pl = mt.sva_prob_diff(logits, torch.tensor([mt.ID["are"]]), torch.tensor([mt.ID["is"]]), pos)
    assert sg.item() == pytest.approx(0.4, abs=1e-4) and pl.item() == pytest.approx(-0.4, abs=1e-4)
    top1 = torch.tensor([mt.ID["was"], mt.ID["were"], mt.ID["the"]])
    assert mt.correct("sva", top1, torch.tensor([mt.ID["is"]] * 3)).tolist() == [True, False, False]
    assert mt.correct("ioi", torch.tensor([3, 4]), torch.tensor([3, 3])).tolist() == [True, False]


def test_accuracy_uses_the_task_rule():
    task = mt.make("greater_than", n=4, seed=0)

    def always(word):
        def model(tokens):
            out = torch.zeros(tokens.shape + (len(mt.VOCAB),))
            out[..., mt.ID[word]] = 1.0
            return out
        return model

    assert mt.accuracy(always("99"), task) == 1.0
    assert mt.accuracy(always("01"), task) == 0.0


def test_training_rows():
    rng = random.Random(0)
    tokens, task_t, lm_t = mt.training_rows(16, 32, rng)
    assert tokens.shape == task_t.shape == lm_t.shape == (16, 32)
    assert (tokens[:, 0] == mt.ID["<bos>"]).all()
    assert ((task_t >= 0) & (lm_t >= 0)).sum() == 0, "a position trains one objective"
    rows, cols = (task_t[:, :-1] >= 0).nonzero(as_tuple=True)
    assert len(rows) >= 8, "task instances are present"
    # a task target is the token that follows in the row (the sampled answer)
    assert torch.equal(task_t[rows, cols], tokens[rows, cols + 1])
    rows, cols = (lm_t[:, :-1] >= 0).nonzero(as_tuple=True)
    assert torch.equal(lm_t[rows, cols], tokens[rows, cols + 1])
    again = mt.training_rows(16, 32, random.Random(0))
    assert all(torch.equal(x, y) for x, y in zip((tokens, task_t, lm_t), again))
