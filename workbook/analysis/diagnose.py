"""Which attribution estimates not to trust, and why: a diagnoser that names the failure and the fix.

:func:`diagnose` runs each estimate it compares once (:func:`workbook.analysis.probes.measure`),
flags suspect components, then verifies every flag by activation patching and recommends the
fix that measurably recovers the component (:mod:`workbook.analysis.recovery`).

==================  ==================================  =============  ==================  =========
failure             suspect -> fix it compares          family         extra evidence      usual fix
==================  ==================================  =============  ==================  =========
``saturation``      AtP -> QK fix (exact re-softmax)    queries, keys  pattern probe        QK fix
``cancellation``    AtP -> GradDrop                     heads, MLPs    edge terms cancel    GradDrop
``flat_gradient``   AtP / EAP -> EAP-IG                 nodes, edges   -                    EAP-IG
``path_saturation`` EAP-IG -> EAP-IG (4x steps), EAP-GP nodes, edges   -                    EAP-GP
==================  ==================================  =============  ==================  =========

**The flag rule** (:func:`suspects`), for a suspect estimate ``S`` and the fix's estimate ``F``
of one family (q/k nodes; head and MLP outputs, whose AtP is the sum of their EAP edges; edges):

* *rank* (a predicted false negative): ``F`` ranks the component in its top ``K`` (``K`` = how
  many reach ``tau`` x the largest ``|F|``) while ``S`` ranks it outside (the definition of
  :func:`workbook.core.scores.false_negatives`, with ``F`` standing in for the truth), in a
  family whose largest ``|F|`` reaches ``family_floor`` x the total effect, and ``|F| >=
  rank_gap x |S|`` (1.5) or the two have opposite signs: a rank miss needs no 3x gap;
* *size*: ``|F| >= size x total`` (0.3) and ``|F| >= ratio x |S|`` (1.5), or opposite signs
  that differ by ``size x total``.

Both gaps equal the wording's agreement factor (1.5): a flag means "the fix disagrees with the
suspect by more than the report would call agreement".

Cancellation also needs the edge terms to cancel (``sum|terms| >= 3 x |sum terms|``); where
GradDrop cannot run, ``sum|terms|`` stands in for it. "Total" is ``|M(clean) - M(corrupt)|``.
The defaults were picked on the mixture model's six tasks (two data seeds) by
``scripts/calibrate_diagnoser.py --sweep``.

**The verification** (``verify=True``) patches, per family, every flagged component and each
method's top ``K`` (one batched sweep per kind): the important ones of that pool (``|effect| >=
tau x`` its largest) give ``K``. A finding is *confirmed* when the suspect's estimate does not
agree (same sign and within 1.5x) and the miss matters: a rank miss (truly important, ranked
outside ``K``) or an error of at least ``relative x total``. For each confirmed component every
candidate fix (QK fix for q/k; GradDrop and the edge totals of EAP-IG / EAP-GP for heads and
MLPs; EAP-IG / EAP-GP for edges; EAP-IG with 4x steps for both) is compared with patching. A
fix *recovers* the component when it moves the estimate into a better band than the suspect's:
the same sign within 2x where the suspect was further off, within 1.5x where the suspect was
within 2x (a rank inside ``K`` alone, several times off, is a close race won, not a repair).
Recommended: of the recovering fixes that agree with
patching (within 1.5x), the diagnosed failure's own fix, else the cheapest; if none agrees, the
closest recovering one; if none recovers it, "patch it". A fix measured not to help is never
recommended, and edges only ever get edge fixes. The report words every verdict by how far the
estimate is off ("agrees" only within 1.5x, else "4.4x too small", "wrong sign").

**Calibration** against full activation patching (``scripts/calibrate_diagnoser.py`` writes
``docs/diagnoser_calibration.md``): on the mixture model (6 tasks x 2 seeds, 8 pairs; every node
and edge patched) the flags catch 17 of AtP's / EAP's 17 false negatives (q/k 5, nodes 3, edges
9) and 78 % of the flags are real errors (54 of 69); patching confirms exactly those 54, so what
the report calls untrustworthy is 100 % right. EAP-IG's own 4 misses (rank K+1 near misses whose
size agrees) are not flagged. Held out, SmolLM2-135M IOI (8 and 16 pairs): 4 of 4 false negatives
flagged and confirmed, 9 of 12 flags real errors, every verdict right.

Sign convention: noising, ``effect(n) = M(clean with n := corrupt) - M(clean)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import torch

from workbook.analysis.diagnosis import CHECKS, FIXES, Diagnosis, Finding, applies
from workbook.analysis.probes import Measurements, measure, pattern_probe, predicted_misses, source_totals
from workbook.analysis.recovery import verify_findings
from workbook.arch import adapter_for, check_model
from workbook.core.errors import WorkbookError, check_tokens
from workbook.core.runs import baselines as metric_baselines
from workbook.core.runs import is_long
from workbook.core.scores import Scores
from workbook.core.task import Task
from workbook.patching.verify import verify_top

__all__ = ["Finding", "Diagnosis", "diagnose", "flag", "suspects", "Thresholds", "FIXES", "CHECKS",
           "pattern_probe", "source_totals", "predicted_misses", "verify_top"]

#: cancellation's evidence: the magnitudes of a source's edge terms are at least this x their sum
CANCEL = 3.0


def _ordinal(rank: float) -> str:
    r = int(rank)
    return f"{r}" + ("th" if 10 <= r % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(r % 10, "th"))


@dataclass
class Thresholds:
    """The knobs of the flag rule and of the verification (module docstring), as fractions of
    ``total = |M(clean) - M(corrupt)|``: ``size`` (the size rule's "large" fix estimate), ``relative``
    (an error that matters, for confirming), ``family_floor``; ``ratio`` (the size rule's gap),
    ``rank_gap`` (a rank flag needs ``|F| >= rank_gap x |S|`` or opposite signs), ``tau`` (K)."""

    total: float
    relative: float = 0.1
    ratio: float = 1.5
    tau: float = 0.5
    family_floor: float = 0.05
    rank_gap: float = 1.5
    size: float = 0.3

    @property
    def big(self) -> float:
        return self.relative * self.total

    @property
    def flag_big(self) -> float:
        return self.size * self.total

    @property
    def floor(self) -> float:
        return self.family_floor * self.total


def suspects(
    suspect: Scores, fix: Scores, th: Thresholds, signed: bool = True, ratio: float | None = None
) -> dict[str, dict[str, float]]:
    """Components ``fix`` says ``suspect`` gets wrong: ``{name: evidence}`` by the rank or the size rule.

    ``signed=False`` compares magnitudes (GradDrop). Evidence: ``rank`` / ``size`` (1.0 when that rule
    fired) and, for a rank flag, :func:`predicted_misses`' ranks, ``K`` and ``floor``."""
    ratio = th.ratio if ratio is None else ratio
    names = list(fix.names)
    fixed = {n: fix[n] for n in names}
    misses = {}
    if names and max(abs(v) for v in fixed.values()) >= th.floor:
        misses = predicted_misses({n: suspect[n] for n in names}, fixed, th.tau)
    out = {}
    for n in names:
        s, f = suspect[n], fixed[n]
        flip = signed and s * f < 0
        size = abs(f) >= th.flag_big and (abs(f) >= ratio * abs(s) or (flip and abs(f - s) >= th.flag_big))
        rank = n in misses and (abs(f) >= th.rank_gap * abs(s) or flip)
        if size or rank:
            out[n] = {"rank": float(rank), "size": float(size), **(misses[n] if rank else {})}
    return out


FAMILY_LABELS = {"q/k": "queries and keys", "nodes": "heads and MLPs", "edges": "edges"}


def _why(suspect: str, fix: str, s: float, f: float, ev: dict[str, float], family: str) -> str:
    if ev.get("rank"):
        return (f"{suspect} ranks it {_ordinal(ev['rank_suspect'])} of the {FAMILY_LABELS[family]}, {fix} "
                f"{_ordinal(ev['rank_better'])} (top {ev['K']:.0f}): a predicted false negative "
                f"({suspect} {s:.3g}, {fix} {f:.3g})")
    return f"{fix} {f:.3g} against {suspect} {s:.3g}: a large gap"


def _findings(failure: str, family: str, m: Measurements, suspect: str, fix: str, th: Thresholds,
              extra=None, **kw) -> list[Finding]:
    """One finding per component :func:`suspects` flags for ``suspect`` against ``fix`` in ``family``;
    ``extra(name) -> (keep, text, evidence)`` adds a probe's own evidence (and may veto the flag)."""
    S, F = m.scores[family][suspect], m.scores[family][fix]
    out = []
    for n, ev in suspects(S, F, th, **kw).items():
        keep, text, more = extra(n) if extra else (True, "", {})
        if not keep:
            continue
        msg = _why(suspect, fix, S[n], F[n], ev, family) + (f"; {text}" if text else "")
        out.append(Finding(n, failure, msg, estimate=S[n], better=F[n], family=family, suspect=suspect,
                           evidence={**ev, **more, suspect: S[n], fix: F[n]}))
    return out


def _saturation(m: Measurements, th: Thresholds, saturation: float) -> list[Finding]:
    """q/k nodes the QK fix (exact re-softmax) says AtP's tangent misses."""

    def pattern(n: str):
        ev = m.pattern.get(n, {})
        if not ev:
            return True, "", {}
        text = (f"on the row the metric reads (clean max prob {ev['read_peak']:.2f}) the pattern moves by "
                f"{ev['read_change']:.2f} (TV), the softmax's tangent predicts {ev['read_linear']:.2f}")
        if ev["saturated_change"] > 0:
            text += f"; rows saturated at >= {saturation} still move by {ev['saturated_change']:.2f}"
        return True, text, ev

    return _findings("saturation", "q/k", m, "AtP", "QK fix", th, pattern)


def _cancellation(m: Measurements, th: Thresholds) -> list[Finding]:
    """Heads/MLPs whose outgoing edge terms cancel in AtP's sum and GradDrop (magnitudes) sees more."""
    fam = m.scores["nodes"]
    if "GradDrop" not in fam:  # GradDrop could not run: the terms' magnitudes stand in for it
        names = list(fam["AtP"].names)
        mags = torch.tensor([m.terms[n]["abs_sum"] for n in names], dtype=torch.float64, device="cpu")
        fam["EAP |terms|"] = Scores(names, mags, "EAP |terms|")
    fix = "GradDrop" if "GradDrop" in fam else "EAP |terms|"

    def cancels(n: str):
        t = m.terms[n]
        keep = t["abs_sum"] >= CANCEL * abs(t["total"])
        return keep, (f"outgoing edge terms sum to {t['total']:.3g} but their magnitudes to {t['abs_sum']:.3g} "
                      f"(direct {t['direct']:.3g}, indirect {t['indirect']:.3g})"), t

    return _findings("cancellation", "nodes", m, "AtP", fix, th, cancels, signed=False)


def _gradient_probes(m: Measurements, th: Thresholds, probes: Sequence[str]) -> list[Finding]:
    """Flat gradient (EAP against EAP-IG) and path saturation (EAP-IG against 4x steps and EAP-GP)."""
    out = []
    for family in ("nodes", "edges"):
        screen = "AtP" if family == "nodes" else "EAP"
        if "flat_gradient" in probes:
            out += _findings("flat_gradient", family, m, screen, "EAP-IG", th)
        if "path_saturation" in probes:
            out += _findings("path_saturation", family, m, "EAP-IG", "EAP-IG (4x steps)", th)
            out += _findings("path_saturation", family, m, "EAP-IG", "EAP-GP", th)
    return _merge(out)


def _merge(findings: list[Finding]) -> list[Finding]:
    """One finding per (component, failure, suspect): the first, with the others' evidence appended."""
    seen: dict[tuple[str, str, str], Finding] = {}
    for f in findings:
        key = (f.component, f.failure, f.suspect)
        if key in seen:
            seen[key].message += "; " + f.message
            seen[key].evidence.update(f.evidence)
        else:
            seen[key] = f
    return list(seen.values())


def flag(m: Measurements, th: Thresholds, probes: Sequence[str] = CHECKS, saturation: float = 0.99) -> list[Finding]:
    """Every finding the ``probes`` raise on the measurements ``m`` (no patching)."""
    out = []
    if "saturation" in probes and "QK fix" in m.scores.get("q/k", {}):
        out += _saturation(m, th, saturation)
    if "cancellation" in probes and "AtP" in m.scores.get("nodes", {}):
        out += _cancellation(m, th)
    if {"flat_gradient", "path_saturation"} & set(probes) and "EAP-IG" in m.scores.get("edges", {}):
        out += _gradient_probes(m, th, probes)
    return out


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
    ratio: float = 1.5,
    verify: bool = True,
    tau: float = 0.5,
    family_floor: float = 0.05,
    size: float = 0.3,
    rank_gap: float = 1.5,
    max_findings: int = 10,
    progress_bar: bool | None = None,
) -> Diagnosis:
    """Flag attribution estimates that are likely wrong, say why, verify, and recommend the fix that works.

    Calibrated against full activation patching (``docs/diagnoser_calibration.md``): recall of
    AtP's / EAP's false negatives 17/17 on the mixture model (6 tasks x 2 seeds) and 4/4 on
    SmolLM2-135M IOI (held out); precision of the flags 78 % / 75 %, of the confirmed findings
    (what ``untrustworthy()`` lists) 100 % on both. SmolLM2 IOI, 16 pairs: ~3 min on one CPU thread.

    Args:
        model: a prepared TransformerBridge of a supported family (probes a family cannot run,
            e.g. edge probes on Gemma 2, are listed in ``Diagnosis.skipped`` with the reason).
        task: clean/corrupt pairs and the metric (noising convention).
        scores: optional estimates to judge (any method); their names become ``components``.
        components: restrict the report to these names (nodes ``L0H1``, ``MLP0``, ``L1H2.q``
            or edges ``src->dst``); default: every component probed.
        probes: subset of :data:`CHECKS`.
        steps: path points for EAP-IG / EAP-GP (the path probe also runs EAP-IG with ``4 x steps``).
        saturation, pattern_change: the pattern probe's saturated-row threshold (reported); kept for
            compatibility (the QK fix decides a saturation flag, not the pattern probe).
        relative: an error of at least this fraction of ``|M(clean) - M(corrupt)|`` matters
            (the verification's size miss).
        ratio: the size rule's gap between the fix and the suspect (module docstring).
        verify: activation-patch the flagged components (and each method's top K), judge every
            finding and measure which fix recovers each confirmed one.
        tau: K = how many reach ``tau`` x the largest estimate (or patched effect) of the family.
        family_floor: rank flags only in a family whose largest fixed estimate reaches
            ``family_floor`` x ``|M(clean) - M(corrupt)|``.
        size: the size rule flags a fix estimate of at least this fraction of the total effect.
        rank_gap: a rank flag needs the fix's ``|estimate|`` at least this x the suspect's (or opposite signs).
        max_findings: how many flagged components ``print`` shows (all stay on the object).
        progress_bar: a bar over the probes and the patching; default: when the run may take > ~10 s.

    Returns:
        :class:`Diagnosis` (``print`` it for the report).
    """
    t0 = time.perf_counter()
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
    if progress_bar is None:
        progress_bar = is_long(model, task.clean.shape[0], task.clean.shape[1], passes=20 + 6 * steps)
    m = measure(model, task, probes, total, steps, saturation=saturation, progress_bar=progress_bar)
    skipped.update(m.skipped)
    th = Thresholds(total, relative, ratio, tau, family_floor, rank_gap, size)
    findings = [f for f in flag(m, th, probes, saturation)
                if components is None or any(applies(f.component, c) for c in components)]
    truth: dict[str, dict[str, float]] = {}
    if verify and findings:
        truth = verify_findings(model, task, m, findings, th.tau, th.big, th.floor, progress_bar)
    comps = list(components) if components is not None else sorted({f.component for f in findings})
    ran = [p for p in CHECKS if p in m.ran]
    return Diagnosis(findings, comps, ran, skipped, total, max_findings, truth, time.perf_counter() - t0, m)
