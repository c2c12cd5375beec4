"""The probes added on round 27 (issue 23): effects kept between verify_top calls, the noising and denoising effects
averaged, EAP-IG run with one step, a name rebound where a slice is written, a bound on a count, a row normalised by
its maximum, a floor division written twice, an empty list joined, an integer key, and edges patched together."""

import contextlib
import io

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.course.checks._runner import learner_check
from workbook.course.checks.cases import separating_cases
from workbook.course.checks.edge_methods import check_eap_ig
from workbook.course.checks.repair.edits import edits
from workbook.course.checks.step_counts import one_step_failure
from workbook.course.checks.workflow import check_verify_top
from workbook.patching.verify import verify_top

CASES = separating_cases()


def _said(check, fn) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ok = learner_check(check.__wrapped__)(fn)
    assert not ok
    return buf.getvalue()


def test_effects_kept_between_calls_are_named():
    kept: dict[str, float] = {}

    def memoised(model, task, scores, k):  # a cache keyed by the name only
        names = scores.order(absolute=True)[:k]
        todo = [n for n in names if n not in kept]
        if todo:
            kept.update(verify_top(model, task, wb.Scores(todo, torch.tensor([scores[n] for n in todo]), "x",
                                                          scores.kind), len(todo)).to_dict())
        return wb.Scores(names, torch.tensor([kept[n] for n in names]), "activation patching", scores.kind)

    assert "those of an earlier call on another task" in _said(check_verify_top, memoised)


def test_noising_and_denoising_averaged_are_named():
    def averaged(model, task, scores, k):
        noise, denoise = verify_top(model, task, scores, k), verify_top(model, task.swapped(), scores, k)
        return noise.with_values((noise.values - denoise.values) / 2)

    assert "the mean of the noising effect and minus the denoising one" in _said(check_verify_top, averaged)


def _ig(steps_of):
    def fn(model, task, steps):
        graph = Graph.from_model(model)
        out = torch.zeros(graph.edge_mask.shape)
        out[graph.edge_mask] = wb.eap_ig(model, task, steps_of(steps)).values
        return out
    return fn


def test_eap_ig_with_one_step_must_be_plain_eap():
    def reference(model, task, steps):
        return _ig(lambda s: s)(model, task, steps)

    assert one_step_failure(_ig(lambda s: s), CASES[:1], reference) is None
    said = one_step_failure(_ig(lambda s: max(s, 2)), CASES[:1], reference)
    assert said is not None and "EAP-IG's with m = 2 points" in said, said
    assert "the step count you are given is changed" in _said(check_eap_ig, _ig(lambda s: max(s, 2)))


def test_a_rebound_name_and_a_bound_get_their_edits():
    def rebound(act, value, h):
        head = act[:, h]
        head = value  # noqa: F841 - the slip under test
        return act

    def bounded(steps):
        steps = max(steps, 2)
        return steps

    said = {(e.after, e.words) for e in edits(rebound)}
    assert any(a == "act[:, h] = value" and "only rebinds the name `head`" in w for a, w in said), said
    said = {(e.after, e.words) for e in edits(bounded)}
    assert any(a == "steps = steps" and "the bound is extra" in w for a, w in said), said


def test_a_max_normaliser_and_a_floor_division_written_twice_get_their_edits():
    def normalised(e, sc):
        a = (e // sc).exp()
        b = (e * 2 // sc).exp()
        return a / a.max(-1, keepdim=True).values + b

    said = {(e.after, e.words) for e in edits(normalised)}
    assert any(a == "return a / a.sum(-1, keepdim=True) + b" and "where the sum belongs" in w for a, w in said), said
    assert any("floor division" in w and "written 2 times, changed in all" in w for _, w in said), said


def test_an_empty_list_joined_and_an_integer_key_are_explained():
    from workbook.course.checks.crash_calls import empty_list, int_key

    said = empty_list("torch.cat(): expected a non-empty list of Tensors", {"vals": [], "out": torch.zeros(2)},
                      {"batch": 5})
    assert said is not None and "`vals` is empty" in said and "B = 5 here" in said
    said = int_key(KeyError(0), {"corr": {"blocks.0.attn.hook_z": torch.zeros(1)}})
    assert said is not None and "looked it up with the integer 0" in said
    assert int_key(KeyError("x"), {"corr": {"blocks.0.attn.hook_z": 1}}) is None


def test_edges_patched_together_are_named():
    from workbook.patching.edges import edge_patched_metric

    def running_set(model, task, scores, k):  # edge i patched with every edge ranked above it
        names = scores.order(absolute=True)[:k]
        nodes = [n for n in names if "->" not in n]
        out = verify_top(model, task, wb.Scores(nodes, torch.tensor([scores[n] for n in nodes]), "x", "node"),
                         len(nodes)).to_dict() if nodes else {}
        edges = [n for n in names if "->" in n]
        clean = task.baselines(model)[0]
        out.update({e: edge_patched_metric(model, task, edges[:i + 1]) - clean for i, e in enumerate(edges)})
        return wb.Scores(names, torch.tensor([out[n] for n in names]), "activation patching", scores.kind)

    assert "TOGETHER with every edge ranked above it" in _said(check_verify_top, running_set)
