"""Answer format round trip, tolerant parsing of free text, and claim support on known flow."""

import pytest
from unimer_toys import make_prepared

from deftmer.data.labels import CASME2_5, MEGC3
from deftmer.data.sample import ActionUnit
from deftmer.unimer.answer import claim_support, find_aus, format_answer, match_label, parse_answer
from deftmer.unimer.config import UnimerConfig
from deftmer.unimer.describe import EvidenceItem
from deftmer.unimer.motion import region_stats

CFG = UnimerConfig()
EVIDENCE = [EvidenceItem("LAU12", "left lip corner moves up and outward (strong)", (14,)),
            EvidenceItem("AU6", "both cheeks move up (moderate)", (9, 10), inferred=True)]


def test_format_then_parse_round_trips():
    text = format_answer("positive", EVIDENCE, "The lip corner rises with the cheeks. Answer: positive.")
    assert text.splitlines()[0] == "Emotion: positive"
    assert "LAU12 — left lip corner" in text and "motion consistent with AU6 — both cheeks" in text
    p = parse_answer(text, MEGC3)
    assert p.label == "positive" and p.aus == ["LAU12", "AU6"]
    assert p.evidence.startswith("LAU12") and p.reasoning.endswith("Answer: positive.")
    assert format_answer(None, [], "").splitlines() == ["Emotion: unknown", "Evidence: no Action Unit is supported by the measured motion"]


@pytest.mark.parametrize("text,label", [
    ("**Emotion:** Surprise", "surprise"),
    ("emotion : suprise", "surprise"),                      # misspelt
    ("Emotion: happiness\nEvidence: AU12", "positive"),      # raw emotion mapped into the class set
    ("The brows rise.\nReasoning: AU1+AU2 point to surprise, not happiness. So: negative", "negative"),
    ("I cannot tell what this is.", None),
    ("Emotion: bored", None),
])
def test_parse_is_tolerant_and_says_none_without_a_class(text, label):
    assert parse_answer(text, MEGC3).label == label


def test_class_words_of_another_class_set():
    assert match_label("Repression", CASME2_5) == "repression"
    assert match_label("happy", MEGC3) == "positive"
    assert find_aus("left AU 12, R-AU4 and au6; AU12 again; AU120") == ["AU12", "RAU4", "AU6"]


def test_claim_support_is_share_of_claims_the_flow_backs():
    stats = region_stats(make_prepared([ActionUnit(12, "L")], amplitude=0.4, noise=0.05))
    right = "Emotion: positive\nEvidence: LAU12 — left lip corner moves up and outward (strong)"
    assert claim_support(right, stats, CFG) == 1.0
    wrong_side = "Evidence: RAU12 — right lip corner moves up and outward"
    assert claim_support(wrong_side, stats, CFG) == 0.0
    # 4 claims: LAU12 (held), left corner up-out (held), AU4 (not), brows lowered toward midline (2 regions, not)
    mixed = ("Evidence: LAU12 — left lip corner pulled upward and outwards; "
             "AU4 — both inner brows lowered toward the midline")
    assert claim_support(mixed, stats, CFG) == pytest.approx(2 / 5)
    assert claim_support("Evidence: the chin does not move", stats, CFG) == 1.0
    assert claim_support("Emotion: positive", stats, CFG) is None
