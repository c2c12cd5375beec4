"""Every method runs in bfloat16 and float16 (float32 and float64: ``test_families.py``).

Activations and gradients stay in the model's dtype; products, sums, metrics and effects are
accumulated in float32. The numbers then differ from the float64 model's only by the model's
own rounding: measured on these rows (GPT-2, Llama), at most 14% of the largest score in
bfloat16 (8-bit mantissa; EAP-GP, whose path steps compound it) and 2.2% in float16; the bounds
below leave some room.
"""

from __future__ import annotations

import _families as F
import pytest
import torch

import workbook as wb
from workbook.attribution.fn_bound import false_negative_bound

BOUND = {torch.bfloat16: 0.3, torch.float16: 0.05}

CALLS = {
    "patch_nodes": lambda m, t: wb.patch_nodes(m, t, "head"),
    "patch_nodes_k": lambda m, t: wb.patch_nodes(m, t, "k"),
    "atp": lambda m, t: wb.atp(m, t, ("head", "q", "k", "v", "mlp")),
    "qk_fix": lambda m, t: wb.atp_qk_fix(m, t),
    "graddrop": lambda m, t: wb.graddrop(m, t),
    "atp_star": lambda m, t: wb.atp_star(m, t),
    "fn_bound": lambda m, t: false_negative_bound(m, t, "head", top_k=2, n_samples=8).verified,
    "eap": lambda m, t: wb.eap(m, t),
    "eap_ig": lambda m, t: wb.eap_ig(m, t, steps=3),
    "eap_ig_act": lambda m, t: wb.eap_ig(m, t, steps=2, variant="activations"),
    "eap_gp": lambda m, t: wb.eap_gp(m, t, steps=2),
    "patch_edges": lambda m, t: wb.patch_edges(m, t),
}


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_half_precision_runs_every_method(family):
    task = F.task(batch=4, seq=6)
    ref = F.build(family, torch.float64)
    want = {k: c(ref, task) for k, c in CALLS.items()}
    for dtype in (torch.bfloat16, torch.float16):
        model = F.build(family, dtype)
        for name, call in CALLS.items():
            got = call(model, task)
            assert got.names == want[name].names
            assert torch.isfinite(got.values).all(), f"{family} {dtype} {name}: non-finite scores"
            scale = want[name].values.abs().max().item()
            err = (got.values.double() - want[name].values.double()).abs().max().item()
            assert err <= BOUND[dtype] * scale, f"{family} {dtype} {name}: {err:.3g} off the float64 scores (scale {scale:.3g})"
        report = wb.diagnose(model, task, steps=2)
        assert len(report.probes) == 4 and not report.skipped, f"{family} {dtype}: diagnose skipped {report.skipped}"
