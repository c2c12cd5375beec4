"""The family matrix: every method on every supported family, exact against an independent
reference (``tests/_reference.py``: plain TL hooks, autograd, one patch per forward) in float64,
or a named refusal. Rows: ``tests/_families.py``. Float32 is checked against float64 at the end.

=================== ==================================================================
method              reference (float64, tolerance 1e-9 relative to the largest value)
=================== ==================================================================
patch_nodes         one forward per node (head, q, k, v, pattern, mlp, neuron)
atp                 autograd on zero perturbations; + central finite differences (1e-6)
atp_qk_fix          the model's own pattern with the node patched: sum (A' - A) dM/dA
graddrop, atp_star  the same with layer l's writes detached in pass l
eap                 autograd at every destination input (split hooks); + finite differences
the graph           perturb each source's write, see which destination inputs move
patch_edges         one forward per edge (delta added at the destination input)
eap_ig              reference gradients at each path point (both variants); completeness ~1/m
eap_gp              the GradPath re-derived with autograd, then reference gradients
circuits            all edges patched = corrupt run, none = clean (logits and metrics)
fn_bound            joint patching of each sampled subset, one forward each
diagnose            runs; its verification patches equal the reference
=================== ==================================================================
"""

from __future__ import annotations

import _families as F
import _reference as R
import pytest
import torch

import workbook as wb
from tests._tol import assert_close, scale_of
from workbook.analysis import circuits
from workbook.attribution.fn_bound import false_negative_bound, patch_node_subsets, sample_masks
from workbook.core.errors import UnsupportedArchitectureError
from workbook.core.runs import baselines
from workbook.patching.edges import edge_patched_metric

# Scores values are compared at the precision Scores stores (float64 once it keeps float64).
STORES_F64 = wb.Scores(["x"], torch.tensor([1.0], dtype=torch.float64)).values.dtype == torch.float64
TOL = 1e-9 if STORES_F64 else 1e-6


def tol(family: str) -> float:
    """Exactness in float64: 1e-9, or 1e-6 where the family's own modules round to float32 inside."""
    return 1e-6 if family in F.FLOAT32_INSIDE else TOL


def metric_scale(model, task) -> float:
    """max(|M(clean)|, |M(corrupt)|): effects are differences of metrics of this size, and float32
    rounding inside a model (F.FLOAT32_INSIDE) is relative to it, not to each node's own score."""
    return scale_of(baselines(model, task))


def fd_tol(family: str) -> tuple[float, float]:
    """(step, tolerance) of the central differences: a larger step where float32 rounding inside the model adds noise."""
    return (1e-2, 1e-3) if family in F.FLOAT32_INSIDE else (3e-3, 1e-8)


@pytest.fixture(scope="module")
def cases():
    made = {}

    def get(family, dtype=torch.float64):
        key = (family, dtype)
        if key not in made:
            made[key] = (F.build(family, dtype), F.task())
        return made[key]

    return get


def close(got: dict, want: dict, tol: float = TOL, what: str = "", scale: float = 0.0):
    """Every name of ``want`` present in ``got`` and equal up to ``tol * max(max|want|, scale)``
    (``scale``: the metrics' size, ``metric_scale``; the 1e-3 only guards an all-zero reference)."""
    want = {k: float(v.mean()) if isinstance(v, torch.Tensor) else float(v) for k, v in want.items()}
    missing = [k for k in want if k not in got]
    assert not missing, f"{what}: missing {missing[:4]}"
    scale = max(1e-3, scale, max(abs(v) for v in want.values()))
    worst = max(want, key=lambda k: abs(got[k] - want[k]))
    assert abs(got[worst] - want[worst]) <= tol * scale, f"{what}: {worst} {got[worst]!r} vs reference {want[worst]!r} (scale {scale:.3g})"


@pytest.mark.parametrize("family", F.FAMILIES)
def test_node_patching_and_atp(family, cases):
    model, task = cases(family)
    m_scale = metric_scale(model, task)
    for kind in ("head", "q", "k", "v", "pattern", "mlp", "neuron"):
        got = wb.patch_nodes(model, task, kind)
        slots = R.node_slots(model, kind)
        assert got.names == [n for n, _, _ in slots], f"{family} {kind}: node names/order"
        if kind != "neuron":  # 64 neurons: AtP below covers them; patch a sample
            close(got.to_dict(), R.patch_nodes(model, task, kind), tol=tol(family), scale=m_scale, what=f"{family} patch_nodes({kind})")
        else:
            sample = slots[::9]
            close(got.to_dict(), R.patch_nodes(model, task, kind, sample), tol=tol(family), scale=m_scale, what=f"{family} patch_nodes(neuron)")
        est = wb.atp(model, task, kind)
        ref = R.atp(model, task, kind)
        close(est.to_dict(), ref, tol=tol(family), scale=m_scale, what=f"{family} atp({kind})")
        want = torch.stack([ref[n] for n in est.names], 1)
        assert_close(est.per_example, want, tol(family), max(scale_of(want), m_scale), f"{family} atp({kind}) per example")
    # the autograd reference (equal to AtP above) against finite differences, which use no gradient at all
    step, fdt = fd_tol(family)
    ref = {**R.atp(model, task, "head"), **R.atp(model, task, "k"), **R.atp(model, task, "mlp")}
    fd_scale = scale_of([float(v.mean()) for v in ref.values()])  # the size of the AtP scores
    for name, hook, idx in R.node_slots(model, "head")[:2] + R.node_slots(model, "k")[-1:] + R.node_slots(model, "mlp")[-1:]:
        fd = R.finite_difference(model, task, hook, idx, step)
        assert_close(fd, float(ref[name].mean()), fdt, fd_scale, f"{family} {name}: AtP vs FD")


@pytest.mark.parametrize("family", F.FAMILIES)
def test_qk_fix_graddrop_atp_star(family, cases):
    model, task = cases(family)
    m_scale = metric_scale(model, task)
    for kind in ("q", "k"):
        for per_pos in (False, True):
            got = wb.atp_qk_fix(model, task, kind, per_position=per_pos)
            close(got.to_dict(), R.qk_fix(model, task, kind, per_pos), tol=tol(family), scale=m_scale, what=f"{family} qk_fix({kind}, per_position={per_pos})")
    # GradDrop: pass l detaches layer l's writes; sum_l |pass_l| / (L - 1) per example
    L = model.cfg.n_layers
    for kinds, qk in ((("head", "v", "mlp"), False), (("q", "k"), True)):
        got = wb.graddrop(model, task, kinds, qk_fix=qk)
        refs = []
        for l in range(L):
            ref = {}
            for k in kinds:
                ref.update(R.qk_fix(model, task, k, drop_layer=l) if qk else R.atp(model, task, k, drop_layer=l))
            refs.append(ref)
        per_pass = got.info["per_pass"]
        scale = max(scale_of(*(v for r in refs for v in r.values())), m_scale)
        for j, name in enumerate(got.names):
            want = torch.stack([refs[l][name] for l in range(L)])  # [L, B]
            assert_close(per_pass[:, :, j], want, tol(family), scale, f"{family} graddrop {name} per pass")
            assert_close(got[name], float((want.abs().sum(0) / (L - 1)).mean()), tol(family), scale, f"{family} graddrop {name}")
    star = wb.atp_star(model, task, ("q", "k", "head"))
    plain = wb.graddrop(model, task, ("q", "k", "head"), qk_fix=True)
    assert torch.equal(star.values, plain.values)  # the same computation
    star1 = wb.atp_star(model, task, ("q", "k", "head"), use_graddrop=False).to_dict()
    close(star1, {**R.qk_fix(model, task, "q"), **R.qk_fix(model, task, "k"), **R.atp(model, task, "head")}, tol=tol(family), scale=m_scale, what=f"{family} AtP+QK fix")


@pytest.mark.parametrize("family", F.EDGE_FAMILIES)
def test_graph_has_exactly_the_real_edges(family, cases):
    model, task = cases(family)
    graph = wb.Graph.from_model(model)
    assert set(graph.sources) == {n for n, _, _ in R.source_slots(model)}
    assert list(graph.destinations) == [n for n, _, _ in R.dest_slots(model)]
    real = R.edge_dependencies(model, task)
    ours = {tuple(e.split("->")) for e in graph.edges}
    assert ours == real, f"{family}: extra {sorted(ours - real)[:4]}, missing {sorted(real - ours)[:4]}"
    if family == "neox":
        assert "L0H0->MLP0" not in graph.edges and "L0H0->MLP1" in graph.edges


@pytest.mark.parametrize("family", F.EDGE_FAMILIES)
def test_eap_and_edge_patching(family, cases):
    model, task = cases(family)
    m_scale = metric_scale(model, task)
    deltas = R.source_deltas(model, task)
    ref = R.eap(model, task, deltas)
    got = wb.eap(model, task)
    close(got.to_dict(), {f"{u}->{v}": x for (u, v), x in ref.items() if f"{u}->{v}" in got}, tol=tol(family), scale=m_scale, what=f"{family} eap")
    step, fdt = fd_tol(family)
    for e in got.names[:: max(1, len(got) // 5)]:
        u, v = e.split("->")
        hook, idx = next((h, i) for n, h, i in R.dest_slots(model) if n == v)
        shaped = torch.zeros_like(R.cache(model, task.clean, [hook])[hook])
        shaped[idx] = deltas[u]
        fd = R.finite_difference_add(model, task, hook, shaped, step)
        assert_close(fd, ref[(u, v)], fdt, scale_of(list(ref.values())), f"{family} {e}: EAP vs FD")
    truth = wb.patch_edges(model, task)
    assert truth.names == got.names
    close(truth.to_dict(), {e: R.patch_edge(model, task, *e.split("->"), deltas=deltas) for e in truth.names}, tol=tol(family), scale=m_scale, what=f"{family} patch_edges")


@pytest.mark.parametrize("family", F.EDGE_FAMILIES)
def test_eap_ig_and_eap_gp(family, cases):
    model, task = cases(family)
    m_scale = metric_scale(model, task)
    for variant in ("inputs", "activations"):
        got = wb.eap_ig(model, task, steps=2, variant=variant)
        ref = R.eap_ig(model, task, 2, variant)
        close(got.to_dict(), {f"{u}->{v}": x for (u, v), x in ref.items() if f"{u}->{v}" in got}, tol=tol(family), scale=m_scale, what=f"{family} eap_ig {variant}")
    got = wb.eap_gp(model, task, steps=2)
    ref = R.eap_gp(model, task, 2)
    # families that compute in float32 inside: the path is float32-exact only (fused and per-head-split
    # runs of the same float64 model step ~5e-7 apart), and two normalised steps compound that
    gp_tol = 1e-5 if family in F.FLOAT32_INSIDE else max(1e-7, tol(family))
    close(got.to_dict(), {f"{u}->{v}": x for (u, v), x in ref.items() if f"{u}->{v}" in got}, tol=gp_tol, scale=m_scale, what=f"{family} eap_gp")
    # completeness: the embed's edges sum to M(corrupt) - M(clean) up to the Riemann error, O(1/m)
    clean_v, corr_v = baselines(model, task)
    err = []
    for m in (16, 64, 256):
        s = wb.eap_ig(model, task, steps=m)
        err.append(abs(sum(v for e, v in s.to_dict().items() if e.startswith("embed->")) - (corr_v - clean_v)))
    assert err[2] < err[1] < err[0], f"{family}: IG completeness error does not fall: {err}"
    assert 0.15 < err[2] / err[1] < 0.4, f"{family}: IG completeness error not ~1/m (x4 steps should give x0.25): {err}"
    # the Riemann error scales with the integrand (the logits), not with the net gap (gemma's is
    # 1% of its logits): measured <= 3e-3 x max|logits| at m = 256
    logit_scale = scale_of(R.logits(model, task.clean))
    assert err[2] < 5e-3 * logit_scale, f"{family}: IG completeness error {err} (logits {logit_scale:.3g})"


@pytest.mark.parametrize("family", F.EDGE_FAMILIES)
def test_circuits(family, cases):
    model, task = cases(family)
    graph = wb.Graph.from_model(model)
    corrupt_logits = R.logits(model, task.corrupt)
    clean_logits = R.logits(model, task.clean)
    assert_close(wb.run_with_patched_edges(model, task, graph.edge_mask), corrupt_logits, tol(family), what="all edges patched")
    assert_close(wb.run_with_patched_edges(model, task, torch.zeros_like(graph.edge_mask)), clean_logits, tol(family), what="none")
    # the circuits' metrics (faithfulness's numerator and denominator; tests/test_circuits.py: its ratio)
    clean_v, corrupt_v = R.metric(task, clean_logits).item(), R.metric(task, corrupt_logits).item()
    m_scale = max(abs(clean_v), abs(corrupt_v))
    assert_close(circuits.evaluate(model, task, circuits.Circuit.full(graph)), clean_v, tol(family), m_scale, "full circuit")
    assert_close(circuits.evaluate(model, task, circuits.Circuit.empty(graph)), corrupt_v, tol(family), m_scale, "empty circuit")
    single = wb.patch_edges(model, task, edges=list(graph.edges[-3:]))
    for e in single.names:
        assert_close(edge_patched_metric(model, task, [e]) - clean_v, single[e], TOL, m_scale, e)
    # greedy circuits stay connected on grouped k/v destinations too
    c = circuits.greedy(wb.eap(model, task), 12, graph)
    assert c.n_edges > 0 and circuits.prune(c.mask, graph).equal(c.mask)


@pytest.mark.parametrize("family", F.FAMILIES)
def test_fn_bound_and_diagnose(family, cases):
    model, task = cases(family)
    slots = R.node_slots(model, "head")
    names = [n for n, _, _ in slots]
    masks = sample_masks(4, len(names), seed=1)
    got = patch_node_subsets(model, task, "head", names, masks)
    m_scale = metric_scale(model, task)
    for r in range(4):
        want = R.patch_node_set(model, task, [s for s, keep in zip(slots, masks[r]) if keep])
        assert_close(float(got[r]), want, tol(family), m_scale, f"{family} subset {r}")
    bound = false_negative_bound(model, task, "head", top_k=2, n_samples=8)
    ref = R.patch_nodes(model, task, "head", [s for s in slots if s[0] in bound.verified.names])
    close(bound.verified.to_dict(), ref, tol=tol(family), scale=m_scale, what=f"{family} fn_bound verified")
    report = wb.diagnose(model, task, steps=2)
    for f in report.findings:
        if f.exact is not None and not ("->" in f.component or f.component == "embed"):
            kind = "mlp" if f.component.startswith("MLP") else ("head" if "." not in f.component else f.component[-1])
            want = R.patch_nodes(model, task, kind, [s for s in R.node_slots(model, kind) if s[0] == f.component])
            assert_close(f.exact, want[f.component], tol(family), m_scale, f"{family} diagnose {f.component}")
    if family == "gemma2":
        assert {"cancellation", "flat_gradient", "path_saturation"} <= set(report.skipped)


def test_gemma2_refuses_edge_methods_by_name(cases):
    model, task = cases("gemma2")
    for fn in (wb.eap, wb.patch_edges, lambda m, t: wb.eap_ig(m, t, steps=2), lambda m, t: wb.eap_gp(m, t, steps=2),
               lambda m, t: wb.Graph.from_model(m)):
        with pytest.raises(UnsupportedArchitectureError, match="post-attention RMSNorm"):
            fn(model, task)


@pytest.mark.parametrize("family", F.FAMILIES)
def test_float32_matches_float64(family, cases):
    """The same model in float32 gives the float64 numbers to float32 accuracy, for every method."""
    m64, task = cases(family)
    m32, _ = cases(family, torch.float32)
    calls = {
        "patch_nodes": lambda m: wb.patch_nodes(m, task, "head"),
        "atp": lambda m: wb.atp(m, task, ("head", "q", "k", "v", "mlp")),
        "qk_fix": lambda m: wb.atp_qk_fix(m, task),
        "atp_star": lambda m: wb.atp_star(m, task),
        "fn_bound": lambda m: false_negative_bound(m, task, "head", top_k=2, n_samples=8).verified,
    }
    if family in F.EDGE_FAMILIES:
        calls.update({
            "eap": lambda m: wb.eap(m, task),
            "eap_ig": lambda m: wb.eap_ig(m, task, steps=3),
            "eap_ig_act": lambda m: wb.eap_ig(m, task, steps=2, variant="activations"),
            "eap_gp": lambda m: wb.eap_gp(m, task, steps=2),
            "patch_edges": lambda m: wb.patch_edges(m, task),
        })
    for name, call in calls.items():
        a, b = call(m32), call(m64)
        assert a.names == b.names
        scale = max(1e-2, b.values.abs().max().item())
        err = (a.values.double() - b.values.double()).abs().max().item()
        assert err <= 2e-4 * scale, f"{family} {name}: float32 vs float64 differ by {err:.3g} (scale {scale:.3g})"
