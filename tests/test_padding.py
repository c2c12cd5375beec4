"""Strings -> task -> every method: a padded batch scores exactly the mean of its prompts run
one at a time, unpadded, with either padding side (issue #11, item 4).

Runs on offline save_pretrained folders (workbook.models.local) loaded the way a user would.
Methods pass ``Task.attention_mask`` to every forward pass (masked attention, position ids
counted from the first real token, masked output distance in EAP-GP) and ``load_pretrained``
loads Llama folders with their tokenizer (issue #11 items 1-3). The mask-level version with
hand-built masks, GPT-NeoX and float64 is ``tests/test_padding_masks.py``.
"""

import math

import pytest
import torch
from transformers import AutoTokenizer

import workbook as wb
from tests._tol import scale_of
from workbook.analysis.circuits import Circuit, evaluate
from workbook.arch.graph import Graph
from workbook.models.local import ioi_strings, save_tiny_model

METHODS = {
    "patch_nodes": lambda m, t: wb.patch_nodes(m, t, "head"),
    "patch_nodes_mlp": lambda m, t: wb.patch_nodes(m, t, "mlp"),
    "patch_edges": lambda m, t: wb.patch_edges(m, t),
    "atp": lambda m, t: wb.atp(m, t, ("head", "mlp", "q", "k", "v")),
    "atp_qk_fix": lambda m, t: wb.atp_qk_fix(m, t),
    "graddrop": lambda m, t: wb.graddrop(m, t),
    "atp_star": lambda m, t: wb.atp_star(m, t),
    "eap": lambda m, t: wb.eap(m, t),
    "eap_ig": lambda m, t: wb.eap_ig(m, t, steps=3),
    "eap_ig_activations": lambda m, t: wb.eap_ig(m, t, steps=2, variant="activations"),
    "eap_gp": lambda m, t: wb.eap_gp(m, t, steps=3),
    "circuit_metric": lambda m, t: _circuit_metric(m, t),
}


def _circuit_metric(model, task):
    graph = Graph.from_model(model)
    circuit = Circuit.from_edges(graph, graph.edges[::3])
    return torch.tensor([evaluate(model, task, circuit)], dtype=torch.float64)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("pad")
    return {fam: save_tiny_model(root / fam, fam, d_model=16, n_heads=2) for fam in ("gpt2", "llama")}


def _load(family, folder):
    if family == "gpt2":
        # the tokenizer passed explicitly (load_pretrained also attaches it: see the test below)
        return wb.load_pretrained(str(folder)), AutoTokenizer.from_pretrained(folder)
    model = wb.load_pretrained(str(folder))  # Llama folders, tokenizer attached
    assert type(model.original_model).__name__ == "LlamaForCausalLM", "load_pretrained did not load the Llama folder"
    return model, None


def _values(x) -> torch.Tensor:
    return (x if isinstance(x, torch.Tensor) else x.values).double()


CASES = [
    pytest.param(fam, side, name, id=f"{fam}-{side}-{name}")
    for fam in ("gpt2", "llama") for side in ("right", "left") for name in METHODS
]


@pytest.mark.parametrize("family, side, method", CASES)
def test_padded_batch_equals_mean_of_unpadded_prompts(folders, family, side, method):
    model, tok = _load(family, folders[family])
    s = ioi_strings(3)
    task = wb.task_from_strings(model, s["clean"], s["corrupt"], s["answer"], s["wrong"], padding_side=side, tokenizer=tok)
    assert task.attention_mask is not None and not bool(task.attention_mask.all()), "the batch must need padding"
    singles = [wb.task_from_strings(model, [c], [r], [a], [w], tokenizer=tok)
               for c, r, a, w in zip(s["clean"], s["corrupt"], s["answer"], s["wrong"])]
    assert all(t.attention_mask is None for t in singles)
    fn = METHODS[method]
    got = _values(fn(model, task))
    want = torch.stack([_values(fn(model, t)) for t in singles]).mean(0)
    # float32 model: agreement to float32 rounding, measured <= 1.2e-5 x max|value| without padding
    # errors; a padding leak is >= 3e-2 x max|value|. The second term is float32 rounding of the
    # logits, whose difference the metric is (~8 ulps; measured <= 4e-8 x max|logits|): this Llama's
    # MLP effects are ~4e-5 of its logits, so that term dominates there (exact: test_padding_masks.py).
    with torch.no_grad():
        logit_scale = scale_of(model(task.clean, attention_mask=task.attention_mask))
    torch.testing.assert_close(got, want, rtol=0, atol=3e-4 * scale_of(want) + 1e-6 * logit_scale)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_load_pretrained_brings_the_folder_tokenizer(folders, family):
    model = wb.load_pretrained(str(folders[family]))
    assert model.tokenizer is not None
    s = ioi_strings(2)
    task = wb.task_from_strings(model, s["clean"], s["corrupt"], s["answer"], s["wrong"])  # model.tokenizer
    want = AutoTokenizer.from_pretrained(folders[family])
    assert task.labels(task.answer) == s["answer"] and int(task.answer[0]) == want(s["clean"][0] + s["answer"][0], add_special_tokens=False)["input_ids"][-1]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_diagnose_and_fn_bound_run_on_a_padded_task_from_strings(folders, family):
    """Not batch means, so no equality to test: they run on the padded task and give finite numbers."""
    from workbook.attribution.fn_bound import false_negative_bound

    model, tok = _load(family, folders[family])
    s = ioi_strings(3)
    task = wb.task_from_strings(model, s["clean"], s["corrupt"], s["answer"], s["wrong"], tokenizer=tok)
    bound = false_negative_bound(model, task, top_k=1, n_samples=8)
    assert torch.isfinite(bound.upper_bounds).all() and torch.isfinite(bound.verified.values).all()
    diagnosis = wb.diagnose(model, task, steps=2)
    assert diagnosis.probes and math.isfinite(diagnosis.total_effect)
