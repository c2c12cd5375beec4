"""The architecture layer's own pieces: norm backwards vs autograd, refusals, grouped/parallel graphs."""

from __future__ import annotations

import _families as F
import pytest
import torch

from tests._tol import F32, F64, assert_close
from workbook.arch import adapter_for, check_architecture, supported_architectures
from workbook.arch.gpt2 import GPT2Adapter
from workbook.arch.graph import Graph
from workbook.arch.norms import layernorm_input_grad, rmsnorm_input_grad
from workbook.core.errors import UnsupportedArchitectureError


def _norms():
    from transformers.models.gemma.modeling_gemma import GemmaRMSNorm
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    g = torch.Generator().manual_seed(0)
    ln = torch.nn.LayerNorm(8, eps=1e-5).double()
    llama, gemma = LlamaRMSNorm(8, eps=1e-6).double(), GemmaRMSNorm(8, eps=1e-6).double()
    with torch.no_grad():
        for m in (ln, llama, gemma):
            m.weight.copy_(torch.randn(8, generator=g, dtype=torch.float64))
        ln.bias.copy_(torch.randn(8, generator=g, dtype=torch.float64))
    return [(ln, layernorm_input_grad, ln.weight, 1e-5), (llama, rmsnorm_input_grad, llama.weight, 1e-6),
            (gemma, rmsnorm_input_grad, 1 + gemma.weight, 1e-6)]


@pytest.mark.parametrize("i", range(3))
def test_norm_input_grads_match_autograd(i):
    module, fn, weight, eps = _norms()[i]
    g = torch.Generator().manual_seed(i)
    x = torch.randn(2, 3, 8, generator=g, dtype=torch.float64)
    g_out = torch.randn(4, 2, 3, 8, generator=g, dtype=torch.float64)  # one output gradient per "head"
    out = torch.empty_like(g_out)
    fn(x, weight.detach(), eps, g_out, out)
    for h in range(4):
        xx = x.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(module(xx), xx, g_out[h])
        # HF's RMSNorms compute in float32 even in a float64 model: agreement to float32 rounding
        rel = F64 if isinstance(module, torch.nn.LayerNorm) else F32
        assert_close(out[h], want, rel, what=type(module).__name__)


def test_an_unexpected_norm_is_a_named_refusal():
    class Confused(GPT2Adapter):  # claims RMSNorm on a LayerNorm model
        norm = "rmsnorm"

    model = F.build("gpt2")
    ad = Confused(model)
    assert not ad.supports("edges") and ad.supports("qk_fix")
    with pytest.raises(UnsupportedArchitectureError, match="LayerNorm"):
        ad.require("edges")  # what Graph.from_model asks before building the graph


def test_registry_names_what_it_supports():
    assert {"GPT2LMHeadModel", "GPTNeoXForCausalLM", "LlamaForCausalLM", "Qwen2ForCausalLM",
            "GemmaForCausalLM", "Gemma2ForCausalLM"} <= set(supported_architectures())
    with pytest.raises(UnsupportedArchitectureError, match="OPTForCausalLM.*supported: .*LlamaForCausalLM"):
        check_architecture("OPTForCausalLM")


def test_grouped_and_parallel_graphs():
    g = Graph(2, 4, n_kv_heads=2)
    assert "L1KV1.k" in g.destinations and "L1H1.k" not in g.destinations
    j = g.destinations.index("L1KV1.v")
    assert [g.sources[i] for i in g.dest_owners(j)] == ["L1H2", "L1H3"]
    assert g.dest_hook("L1KV1.v") == ("blocks.1.hook_v_input", 1)
    p = Graph(2, 4, parallel=True)
    assert "L0H0->MLP0" not in p.edges and "MLP0->L1H0.q" in p.edges and "L0H3->MLP1" in p.edges
    assert p.n_edges == Graph(2, 4).n_edges - 2 * 4
    for family in ("neox", "llama", "gemma"):
        ad = adapter_for(F.build(family))
        assert Graph(ad.n_layers, ad.n_heads, ad.n_kv_heads, ad.parallel) == Graph.from_model(F.build(family))


@pytest.mark.parametrize("family", F.FAMILIES)
def test_residual_stream_decomposes_into_the_graph_sources(family):
    """resid_post = embed (+ positions) + sum of every layer's attention and MLP writes, the writes
    are the hooks GradDrop and EAP-IG (activations) act on, and (edge families) attn_out = sum of
    the per-head results + b_O — the premises of the edge graph."""
    import _reference as R

    model, task = F.build(family), F.task()
    L = model.cfg.n_layers
    names = ["hook_embed", "hook_pos_embed", f"blocks.{L - 1}.hook_resid_post"]
    names += [f"blocks.{l}.hook_{x}_out" for l in range(L) for x in ("attn", "mlp")]
    names += [f"blocks.{l}.attn.hook_result" for l in range(L)]
    c = R.cache(model, task.clean, [n for n in names if n in model.hook_dict])
    total = c["hook_embed"] + c.get("hook_pos_embed", 0)
    for l in range(L):
        total = total + c[f"blocks.{l}.hook_attn_out"] + c[f"blocks.{l}.hook_mlp_out"]
        b_O = model.blocks[l].attn.o._original_component.bias
        heads = c[f"blocks.{l}.attn.hook_result"].sum(2) + (0 if b_O is None else b_O)
        if family != "gemma2":  # Gemma 2 normalises attn_out again: not the sum of its heads
            assert_close(heads, c[f"blocks.{l}.hook_attn_out"], F64, what=f"L{l} heads")
    assert_close(total, c[f"blocks.{L - 1}.hook_resid_post"], F64, what="resid_post")
    zero = R.cache(model, task.clean, [f"blocks.{L - 1}.hook_resid_post"], [("blocks.0.hook_attn_out", lambda a, hook: a * 0)])
    moved = c[f"blocks.{L - 1}.hook_resid_post"] - zero[f"blocks.{L - 1}.hook_resid_post"]
    assert moved.abs().max() > 1e-3  # the write hook is live


def test_interop_with_parallel_and_grouped_graphs():
    """EAP-IG's JSON round-trips a parallel (NeoX) graph; grouped k/v inputs are a named refusal."""
    import workbook as wb
    from workbook.analysis.interop import from_eap_ig_json, to_eap_ig_json
    from workbook.core.errors import WorkbookError

    model, task = F.build("neox"), F.task()
    scores = wb.eap(model, task)
    back = from_eap_ig_json(to_eap_ig_json(None, model, scores))
    assert back.circuit.graph == Graph.from_model(model)
    assert torch.equal(back.scores.values, torch.tensor([scores[n] for n in back.scores.names], dtype=torch.float64))  # float64 survives JSON exactly
    with pytest.raises(WorkbookError, match="Grouped-query"):
        to_eap_ig_json(None, F.build("llama"), wb.eap(F.build("llama"), task))
