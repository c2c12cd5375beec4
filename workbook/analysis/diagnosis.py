"""What :func:`workbook.analysis.diagnose.diagnose` returns: findings, their fixes, and the report.

A :class:`Finding` is one flagged component (a node, a q/k input, or an edge) with the suspect
method's estimate, the fix's estimate and, once verified, the activation-patching effect, the
verdict in words and the fix that measurably recovers it. A :class:`Diagnosis` holds them all
and answers which components to distrust and which fix to use.

Wording (:func:`how_far`): an estimate **agrees** with patching only when it has the same sign
and is within :data:`AGREE` (1.5) x of the patched effect; otherwise the report says how far off
it is ("4.4x too small", "wrong sign"). Sign convention: noising,
``effect(n) = M(clean with n := corrupt) - M(clean)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Finding", "Diagnosis", "FIXES", "CHECKS", "PRIORITY", "METHOD_FIXES", "FIX_FAILURE", "PATCH_IT",
           "AGREE", "COST_ORDER", "primary_failure", "applies", "how_far", "agrees", "log_error"]

FIXES = {
    "saturation": "AtP* QK fix (workbook.attribution.qk_fix.atp_qk_fix)",
    "cancellation": "AtP* GradDrop (workbook.attribution.graddrop.graddrop)",
    "flat_gradient": "EAP-IG (workbook.attribution.eap_ig.eap_ig)",
    "path_saturation": "EAP-GP (workbook.attribution.eap_gp.eap_gp) or EAP-IG with more steps, "
    "then verify with activation patching",
}
CHECKS = tuple(FIXES)
# When several failures hit one component and no fix was measured, the most specific one names the fix.
PRIORITY = ("path_saturation", "saturation", "cancellation", "flat_gradient")  # most specific first
#: the candidate fixes the verification measures, and the failure each one repairs
METHOD_FIXES = {
    "QK fix": FIXES["saturation"],
    "GradDrop": FIXES["cancellation"],
    "EAP-IG": FIXES["flat_gradient"],
    "EAP-IG (4x steps)": "EAP-IG with 4x the steps (workbook.attribution.eap_ig.eap_ig, steps=...)",
    "EAP-GP": "EAP-GP (workbook.attribution.eap_gp.eap_gp)",
}
FIX_FAILURE = {"QK fix": "saturation", "GradDrop": "cancellation", "EAP-IG": "flat_gradient",
               "EAP-IG (4x steps)": "path_saturation", "EAP-GP": "path_saturation"}
#: the fixes from cheapest to dearest (passes on a deep model): of the fixes that agree with patching, the cheaper wins
COST_ORDER = ("QK fix", "EAP-IG", "EAP-GP", "EAP-IG (4x steps)", "GradDrop")
PATCH_IT = "none of the fixes recovers it: patch it (workbook.patch_nodes / workbook.patch_edges)"
#: "agrees": same sign and within this factor of the patched effect
AGREE = 1.5


def log_error(estimate: float, exact: float, signed: bool = True) -> float:
    """``|log(|estimate| / |exact|)|``: 0 = exact, ``log 2`` = a factor 2 off; ``inf`` for the wrong
    sign (when ``signed``; GradDrop's magnitudes are compared with ``|exact|``) or a zero on one side."""
    if signed and estimate * exact < 0:
        return math.inf
    a, b = abs(estimate), abs(exact)
    if a == 0.0 or b == 0.0:
        return 0.0 if a == b else math.inf
    return abs(math.log(a / b))


def agrees(estimate: float, exact: float, factor: float = AGREE, signed: bool = True) -> bool:
    """Same sign (when ``signed``) and within ``factor`` x of ``exact``."""
    return log_error(estimate, exact, signed) <= math.log(factor) + 1e-12


def how_far(estimate: float, exact: float, factor: float = AGREE, signed: bool = True) -> str:
    """``"agrees (within 1.5x)"``, ``"4.4x too small"``, ``"2.1x too large"`` or ``"wrong sign"``."""
    if agrees(estimate, exact, factor, signed):
        return f"agrees (within {factor:g}x)"
    if signed and estimate * exact < 0:
        return "wrong sign"
    if exact == 0.0:
        return "nonzero where the effect is 0"
    if estimate == 0.0:
        return "0 where the effect is not"
    r = abs(estimate) / abs(exact)
    r = max(r, 1 / r)
    size = f"{r:.2f}" if r < 2 else f"{r:.1f}"  # 1.51x, never a rounded "1.5x" next to "agrees within 1.5x"
    return f"{size}x too small" if abs(estimate) < abs(exact) else f"{size}x too large"


@dataclass
class Finding:
    """One flagged component. ``estimate`` is the ``suspect`` method's number, ``better`` the fix's
    that raised the flag, ``exact`` the activation-patching effect (``None`` when not verified).

    Set by the verification: ``confirmed`` (the suspect's estimate is wrong in a way that matters),
    ``verdict`` (in words), ``candidates`` (every fix's estimate of the component), ``recovers``
    (the fixes measured to recover it), ``recommended`` (the one to use, ``None`` when none
    recovers it) and ``recovery`` (in words).
    """

    component: str
    failure: str
    message: str
    estimate: float
    better: float | None = None
    exact: float | None = None
    confirmed: bool | None = None
    evidence: dict[str, float] = field(default_factory=dict)
    family: str = ""
    suspect: str = ""
    verdict: str = ""
    candidates: dict[str, float] = field(default_factory=dict)
    recovers: list[str] = field(default_factory=list)
    recommended: str | None = None
    recovery: str = ""

    @property
    def fix(self) -> str:
        """The measured fix once verified (:data:`PATCH_IT` when none recovers it), else the failure's usual fix."""
        if self.recommended is not None:
            return METHOD_FIXES[self.recommended]
        if self.confirmed is None:
            return FIXES[self.failure]
        if self.confirmed:
            return PATCH_IT
        return "keep the estimate" if self.exact is not None and agrees(self.estimate, self.exact) else \
            "none needed: a miss that does not matter here"

    def __str__(self) -> str:
        parts = [f"{self.component}: {self.failure} — {self.message}"]
        if self.exact is not None:
            parts.append(f"activation patching {self.exact:.3g} vs {self.suspect or 'estimate'} "
                         f"{self.estimate:.3g} ({self.verdict})")
        if self.recovery:
            parts.append(self.recovery)
        parts.append(f"fix: {self.fix}")
        return "; ".join(parts)


@dataclass
class Diagnosis:
    """All findings of :func:`diagnose`, the components they cover and the probes that ran.

    ``print`` shows a summary line and the ``max_findings`` flagged components with the largest
    patched ``|effect|`` (one line each); every finding stays in ``findings``. ``truth``: the
    patched effects of the verification pool, by family; ``measurements``: every estimate the
    probes compared (:class:`workbook.analysis.probes.Measurements`; ``.scores[family][method]``);
    ``seconds``: the wall time."""

    findings: list[Finding]
    components: list[str]
    probes: list[str]
    skipped: dict[str, str]
    total_effect: float
    max_findings: int = 10
    truth: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    measurements: Any = field(default=None, repr=False)

    def for_component(self, name: str) -> list[Finding]:
        """Findings that apply to ``name`` (a node, ``L1H2.q``, or an edge ``src->dst``)."""
        return [f for f in self.findings if applies(f.component, name)]

    def _own(self, name: str) -> list[Finding]:
        own = [f for f in self.findings if f.component == _owner(name)]
        return own or self.for_component(name)

    def failures(self, name: str | None = None, include_false_alarms: bool = False) -> set[str]:
        """Failure kinds flagged (on ``name`` or anywhere), excluding refuted ones by default."""
        found = self.findings if name is None else self.for_component(name)
        return {f.failure for f in found if include_false_alarms or f.confirmed is not False}

    def primary(self, name: str) -> str | None:
        """The failure diagnosed on ``name`` (``None`` = nothing flagged or all refuted):
        :func:`primary_failure` of its findings that patching did not refute."""
        return primary_failure([f for f in self._own(name) if f.confirmed is not False])

    def untrustworthy(self) -> list[str]:
        """Components with at least one finding not refuted by activation patching."""
        return sorted({f.component for f in self.findings if f.confirmed is not False})

    def recommendations(self) -> dict[str, str]:
        """``component -> fix`` for every untrustworthy component: the fix measured to recover it
        (:data:`PATCH_IT` when none does; unverified: the usual fix of its primary failure)."""
        out = {}
        for c in self.untrustworthy():
            live = [f for f in self._own(c) if f.confirmed is not False]
            measured = [f for f in live if f.recommended is not None]
            if measured:
                out[c] = measured[0].fix
            elif any(f.confirmed for f in live):
                out[c] = PATCH_IT
            else:
                out[c] = FIXES[self.primary(c)]
        return out

    def ranked(self) -> list[str]:
        """Flagged components, confirmed first, by patched ``|effect|`` (unverified: by the fix's ``|estimate|``)."""
        size: dict[str, float] = {}
        live: dict[str, bool] = {}
        for f in self.findings:
            v = abs(f.exact) if f.exact is not None else abs(f.better if f.better is not None else f.estimate)
            size[f.component] = max(size.get(f.component, 0.0), v)
            live[f.component] = live.get(f.component, False) or f.confirmed is not False
        return sorted(size, key=lambda c: (not live[c], -size[c], c))

    def line(self, component: str) -> str:
        """One line on ``component``: the suspect estimate against patching, the failures, the fix."""
        own = [f for f in self.findings if f.component == component]
        f = next((g for g in own if g.confirmed), own[0])
        live = [g for g in own if g.confirmed is not False] or own  # refuted flags beside a confirmed one: left out
        kinds = ", ".join(sorted({g.failure for g in live}))
        if f.exact is None:
            return f"{component}: {kinds} — {f.message}; fix: {f.fix}"
        rec = next((g for g in own if g.recommended is not None), f)
        text = f"{component}: {f.suspect} {f.estimate:.3g} vs patched {f.exact:.3g} ({f.verdict}) [{kinds}]"
        if f.confirmed is False:
            return text + f"; fix: {f.fix}"
        return text + (f"; {rec.recovery}" if rec.recovery else "") + f"; fix: {rec.fix}"

    def summary(self) -> str:
        comps = sorted({f.component for f in self.findings})
        confirmed = [c for c in comps if any(f.confirmed for f in self.findings if f.component == c)]
        fixed = [c for c in confirmed if any(f.recommended for f in self.findings if f.component == c)]
        refuted = [c for c in comps if all(f.confirmed is False for f in self.findings if f.component == c)]
        head = f"Diagnosis: {len(comps)} component(s) flagged"
        if confirmed or refuted:
            head += (f", {len(confirmed)} confirmed by activation patching ({len(fixed)} recovered by a fix, "
                     f"{len(confirmed) - len(fixed)} only by patching), {len(refuted)} not confirmed")
        else:
            head += " (not verified)"
        return head + f"; probes run: {', '.join(self.probes) or 'none'}; total effect {self.total_effect:.3g}"

    def report(self, top: int | None = None) -> str:
        """The summary line and the first ``top`` components of :meth:`ranked` (``None``: all)."""
        top = len(self.findings) if top is None else top
        lines = [self.summary()]
        for probe, why in self.skipped.items():
            lines.append(f"  (probe {probe} skipped: {why})")
        ranked = self.ranked()
        lines += ["  - " + self.line(c) for c in ranked[:top]]
        if len(ranked) > top:
            lines.append(f"  ... {len(ranked) - top} more (diagnosis.report() lists them all)")
        if not self.findings:
            lines.append(
                "  nothing flagged: the estimates look trustworthy (spot-check the top ones with activation patching)."
            )
        else:
            lines.append("  Always verify the final top components with activation patching (workbook.patch_nodes).")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report(self.max_findings)


def primary_failure(findings: list[Finding]) -> str | None:
    """The failure that explains a component's findings: among the flagged failures whose own fix was
    measured to recover it (``Finding.recovers``), the first in :data:`PRIORITY`; else the first
    flagged one in :data:`PRIORITY`."""
    kinds = {f.failure for f in findings}
    fixed = {f.failure for f in findings if any(FIX_FAILURE[m] == f.failure for m in f.recovers)}
    return next((k for k in PRIORITY if k in fixed), None) or next((k for k in PRIORITY if k in kinds), None)


def _owner(component: str) -> str:
    return component.split("@")[0]


def applies(finding_component: str, name: str) -> bool:
    """Whether a finding on ``finding_component`` concerns ``name``: the same component, or an edge
    finding and its source node (the node's total is the sum of its edges). A node finding does not
    apply to the node's edges: an edge's estimate is judged, and fixed, as an edge."""
    name = _owner(name)
    if name == _owner(finding_component):
        return True
    if "->" in finding_component and "->" not in name:
        return name == finding_component.split("->", 1)[0]
    return False
