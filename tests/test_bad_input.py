"""Bad input named by issue #11: empty batch, float / out-of-vocabulary ids, batch-bound metrics,
unprepared models. Each raises a WorkbookError subclass that says what is wrong."""

import pytest
import torch

import workbook as wb
from tests._tol import F32, assert_close
from workbook.analysis.circuits import Circuit, faithfulness
from workbook.arch.graph import Graph


@pytest.fixture(scope="module")
def model():
    return wb.build_gpt2(seed=0, n_layers=2, d_model=16, n_heads=2, d_vocab=30)


def make_task(B=3, S=5, **kw):
    g = torch.Generator().manual_seed(0)
    clean = torch.randint(1, 30, (B, S), generator=g)
    corrupt = torch.randint(1, 30, (B, S), generator=g)
    return wb.Task(clean, corrupt, clean[:, 0], corrupt[:, 0], **kw)


def test_empty_batch():
    empty = torch.zeros(0, 5, dtype=torch.long)
    with pytest.raises(wb.TaskError, match="empty batch"):
        wb.Task(empty, empty, [], [])
    with pytest.raises(wb.TaskError, match="empty batch"):
        wb.make_task(torch.zeros(0, 4, dtype=torch.long), torch.zeros(0, 4, dtype=torch.long), [], [])
    with pytest.raises(wb.TaskError, match="0 tokens"):
        wb.Task(torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, 0, dtype=torch.long), [1, 2], [2, 1])


@pytest.mark.parametrize("field", ["clean", "answer", "wrong", "pos"])
def test_float_ids_are_refused_not_truncated(field):
    kw = dict(clean=[[1, 2, 3], [4, 5, 6]], corrupt=[[1, 2, 7], [4, 5, 8]], answer=[3, 6], wrong=[7, 8], pos=[2, 2])
    kw[field] = [[1.0, 2.7, 3.0], [4.0, 5.0, 6.0]] if field == "clean" else [2.7, 1.0]
    with pytest.raises(wb.TaskError, match="must hold integer (token ids|positions), got dtype torch.float"):
        wb.make_task(**kw)
    with pytest.raises(wb.TaskError, match="integer"):
        wb.Task(**{k: torch.as_tensor(v) for k, v in kw.items()})


def test_negative_ids_are_refused():
    with pytest.raises(wb.TaskError, match=">= 0"):
        wb.make_task([[1, 2]], [[1, 3]], [-1], [2])
    with pytest.raises(wb.TaskError, match=">= 0"):
        wb.make_task([[1, -2]], [[1, 3]], [1], [2])


def test_answer_id_out_of_vocabulary_is_named(model):
    task = make_task()
    bad = wb.Task(task.clean, task.corrupt, torch.tensor([1, 30, 2]), task.wrong)
    for run in (lambda: wb.atp(model, bad), lambda: wb.patch_nodes(model, bad, "head"), lambda: wb.eap(model, bad)):
        with pytest.raises(wb.TaskError, match=r"task.answer id 30 is out of the model's vocabulary \(d_vocab=30\); example\(s\) \[1\]"):
            run()
    bad_wrong = wb.Task(task.clean, task.corrupt, task.answer, torch.tensor([99, 1, 2]))
    with pytest.raises(wb.TaskError, match="task.wrong id 99"):
        wb.eap_ig(model, bad_wrong, steps=2)


def test_ids_outside_task_vocab_are_named():
    with pytest.raises(wb.TaskError, match="outside task.vocab"):
        wb.make_task([[0, 1]], [[0, 2]], [5], [1], vocab=["a", "b", "c"])


def _fixed_size_metric(B):
    """A metric that closes over a tensor sized to one batch: the mistake the check must catch."""
    rows = torch.arange(B)

    def metric(logits, answer, wrong, pos):
        last = logits[rows, pos[:B]]
        return last[rows, answer[:B]] - last[rows, wrong[:B]]

    return metric


def _batch_mean_centred_metric(logits, answer, wrong, pos):
    v = wb.core.task.logit_diff(logits, answer, wrong, pos)
    return v - v.mean()  # mixes examples


@pytest.mark.parametrize("metric", [_fixed_size_metric(3), _batch_mean_centred_metric], ids=["closure", "batch-mean"])
def test_batch_bound_metric_is_named_by_every_kind_of_method(model, metric):
    task = make_task(B=3, metric=metric)
    graph = Graph.from_model(model)
    runs = {
        "atp": lambda: wb.atp(model, task),  # one batch: caught by the single-example check
        "patch_nodes": lambda: wb.patch_nodes(model, task, "head"),  # stacked copies
        "eap_ig": lambda: wb.eap_ig(model, task, steps=2),
        "faithfulness": lambda: faithfulness(model, task, Circuit.full(graph)),
        "subset": lambda: task.subset([0, 1]).metric_value(model(task.clean[:2])),
    }
    for name, run in runs.items():
        with pytest.raises(wb.MetricError, match="per-example and batch-agnostic"):
            run()


def test_good_custom_metric_passes_the_check(model):
    def margin(logits, answer, wrong, pos):
        last = logits[torch.arange(logits.shape[0]), pos]
        return last.gather(1, answer[:, None])[:, 0] - last.gather(1, wrong[:, None])[:, 0]

    want = wb.patch_nodes(model, make_task(), "head")
    got = wb.patch_nodes(model, make_task(metric=margin), "head")
    # float32: the same margin, maybe computed in another order; effects are differences of
    # metrics, which are differences of logits: scale max|logits|
    with torch.no_grad():
        assert_close(got, want, F32, model(make_task().clean).abs().max())


def test_unprepared_model_is_named_by_every_method(model):
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module
    from transformers import GPT2LMHeadModel

    from workbook.models.loading import gpt2_config

    cfg = gpt2_config(n_layers=1, d_model=16, n_heads=2, d_vocab=30)
    raw = build_bridge_from_module(GPT2LMHeadModel(cfg).eval(), "GPT2LMHeadModel", hf_config=cfg)
    task = make_task()
    for fn in (wb.atp, wb.atp_qk_fix, wb.graddrop, wb.atp_star, wb.eap, wb.eap_ig, wb.eap_gp, wb.patch_edges,
               lambda m, t: wb.patch_nodes(m, t, "head")):
        with pytest.raises(wb.ModelError, match=r"not prepared.*call workbook.prepare\(model\)"):
            fn(raw, task)
    with pytest.raises(wb.ModelError, match="expected a transformer_lens TransformerBridge, got GPT2LMHeadModel"):
        wb.atp(GPT2LMHeadModel(cfg), task)
