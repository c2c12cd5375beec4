"""AtP: against TransformerLens' attribution_patch, against directional derivatives, invariants."""

import pytest
import torch
from transformer_lens.tools.analysis.attribution_patching import EdgeAttributionConfig, attribution_patch

import workbook as wb
from tests._tol import F64, assert_close, scale_of
from workbook.models.loading import gpt2_config


def random_task(d_vocab=40, B=4, S=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(1, d_vocab, (B, S), generator=g)
    corrupt = clean.clone()
    corrupt[:, :3] = torch.randint(1, d_vocab, (B, 3), generator=g)
    return wb.Task(clean, corrupt, clean[:, 1], corrupt[:, 1])


@pytest.fixture(scope="module")
def model():
    """float64: every comparison below is an exactness claim (tests/README.md)."""
    return wb.build_gpt2(seed=2, n_layers=2, d_model=32, n_heads=4, d_vocab=40, d_mlp=64, dtype=torch.float64)


def test_matches_transformer_lens_attribution_patch(model):
    """TL is denoising and per position; our denoising per-position scores must equal it."""

    task = random_task()
    single = lambda logits: task.subset([0]).metric_value(logits)  # noqa: E731
    ours = wb.atp(model, task.subset([0]), ("head", "mlp"), per_position=True, direction="denoising")
    theirs = attribution_patch(model, task.clean[:1], task.corrupt[:1], single, EdgeAttributionConfig()).node_scores
    names = {}
    for node, value in theirs.items():
        if node.kind == "attn_head_out":
            names[f"L{node.layer}H{node.head}@{node.position}"] = value
        elif node.kind == "mlp_out":
            names[f"MLP{node.layer}@{node.position}"] = value
    assert_close([ours[n] for n in names], list(names.values()), F64)


def test_atp_is_the_directional_derivative():
    """float64: (M(clean + eps*delta at node) - M(clean - eps*delta at node)) / 2 eps -> AtP(node)."""
    hf_cfg = gpt2_config(n_layers=2, d_model=32, n_heads=2, d_vocab=40)
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    m = wb.bridge_from_hf(GPT2LMHeadModel(hf_cfg), dtype=torch.float64)
    task = random_task()
    est = wb.atp(m, task, ("q", "neuron"))
    _, clean = m.run_with_cache(task.clean)
    _, corr = m.run_with_cache(task.corrupt)
    eps = 1e-3
    with torch.no_grad():
        for name, hook, idx in (("L1H1.q", "blocks.1.attn.hook_q", (slice(None), slice(None), 1)),
                                ("L0N5", "blocks.0.mlp.hook_post", (slice(None), slice(None), 5))):
            delta = corr[hook][idx] - clean[hook][idx]

            def f(t, hook=hook, idx=idx, delta=delta):
                def fn(act, hook):
                    act = act.clone()
                    act[idx] = act[idx] + t * delta
                    return act

                return float(task.metric_value(m.run_with_hooks(task.clean, fwd_hooks=[(hook, fn)])))

            fd = (f(eps) - f(-eps)) / (2 * eps)
            # central differences: truncation O(eps^2), rounding ~1e-16 |M| / eps, both measured
            # below 1e-10 of the scores' size (max |AtP|)
            assert_close(fd, est[name], 1e-6, scale_of(est), name)


def test_per_position_scores_sum_to_all_positions(model):
    task = random_task()
    a = wb.atp(model, task, ("head", "k", "pattern", "neuron"))
    b = wb.atp(model, task, ("head", "k", "pattern", "neuron"), per_position=True)
    for name in ["L0H1", "L1H3.k", "L1H0.pattern", "L1N9"]:
        parts = [v for n, v in b.to_dict().items() if n.split("@")[0] == name]
        assert_close(sum(parts), a[name], F64, scale_of(parts, a[name]), name)


def test_identical_inputs_give_zero(model):
    task = random_task()
    same = wb.Task(task.clean, task.clean.clone(), task.answer, task.wrong)
    assert wb.atp(model, same, ("head", "q", "mlp", "neuron")).values.abs().max() == 0


def test_names_line_up_with_ground_truth(model):
    task = random_task()
    for kind in ("head", "q", "pattern", "mlp"):
        assert wb.atp(model, task, kind).names == wb.patch_nodes(model, task, kind).names


def test_eap_edges_out_of_a_source_sum_to_node_atp(model):
    task = random_task()
    e = wb.eap(model, task).to_dict()
    a = wb.atp(model, task, ("head", "mlp"))
    for src in ["L0H2", "L1H0", "MLP0", "MLP1"]:
        parts = [v for n, v in e.items() if n.startswith(src + "->")]
        assert_close(sum(parts), a[src], F64, scale_of(parts, a[src]), src)
