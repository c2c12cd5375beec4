"""Bad input raises an error that names the problem — never a silent wrong number."""

import pytest
import torch

import workbook as wb
from workbook.models.loading import gpt2_config


@pytest.fixture(scope="module")
def model():
    return wb.build_gpt2(seed=0, n_layers=2, d_model=32, n_heads=2, d_vocab=30)


def make_task(B=3, S=6, d_vocab=30, **kw):
    g = torch.Generator().manual_seed(0)
    clean = torch.randint(1, d_vocab, (B, S), generator=g)
    corrupt = torch.randint(1, d_vocab, (B, S), generator=g)
    return wb.Task(clean, corrupt, clean[:, 0], corrupt[:, 0], **kw)


def test_mismatched_clean_corrupt_shapes():
    with pytest.raises(wb.TaskError, match="different shapes"):
        wb.Task(torch.zeros(3, 6, dtype=torch.long), torch.zeros(3, 7, dtype=torch.long), [1, 1, 1], [2, 2, 2])


def test_non_integer_tokens():
    with pytest.raises(wb.TaskError, match="integer token ids"):
        wb.Task(torch.zeros(2, 4), torch.zeros(2, 4), [1, 1], [2, 2])


def test_wrong_number_of_answers():
    with pytest.raises(wb.TaskError, match="one entry per example"):
        wb.Task(torch.zeros(3, 4, dtype=torch.long), torch.zeros(3, 4, dtype=torch.long), [1, 1], [2, 2, 2])


def test_token_out_of_vocabulary(model):
    task = make_task(d_vocab=30)
    bad = wb.Task(task.clean + 100, task.corrupt, task.answer, task.wrong)
    with pytest.raises(wb.TaskError, match=r"token ids must lie in \[0, 30\)"):
        wb.patch_nodes(model, bad, "head")


def test_metric_returning_batch_scalar(model):
    task = make_task(metric=lambda logits, a, w, p: logits[:, -1, 0].mean())
    with pytest.raises(wb.MetricError, match="single scalar"):
        wb.atp(model, task)


def test_metric_returning_wrong_shape(model):
    task = make_task(metric=lambda logits, a, w, p: logits[:, -1])
    with pytest.raises(wb.MetricError, match="one value per example"):
        wb.patch_nodes(model, task, "head")


def test_unknown_metric_name():
    with pytest.raises(wb.TaskError, match="unknown metric"):
        make_task(metric="accuracy")


def test_model_in_train_mode_is_refused():
    m = wb.build_gpt2(seed=0, n_layers=1, d_model=16, n_heads=2, d_vocab=30)
    m.train()
    with pytest.raises(wb.ModelError, match="train mode"):
        wb.atp(m, make_task())
    m.eval()
    wb.atp(m, make_task())  # checked once in eval mode: the module list is remembered, the modes are not
    m.blocks[0].attn.train()
    with pytest.raises(wb.ModelError, match="train mode"):
        wb.atp(m, make_task())


def test_dropout_on_is_named():
    from transformers import GPT2LMHeadModel

    cfg = gpt2_config(n_layers=1, d_model=16, n_heads=2, d_vocab=30, attn_pdrop=0.1)
    hf = GPT2LMHeadModel(cfg)
    m = wb.bridge_from_hf(hf).train()
    with pytest.raises(wb.ModelError, match="Dropout is active"):
        wb.patch_nodes(m, make_task(), "head")


def test_missing_hooks_flags_are_named():
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module
    from transformers import GPT2LMHeadModel

    cfg = gpt2_config(n_layers=1, d_model=16, n_heads=2, d_vocab=30)
    raw = build_bridge_from_module(GPT2LMHeadModel(cfg).eval(), "GPT2LMHeadModel", hf_config=cfg)
    with pytest.raises(wb.ModelError, match="use_attn_result is off"):
        wb.eap(raw, make_task())


def test_nan_in_activations_is_reported(model):
    m = wb.build_gpt2(seed=0, n_layers=2, d_model=32, n_heads=2, d_vocab=30)
    with torch.no_grad():
        m.original_model.transformer.h[1].mlp.c_fc.weight[0, 0] = float("nan")
    with pytest.raises(wb.NonFiniteError, match="NaN"):
        wb.atp(m, make_task())
    with pytest.raises(wb.NonFiniteError):
        wb.patch_nodes(m, make_task(), "head")


def test_unknown_node_kind_and_edge(model):
    with pytest.raises(wb.WorkbookError, match="unknown node kind"):
        wb.atp(model, make_task(), "neurons")
    with pytest.raises(wb.WorkbookError, match="not an edge"):
        wb.patch_edges(model, make_task(), edges=["L1H0->L0H0.q"])
    with pytest.raises(wb.WorkbookError, match="direction"):
        wb.patch_nodes(model, make_task(), "head", direction="sideways")
