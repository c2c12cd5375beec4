"""What :func:`workbook.analysis.diagnose.diagnose` returns: findings, their fixes, and the report.

A :class:`Finding` is one flagged component (a node, a q/k input, or an edge) with the suspect
estimate, the fix's estimate and, once verified, the activation-patching effect. A
:class:`Diagnosis` holds them all and answers which components to distrust and which fix to use.
Sign convention: noising, ``effect(n) = M(clean with n := corrupt) - M(clean)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Finding", "Diagnosis", "FIXES", "CHECKS", "PRIORITY", "applies"]

FIXES = {
    "saturation": "AtP* QK fix (workbook.attribution.qk_fix.atp_qk_fix)",
    "cancellation": "AtP* GradDrop (workbook.attribution.graddrop.graddrop)",
    "flat_gradient": "EAP-IG (workbook.attribution.eap_ig.eap_ig)",
    "path_saturation": "EAP-GP (workbook.attribution.eap_gp.eap_gp) or EAP-IG with more steps, "
    "then verify with activation patching",
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
        return [f for f in self.findings if applies(f.component, name)]

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
        lines = [
            f"Diagnosis: {len(self.untrustworthy())} untrustworthy component(s); "
            f"probes run: {', '.join(self.probes) or 'none'}; total effect {self.total_effect:.3g}"
        ]
        for probe, why in self.skipped.items():
            lines.append(f"  (probe {probe} skipped: {why})")
        for f in sorted(self.findings, key=lambda f: (f.confirmed is False, f.component)):
            lines.append("  - " + str(f))
        if not self.findings:
            lines.append(
                "  nothing flagged: the estimates look trustworthy (spot-check the top ones with activation patching)."
            )
        else:
            lines.append("  Always verify the final top components with activation patching (workbook.patch_nodes).")
        return "\n".join(lines)


def _owner(component: str) -> str:
    return component.split("@")[0]


def applies(finding_component: str, name: str) -> bool:
    """Whether a finding on ``finding_component`` concerns ``name`` (an edge finding also taints its source)."""
    name = _owner(name)
    if name == finding_component:
        return True
    if "->" in finding_component:  # an edge finding also taints its source node's total
        return name == finding_component.split("->", 1)[0]
    if "->" in name:
        src, dst = name.split("->", 1)
        return finding_component in (src, dst)
    return False
