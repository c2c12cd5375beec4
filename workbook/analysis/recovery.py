"""The diagnoser's verification: activation-patch its findings, judge each, and measure which fix recovers it.

For each family with findings (q/k nodes, head/MLP outputs, edges) :func:`verify_findings`
patches one pool, one batched sweep per kind (:func:`workbook.patching.nodes.patch_nodes` with
``nodes=...``, :func:`workbook.patching.edges.patch_edges` with ``edges=...``): every flagged
component plus each method's top ``K`` (``K`` = how many of its estimates reach ``tau`` x its
largest, at most :data:`POOL_CAP`). The pool's important components (``|effect| >= tau x`` its
largest patched effect) stand in for the family's truly important ones; their count is ``K``.

* **Confirmed**: the suspect's estimate does not agree with the patched effect (same sign and
  within :data:`~workbook.analysis.diagnosis.AGREE` x) and the miss matters: a *rank miss* (truly
  important, ranked outside ``K`` by the suspect, in a family whose largest effect reaches the
  family floor) or a *size miss* (off by at least ``relative x |M(clean) - M(corrupt)|``).
* **Recovered**: a candidate fix (any other method measured on the family, never the screen nor a
  confirmed suspect; edges get edge methods only) recovers a confirmed component when it moves the
  estimate into a better band than the suspect's: the same sign and within :data:`RECOVER` x of the
  patched effect where the suspect was further off, within ``AGREE`` x where the suspect was already
  within ``RECOVER`` x (a 1.95x estimate does not "recover" a 1.96x one). GradDrop's magnitudes are
  compared with ``|effect|``. Ranking it inside ``K`` alone does not count: a fix several times
  off that ranks it in by a hair won a close race, it did not repair the estimate (its rank is
  reported). Among the recovering fixes that agree with patching, the diagnosed failure's own
  fix, else the cheapest, is recommended; when none agrees, the closest recovering one; when none
  recovers it, "patch it" (:func:`recommend`).

Sign convention: noising, ``effect(n) = M(clean with n := corrupt) - M(clean)``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from workbook.analysis.diagnosis import (
    AGREE,
    COST_ORDER,
    FIX_FAILURE,
    METHOD_FIXES,
    Finding,
    agrees,
    how_far,
    log_error,
    primary_failure,
)
from workbook.analysis.probes import SCREENS, Measurements
from workbook.core.ranking import TIE_TOL
from workbook.core.runs import progress
from workbook.core.scores import important
from workbook.core.task import Task
from workbook.patching.edges import patch_edges
from workbook.patching.nodes import patch_nodes

__all__ = ["verify_findings", "patch_pools", "judge", "recommend", "PatchedFamily", "RECOVER", "POOL_CAP"]

#: a fix recovers a component when it has the same sign and is within this factor of the patched effect
RECOVER = 2.0
#: at most this many of each method's top components join a family's verification pool
POOL_CAP = 20


@dataclass
class PatchedFamily:
    """One family's verification pool: patched effects, ``K``, the importance cut, whether it matters."""

    exact: dict[str, float]
    tau: float
    floor: float

    def __post_init__(self) -> None:
        top = max((abs(v) for v in self.exact.values()), default=0.0)
        self.cut = self.tau * top
        self.matters = top >= self.floor and top > 0
        self.important = [n for n in sorted(self.exact, key=lambda n: -abs(self.exact[n]))
                          if top > 0 and abs(self.exact[n]) >= (self.tau - TIE_TOL) * top]
        self.K = len(self.important)

    def true_rank(self, name: str) -> int:
        return 1 + sum(abs(v) > abs(self.exact[name]) for v in self.exact.values())


def _kind(name: str) -> str:
    """What :func:`patch_nodes` calls ``name``'s kind (``"edge"`` for ``src->dst``)."""
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def patch_pools(model, task: Task, m: Measurements, findings: list[Finding], tau: float,
                progress_bar: bool | None = None) -> dict[str, dict[str, float]]:
    """``{family: {name: patched effect}}`` over each family's pool (module docstring): one batched
    :func:`patch_nodes` / :func:`patch_edges` sweep per kind, a progress bar over them when ``progress_bar``."""
    pools: dict[str, set[str]] = {}
    for f in findings:
        pools.setdefault(f.family, set()).add(f.component)
    for fam, names in pools.items():
        for s in m.scores[fam].values():
            names.update(important(s, tau)[:POOL_CAP])
    groups: dict[tuple[str, str], list[str]] = {}
    for fam, names in pools.items():
        for n in sorted(names):
            groups.setdefault((fam, _kind(n)), []).append(n)
    out: dict[str, dict[str, float]] = {}
    for (fam, kind), names in progress(list(groups.items()), total=len(groups), desc="diagnose: patching",
                                       enabled=progress_bar):
        t0 = time.perf_counter()
        if kind == "edge":
            exact = patch_edges(model, task, edges=names, progress_bar=progress_bar)
        else:
            exact = patch_nodes(model, task, kind, nodes=names, progress_bar=progress_bar)
        out.setdefault(fam, {}).update({n: exact[n] for n in names})
        m.seconds[f"patching {len(names)} {kind}"] = time.perf_counter() - t0
    return out


def judge(f: Finding, fam: PatchedFamily, m: Measurements, big: float) -> None:
    """Set ``f.exact``, ``f.confirmed`` and ``f.verdict`` (module docstring)."""
    x, e = fam.exact[f.component], f.estimate
    f.exact = x
    rank = m.scores[f.family][f.suspect].rank(f.component)
    is_important = fam.matters and f.component in fam.important
    rank_miss = is_important and rank > fam.K
    f.confirmed = not agrees(e, x) and (rank_miss or abs(e - x) >= big)
    off = how_far(e, x)
    f.evidence.update({"rank_suspect": float(rank), "K_patched": float(fam.K),
                       "true_rank": float(fam.true_rank(f.component))})
    if agrees(e, x):
        f.verdict = f"false alarm: {off}"
    elif f.confirmed:
        f.verdict = f"confirmed: {off}"
        if rank_miss:
            f.verdict += (f"; ranked {rank}, truly {fam.true_rank(f.component)} of the {fam.K} important ones")
    else:
        where = f"ranked {rank}, inside the top {fam.K}" if is_important else f"|effect| under the cut {fam.cut:.3g}"
        f.verdict = f"not confirmed: {off}, but a miss that does not matter ({where}, off by under {big:.3g})"


def recommend(component: str, own: list[Finding], fam: PatchedFamily, m: Measurements) -> None:
    """Compare every candidate fix of ``component`` with patching; set ``candidates``, ``recovers``,
    ``recommended`` and ``recovery`` on its confirmed findings.

    Recommended: among the recovering fixes that agree with patching (within ``AGREE`` x), the fix of
    the diagnosed failure (:func:`primary_failure`), else the cheapest (:data:`COST_ORDER`); when
    none agrees, the recovering fix closest to the patched effect; ``None`` when none recovers it."""
    confirmed = [f for f in own if f.confirmed]
    if not confirmed:
        return
    x = fam.exact[component]
    bad = {f.suspect for f in confirmed} | {SCREENS[confirmed[0].family]}
    base = min(log_error(f.estimate, x) for f in confirmed)
    scores = m.scores[confirmed[0].family]
    cands = {meth: s[component] for meth, s in scores.items() if meth in METHOD_FIXES and meth not in bad}
    # a better band than the suspect's: within RECOVER x where it was further off, within AGREE x where it was not
    band = math.log(RECOVER if base > math.log(RECOVER) + 1e-12 else AGREE) + 1e-12
    errors, notes = {}, []
    for meth, v in cands.items():
        signed = meth != "GradDrop"
        err, rank = log_error(v, x, signed), scores[meth].rank(component)
        if err < base and err <= band:
            errors[meth] = err
        notes.append(f"{meth} {v:.3g} ({how_far(v, x, signed=signed)}, ranked {rank})"
                     + ("" if meth in errors else " does not recover it"))
    for f in confirmed:
        f.candidates, f.recovers = cands, sorted(errors, key=COST_ORDER.index)
        f.recovery = "fixes measured: " + ("; ".join(notes) if notes else "none ran")
    failure = primary_failure(confirmed)
    agreeing = [meth for meth in confirmed[0].recovers if errors[meth] <= math.log(AGREE) + 1e-12]
    best = ([meth for meth in agreeing if FIX_FAILURE[meth] == failure] + agreeing
            + sorted(errors, key=errors.get) + [None])[0]
    for f in confirmed:
        f.recommended = best


def verify_findings(model, task: Task, m: Measurements, findings: list[Finding], tau: float, big: float,
                    floor: float, progress_bar: bool | None = None) -> dict[str, dict[str, float]]:
    """Patch the pools, judge every finding, recommend the fix per confirmed component.

    Returns ``{family: {name: patched effect}}`` over the pools."""
    truth = patch_pools(model, task, m, findings, tau, progress_bar)
    fams = {fam: PatchedFamily(exact, tau, floor) for fam, exact in truth.items()}
    by_comp: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        judge(f, fams[f.family], m, big)
        by_comp.setdefault((f.family, f.component), []).append(f)
    for (fam, c), own in by_comp.items():
        recommend(c, own, fams[fam], m)
    return truth
