"""Synthetic task generators: deterministic, aligned, and the answers mean what the docs say."""

import pytest
import torch

from workbook.core.errors import TaskError
from workbook.core.task import Task
from workbook.tasks import synthetic as datasets
from workbook.tasks.synthetic import IOI_S2_POS, IOI_VOCAB, NAMES, induction_task, ioi_task, train_batch

NAME_IDS = {IOI_VOCAB.index(n) for n in NAMES}


@pytest.mark.parametrize("name", sorted(datasets.TASKS))
def test_deterministic_by_seed(name):
    a, b, c = datasets.make(name, 16, seed=3), datasets.make(name, 16, seed=3), datasets.make(name, 16, seed=4)
    for field in ("clean", "corrupt", "answer", "wrong", "pos"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert not torch.equal(a.clean, c.clean)


@pytest.mark.parametrize("name", sorted(datasets.TASKS))
def test_task_shape_vocab_and_alignment(name):
    t = datasets.make(name, 64, seed=0)
    assert isinstance(t, Task) and t.vocab is datasets.VOCABS[name]
    assert t.clean.shape == t.corrupt.shape == (64, t.seq_len)
    assert int(t.clean.max()) < len(t.vocab) and int(t.clean.min()) >= 0
    assert (t.clean[:, 0] == 0).all() and t.vocab[0] == "<bos>"
    assert (t.pos == t.seq_len - 1).all()
    # exactly one token differs per pair: clean and corrupt line up position by position
    assert ((t.clean != t.corrupt).sum(1) == 1).all()
    assert (t.answer != t.wrong).all()
    assert len(t.labels(t.clean[0])) == t.seq_len


def test_ioi_semantics():
    t = ioi_task(128, seed=1)
    assert t.seq_len == 15
    diff = (t.clean != t.corrupt).nonzero()[:, 1]
    assert (diff == IOI_S2_POS).all(), "the ABC corruption touches only the repeated subject"
    first, second, s2, c = t.clean[:, 2], t.clean[:, 4], t.clean[:, IOI_S2_POS], t.corrupt[:, IOI_S2_POS]
    assert (t.wrong == s2).all(), "wrong answer = the subject"
    assert ((t.answer == first) ^ (t.answer == second)).all(), "IO is one of the first two names"
    assert ((t.wrong == first) ^ (t.wrong == second)).all(), "S is the other one"
    assert (c != first).all() and (c != second).all(), "C is a third name"
    assert all(int(x) in NAME_IDS for x in torch.cat([first, second, c]))
    abba = (t.answer == first).float().mean()
    assert 0.3 < abba < 0.7, "both name orders occur"
    assert t.labels(t.clean[0])[-1] == "to"


def test_induction_semantics():
    t = induction_task(128, seed=1)
    assert t.seq_len == 12
    body = t.clean[:, 1:11]
    assert all(len(set(r.tolist())) == 10 for r in body), "sequence letters are distinct"
    last = t.clean[:, -1]
    j = (body == last[:, None]).float().argmax(1)  # first occurrence, 0-based in body
    assert (body.gather(1, j[:, None])[:, 0] == last).all() and (j <= 8).all()
    assert (t.answer == body.gather(1, (j + 1)[:, None])[:, 0]).all(), "answer = token after the first occurrence"
    diff = (t.clean != t.corrupt).nonzero()[:, 1]
    assert (diff == j + 2).all(), "corruption replaces exactly that token"
    assert (t.corrupt[torch.arange(128), j + 2] == t.wrong).all()
    assert not (body == t.wrong[:, None]).any(), "the replacement letter is absent from the clean prompt"


@pytest.mark.parametrize("name", sorted(datasets.TASKS))
def test_train_batch_stream_reproducible_and_consistent(name):
    x1, y1 = train_batch(name, 32, torch.Generator().manual_seed(5))
    x2, y2 = train_batch(name, 32, torch.Generator().manual_seed(5))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    g = torch.Generator().manual_seed(5)
    train_batch(name, 32, g)
    x3, _ = train_batch(name, 32, g)
    assert not torch.equal(x1, x3), "the generator advances between batches"
    assert x1.shape == y1.shape
    has = y1 != -100
    assert has.any(1).all(), "every sequence has at least one target"
    if name == "ioi":
        assert has[:, :-1].sum() == 0
        # target at the last position = the name among positions 2/4 that is not the subject at 10
        io = torch.where(x1[:, 2] == x1[:, IOI_S2_POS], x1[:, 4], x1[:, 2])
        assert torch.equal(y1[:, -1], io)
    else:
        # every target is the token that followed the current token's first occurrence
        for b in range(32):
            for p in has[b].nonzero()[:, 0].tolist():
                first = (x1[b, 1:11] == x1[b, p]).nonzero()[0, 0] + 1
                assert y1[b, p] == x1[b, first + 1]


def test_bad_input():
    with pytest.raises(TaskError, match="positive int"):
        ioi_task(0)
    with pytest.raises(TaskError, match="positive int"):
        train_batch("induction", -1, torch.Generator())
    with pytest.raises(KeyError, match="ioi"):
        datasets.make("nope")
    with pytest.raises(KeyError, match="induction"):
        train_batch("nope", 4, torch.Generator())
