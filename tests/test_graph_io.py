"""The fused-attention shortcut (GraphIO) equals autograd on TransformerLens' per-head hooks."""

import torch
from transformers import GPT2LMHeadModel

import workbook as wb
from tests._tol import F64, assert_close
from workbook.arch.graph import Graph
from workbook.attribution.eap import GraphIO, edge_scores_from_grads
from workbook.core.runs import cache_activations, cache_activations_and_grads
from workbook.models.loading import gpt2_config


def test_sources_and_destination_grads_match_split_hooks():
    torch.manual_seed(0)
    model = wb.bridge_from_hf(GPT2LMHeadModel(gpt2_config(n_layers=3, d_model=32, n_heads=4, d_vocab=40)), dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    clean = torch.randint(1, 40, (3, 7), generator=g)
    task = wb.Task(clean, clean.flip(1), clean[:, 0], clean[:, 1])
    graph = Graph.from_model(model)
    # reference: TL's per-head hooks (split q/k/v inputs, per-head results)
    _, acts, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    want_src, want_dst = graph.stack_sources(acts), graph.stack_dest_grads(grads)
    io = GraphIO(model, graph)
    with io.fused(model):
        _, facts, fgrads = cache_activations_and_grads(model, task, io.fwd_names(), io.grad_names())
    assert_close(io.sources(facts), want_src, F64, what="sources")
    assert_close(io.dest_grads(facts, fgrads), want_dst, F64, what="destination grads")
    assert model.cfg.use_split_qkv_input and model.cfg.use_attn_result  # flags restored


def test_eap_equals_split_hook_computation():
    model = wb.build_gpt2(seed=3, n_layers=2, d_model=32, n_heads=4, d_vocab=40, dtype=torch.float64)
    g = torch.Generator().manual_seed(2)
    clean = torch.randint(1, 40, (4, 6), generator=g)
    corrupt = clean.clone()
    corrupt[:, :2] = torch.randint(1, 40, (4, 2), generator=g)
    task = wb.Task(clean, corrupt, clean[:, 1], corrupt[:, 1])  # position 1 differs: answer != wrong
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, acts, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    ref = edge_scores_from_grads(graph.stack_sources(corr) - graph.stack_sources(acts), graph.stack_dest_grads(grads), graph)
    got = wb.eap(model, task)
    assert got.values.abs().max() > 1e-3  # not a zero metric
    assert_close(got, ref.mean(0)[graph.edge_mask], F64)
