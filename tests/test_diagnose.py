"""The diagnoser names the right failure on every specimen and stays quiet on healthy components."""

import pytest
import torch

import workbook as wb
from tests._tol import F32, assert_close, scale_of
from workbook.analysis.diagnose import Diagnosis, diagnose, pattern_probe
from workbook.core.errors import WorkbookError
from workbook.models import specimens

# (specimen, the component whose estimate fails, the failure the diagnoser must name)
CASES = [
    ("saturation", "L0H0.q", "saturation"),
    ("cancellation", "L0H0", "cancellation"),
    ("flat_region", "embed->MLP0", "flat_gradient"),
    ("path_saturation", "embed->L0H0.q", "path_saturation"),
]


@pytest.fixture(scope="module")
def diagnoses() -> dict[str, tuple[object, object, Diagnosis]]:
    torch.set_num_threads(1)
    out = {}
    for name, _, _ in CASES:
        model, task = specimens.build(name)  # a missing specimen fails here, loudly
        out[name] = (model, task, diagnose(model, task))
    return out


@pytest.mark.parametrize("name, component, failure", CASES)
def test_names_the_failure_and_the_fix(diagnoses, name, component, failure):
    _, _, d = diagnoses[name]
    assert d.primary(component) == failure, f"{name}: expected {failure} on {component}\n{d}"
    assert component.split("@")[0] in d.untrustworthy() or any(c.split("->")[0] == component for c in d.untrustworthy())
    found = [f for f in d.for_component(component) if f.failure == failure]
    assert found and all(f.confirmed for f in found), f"activation patching should confirm it\n{d}"
    assert failure in str(d) and d.recommendations()[found[0].component] == found[0].fix


def test_specimen_constants_agree():
    from workbook.models.specimens import cancellation, path_saturation, saturation

    assert saturation.QUERY_NODE.split("@")[0] == CASES[0][1]
    assert cancellation.COMPONENT == CASES[1][1]
    assert path_saturation.EDGE == CASES[3][1]


HEALTHY = [
    ("cancellation", ["MLP1", "MLP0", "L1H0", "L1H1"]),  # L0H1 is the false-negative head: flagged
    ("saturation", ["L1H0", "L1H1", "L0H0.k"]),
    ("flat_region", ["MLP0", "MLP0->logits"]),
]


@pytest.mark.parametrize("name, healthy", HEALTHY)
def test_does_not_cry_wolf(diagnoses, name, healthy):
    _, _, d = diagnoses[name]
    for c in healthy:
        assert d.primary(c) is None, f"{name}: {c} is healthy (AtP matches patching) but was flagged\n{d}"


def test_random_model_heads_and_mlps_are_not_flagged():
    model = wb.build_gpt2(n_layers=2, d_model=32, n_heads=2, d_vocab=20, seed=3)
    g = torch.Generator().manual_seed(1)
    clean = torch.randint(0, 20, (4, 6), generator=g)
    corrupt = clean.clone()
    corrupt[:, 1] = (clean[:, 1] + 1) % 20
    task = wb.Task(clean, corrupt, clean[:, 1], corrupt[:, 1])
    d = diagnose(model, task, probes=("saturation", "flat_gradient"))
    nodes = [f"L{l}H{h}" for l in range(2) for h in range(2)] + ["MLP0", "MLP1"]
    assert not [c for c in nodes if d.primary(c)], str(d)


def test_scores_restrict_the_report(diagnoses):
    model, task, _ = diagnoses["saturation"]
    est = wb.atp(model, task, "head")
    d = diagnose(model, task, scores=est, probes=("saturation",))
    assert d.components == list(est.names)
    assert not d.findings, "head-output scores are not hit by a query-saturation finding"
    d = diagnose(model, task, scores=wb.atp(model, task, "q"), probes=("saturation",))
    assert d.primary("L0H0.q") == "saturation"


def test_pattern_probe_sees_the_saturated_query(diagnoses):
    model, task, _ = diagnoses["saturation"]
    probe = pattern_probe(model, task)
    assert probe["L0H0.q"]["saturated_change"] > 0.3
    assert probe["L0H0.q"]["saturated_change"] == max(v["saturated_change"] for v in probe.values())


def test_bad_input(diagnoses):
    model, task, _ = diagnoses["cancellation"]
    with pytest.raises(WorkbookError, match="unknown probe"):
        diagnose(model, task, probes=("vibes",))
    same = wb.Task(task.clean, task.clean, task.answer, task.wrong)
    with pytest.raises(WorkbookError, match="no effect"):
        diagnose(model, same)


# ---------------------------------------------------------------- verify_top and its learner check

def test_verify_top_matches_patching(diagnoses):
    from workbook.patching.verify import verify_top

    model, task, _ = diagnoses["cancellation"]
    est = wb.atp(model, task, ("head", "mlp"))
    got = verify_top(model, task, est, 3)
    assert got.names == est.order()[:3]
    truth = wb.patch_nodes(model, task, "head").to_dict() | wb.patch_nodes(model, task, "mlp").to_dict()
    # float32 specimen: patching the top 3 alone vs all nodes batched, to float32 rounding of the effects
    assert_close(got, torch.tensor([truth[n] for n in got.names]), F32, scale_of(list(truth.values())), "nodes")
    edges = wb.eap(model, task)
    got_e = verify_top(model, task, edges, 2)
    exact = wb.patch_edges(model, task, edges=got_e.names)
    assert_close(got_e, torch.tensor([exact[n] for n in got_e.names]), F32, what="edges")


def _planted():
    from workbook.patching.verify import verify_top

    def flipped(m, t, s, k):
        r = verify_top(m, t, s, k)
        return r.with_values(-r.values)

    def copied(m, t, s, k):
        r = verify_top(m, t, s, k)
        return r.with_values(torch.tensor([s[n] for n in r.names]))

    def magnitudes(m, t, s, k):
        r = verify_top(m, t, s, k)
        return r.with_values(r.values.abs())

    def signed_rank(m, t, s, k):
        names = s.order(absolute=False)[:k]
        return wb.Scores(names, torch.zeros(k), "x", "node")

    return [(flipped, "sign flipped"), (copied, "estimate's own values"), (magnitudes, "|effect|"),
            (signed_rank, "ranked by the signed score")]


@pytest.mark.parametrize("wrong, message", _planted(), ids=lambda x: getattr(x, "__name__", "msg"))
def test_check_verify_top_catches_planted_bugs(wrong, message, capsys):
    from workbook.course.checks._runner import learner_check
    from workbook.course.checks.workflow import check_verify_top

    assert not learner_check(check_verify_top.__wrapped__)(wrong)
    out = capsys.readouterr().out
    assert "[check failed]" in out and message in out, out


def test_check_verify_top_passes_reference_and_reports_stub(capsys):
    from workbook.course.checks._runner import learner_check
    from workbook.course.checks.workflow import check_verify_top
    from workbook.patching.verify import verify_top

    def stub(m, t, s, k):
        raise NotImplementedError

    assert learner_check(check_verify_top.__wrapped__)(verify_top)
    assert not learner_check(check_verify_top.__wrapped__)(stub)
    assert "[not done yet]" in capsys.readouterr().out


def test_the_public_workflow_check_is_the_wrapped_verify_top_check(capsys):
    from workbook.course.checks import workflow
    from workbook.patching.verify import verify_top

    assert workflow.check_verify_top(verify_top)
    assert "[passed]" in capsys.readouterr().out


def test_check_verify_top_names_a_wrong_count(capsys):
    from workbook.course.checks import workflow
    from workbook.patching.verify import verify_top

    def one_short(m, t, s, k):
        return verify_top(m, t, s, k - 1)

    assert not workflow.check_verify_top(one_short)
    assert "keep exactly the top k" in capsys.readouterr().out


# ---------------------------------------------------------------- predicted false negatives (deep model)

def test_predicted_misses_uses_the_false_negative_definition():
    from workbook.analysis.diagnose import predicted_misses

    better = {"a": 10.0, "b": 6.0, "c": 4.0, "d": 1.0}  # K = 2 (a, b reach 0.5 x 10)
    suspect = {"a": 5.0, "b": 0.1, "c": 3.0, "d": 2.0}  # ranks b 4th: outside its top 2
    got = predicted_misses(suspect, better, tau=0.5)
    assert list(got) == ["b"]
    assert got["b"]["K"] == 2 and got["b"]["rank_better"] == 2 and got["b"]["rank_suspect"] == 4
    assert got["b"]["floor"] == 5.0
    assert predicted_misses(better, better) == {}
    assert predicted_misses({"a": 1.0}, {"a": 0.0}) == {}


def test_flags_every_query_key_node_atp_misses_on_the_deep_model():
    """mixture/ioi: AtP ranks the truly important queries far down (saturated softmax); each one
    carries under 10 % of the total effect, so only the predicted-false-negative rule can flag it."""
    from workbook.core.scores import concat_scores
    from workbook.models import zoo

    torch.set_num_threads(1)
    model = zoo.load_model("mixture")
    task = zoo.load_task("mixture", n=8, seed=0, task="ioi")
    truth = concat_scores([wb.patch_nodes(model, task, "q"), wb.patch_nodes(model, task, "k")], method="patching")
    missed = wb.false_negatives(wb.atp(model, task, ("q", "k")), truth)
    assert missed, "AtP should miss saturated queries here (the capstone's example)"
    total = abs(task.baselines(model)[0] - task.baselines(model)[1])
    assert all(abs(truth[n]) < 0.1 * total for n in missed), "each is below the absolute 'large' threshold"
    d = diagnose(model, task, probes=("saturation",))
    for n in missed:
        found = [f for f in d.for_component(n) if f.failure == "saturation"]
        assert found and all(f.confirmed for f in found), f"{n} not flagged/confirmed\n{d}"
        assert "predicted false negative" in found[0].message
    probe = pattern_probe(model, task)
    for n in missed:  # the softmax's tangent sees a fraction of the real pattern move on the read row
        assert probe[n]["read_change"] > 2 * probe[n]["read_linear"], probe[n]
    # without the rank rule (family floor above every family) nothing is flagged: the rule is what finds them
    quiet = diagnose(model, task, probes=("saturation",), family_floor=1.0)
    assert not any(quiet.failures(n) for n in missed), str(quiet)
