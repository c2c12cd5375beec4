"""Direct effects by freezing everything downstream equal exact patching of the single edge n -> logits."""

import pytest
import torch

from tests._tol import F64, assert_close, scale_of
from workbook.core.errors import WorkbookError
from workbook.core.task import Task
from workbook.models import zoo
from workbook.models.loading import build_gpt2
from workbook.patching.direct_effects import direct_effects, downstream_writes, effect_split
from workbook.patching.edges import patch_edges
from workbook.patching.nodes import patch_nodes


@pytest.fixture(scope="module")
def random3():
    """float64: every comparison below is an exactness claim (tests/README.md)."""
    model = build_gpt2(seed=3, n_layers=3, d_model=32, n_heads=4, d_vocab=20, n_ctx=8, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    clean = torch.randint(0, 20, (4, 6), generator=g)
    corrupt = torch.randint(0, 20, (4, 6), generator=g)
    return model, Task(clean, corrupt, clean[:, 2], corrupt[:, 2], name="random")


@pytest.mark.parametrize("what", ["head", "mlp"])
def test_direct_effect_is_the_edge_to_the_logits(random3, what):
    model, task = random3
    d = direct_effects(model, task, what)
    e = patch_edges(model, task, edges=[f"{n}->logits" for n in d.names])
    assert d.values.abs().max() > 1e-3, "the random model has direct effects to compare"
    assert_close(d, e, F64, what="values")
    assert_close(d.per_example, e.per_example, F64, what="per example")


def test_direct_effect_on_a_trained_model():
    model, task = zoo.load("ioi", n=6, seed=4)
    model.double()  # float64: an exactness claim
    d = direct_effects(model, task, "head")
    e = patch_edges(model, task, edges=[f"{n}->logits" for n in d.names])
    assert_close(d, e, F64)


def test_last_layer_neurons_have_no_indirect_effect(random3):
    model, task = random3
    last = [f"L2N{i}" for i in range(0, 128, 9)]
    split = effect_split(model, task, "neuron", nodes=last)
    assert_close(split["direct"], split["total"], F64, what="direct")
    assert_close(split["indirect"], torch.zeros(len(last)), F64, scale_of(split["total"]), "indirect")
    # an early neuron: the split adds up, and something does flow through later layers
    early = effect_split(model, task, "neuron", nodes=[f"L0N{i}" for i in range(0, 128, 9)])
    assert_close(early["direct"].values + early["indirect"].values, early["total"], F64, what="split")
    assert early["indirect"].values.abs().max() > 1e-4


def test_neuron_direct_effect_equals_its_write_through_the_last_layer_only(random3):
    """Independent route: add the neuron's change of write (times W_out) to the final residual stream."""
    model, task = random3
    nodes = [f"L1N{i}" for i in range(0, 128, 17)]
    d = direct_effects(model, task, "neuron", nodes=nodes)
    _, clean = model.run_with_cache(task.clean)
    _, corr = model.run_with_cache(task.corrupt)
    post = "blocks.1.mlp.hook_post"
    w_out = model.blocks[1].mlp.out._original_component
    W = w_out.weight if not isinstance(w_out, torch.nn.Linear) else w_out.weight.T  # [d_mlp, d_model]
    resid = clean["blocks.2.hook_resid_post"]
    base = task.per_example(model(task.clean))
    for j, n in enumerate(nodes):
        i = int(n.split("N")[1])
        delta = (corr[post][..., i] - clean[post][..., i])[..., None] * W[i]
        with torch.no_grad():
            logits = model.unembed(model.ln_final(resid + delta))
        # the difference of two metrics: their size is the scale
        assert_close(task.per_example(logits) - base, d.per_example[:, j], F64, scale_of(base, d.per_example), n)


def test_matches_patch_nodes_names_and_denoising(random3):
    model, task = random3
    d = direct_effects(model, task, "head", per_position=True)
    assert d.names == patch_nodes(model, task, "head", per_position=True).names
    den = direct_effects(model, task, "mlp", direction="denoising")
    e = patch_edges(model, task, edges=[f"{n}->logits" for n in den.names], direction="denoising")
    assert_close(den, e, F64)


def test_bad_kind_and_node_are_named(random3):
    model, task = random3
    with pytest.raises(WorkbookError, match="write to the residual stream"):
        direct_effects(model, task, "q")
    with pytest.raises(WorkbookError, match="unknown head node"):
        direct_effects(model, task, "head", nodes=["L9H9"])
    assert downstream_writes(3, "head", 1) == ["blocks.1.hook_mlp_out", "blocks.2.hook_attn_out", "blocks.2.hook_mlp_out"]
    assert downstream_writes(3, "mlp", 2) == []
