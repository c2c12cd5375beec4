"""Speed and memory machinery changes no result (the timings themselves live in scripts/benchmark.py).

* EAP-IG / EAP-GP: chunked path points (a small memory budget, ``batch_steps``) and early
  flushes of the edge scorer give the scores of the unchunked run.
* Patching: the resumed clean run (``method="resume"``) equals full forwards with hooks
  (``method="forward"``) for every node kind and edge, every family, padded or not; batched edges
  equal one edge per pass.
* Logits only at the read positions: a custom metric that may read everything gives the same
  numbers as the built-in one.
* Device handling: no tensor a method creates for its computation is left on the default device
  (checked on the CPU by intercepting factory calls without ``device=``); the GPU run itself is
  ``scripts/gpu_check.py``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import _families as F
import pytest
import torch
from torch.overrides import TorchFunctionMode

import workbook as wb
from workbook.analysis import circuits
from workbook.patching.edge_scorer import EdgeScorer
from workbook.attribution.fn_bound import false_negative_bound
from workbook.core import budget
from workbook.patching.direct_effects import direct_effects
from workbook.patching.resume import CleanRun


def _close(a: wb.Scores, b: wb.Scores, rel: float = 1e-9) -> None:
    assert a.names == b.names
    scale = max(1e-12, float(b.values.abs().max()))
    err = float((a.values.double() - b.values.double()).abs().max())
    assert err <= rel * scale, f"{a.method}: {err:.3g} off (scale {scale:.3g})"


@pytest.fixture(autouse=True)
def _restore_budget():
    yield
    budget.set_memory_budget(None)


def padded(task: wb.Task, left: bool = True) -> wb.Task:
    mask = torch.ones_like(task.clean)
    if left:
        mask[0, :2] = 0
    else:
        mask[0, -1] = 0
    pos = torch.full((task.batch_size,), task.seq_len - 1) if left else torch.tensor([task.seq_len - 2] + [task.seq_len - 1] * (task.batch_size - 1))
    return wb.Task(task.clean, task.corrupt, task.answer, task.wrong, pos=pos, attention_mask=mask)


# ------------------------------------------------------------------ chunking
@pytest.mark.parametrize("family", ["gpt2", "neox", "llama"])
def test_eap_ig_and_gp_do_not_depend_on_chunking(family):
    # float64; families whose modules round to float32 inside agree to that precision only
    rel = 1e-6 if family in F.FLOAT32_INSIDE else 1e-9
    model, task = F.build(family), F.task(batch=3)
    whole = wb.eap_ig(model, task, steps=4)
    assert whole.info["points_per_pass"] == 4
    _close(wb.eap_ig(model, task, steps=4, batch_steps=1), whole, rel)
    _close(wb.eap_ig(model, task, steps=4, batch_steps=3), whole, rel)
    budget.set_memory_budget(1)  # one point per pass, and the scorer flushes after every pass
    small = wb.eap_ig(model, task, steps=4)
    assert small.info["points_per_pass"] == 1
    _close(small, whole, rel)
    act = wb.eap_ig(model, task, steps=2, variant="activations")
    budget.set_memory_budget(None)
    _close(act, wb.eap_ig(model, task, steps=2, variant="activations"), rel)
    gp = wb.eap_gp(model, task, steps=3)
    budget.set_memory_budget(1)
    _close(wb.eap_gp(model, task, steps=3), gp, rel)


@pytest.mark.parametrize("family", ["gpt2", "qwen2"])  # LayerNorm and RMSNorm
def test_scorer_flush_in_the_middle_changes_nothing(family):
    model, task = F.build(family), F.task()
    from workbook.core.runs import cache_activations, cache_activations_and_grads, fused_attention

    sc0 = EdgeScorer(model)
    with fused_attention(model):
        _, corr = cache_activations(model, task.corrupt, sc0.source_names())
        _, clean, grads = cache_activations_and_grads(model, task, sc0.source_names() + sc0.act_names(), sc0.grad_names())
    twice = ({n: torch.cat([a, a]) for n, a in clean.items()}, {n: torch.cat([g, g]) for n, g in grads.items()})

    def run(how: str) -> torch.Tensor:
        sc = EdgeScorer(model)
        sc.set_deltas(corr, clean)
        if how == "stacked":  # room for one pass, then a pass of two stacked copies: flush and grow
            sc.expect(1)
            sc.add_pass(clean, grads, 1)
            sc.add_pass(*twice, 2)
            return sc.finish()
        sc.expect(3)
        for _ in range(3):
            sc.add_pass(clean, grads, 1)
            if how == "flush each":
                sc.flush()
        return sc.finish()

    a = run("together")
    for how in ("flush each", "stacked"):
        assert torch.allclose(run(how), a, rtol=0, atol=1e-12 * float(a.abs().max())), how


def test_memory_budget_setting():
    budget.set_memory_budget("1.5GB")
    assert budget.memory_budget() == int(1.5 * 1024**3)
    budget.set_memory_budget("300 MB")
    assert budget.memory_budget() == 300 * 1024**2
    budget.set_memory_budget(None)
    assert budget.memory_budget() == 2 * 1024**3
    with pytest.raises(wb.WorkbookError, match="memory budget"):
        budget.set_memory_budget("lots")
    model, task = F.build("gpt2"), F.task()
    assert budget.copies_per_pass(model, task, 7) == 7
    assert budget.copies_per_pass(model, task, 7, budget=1) == 1


def test_cpu_passes_stop_at_the_row_cap():
    # a CPU forward+backward pass stacks at most CPU_ROWS_PER_PASS token rows, never fewer than one
    # copy; forward-only passes and the budget are unaffected
    model, task = F.build("gpt2"), F.task(batch=40)
    rows = task.batch_size * task.seq_len
    big = budget.CPU_ROWS_PER_PASS // rows
    assert 1 <= big < 40
    assert budget.copies_per_pass(model, task, 40, budget=10**15) == big
    assert budget.copies_per_pass(model, task, 40, backward=False, budget=10**15) == 40
    wide = wb.Task(task.clean.repeat(big + 1, 1), task.corrupt.repeat(big + 1, 1), task.answer.repeat(big + 1),
                   task.wrong.repeat(big + 1))
    assert budget.copies_per_pass(model, wide, 40, budget=10**15) == 1
    # EAP-IG spreads its points evenly over the passes the cap leaves
    steps = big + 1
    info = wb.eap_ig(model, task, steps=steps).info
    assert info["points_per_pass"] == -(-steps // 2)
    assert info["passes"].endswith("in 2 batched fwd+bwd")


def test_memory_guard_trims_only_past_the_budget(monkeypatch):
    rss, trims = [10_000], []
    monkeypatch.setattr(budget, "rss_bytes", lambda: rss[0])
    monkeypatch.setattr(budget, "release_memory", lambda: trims.append(rss[0]))
    budget.set_memory_budget(1000)
    try:
        guard = budget.MemoryGuard()
        rss[0] = 10_900  # grown by less than the budget: freed memory stays for the next pass
        guard.after_pass()
        assert trims == []
        rss[0] = 11_001
        guard.after_pass()
        assert trims == [11_001]
        monkeypatch.setattr(budget, "rss_bytes", lambda: None)  # no /proc: trim every time
        budget.MemoryGuard().after_pass()
        assert len(trims) == 2
    finally:
        budget.set_memory_budget(None)


# ------------------------------------------------------------------ patching
@pytest.mark.parametrize("family", F.EDGE_FAMILIES)
@pytest.mark.parametrize("pad", [None, "left", "right"])
def test_resumed_patching_equals_full_forwards(family, pad):
    model, task = F.build(family), F.task()
    if pad:
        task = padded(task, left=pad == "left")
    assert CleanRun(model, task).exact
    edges = wb.patch_edges(model, task)
    assert edges.info["method"] == "resume"
    _close(edges, wb.patch_edges(model, task, method="forward"))
    for kind in ("head", "q", "k", "v", "pattern", "mlp"):
        got = wb.patch_nodes(model, task, kind, per_position=kind in ("head", "k", "pattern"))
        assert got.info["method"] == "resume"
        _close(got, wb.patch_nodes(model, task, kind, per_position=kind in ("head", "k", "pattern"), method="forward"))


@pytest.mark.parametrize("family", ["gpt2", "neox", "gemma"])
def test_batched_edges_equal_one_edge_per_pass(family):
    model, task = F.build(family), F.task()
    edges = list(wb.Graph.from_model(model).edges[::5])
    batched = wb.patch_edges(model, task, edges=edges)
    one = wb.patch_edges(model, task, edges=edges, max_rows=task.batch_size)
    assert one.info["passes"].endswith(f"{len(edges)} batched passes") or "batched passes" in one.info["passes"]
    _close(one, batched)
    single = {e: float(wb.patch_edges(model, task, edges=[e])[e]) for e in edges[:6]}
    scale = float(batched.values.abs().max())  # as _close: relative to the largest value
    assert all(abs(single[e] - batched[e]) <= 1e-9 * scale for e in single)


def test_half_precision_and_refused_graphs_fall_back_to_forwards():
    task = F.task()
    half = F.build("gpt2", torch.bfloat16)
    s = wb.patch_nodes(half, task, "head")
    assert s.info["method"].startswith("forward") and "bfloat16" in s.info["method"]
    g2 = F.build("gemma2")
    assert wb.patch_nodes(g2, task, "mlp").info["method"].startswith("forward")
    assert wb.patch_nodes(F.build("gpt2"), task, "neuron").info["method"] == "forward"
    with pytest.raises(wb.WorkbookError, match="method='forward'"):
        wb.patch_nodes(half, task, "head", method="resume")


def test_no_op_patches_have_exactly_zero_effect():
    model, task = F.build("gpt2", torch.float32), F.task()
    same = wb.Task(task.clean, task.clean, task.answer, task.wrong)
    for kind in ("head", "q", "pattern", "mlp"):
        assert wb.patch_nodes(model, same, kind).values.abs().max() == 0
    assert wb.patch_edges(model, same).values.abs().max() == 0


# ------------------------------------------------------------------ read positions
def test_logits_only_at_read_positions_change_nothing():
    model, task = F.build("llama"), F.task()

    def my_logit_diff(logits, answer, wrong, pos):  # a metric function: may read any position
        last = logits[torch.arange(len(pos)), pos]
        return last.gather(1, answer[:, None])[:, 0] - last.gather(1, wrong[:, None])[:, 0]

    mine = wb.Task(task.clean, task.corrupt, task.answer, task.wrong, metric=my_logit_diff)
    assert task.reads_only_pos and not mine.reads_only_pos and mine.logit_positions() is None
    assert task.logit_positions().tolist() == [task.seq_len - 1]
    for call in (lambda t: wb.eap(model, t), lambda t: wb.eap_ig(model, t, steps=2), lambda t: wb.atp(model, t),
                 lambda t: wb.patch_nodes(model, t, "head"), lambda t: wb.patch_edges(model, t, edges=list(wb.Graph.from_model(model).edges[:9]))):
        _close(call(mine), call(task))
    my_logit_diff.reads_only_pos = True
    assert mine.reads_only_pos


# ------------------------------------------------------------------ devices
_FACTORIES = {torch.zeros, torch.ones, torch.empty, torch.full, torch.arange, torch.tensor, torch.eye,
              torch.rand, torch.randn, torch.linspace, torch.as_tensor}
_PKG = str(Path(wb.__file__).parent)
# factory calls that build CPU metadata on purpose (graph masks, node indices, CPU score storage,
# token ids checked and moved later): file name and function
_CPU_BY_DESIGN = {("graph.py", "edge_mask"), ("graph.py", "__post_init__"), ("scores.py", "_storage"), ("scores.py", "__post_init__"),
                  ("task.py", "__post_init__"), ("task.py", "as_token_ids"), ("task.py", "logit_positions"),
                  ("eap_ig.py", "ig_alphas"), ("runs.py", "<module>"), ("circuits.py", "score_matrix"),
                  ("edges.py", "run_with_patched_edges"), ("circuits.py", "prune"), ("verify.py", "verify_top"),
                  ("fn_bound.py", "sample_masks"), ("fn_bound.py", "welch_upper_bound"), ("fn_bound.py", "<dictcomp>")}


class _Factories(TorchFunctionMode):
    """Record workbook call sites that create a tensor without saying on which device."""

    def __init__(self):
        super().__init__()
        self.sites: set[tuple[str, str, int]] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FACTORIES and "device" not in kwargs and not (func in (torch.tensor, torch.as_tensor) and args and isinstance(args[0], torch.Tensor)):
            for frame in inspect.stack()[1:]:
                if frame.filename.startswith(_PKG):
                    site = (Path(frame.filename).name, frame.function, frame.lineno)
                    if site[:2] not in _CPU_BY_DESIGN:
                        self.sites.add(site)
                    break
        return func(*args, **kwargs)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_methods_create_their_tensors_on_the_model_device(family):
    model, task = F.build(family), padded(F.task())
    calls = [lambda: wb.atp(model, task, ("head", "q", "k", "mlp")), lambda: wb.eap(model, task),
             lambda: wb.eap_ig(model, task, steps=2), lambda: wb.eap_ig(model, task, steps=2, variant="activations"),
             lambda: wb.eap_gp(model, task, steps=2), lambda: wb.patch_nodes(model, task, "k", per_position=True),
             lambda: wb.patch_nodes(model, task, "pattern"), lambda: wb.patch_nodes(model, task, "head", method="forward"),
             lambda: wb.patch_edges(model, task), lambda: wb.patch_edges(model, task, edges=list(wb.Graph.from_model(model).edges[:20]), method="forward"),
             lambda: wb.atp_qk_fix(model, task), lambda: wb.graddrop(model, task), lambda: wb.atp_star(model, task),
             lambda: false_negative_bound(model, task, "head", top_k=2, n_samples=4),
             lambda: circuits.faithfulness_curve(model, task, wb.eap(model, task), [5, 10]),
             lambda: wb.verify_top(model, task, wb.eap(model, task), k=4), lambda: wb.diagnose(model, task, steps=2),
             lambda: direct_effects(model, task, "head"), lambda: direct_effects(model, task, "mlp")]
    mode = _Factories()
    with mode:
        for call in calls:
            call()
    assert not mode.sites, f"tensors created without device= at {sorted(mode.sites)}"
