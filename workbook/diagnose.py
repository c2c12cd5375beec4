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
negative as :func:`workbook.scores.false_negatives`, with the fix standing in for the truth.

With ``verify=True`` (default) every flagged component is activation-patched (one forward
each): a finding whose estimate agrees with patching is kept but marked as a false alarm and
does not count as untrustworthy. A predicted false negative is confirmed when the estimate
misses the patched effect by at least half and the patched effect is at least ``tau`` x the
fix's largest estimate in the family (it really is among the important ones).

Sign convention: noising, ``effect(n) = M(clean with n := corrupt) - M(clean)``. Source node
totals are the sum of the source's outgoing edge scores (which equals the source's AtP).
The methods live in other modules (``qk_fix``, ``eap_ig``, ``eap_gp``, ``graddrop``) and are
imported lazily; a missing one skips its probe and says so in the report.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Sequence


from workbook.arch import adapter_for
from workbook.eap import eap
from workbook.hooks import baselines as metric_baselines
from workbook.patching import patch_edges, patch_nodes
from workbook.scores import Scores
from workbook.tasks import Task
from workbook.validate import UnsupportedArchitectureError, WorkbookError, check_model, check_tokens
from workbook.probes import pattern_probe, predicted_misses, source_totals
from workbook.verify import verify_top

__all__ = ["Finding", "Diagnosis", "diagnose", "FIXES", "CHECKS", "pattern_probe", "source_totals",
           "predicted_misses", "verify_top"]

FIXES = {
    "saturation": "AtP* QK fix (workbook.qk_fix.atp_qk_fix)",
    "cancellation": "AtP* GradDrop (workbook.graddrop.graddrop)",
    "flat_gradient": "EAP-IG (workbook.eap_ig.eap_ig)",
    "path_saturation": "EAP-GP (workbook.eap_gp.eap_gp) or EAP-IG with more steps, then verify with activation patching",
}
CHECKS = tuple(FIXES)
# When several failures hit one component, the most specific one names the fix.
PRIORITY = ("path_saturation", "saturation", "cancellation", "flat_gradient")  # most specific first


@dataclass
class Finding:
    """One flagged component. ``estimate`` is the suspect method's number, ``better`` the fix's,
    ``exact`` the activation-patching effect (``None`` when not verified)."""

    component: str
    failure: str
    message: str
    estimate: float
    better: float | None = None
    exact: float | None = None
    confirmed: bool | None = None
    evidence: dict[str, float] = field(default_factory=dict)

    @property
    def fix(self) -> str:
        return FIXES[self.failure]

    def __str__(self) -> str:
        parts = [f"{self.component}: {self.failure} — {self.message}"]
        if self.exact is not None:
            verdict = "confirmed" if self.confirmed else "false alarm: the estimate agrees"
            parts.append(f"activation patching {self.exact:.3g} vs estimate {self.estimate:.3g} ({verdict})")
        parts.append(f"fix: {self.fix}" if self.confirmed is not False else "keep the estimate")
        return "; ".join(parts)


@dataclass
class Diagnosis:
    """All findings of :func:`diagnose`, the components they cover and the probes that ran."""

    findings: list[Finding]
    components: list[str]
    probes: list[str]
    skipped: dict[str, str]
    total_effect: float

    def for_component(self, name: str) -> list[Finding]:
        """Findings that apply to ``name`` (a node, ``L1H2.q``, or an edge ``src->dst``)."""
        return [f for f in self.findings if _applies(f.component, name)]

    def failures(self, name: str | None = None, include_false_alarms: bool = False) -> set[str]:
        """Failure kinds flagged (on ``name`` or anywhere), excluding refuted ones by default."""
        found = self.findings if name is None else self.for_component(name)
        return {f.failure for f in found if include_false_alarms or f.confirmed is not False}

    def primary(self, name: str) -> str | None:
        """The failure that decides the fix for ``name`` (``None`` = nothing flagged)."""
        kinds = self.failures(name)
        return next((k for k in PRIORITY if k in kinds), None)

    def untrustworthy(self) -> list[str]:
        """Components with at least one finding not refuted by activation patching."""
        return sorted({f.component for f in self.findings if f.confirmed is not False})

    def recommendations(self) -> dict[str, str]:
        """``component -> fix`` for every untrustworthy component."""
        return {c: FIXES[self.primary(c)] for c in self.untrustworthy()}

    def __str__(self) -> str:
        lines = [f"Diagnosis: {len(self.untrustworthy())} untrustworthy component(s); "
                 f"probes run: {', '.join(self.probes) or 'none'}; total effect {self.total_effect:.3g}"]
        for probe, why in self.skipped.items():
            lines.append(f"  (probe {probe} skipped: {why})")
        for f in sorted(self.findings, key=lambda f: (f.confirmed is False, f.component)):
            lines.append("  - " + str(f))
        if not self.findings:
            lines.append("  nothing flagged: the estimates look trustworthy (spot-check the top ones with activation patching).")
        else:
            lines.append("  Always verify the final top components with activation patching (workbook.patch_nodes).")
        return "\n".join(lines)


def _owner(component: str) -> str:
    return component.split("@")[0]


def _applies(finding_component: str, name: str) -> bool:
    name = _owner(name)
    if name == finding_component:
        return True
    if "->" in finding_component:  # an edge finding also taints its source node's total
        return name == finding_component.split("->", 1)[0]
    if "->" in name:
        src, dst = name.split("->", 1)
        return finding_component in (src, dst)
    return False


def _ordinal(rank: float) -> str:
    r = int(rank)
    return f"{r}" + ("th" if 10 <= r % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(r % 10, "th"))


def _family_misses(suspect, better, names: list[str], tau: float, floor: float) -> dict[str, dict[str, float]]:
    """:func:`predicted_misses` over ``names``, or ``{}`` when the family's largest |better| is below ``floor``."""
    b = {n: float(better[n]) for n in names}
    if not b or max(abs(v) for v in b.values()) < floor:
        return {}
    return predicted_misses({n: float(suspect[n]) for n in names}, b, tau)


def _lazy(module: str, fn: str):
    try:
        return getattr(importlib.import_module(module), fn)
    except (ImportError, AttributeError) as err:
        return err


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
    big = relative * total
    findings: list[Finding] = []
    skipped: dict[str, str] = {}
    ran: list[str] = []
    ad = adapter_for(model)
    for capability, needs in (("qk_fix", ("saturation",)), ("edges", ("cancellation", "flat_gradient", "path_saturation"))):
        if not ad.supports(capability):
            for p in needs:
                if p in probes:
                    skipped[p] = f"unsupported on {ad.arch}: {ad.refusals[capability]}"
            probes = [p for p in probes if p not in needs]
    graph = ad.graph() if ad.supports("edges") else None

    if "saturation" in probes:
        atp_qk_fix = _lazy("workbook.qk_fix", "atp_qk_fix")
        if isinstance(atp_qk_fix, Exception):
            skipped["saturation"] = f"workbook.qk_fix not available ({atp_qk_fix})"
        else:
            from workbook.atp import atp

            try:
                probe = pattern_probe(model, task, saturation)
                plain, fixed = atp(model, task, ("q", "k")), atp_qk_fix(model, task, ("q", "k"))
                ran.append("saturation")
            except UnsupportedArchitectureError as err:  # the QK fix refused this attention variant
                skipped["saturation"] = str(err)
                probe = {}
            misses = _family_misses(plain, fixed, list(probe), tau, family_floor * total) if probe else {}
            for name, ev in probe.items():
                gap = abs(fixed[name] - plain[name])
                ranked = (name in misses and ev["change"] >= pattern_change
                          and abs(fixed[name]) >= ratio * abs(plain[name]))
                if ev["saturated_change"] >= pattern_change and gap >= big:
                    why = (f"saturated attention (max prob >= {saturation}) whose pattern still moves by "
                           f"{ev['saturated_change']:.2f} (TV) when patched")
                elif ranked:
                    m = misses[name]
                    why = (f"AtP ranks it {_ordinal(m['rank_suspect'])} of the q/k nodes, the QK fix {_ordinal(m['rank_better'])} "
                           f"(top {m['K']:.0f}): a predicted false negative. On the row the metric reads (clean max "
                           f"prob {ev['read_peak']:.2f}) the pattern moves by {ev['read_change']:.2f} (TV); the "
                           f"softmax's tangent predicts {ev['read_linear']:.2f}")
                else:
                    continue
                findings.append(Finding(
                    name, "saturation", f"{why}; AtP {plain[name]:.3g} vs QK fix {fixed[name]:.3g}",
                    estimate=float(plain[name]), better=float(fixed[name]),
                    evidence={**ev, "atp": float(plain[name]), "qk_fix": float(fixed[name]),
                              **(misses[name] if ranked else {})}))

    need_edges = {"cancellation", "flat_gradient", "path_saturation"} & set(probes)
    eap_scores = eap(model, task) if need_edges else None
    base = source_totals(eap_scores, graph) if need_edges else {}
    if "cancellation" in probes:
        ran.append("cancellation")
        graddrop = _lazy("workbook.graddrop", "graddrop")
        gd = None
        if not isinstance(graddrop, Exception):
            try:
                gd = graddrop(model, task, what=("head", "mlp"))
            except Exception as err:  # a probe must not sink the report
                skipped["cancellation (GradDrop part)"] = f"{type(err).__name__}: {err}"
        else:
            skipped["cancellation (GradDrop part)"] = "workbook.graddrop not available; using the edge decomposition only"
        for src, t in base.items():
            gd_val = float(gd[src]) if gd is not None and src in gd else None
            # both signs large, and they cancel in the sum (GradDrop is reported as evidence)
            if min(t["positive"], -t["negative"]) >= big and t["abs_sum"] >= ratio * abs(t["total"]):
                why = (f"outgoing edge terms sum to {t['total']:.3g} but their magnitudes to {t['abs_sum']:.3g} "
                       f"(direct {t['direct']:.3g} vs indirect {t['indirect']:.3g})")
                if gd_val is not None:
                    why += f"; GradDrop {gd_val:.3g}"
                findings.append(Finding(src, "cancellation", why, estimate=t["total"], better=gd_val,
                                        evidence={**t, **({"graddrop": gd_val} if gd_val is not None else {})}))

    ig = gp = None
    if {"flat_gradient", "path_saturation"} & set(probes):
        eap_ig = _lazy("workbook.eap_ig", "eap_ig")
        if isinstance(eap_ig, Exception):
            skipped["flat_gradient"] = f"workbook.eap_ig not available ({eap_ig})"
        else:
            ig = eap_ig(model, task, steps=steps)
    if "path_saturation" in probes:
        eap_gp = _lazy("workbook.eap_gp", "eap_gp")
        if isinstance(eap_gp, Exception):
            skipped["path_saturation"] = f"workbook.eap_gp not available ({eap_gp})"
        else:
            gp = eap_gp(model, task, steps=steps)
    if need_edges & {"flat_gradient", "path_saturation"}:
        plain_edges = eap_scores.to_dict()
        tables = [("node", base, source_totals(ig, graph) if ig is not None else None,
                   source_totals(gp, graph) if gp is not None else None)]
        edge_view = lambda sc: {e: {"total": v} for e, v in sc.to_dict().items()}  # noqa: E731
        tables.append(("edge", {e: {"total": v} for e, v in plain_edges.items()},
                       edge_view(ig) if ig is not None else None, edge_view(gp) if gp is not None else None))
        if "flat_gradient" in probes and ig is not None:
            ran.append("flat_gradient")
            for level, eap_t, ig_t, _ in tables:
                totals = lambda tab: {n: v["total"] for n, v in tab.items()}  # noqa: E731
                misses = _family_misses(totals(eap_t), totals(ig_t), list(ig_t), tau, family_floor * total)
                for name, t in ig_t.items():
                    e, i = eap_t[name]["total"], t["total"]
                    if abs(i) < ratio * abs(e) or not (abs(i) >= big or name in misses):
                        continue
                    msg = f"gradient flat at the clean point ({level}): EAP {e:.3g} vs EAP-IG {i:.3g}"
                    if abs(i) < big:
                        m = misses[name]
                        msg += (f"; EAP ranks it {_ordinal(m['rank_suspect'])}, EAP-IG {_ordinal(m['rank_better'])} "
                                f"(top {m['K']:.0f}): a predicted false negative")
                    findings.append(Finding(name, "flat_gradient", msg, estimate=e, better=i,
                                            evidence={"eap": e, "eap_ig": i,
                                                      **(misses[name] if abs(i) < big else {})}))
        if "path_saturation" in probes and ig is not None:
            ran.append("path_saturation")
            ig_fine = eap_ig(model, task, steps=4 * steps)
            tables_fine = {"node": source_totals(ig_fine, graph), "edge": edge_view(ig_fine)}
            for level, eap_t, ig_t, gp_t in tables:
                for name, t in ig_t.items():
                    e, i, f = eap_t[name]["total"], t["total"], tables_fine[level][name]["total"]
                    g = gp_t[name]["total"] if gp_t is not None else None
                    unconverged = abs(f - i) >= big and abs(f - i) >= 0.5 * abs(f)
                    gp_gap = g is not None and abs(g) >= big and abs(g) >= ratio * max(abs(e), abs(i))
                    if unconverged or gp_gap:
                        msg = (f"the straight IG path is damped ({level}): EAP {e:.3g}, EAP-IG {i:.3g} "
                               f"with {steps} steps but {f:.3g} with {4 * steps}")
                        if g is not None:
                            msg += f", EAP-GP {g:.3g}"
                        ev = {"eap": e, "eap_ig": i, "eap_ig_fine": f, **({"eap_gp": g} if g is not None else {})}
                        findings.append(Finding(name, "path_saturation", msg, estimate=i,
                                                better=g if gp_gap else f, evidence=ev))

    if components is not None:
        findings = [f for f in findings if any(_applies(f.component, c) for c in components)]
    if verify and findings:
        _verify(model, task, findings, total, relative, embed_effect=corr_v - clean_v)
    comps = list(components) if components is not None else sorted({f.component for f in findings})
    return Diagnosis(findings, comps, ran, skipped, total)
