"""What one check call remembered is reused by the next only while nothing it holds was changed
(workbook.course.checks.quick: session, remembered, forget)."""

import contextlib
import io

import pytest
import torch

import workbook as wb
from workbook.core.task import Task
from workbook.course.checks.cases import separating_cases
from workbook.course.checks.node_methods import chapter_case, check_patch_heads
from workbook.course.checks.quick import forget, remembered, session


@pytest.fixture(autouse=True)
def nothing_carried():
    forget()
    yield
    forget()


def models_of_a_session() -> list:
    with session():
        return [m for _, m, _ in separating_cases()]


def test_a_second_call_reuses_the_models_and_forget_drops_them():
    first = models_of_a_session()
    assert [id(m) for m in models_of_a_session()] == [id(m) for m in first]
    forget()
    assert all(a is not b for a, b in zip(models_of_a_session(), first))


def test_outside_a_session_nothing_is_remembered():
    calls = []
    for _ in range(2):
        remembered(("counted",), lambda: calls.append(1) or len(calls))
    assert calls == [1, 1]


def _write_a_weight(model, task):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)


def _leave_a_hook(model, task):
    model.blocks[0].attn.hook_z.add_hook(lambda t, hook: t * 2)


def _set_a_flag(model, task):
    model.cfg.use_attn_result = not getattr(model.cfg, "use_attn_result", False)


def _edit_the_task(model, task):
    task.clean[0, 0] = (task.clean[0, 0] + 1) % model.cfg.d_vocab


@pytest.mark.parametrize("change", [_write_a_weight, _leave_a_hook, _set_a_flag, _edit_the_task])
def test_a_changed_model_or_task_is_built_anew_by_the_next_call(change):
    with session():
        _, model, task = separating_cases()[0]
        change(model, task)
    again = models_of_a_session()
    assert again[0] is not model
    assert again == models_of_a_session()  # the new ones are intact, so they are reused


def test_a_container_changed_in_place_is_computed_anew():
    def build():
        return {"names": ["b", "a", "c"], "values": torch.tensor([2.0, 1.0, 3.0])}

    with session():
        remembered(("toy",), build)["names"].sort()  # a learner sorting the names of an estimate in place
    with session():
        assert remembered(("toy",), build)["names"] == ["b", "a", "c"]
        remembered(("toy",), build)["values"].mul_(-1)  # or negating its values
    with session():
        assert remembered(("toy",), build)["values"].tolist() == [2.0, 1.0, 3.0]


def patch_heads(model, task):
    return wb.patch_nodes(model, task, "head").values.reshape(model.cfg.n_layers, model.cfg.n_heads)


def test_a_check_that_changed_the_weights_does_not_spoil_the_next_check():
    """A learner's function that writes into a weight fails; the next check call in the same kernel gets
    models that were never damaged, and the corrected function passes."""
    damaged = []

    def damaging(model, task):
        damaged.append(model)
        _write_a_weight(model, task)
        return patch_heads(model, task)

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert not check_patch_heads(damaging)
        with session():
            models = [chapter_case(0)[1]] + [m for _, m, _ in separating_cases()]
        assert check_patch_heads(patch_heads)
    assert "weights" in out.getvalue().split("\n")[0]
    assert damaged and not any(m is d for m in models for d in damaged)


def test_task_tensors_are_compared_bitwise():
    t = Task(torch.tensor([[1, 2]]), torch.tensor([[1, 3]]), torch.tensor([2]), torch.tensor([3]))
    with session():
        remembered(("task",), lambda: t)
    t.answer[0] = 4
    with session():
        assert remembered(("task",), lambda: "rebuilt") == "rebuilt"
