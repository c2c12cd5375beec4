"""Which attribution estimates not to trust, and why: a diagnoser that names the failure and the fix.

:func:`diagnose` runs cheap probes on a model and task and returns a :class:`Diagnosis`:

==================  ==================================================================  =============
failure             evidence                                                            fix
==================  ==================================================================  =============
``saturation``      a query/key whose clean attention rows are saturated (max prob       AtP* QK fix
                    >= ``saturation``) yet change a lot (total variation >=
                    ``pattern_change``) when it is patched — computed exactly by
                    re-softmaxing; and AtP disagrees with the QK fix. Or a predicted
                    false negative of AtP that the QK fix ranks in its top K (below).
``cancellation``    a source whose outgoing edge contributions (EAP, per edge) are       AtP* GradDrop
                    large but cancel in the sum, e.g. its direct effect on the logits
                    against the rest (``sum|edges| >= ratio * |sum edges|``).
``flat_gradient``   EAP-IG's node total ``>= ratio x`` EAP's (the clean-point            EAP-IG
                    gradient misses an effect the path average sees), large, or a
                    predicted false negative of EAP that EAP-IG ranks in its top K.
``path_saturation`` the straight IG path is damped too: EAP-IG with ``4 x steps`` moves     EAP-GP / more
                    the score by more than half (the few path points land on flat        IG steps
                    stretches), or EAP-GP's total is ``>= ratio x`` EAP's and EAP-IG's.
==================  ==================================================================  =============

"Large" means at least ``relative`` x the task's total effect ``|M(clean) - M(corrupt)|``.
That misses what matters to a screen in a deep model, where a component can carry a few percent
of the total and still be among the most important of its kind. So the ``saturation`` and
``flat_gradient`` probes also flag **predicted false negatives**: components that the fix ranks
in its top ``K`` of their family (``K`` = how many reach ``tau`` x the fix's largest estimate;
families: q/k nodes, source nodes, edges) while the suspect method ranks them outside it, with
the two estimates ``ratio`` x apart (and, for saturation, the exact pattern moving by at least
``pattern_change``), in a family whose largest fixed estimate reaches ``family_floor`` x the
total effect (below that nothing in the family matters). The same definition of a false
negative as :func:`workbook.core.scores.false_negatives`, with the fix standing in for the truth.

With ``verify=True`` (default) every flagged component is activation-patched (one forward
each): a finding whose estimate agrees with patching is kept but marked as a false alarm and
does not count as untrustworthy. A predicted false negative is confirmed when the estimate
misses the patched effect by at least half and the patched effect is at least ``tau`` x the
fix's largest estimate in the family (it really is among the important ones).

Sign convention: noising, ``effect(n) = M(clean with n := corrupt) - M(clean)``. Source node
totals are the sum of the source's outgoing edge scores (which equals the source's AtP).
The findings and the report they make are in :mod:`workbook.analysis.diagnosis`; the cheap
measurements behind the probes in :mod:`workbook.analysis.probes`; here, one function per probe
and the verification by activation patching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from workbook.analysis.diagnosis import CHECKS, FIXES, Diagnosis, Finding, applies
from workbook.analysis.probes import pattern_probe, predicted_misses, source_totals
from workbook.arch import adapter_for, check_model
from workbook.arch.graph import Graph
from workbook.attribution.atp import atp
from workbook.attribution.eap import eap
from workbook.attribution.eap_gp import eap_gp
from workbook.attribution.eap_ig import eap_ig
from workbook.attribution.graddrop import graddrop
from workbook.attribution.qk_fix import atp_qk_fix
from workbook.core.errors import UnsupportedArchitectureError, WorkbookError, check_tokens
from workbook.core.runs import baselines as metric_baselines
from workbook.core.scores import Scores
from workbook.core.task import Task
from workbook.patching.edges import patch_edges
from workbook.patching.nodes import patch_nodes
from workbook.patching.verify import verify_top

__all__ = ["Finding", "Diagnosis", "diagnose", "FIXES", "CHECKS", "pattern_probe", "source_totals",
           "predicted_misses", "verify_top"]


def _ordinal(rank: float) -> str:
    r = int(rank)
    return f"{r}" + ("th" if 10 <= r % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(r % 10, "th"))


def _family_misses(suspect, better, names: list[str], tau: float, floor: float) -> dict[str, dict[str, float]]:
    """:func:`predicted_misses` over ``names``, or ``{}`` when the family's largest |better| is below ``floor``."""
    b = {n: float(better[n]) for n in names}
    if not b or max(abs(v) for v in b.values()) < floor:
        return {}
    return predicted_misses({n: float(suspect[n]) for n in names}, b, tau)


def _node_kind(component: str) -> tuple[str, str] | None:
    """``(what, name)`` for :func:`patch_nodes`, or ``None`` when not a patchable node."""
    if component.startswith("MLP"):
        return "mlp", component
    if component.endswith(".q") or component.endswith(".k"):
        return component.rsplit(".", 1)[1], component
    if component.startswith("L") and "H" in component and "." not in component:
        return "head", component
    return None


def _judge(f: Finding, exact: float, total: float, relative: float) -> None:
    """Confirmed = the estimate misses the patched effect by a large share of it and by a large
    absolute amount. A cancelling total is the small difference of big terms, so a smaller
    share (0.3 instead of 0.5) already matters there. For a predicted false negative the
    absolute amount is replaced by: the patched effect reaches the family's importance floor
    (``tau`` x the fix's largest estimate), i.e. the component really is among the important ones."""
    f.exact = float(exact)
    err = abs(f.estimate - f.exact)
    share = 0.3 if f.failure == "cancellation" else 0.5
    large = err >= relative * total
    if "floor" in f.evidence:
        large = large or abs(f.exact) >= f.evidence["floor"]
    f.confirmed = err >= share * max(abs(f.exact), abs(f.estimate)) and large


def _verify(model, task: Task, findings: list[Finding], total: float, relative: float, embed_effect: float) -> None:
    """Activation-patch the flagged nodes/edges (one batched sweep per kind) and judge each finding."""
    by_kind: dict[str, list[Finding]] = {}
    for f in findings:
        if f.component == "embed":
            _judge(f, embed_effect, total, relative)  # patching the embedding = the corrupt run
            continue
        kind = ("edge", f.component) if "->" in f.component else _node_kind(f.component)
        if kind is not None:
            by_kind.setdefault(kind[0], []).append(f)
    for what, group in by_kind.items():
        names = sorted({f.component for f in group})
        exact = patch_edges(model, task, edges=names) if what == "edge" else patch_nodes(model, task, what, nodes=names)
        for f in group:
            _judge(f, exact[f.component], total, relative)


# ---------------------------------------------------------------- one function per probe

@dataclass
class _Probe:
    """What every probe needs: the model and task, the thresholds, and where it records skips."""

    model: object
    task: Task
    total: float
    big: float
    ratio: float
    tau: float
    floor: float
    steps: int
    graph: Graph | None
    skipped: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)


def _saturation(pr: _Probe, saturation: float, pattern_change: float) -> list[Finding]:
    """Queries/keys whose exact pattern change AtP's tangent misses (and the QK fix sees)."""
    try:
        probe = pattern_probe(pr.model, pr.task, saturation)
        plain, fixed = atp(pr.model, pr.task, ("q", "k")), atp_qk_fix(pr.model, pr.task, ("q", "k"))
    except UnsupportedArchitectureError as err:  # the QK fix refused this attention variant
        pr.skipped["saturation"] = str(err)
        return []
    pr.ran.append("saturation")
    misses = _family_misses(plain, fixed, list(probe), pr.tau, pr.floor) if probe else {}
    out = []
    for name, ev in probe.items():
        gap = abs(fixed[name] - plain[name])
        ranked = (name in misses and ev["change"] >= pattern_change
                  and abs(fixed[name]) >= pr.ratio * abs(plain[name]))
        if ev["saturated_change"] >= pattern_change and gap >= pr.big:
            why = (f"saturated attention (max prob >= {saturation}) whose pattern still moves by "
                   f"{ev['saturated_change']:.2f} (TV) when patched")
        elif ranked:
            m = misses[name]
            why = (
                f"AtP ranks it {_ordinal(m['rank_suspect'])} of the q/k nodes, the QK fix {_ordinal(m['rank_better'])} "
                f"(top {m['K']:.0f}): a predicted false negative. On the row the metric reads (clean max "
                f"prob {ev['read_peak']:.2f}) the pattern moves by {ev['read_change']:.2f} (TV); the "
                f"softmax's tangent predicts {ev['read_linear']:.2f}"
            )
        else:
            continue
        out.append(
            Finding(
                name,
                "saturation",
                f"{why}; AtP {plain[name]:.3g} vs QK fix {fixed[name]:.3g}",
                estimate=float(plain[name]),
                better=float(fixed[name]),
                evidence={
                    **ev,
                    "atp": float(plain[name]),
                    "qk_fix": float(fixed[name]),
                    **(misses[name] if ranked else {}),
                },
            )
        )
    return out


def _cancellation(pr: _Probe, base: dict[str, dict[str, float]]) -> list[Finding]:
    """Sources whose outgoing edge terms are large with both signs and cancel in the sum."""
    pr.ran.append("cancellation")
    gd = None
    try:
        gd = graddrop(pr.model, pr.task, what=("head", "mlp"))
    except Exception as err:  # a probe must not sink the report
        pr.skipped["cancellation (GradDrop part)"] = f"{type(err).__name__}: {err}"
    out = []
    for src, t in base.items():
        gd_val = float(gd[src]) if gd is not None and src in gd else None
        if min(t["positive"], -t["negative"]) >= pr.big and t["abs_sum"] >= pr.ratio * abs(t["total"]):
            why = (
                f"outgoing edge terms sum to {t['total']:.3g} but their magnitudes to {t['abs_sum']:.3g} "
                f"(direct {t['direct']:.3g} vs indirect {t['indirect']:.3g})"
            )
            if gd_val is not None:
                why += f"; GradDrop {gd_val:.3g}"
            out.append(
                Finding(
                    src,
                    "cancellation",
                    why,
                    estimate=t["total"],
                    better=gd_val,
                    evidence={**t, **({"graddrop": gd_val} if gd_val is not None else {})},
                )
            )
    return out


def _totals(tab: dict[str, dict[str, float]]) -> dict[str, float]:
    return {n: v["total"] for n, v in tab.items()}


def _edge_view(scores: Scores) -> dict[str, dict[str, float]]:
    return {e: {"total": v} for e, v in scores.to_dict().items()}


def _flat_gradient(pr: _Probe, tables) -> list[Finding]:
    """Nodes/edges where EAP-IG sees ``ratio`` x what EAP's clean-point gradient sees."""
    pr.ran.append("flat_gradient")
    out = []
    for level, eap_t, ig_t, _ in tables:
        misses = _family_misses(_totals(eap_t), _totals(ig_t), list(ig_t), pr.tau, pr.floor)
        for name, t in ig_t.items():
            e, i = eap_t[name]["total"], t["total"]
            if abs(i) < pr.ratio * abs(e) or not (abs(i) >= pr.big or name in misses):
                continue
            msg = f"gradient flat at the clean point ({level}): EAP {e:.3g} vs EAP-IG {i:.3g}"
            if abs(i) < pr.big:
                m = misses[name]
                msg += (
                    f"; EAP ranks it {_ordinal(m['rank_suspect'])}, EAP-IG {_ordinal(m['rank_better'])} "
                    f"(top {m['K']:.0f}): a predicted false negative"
                )
            out.append(
                Finding(
                    name,
                    "flat_gradient",
                    msg,
                    estimate=e,
                    better=i,
                    evidence={"eap": e, "eap_ig": i, **(misses[name] if abs(i) < pr.big else {})},
                )
            )
    return out


def _path_saturation(pr: _Probe, tables) -> list[Finding]:
    """Where EAP-IG with 4 x the steps moves by half, or EAP-GP sees ``ratio`` x EAP and EAP-IG."""
    pr.ran.append("path_saturation")
    ig_fine = eap_ig(pr.model, pr.task, steps=4 * pr.steps)
    fine = {"node": source_totals(ig_fine, pr.graph), "edge": _edge_view(ig_fine)}
    out = []
    for level, eap_t, ig_t, gp_t in tables:
        for name, t in ig_t.items():
            e, i, f = eap_t[name]["total"], t["total"], fine[level][name]["total"]
            g = gp_t[name]["total"] if gp_t is not None else None
            unconverged = abs(f - i) >= pr.big and abs(f - i) >= 0.5 * abs(f)
            gp_gap = g is not None and abs(g) >= pr.big and abs(g) >= pr.ratio * max(abs(e), abs(i))
            if unconverged or gp_gap:
                msg = (
                    f"the straight IG path is damped ({level}): EAP {e:.3g}, EAP-IG {i:.3g} "
                    f"with {pr.steps} steps but {f:.3g} with {4 * pr.steps}"
                )
                if g is not None:
                    msg += f", EAP-GP {g:.3g}"
                ev = {"eap": e, "eap_ig": i, "eap_ig_fine": f, **({"eap_gp": g} if g is not None else {})}
                out.append(Finding(name, "path_saturation", msg, estimate=i, better=g if gp_gap else f, evidence=ev))
    return out


def _edge_probes(pr: _Probe, probes: list[str]) -> list[Finding]:
    """Cancellation, flat gradient and path saturation: the probes that read edge scores."""
    eap_scores = eap(pr.model, pr.task)
    base = source_totals(eap_scores, pr.graph)
    findings = _cancellation(pr, base) if "cancellation" in probes else []
    if not {"flat_gradient", "path_saturation"} & set(probes):
        return findings
    ig = eap_ig(pr.model, pr.task, steps=pr.steps)
    gp = eap_gp(pr.model, pr.task, steps=pr.steps) if "path_saturation" in probes else None
    tables = [
        ("node", base, source_totals(ig, pr.graph), source_totals(gp, pr.graph) if gp is not None else None),
        ("edge", _edge_view(eap_scores), _edge_view(ig), _edge_view(gp) if gp is not None else None),
    ]
    if "flat_gradient" in probes:
        findings += _flat_gradient(pr, tables)
    if "path_saturation" in probes:
        findings += _path_saturation(pr, tables)
    return findings


def _supported(model, probes: Sequence[str], skipped: dict[str, str]) -> list[str]:
    """``probes`` less those the model's family refuses (each named in ``skipped`` with the reason)."""
    ad = adapter_for(model)
    out = list(probes)
    for capability, needs in (
        ("qk_fix", ("saturation",)),
        ("edges", ("cancellation", "flat_gradient", "path_saturation")),
    ):
        if not ad.supports(capability):
            for p in needs:
                if p in out:
                    skipped[p] = f"unsupported on {ad.arch}: {ad.refusals[capability]}"
            out = [p for p in out if p not in needs]
    return out


# ---------------------------------------------------------------- the diagnoser


def diagnose(
    model,
    task: Task,
    scores: Scores | None = None,
    components: Sequence[str] | None = None,
    probes: Sequence[str] = CHECKS,
    steps: int = 5,
    saturation: float = 0.99,
    pattern_change: float = 0.3,
    relative: float = 0.1,
    ratio: float = 3.0,
    verify: bool = True,
    tau: float = 0.5,
    family_floor: float = 0.05,
) -> Diagnosis:
    """Flag attribution estimates that are likely wrong, say why, and recommend the fix.

    Args:
        model: a prepared TransformerBridge of a supported family (probes a family cannot run,
            e.g. edge probes on Gemma 2, are listed in ``Diagnosis.skipped`` with the reason).
        task: clean/corrupt pairs and the metric (noising convention).
        scores: optional estimates to judge (any method); their names become ``components``.
        components: restrict the report to these names (nodes ``L0H1``, ``MLP0``, ``L1H2.q``
            or edges ``src->dst``); default: every component probed.
        probes: subset of :data:`CHECKS`.
        steps: path points for EAP-IG / EAP-GP.
        saturation: clean max attention probability above which a row counts as saturated.
        pattern_change: total-variation distance that counts as "the pattern really changes".
        relative: "large" = at least this fraction of ``|M(clean) - M(corrupt)|``.
        ratio: how much bigger one term must be to call a gap (cancellation / flat gradients).
        verify: activation-patch every flagged node and mark findings the patching refutes.
        tau: a predicted false negative is in the fix's top K, K = how many reach ``tau`` x its
            largest estimate in the family (module docstring).
        family_floor: predicted false negatives are only looked for in a family whose largest
            fixed estimate reaches ``family_floor`` x ``|M(clean) - M(corrupt)|``.

    Returns:
        :class:`Diagnosis` (``print`` it for the report).
    """
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    unknown = [p for p in probes if p not in CHECKS]
    if unknown:
        raise WorkbookError(f"unknown probe(s) {unknown}; choose from {list(CHECKS)}.")
    if scores is not None and components is None:
        components = list(scores.names)
    clean_v, corr_v = metric_baselines(model, task)
    total = abs(clean_v - corr_v)
    if total == 0:
        raise WorkbookError("the metric is identical on the clean and corrupt runs: there is no effect to attribute.")
    skipped: dict[str, str] = {}
    probes = _supported(model, probes, skipped)
    graph = Graph.from_model(model) if adapter_for(model).supports("edges") else None
    pr = _Probe(model, task, total, relative * total, ratio, tau, family_floor * total, steps, graph, skipped)
    findings = _saturation(pr, saturation, pattern_change) if "saturation" in probes else []
    if {"cancellation", "flat_gradient", "path_saturation"} & set(probes):
        findings += _edge_probes(pr, probes)
    if components is not None:
        findings = [f for f in findings if any(applies(f.component, c) for c in components)]
    if verify and findings:
        _verify(model, task, findings, total, relative, embed_effect=corr_v - clean_v)
    comps = list(components) if components is not None else sorted({f.component for f in findings})
    return Diagnosis(findings, comps, pr.ran, skipped, total)
