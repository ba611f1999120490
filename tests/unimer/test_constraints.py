"""The dual constraint on flow with known motion: true AUs supported, wrong ones contradicted."""

import pytest
from unimer_toys import make_prepared, make_sample

from deftmer.data.sample import ActionUnit
from deftmer.unimer.config import UnimerConfig
from deftmer.unimer.constraints import au_verdict, check_clip, infer_aus
from deftmer.unimer.motion import noise_floor, region_stats

CFG = UnimerConfig()


@pytest.mark.parametrize("au", [ActionUnit(1), ActionUnit(2), ActionUnit(4), ActionUnit(6), ActionUnit(12, "L"),
                                ActionUnit(12, "R"), ActionUnit(15), ActionUnit(17), ActionUnit(9), ActionUnit(14, "R")])
def test_true_au_is_supported(au):
    stats = region_stats(make_prepared([au], amplitude=0.35, noise=0.05, seed=au.number))
    assert au_verdict(au, stats, CFG).verdict == "supported"


def test_au_whose_region_did_not_move_is_contradicted():
    stats = region_stats(make_prepared([ActionUnit(12)], amplitude=0.4, noise=0.05))
    v = au_verdict(ActionUnit(4), stats, CFG)
    assert v.verdict == "contradicted" and "noise floor" in v.reason
    assert v.regions == ("brow_inner_L", "brow_inner_R", "glabella")


def test_au_whose_region_moved_the_other_way_is_contradicted():
    stats = region_stats(make_prepared([ActionUnit(15)], amplitude=0.4, noise=0.05))  # corners pulled down
    v = au_verdict(ActionUnit(12), stats, CFG)
    assert v.verdict == "contradicted" and "another direction" in v.reason
    # wrong side: right lip corner labelled, left one moved
    stats = region_stats(make_prepared([ActionUnit(12, "L")], amplitude=0.4, noise=0.05))
    assert au_verdict(ActionUnit(12, "R"), stats, CFG).verdict == "contradicted"


def test_faint_motion_is_weak():
    floor = noise_floor(make_prepared([], noise=0.02))
    # inner brows rise by twice the noise floor: between weak_snr and support_snr
    stats = region_stats(make_prepared([ActionUnit(1)], amplitude=2.0 * floor, noise=0.02))
    v = au_verdict(ActionUnit(1), stats, CFG)
    assert v.verdict == "weak", v


def test_check_clip_scores_reports_unexplained_and_unverifiable():
    aus = [ActionUnit(12), ActionUnit(4), ActionUnit(54)]  # AU4 did not happen; AU54 = head down
    prepared = make_prepared([ActionUnit(12), ActionUnit(1)], amplitude=0.4, noise=0.05)
    c = check_clip(make_sample(aus), region_stats(prepared), CFG)
    assert [v.verdict for v in c.verdicts] == ["supported", "contradicted"]
    assert c.score == 0.5 and c.labelled and c.unverifiable == ["AU54"]
    assert c.unexplained == ["brow_inner_L", "brow_inner_R"]  # AU1 moved them; no label explains it
    assert [v.au for v in c.kept(CFG)] == ["AU12"]
    assert [v.au for v in c.kept(CFG.model_copy(update={"policy": "keep_all"}))] == ["AU12", "AU4"]
    assert c.passes(CFG.model_copy(update={"policy": "drop_low_score", "min_score": 0.5}))
    assert not c.passes(CFG.model_copy(update={"policy": "drop_low_score", "min_score": 0.6}))


def test_infer_aus_reads_aus_and_sides_from_motion_alone():
    stats = region_stats(make_prepared([ActionUnit(12, "R"), ActionUnit(1), ActionUnit(2)], amplitude=0.4, noise=0.05))
    inferred = infer_aus(stats, CFG)
    assert [v.au for v in inferred] == ["AU1", "AU2", "RAU12"]
    c = check_clip(make_sample([]), stats, CFG)
    assert not c.labelled and c.score == 1.0 and [v.au for v in c.inferred] == ["AU1", "AU2", "RAU12"]
    assert c.unexplained == []


def test_grounded_evidence_falls_back_to_the_flow_when_the_au_head_names_nothing_supported():
    import numpy as np

    from deftmer.facs import MODEL_AUS
    from deftmer.model.evidence import grounded_evidence
    from deftmer.unimer.answer import NO_EVIDENCE, format_evidence

    prepared = make_prepared([ActionUnit(12, "R"), ActionUnit(1), ActionUnit(2)], amplitude=0.4, noise=0.05)
    head = np.zeros(len(MODEL_AUS))
    head[MODEL_AUS.index(12)] = 0.9                       # the AU head names AU12: supported, on the right
    assert [(e.au, e.inferred) for e in grounded_evidence(prepared, head, CFG)] == [("RAU12", False)]
    head[:] = 0.0
    head[MODEL_AUS.index(4)] = 0.9                        # names only AU4, which did not move
    items = grounded_evidence(prepared, head, CFG)
    assert [(e.au, e.inferred) for e in items] == [("AU1", True), ("AU2", True), ("RAU12", True)]
    assert format_evidence(items).startswith("motion consistent with AU1")
    still = make_prepared([], amplitude=0.0, noise=0.05)    # nothing moved: then, and only then, no evidence
    assert format_evidence(grounded_evidence(still, np.zeros(len(MODEL_AUS)), CFG)) == NO_EVIDENCE
