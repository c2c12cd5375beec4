"""EAP: agreement with TransformerLens 4.3's edge attribution, edge/node consistency, edge cases."""

import pytest
import torch
from transformer_lens.tools.analysis.attribution_patching import EdgeAttributionConfig, attribution_patch

import workbook as wb
from tests._edge_util import random_case
from tests._tol import F64, assert_close, scale_of

WRITER = {"embed": lambda n: "embed", "attn_head_out": lambda n: f"L{n.layer}H{n.head}", "mlp_out": lambda n: f"MLP{n.layer}"}
READER = {
    "q_input": lambda n: f"L{n.layer}H{n.head}.q", "k_input": lambda n: f"L{n.layer}H{n.head}.k",
    "v_input": lambda n: f"L{n.layer}H{n.head}.v", "mlp_in": lambda n: f"MLP{n.layer}", "logits": lambda n: "logits",
}


def test_eap_matches_transformerlens_edge_attribution():
    model, task = random_case(seed=3, B=2, S=5, dtype=torch.float64)
    a, w = int(task.answer[0]), int(task.wrong[0])
    task = wb.Task(task.clean, task.corrupt, torch.tensor([a, a]), torch.tensor([w, w]))
    ours = wb.eap(model, task, direction="denoising")
    tl = attribution_patch(model, task.clean, task.corrupt, lambda lg: lg[0, -1, a] - lg[0, -1, w],
                           EdgeAttributionConfig(granularity="edge"))
    summed: dict[str, float] = {}
    for (src, dst), v in tl.edge_scores.items():
        name = f"{WRITER[src.kind](src)}->{READER[dst.kind](dst)}"
        summed[name] = summed.get(name, 0.0) + v
    assert set(summed) == set(ours.names)
    tl_vals = torch.tensor([summed[n] for n in ours.names], dtype=ours.values.dtype)
    assert ours.values.abs().max() > 1e-3
    assert_close(ours, tl_vals, F64)


def test_edges_out_of_a_source_sum_to_its_atp_score():
    model, task = random_case(seed=4, dtype=torch.float64)
    e = wb.eap(model, task)
    node = wb.atp(model, task, ("head", "mlp"))
    for src in ["L0H1", "L1H0", "MLP0", "MLP1"]:
        parts = [v for n, v in e.to_dict().items() if n.startswith(src + "->")]
        assert_close(sum(parts), node[src], F64, scale_of(parts, node[src]), src)


def test_identical_inputs_give_zero():
    model, task = random_case(seed=5)
    same = wb.Task(task.clean, task.clean.clone(), task.answer, task.wrong)
    assert wb.eap(model, same).values.abs().max() == 0


def test_bad_inputs_raise():
    model, task = random_case(seed=5)
    with pytest.raises(wb.WorkbookError):
        wb.eap(model, wb.Task(task.clean, task.corrupt + 100, task.answer, task.wrong))
    with pytest.raises(wb.WorkbookError):
        wb.Task(task.clean, task.corrupt[:, :-1], task.answer, task.wrong)
