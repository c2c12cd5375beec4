"""Learner check for chapter 05 (the workflow): verify the top of an estimate by patching.

``check_verify_top(verify_top_k)`` runs the learner's ``verify_top_k(model, task, scores, k)``
against :func:`workbook.patching.verify.verify_top` on the chapter's model (the 6-layer mixture
model, IOI) and a random model whose sizes all differ. The estimates are built by the check so
that their top ``k`` holds every kind the exercise promises (heads, MLPs, queries, keys, edges),
with both signs, an order that is neither alphabetical nor the signed order, and smallest
scores that differ from the largest: so the names, their **order** and the effects are all
compared, and the usual mistakes are named (ranking by the signed score, the k smallest,
alphabetical order, kinds not handled, |effect|, a flipped sign, the estimate's own values).
"""

from __future__ import annotations

import torch

from workbook.core.errors import WorkbookError
from workbook.core.scores import Scores
from workbook.course.checks._runner import CheckFailed, learner_check
from workbook.course.checks.case import count_ratios
from workbook.course.checks.cases import SHARP, call_guarded, describe_model, separating_cases
from workbook.course.checks.earlier_calls import stale_effects_message, stale_names_message
from workbook.course.checks.joint_edges import joint_edges_message
from workbook.course.checks.probe_estimates import K, probe_scores, tied_scores
from workbook.course.checks.quick import quick, remembered
from workbook.course.checks.top_effects import metric_or_groups_message, positions_summed_message
from workbook.models import zoo
from workbook.patching.nodes import node_kind_of, patch_nodes
from workbook.patching.verify import patch_each, verify_top

__all__ = ["check_verify_top", "probe_scores"]



def _cases() -> list[tuple[str, object, object, Scores, int]]:
    """``(label, model, task, estimate, k)``: k differs between cases, so a k that is never read fails (built
    once per check call; the small random model first in quick mode)."""
    out = remembered(("verify_top cases",), _build_cases)
    return out[::-1] if quick() else list(out)


def _build_cases() -> list[tuple[str, object, object, Scores, int]]:
    model, task = zoo.load_model("mixture"), zoo.load_task("mixture", n=8, seed=0, task="ioi")
    label = f"the chapter's mixture model on IOI ({describe_model(model, task)})"
    sva = zoo.load_task("mixture", n=8, seed=0, task="sva")  # a task with its own metric (a probability difference)
    out = [(label, model, task, probe_scores(model, "mixed", task.batch_size), K),
           (label, model, task, probe_scores(model, "edge", task.batch_size), K - 1),
           (f"the chapter's mixture model on agreement, whose metric is a probability difference "
            f"({describe_model(model, sva)})", model, sva, probe_scores(model, "node", sva.batch_size), K)]
    for rlabel, m, t in separating_cases()[:1]:
        out.append((rlabel, m, t, probe_scores(m, "node", t.batch_size), K - 2))
        out.append((rlabel, m, t, tied_scores(m), K - 2))
        out.append((f"{rlabel}, k larger than the estimate", m, t, tied_scores(m, 3), 4))  # every name, no more
        # the same names on another task of the same model: effects kept from an earlier call show here
        out.append((f"{rlabel}, its clean and corrupt prompts swapped", m, t.swapped(),
                    probe_scores(m, "node", t.batch_size), K - 2))
    for rlabel, m, t in separating_cases(**SHARP):  # peaked attention: patches of single positions do not add up
        out.append((rlabel, m, t, probe_scores(m, "node", t.batch_size), K - 1))
    return out


def _dropped_message(got: Scores, want: Scores) -> str | None:
    """Fewer names than k, and exactly the ones with the smallest exact effects are missing: a threshold."""
    kept, missing = set(got.names), [n for n in want.names if n not in set(got.names)]
    if not missing or not kept or not kept < set(want.names):
        return None
    if max(abs(float(want[n])) for n in missing) <= min(abs(float(want[n])) for n in kept):
        return (f"you dropped {missing}, the names whose exact effects are the smallest: a threshold or filter on "
                "the verified effects; verification returns all k names of the estimate's top k, confirmed or "
                "not (a small exact effect is the finding: the estimate ranked that name too high).")
    return None


def _names_message(got: list[str], want: list[str], est: Scores, label: str) -> str | None:
    k = len(want)
    if list(got) == list(want):
        return None
    dups = sorted({n for n in got if list(got).count(n) > 1})
    if dups:
        return (f"your result lists {dups} more than once: a pick (an argmax) repeated without removing what it "
                "already chose, or a name found from its value (names[values.index(v)]: among equal values it "
                "finds the first every time); take k distinct names, scores.order(absolute=True)[:k].")
    if len(got) > k + 1 and set(want) <= set(got):
        return (f"you returned {len(got)} names where k = {k} were asked: return only the top k names, ranked by "
                "|score| across every kind together (not k per kind or per group, and no unverified extras).")
    if set(got) == set(want):
        if list(got) == sorted(want):
            return "right components, but sorted alphabetically: keep the estimate's order (largest |score| first)."
        grouped = [n for g in dict.fromkeys(map(node_kind_of, want)) for n in want if node_kind_of(n) == g]
        if list(got) == grouped:
            return ("right components, but grouped by kind (each kind's names together, in the order your patching "
                    "calls returned them): return them in the estimate's order, largest |score| first.")
        if list(got) == list(reversed(want)):
            return "right components, but smallest |score| first: keep the estimate's order (largest first)."
        return f"right components in the wrong order {list(got)}: keep the estimate's order {want}."
    by_abs = est.order(absolute=True)
    if not len(got) and k:
        return (f"you returned no names at all where k = {k} were asked: the list you return was never filled. A "
                "generator or iterator (a (... for ...) expression, zip, map, filter) can be looped over only once: "
                "a second loop over it sees nothing, so build a list ([... for ...]); or the loop that fills your "
                "list never runs (its condition is never true).")
    if len(got) != k and list(got) == by_abs[:len(got)]:
        off = {-1: "one component short", 1: "one component too many"}.get(len(got) - k, "not k of them")
        return (f"you returned the top {len(got)} names where k = {k} were asked: right as far as they go, but {off}: "
                "take exactly k, scores.order(absolute=True)[:k] with the k of the argument (not [:k-1] or [:k+1], not "
                "a number fixed in the code, and not a threshold on |score|, whose count changes with the scores)"
                + (", and return after the loop over names or kinds, not inside it." if len(got) < k - 1 else "."))
    alternatives = [
        (list(est.names)[:k], "you took the first k names in the order the estimate stores them: rank them by "
                              "|score| first (scores.order(absolute=True)), then take the top k."),
        (est.order(absolute=False)[:k], "you ranked by the signed score (largest positive first); rank by |score|: a "
                                        "large negative effect matters as much as a large positive one."),
        (by_abs[-k:], "you took the k SMALLEST |scores|: order(absolute=True) lists the largest first, take [:k]."),
        (list(reversed(by_abs))[:k], "you took the k SMALLEST |scores|: order(absolute=True) lists the largest "
                                     "first, take [:k]."),
        (est.order(absolute=False)[-k:], "you took the most negative scores: rank by |score|."),
        (by_abs[:k - 1], "one component short: take exactly k (`[:k]`, not `[:k-1]`)."),
        (by_abs[:k + 1], "one component too many: take exactly k (`[:k]`)."),
        (by_abs[1:k + 1], "off by one: you skipped the top component (`[1:k+1]`); take `[:k]`."),
    ]
    for names, message in alternatives:
        if set(got) == set(names):
            return message
    said = [what for names, what in _pair_rankings(est, k) if set(got) == set(names)]
    if said:
        return (f"you ranked by {said[0]}" + (f" (or by {' or by '.join(said[1:])}: the same names here)" if said[1:]
                                               else "") + "; verification takes the top k by |score|, the estimate's "
                "batch mean (scores.order(absolute=True)[:k]): how large the estimated effect is, not how consistent "
                "or extreme it is over the pairs.")
    if len(got) == 1 and got[0] in (by_abs[k:k + 1] + by_abs[k - 1:k]) and got[0] != by_abs[0]:
        return (f"you returned one name, {got[0]!r}, the {k if got[0] in by_abs[k:k + 1] else k - 1}-th of the "
                "ranking: an index [k] picks a single name where the slice [:k] takes the top k.")
    if len(got) != k and not set(got) <= set(want):  # a subset of the top k: some kinds were dropped (below)
        return (f"you returned {len(got)} names where k = {k} were asked: take exactly the top k (read k from the "
                "argument, do not fix it).")
    missing = [n for n in want if n not in got]
    kinds = sorted({("edges" if "->" in n else "queries" if n.endswith(".q") else "keys" if n.endswith(".k")
                     else "MLPs" if n.startswith("MLP") else "heads") for n in missing})
    extra = [n for n in got if n not in want]
    kept = {node_kind_of(n) for n in got}
    if extra and set(got) != set([n for n in by_abs if node_kind_of(n) in kept][:len(got)]):
        shown = ", ".join(f"{n} ({float(est[n]):.3g})" for n in extra if n in est.names)
        return (f"on {label}: your names are not the top k by |score|: {shown or extra} stand where {missing} belong, "
                "and they are not the next ones of their own kind either. The names and the scores do not line up: "
                "an index from one ordering (an argsort of the values) applied to another list (sorted(names), a "
                "dict's keys), or a ranking by something else than |score|.")
    return (f"on {label}: the {' and '.join(kinds)} of the top k are missing from your result ({missing})"
            + (f", and {extra} are there instead" if extra else "") + ": handle every kind of name the exercise "
            "lists (heads, MLPs, .q/.k nodes, edges 'src->dst'), each verified by the patching call of its kind.")


def _whole_numbers(g: torch.Tensor, w: torch.Tensor, n_names: int, same: bool) -> str | None:
    """Effects that are whole numbers where the exact ones are not: ranks, or values truncated."""
    if not bool((g == g.round()).all()) or bool((w == w.round()).all()):
        return None
    if g.min() >= 0 and g.max() >= 1 and g.max() <= n_names:
        return ("your effects are whole numbers between 0 and the number of names: ranks or positions (where a "
                "name stands in an ordering), not effects; report each name's patched effect itself, res[name].")
    return ("your effects are whole numbers: they were truncated (int(...) of each effect, or an integer tensor or "
            ".long()); keep them as floats." + (_ALSO_JOINT if same else ""))


def _pair_rankings(est: Scores, k: int) -> list[tuple[list[str], str]]:
    """The top k by other statistics of the estimate's per-prompt-pair values than |mean|, with their names."""
    if est.per_example is None or est.per_example.shape[0] < 2:
        return []
    pe = est.per_example.double()
    by = lambda v: est.with_values(v).order(absolute=True)[:k]  # noqa: E731 - four one-line rankings
    return [(by(pe.abs().mean(0)), "the mean absolute value over the prompt pairs (|.| taken per prompt pair, "
                                   "before the mean)"),
            (by(pe.mean(0).abs() / pe.std(0).clamp_min(1e-12)), "a signal-to-noise ratio (|mean| / std over the "
                                                                 "prompt pairs)"),
            (by(pe.abs().max(0).values), "the largest |value| on any one prompt pair"),
            (by(pe.median(0).values), "the median over the prompt pairs")]


def _qk_message(got: Scores, want: Scores, wrong: list[str], model, task, scale: float) -> str | None:
    """When only ``.q``/``.k`` names are wrong: their effects are the whole head's, or the other input's."""
    head_of = {n: n.rsplit(".", 1)[0] for n in want.names if n.endswith((".q", ".k"))}
    if not head_of or not set(wrong) <= set(head_of):
        return None
    heads = patch_nodes(model, task, "head", nodes=sorted(set(head_of.values())))
    if all(abs(float(got[n]) - float(heads[head_of[n]])) <= 2e-3 * scale for n in wrong):
        return ("your effects for the .q/.k names are those of the whole head: patch the query or key input "
                "(patch_nodes(model, task, 'q' or 'k', nodes=[...])), not the head output.")
    flip = {n: head_of[n] + (".k" if n.endswith(".q") else ".q") for n in wrong}
    other = {f: float(patch_nodes(model, task, f[-1], nodes=[f])[f]) for f in set(flip.values())}
    if all(abs(float(got[n]) - other[flip[n]]) <= 2e-3 * scale for n in wrong):
        return ("your effects for the .k names are those of the queries (or the .q names those of the keys): a "
                ".k name is patched with patch_nodes(model, task, 'k', ...), a .q name with 'q'; read the kind "
                "from the name's suffix.")
    if all(abs(float(got[n]) - float(want[n]) - other[flip[n]]) <= 2e-3 * scale for n in wrong):
        return ("your effects for the .q/.k names are the query's effect plus the key's (both inputs of the head "
                "patched, one at a time, and added): a .q name patches only the query input, a .k name only the key.")
    return None


def _values_message(got: Scores, want: Scores, est: Scores, model, task, label: str) -> str | None:
    g = torch.tensor([float(got[n]) for n in want.names], dtype=torch.float64)
    w = want.values.double()
    scale = max(w.abs().max().item(), 1e-9)

    def close(x):
        return (g - torch.as_tensor(x, dtype=torch.float64)).abs().max().item() <= 2e-3 * scale

    if close(w):
        return None
    pairs = "; ".join(f"{n}: yours {float(got[n]):.3g}, expected {float(want[n]):.3g}" for n in want.names[:3])
    numbers = f" On {label}: {pairs}."
    clean_m, _ = task.baselines(model)
    if close(w + clean_m):
        return "you returned M(patched) without subtracting M(clean)." + numbers
    denoise = verify_top(model, task.swapped(), est, len(want))
    d = torch.tensor([float(denoise[n]) for n in want.names], dtype=torch.float64)
    if close(d) or close(-d):
        minus = close(-d) and not close(d)
        return (f"these are {'minus the ' if minus else ''}denoising effects (clean values patched into the corrupt "
                "run, minus M(corrupt)): verification here is noising, M(clean with c := corrupt) - M(clean)"
                + (", which is not the denoising effect negated." if minus else ".") + numbers)
    wrong = [n for n, a, b in zip(want.names, g.tolist(), w.tolist()) if abs(a - b) > 2e-3 * scale]
    said = metric_or_groups_message(got, want, est, model, task, wrong, close)
    if said:
        return said + numbers
    said = _qk_message(got, want, wrong, model, task, scale)
    if said:
        return said + numbers
    e = torch.tensor([float(est[n]) for n in want.names], dtype=torch.float64)
    corr_m = task.baselines(model)[1]
    half = verify_top(model, task.subset(slice(0, max(1, task.batch_size // 2))), est, len(want))
    for x, message in (
        (w + clean_m - corr_m, "your effects are measured from M(corrupt): the noising effect subtracts M(clean), "
                               "the metric of the unpatched clean run."),
        (w - clean_m, "you subtracted M(clean) from effects that already are differences (patching returns "
                      "M(patched) - M(clean)): report them as they come."),
        (w.cumsum(0), "your effects add up along the list (a running sum: a total never reset between "
                      "components): report each component's own effect."),
        ((w - d) / 2, "your effects are the mean of the noising effect and minus the denoising one: verification "
                      "here is noising only, M(clean with c := corrupt) - M(clean); drop the denoising run."),
        ((w + d) / 2, "your effects are the mean of the noising and the denoising effects: verification here is "
                      "noising only, M(clean with c := corrupt) - M(clean); drop the denoising run."),
        (w - e, "you returned exact - estimate (the estimate's error); verification returns the exact effect itself."),
        (e - w, "you returned estimate - exact (the estimate's error); verification returns the exact effect itself."),
        (w / e.where(e.abs() > 0, torch.ones_like(e)), "you returned exact / estimate (a ratio); verification "
                                                       "returns the exact effect itself."),
        (torch.tensor([float(half[n]) for n in want.names]), "your effects come from part of the batch only (the "
                                                             "first half of the prompt pairs): patch and average over "
                                                             "every pair of the task."),
        (w.abs(), "you returned |effect|: keep the sign, it tells the direction of the effect."),
        (-w, "sign flipped: the noising effect is M(clean with c := corrupt) - M(clean), not the other way round."),
        (torch.tensor([float(est[n]) for n in want.names]), "these are the estimate's own values: verification must "
                                                             "*patch* the model (wb.patch_nodes / wb.patch_edges)."),
    ):
        if close(x):
            return message + numbers
    said = _pair_statistic(close, model, task, list(want.names))
    if said:
        return said + numbers
    same = len(g) > 1 and (g - g[0]).abs().max().item() <= 1e-9 * max(g.abs().max().item(), 1e-30)
    said = _whole_numbers(g, w, len(est), same)
    if said:
        return said + numbers
    if same:
        return ("every component got the same effect: you patched them together (one joint run) and gave each the "
                "joint effect; patch each component ALONE and report its own effect." + numbers)
    k = float((g * w).sum() / (w * w).sum().clamp_min(1e-30))
    if abs(k) > 1e-3 and close(k * w):
        what = _proportional(k, clean_m, corr_m, task, model, len(want.names))
        return (f"your effects are proportional to the expected ones, {what}; verification reports the raw noising "
                "effect M(clean with c := corrupt) - M(clean) of each component, as patching returns it." + numbers)
    as_node = _edge_as_node(got, wrong, model, task, scale) or positions_summed_message(got, wrong, model, task, scale)
    if as_node:
        return as_node + numbers
    kinds = sorted({"edges" if "->" in n else "nodes" for n in wrong})
    return (f"the effects of {wrong} are wrong ({' and '.join(kinds)}; the others match): look up each name in "
            f"the result of the call for its own kind." + numbers)


def _per_pair_effects(model, task, names: list[str]) -> torch.Tensor | None:
    """The exact noising effect of each name on each prompt pair alone, ``[B, len(names)]`` (float64)."""
    each = patch_each(model, task, names)
    if any(res.per_example is None for res in each.values()):
        return None
    return torch.stack([each[n].per_example[:, each[n].names.index(n)].double() for n in names], 1)


def _pair_statistic(close, model, task, names: list[str]) -> str | None:
    """Effects that are another statistic of the prompt pairs' own effects than their mean (``close(x)``: the
    learner's effects equal ``x``)."""
    pe = _per_pair_effects(model, task, names)
    if pe is None or pe.shape[0] < 2:
        return None
    mean = "verification reports the mean over the prompt pairs (what patching returns as each name's value)"
    for x, what in (
        (pe.gather(0, pe.abs().argmax(0, keepdim=True))[0], "the effect of the one prompt pair where it is largest "
                                                             "(the max |effect| over the pairs)"),
        (pe.median(0).values, "the median over the prompt pairs"),
        (pe.abs().mean(0), "the mean of |effect| over the prompt pairs (the signs no longer cancel)"),
        (pe[0], "the effect on the first prompt pair only"),
        (pe[-1], "the effect on the last prompt pair only"),
    ):
        if close(x):
            return f"your effects are {what}, not their mean: {mean}."
    return None


def _proportional(k: float, clean_m: float, corr_m: float, task, model, n_names: int) -> str:
    """What a factor ``k`` between the learner's effects and the exact ones says: a normalisation by a baseline,
    the batch size, or the ratio of two counts."""
    named = {"1/(M(clean) - M(corrupt))": 1 / (clean_m - corr_m), "1/M(clean)": 1 / clean_m,
             "B": task.batch_size, "1/B": 1 / task.batch_size}
    hit = next((n for n, v in named.items() if abs(k - v) <= 2e-2 * abs(v)), None)
    ratios = count_ratios(k, {"B": task.batch_size, "k": n_names, "n_layers": model.cfg.n_layers,
                              "n_heads": model.cfg.n_heads})
    fallback = f"times {ratios[0][0]} {ratios[0][1][:-1]}" if ratios else \
        f"all {k:.3g} times the expected ones: a normalisation crept in"
    return {"1/(M(clean) - M(corrupt))": "divided by the gap M(clean) - M(corrupt): you normalised them",
            "1/M(clean)": "divided by M(clean): you made them relative", "B": "times B: summed over the batch",
            "1/B": "divided by B once too often"}.get(hit, fallback)


# Equal whole numbers (all 0 when every |effect| < 1) fit a joint run whose effect rounds to 0 as well as truncation.
_ALSO_JOINT = (" Every effect is the same number, which also happens when the components are patched together (one "
               "joint run) and each is given the joint effect: patch each component ALONE.")


def _edge_as_node(got: Scores, wrong: list[str], model, task, scale: float) -> str | None:
    """When every wrong effect is an edge's and equals patching a whole node of that edge: say which node."""
    if not wrong or not all("->" in n for n in wrong):
        return None

    def node_effect(node: str, whole: bool) -> float | None:
        if node in ("embed", "logits"):
            return None
        head, _, part = node.partition(".")
        kind = "mlp" if node.startswith("MLP") else ("head" if whole or not part else part)
        name = head if kind in ("head", "mlp") else node
        return float(patch_nodes(model, task, kind, nodes=[name])[name])

    for side, whole, what in ((1, True, "its whole destination node"), (1, False, "the destination's input (q/k/v)"),
                              (0, True, "its whole source node")):
        vals = [node_effect(n.split("->")[side], whole) for n in wrong]
        if all(v is not None and abs(float(got[n]) - v) <= 2e-3 * scale for n, v in zip(wrong, vals)):
            return (f"your effect for each edge is the effect of patching {what}: an edge patch changes only what "
                    "the destination reads FROM THAT SOURCE (the rest of its input stays clean), so verify edges with "
                    "wb.patch_edges(model, task, edges=[...]), not wb.patch_nodes.")
    return joint_edges_message(got, model, task, scale) or (
        "only the edges' effects are wrong: verify an edge with wb.patch_edges(model, task, edges=[...]) (the "
        "destination reads the corrupt value of that one source, everything else clean), not by patching a node.")


@learner_check
def check_verify_top(learner_fn) -> None:
    """Learner check for ``verify_top_k(model, task, scores, k) -> Scores``: names, order and effects."""
    lengths: dict[int, int] = {}  # k -> how many names the learner returned
    seen: dict[int, dict[str, float]] = {}  # id(model) -> the effects of the calls before, by name
    earlier: list[list[str]] = []  # each earlier call's estimate, its names by |score|
    for label, model, task, est, k in _cases():
        want = remembered(("verify_top", id(model), id(task), id(est), k), lambda: verify_top(model, task, est, k),
                          model, task, est)
        try:
            got = call_guarded(learner_fn, model, task, est, k)
        except WorkbookError as err:
            if "unknown" not in str(err):
                raise
            raise CheckFailed(f"your function raised {type(err).__name__}: {str(err).splitlines()[0]} -- names of "
                              "another kind reached a patching call: group the names by kind (heads, MLPs, .q/.k "
                              "nodes, edges 'src->dst') and patch each group with its own call.") from err
        if not isinstance(got, Scores):
            raise CheckFailed(f"return a workbook Scores (names + values), got {type(got).__name__}.")
        if len(got) != k and lengths and set(lengths.values()) == {len(got)}:
            raise CheckFailed(f"you returned {len(got)} names for k = {k}, as for k = {next(iter(lengths))}: your "
                              "function does not use k (a number fixed in the code?); take the top k of the argument.")
        lengths[k] = len(got)
        message = _dropped_message(got, want) or _names_message(list(got.names), list(want.names), est, label)
        if message is not None and set(got.names) != set(want.names) and len(got) == k:
            exact = verify_top(model, task, est, len(est))  # every name of the estimate, patched
            if set(got.names) == set(exact.order(absolute=True)[:k]):
                message = ("you picked the top k by their EXACT effects (patching every name first): verification "
                           "takes the top k of the ESTIMATE (scores.order(absolute=True)[:k]) and patches only those, "
                           "to see how well the cheap estimate ranked them.")
        if message is None:
            message = _values_message(got, want, est, model, task, label)
        if message is not None:
            raise CheckFailed(stale_effects_message(got, want, seen.get(id(model), {}))
                              or stale_names_message(got, want, earlier) or message)
        seen.setdefault(id(model), {}).update({n: float(want[n]) for n in want.names})
        earlier.append(list(est.order(absolute=True)))
