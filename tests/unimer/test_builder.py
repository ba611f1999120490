"""Instruction records: four tasks, seeded and byte-stable, fold-safe, policy-respecting."""

import json

import pytest
from unimer_toys import make_prepared, make_sample

from deftmer.data.labels import MEGC3
from deftmer.data.sample import ActionUnit
from deftmer.errors import UserError
from deftmer.preprocess.records import ClipInputs
from deftmer.unimer.answer import parse_answer
from deftmer.unimer.builder import analyse_clips, build_records, read_jsonl, records_from_analyses, write_jsonl
from deftmer.unimer.card import build_card, write_card
from deftmer.unimer.config import UnimerConfig

CFG = UnimerConfig()


def _clip(sid: str, labelled: list[ActionUnit], moved: list[ActionUnit], emotion: str, seed: int) -> ClipInputs:
    return ClipInputs(make_sample(labelled, emotion, sid), make_prepared(moved, amplitude=0.4, noise=0.05, seed=seed, sample_id=sid))


@pytest.fixture(scope="module")
def clips() -> list[ClipInputs]:
    return [
        _clip("toy/s1/c1", [ActionUnit(12, "L"), ActionUnit(4)], [ActionUnit(12, "L")], "happiness", 1),
        _clip("toy/s1/c2", [ActionUnit(1), ActionUnit(2)], [ActionUnit(1), ActionUnit(2)], "surprise", 2),
        _clip("toy/s2/c1", [ActionUnit(4)], [ActionUnit(4)], "anger", 3),
        _clip("toy/s3/c1", [], [ActionUnit(15, "R")], "sadness", 4),   # no AU labels (like SMIC)
        _clip("toy/s3/c2", [ActionUnit(12)], [ActionUnit(12)], "others", 5),  # excluded from MEGC3
    ]


def test_four_tasks_per_labelled_clip_and_grounded_answers(clips):
    recs = build_records(clips, MEGC3, CFG, seed=0)
    by_id = {r.id: r for r in recs}
    assert len(recs) == 4 * 4 + 2  # the "others" clip has no class: only AU and motion records
    assert {r.task for r in recs if r.sample_id == "toy/s3/c2"} == {"au", "motion"}
    emo = by_id["toy/s1/c1#emotion"]
    assert emo.answer == "Emotion: positive" and "negative, positive, surprise" in emo.instruction
    reason = by_id["toy/s1/c1#reasoning"]
    parsed = parse_answer(reason.answer, MEGC3)
    assert parsed.label == "positive" and parsed.aus == ["LAU12"]  # contradicted AU4 left out
    assert "left lip corner moves up and outward" in reason.answer
    assert reason.evidence == [14] and reason.consistency == 0.5
    assert "LAU12 — lip corner puller, subject's left side" in by_id["toy/s1/c1#au"].answer
    motion = by_id["toy/s3/c1#motion"].answer
    assert motion.startswith("Motion: The right lip corner moves down")
    inferred = by_id["toy/s3/c1#reasoning"].answer
    assert "motion consistent with RAU15" in inferred and inferred.endswith("Answer: negative.")


def test_full_answers_are_complete_and_short(clips):
    """What DEFT's stage 2 learns: all three parts, the class last in the reasoning, at most
    MAX_EVIDENCE_AUS AUs, and short enough that no answer needs cutting."""
    from deftmer.unimer.builder import MAX_EVIDENCE_AUS, full_answers

    labelled = [c for c in clips if c.sample.emotion != "others"]
    for clip, text in zip(labelled, full_answers(labelled, MEGC3, CFG)):
        parsed = parse_answer(text, MEGC3)
        assert text.startswith("Emotion: ") and "\nEvidence: " in text and "\nReasoning: " in text
        label = MEGC3.map(clip.sample.emotion)
        assert parsed.label == label and parsed.reasoning.endswith(f"Answer: {label}.")
        assert len(parsed.aus) <= MAX_EVIDENCE_AUS and len(text.split()) < 80


def test_same_seed_same_bytes_other_seed_other_templates(clips, tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    write_jsonl(build_records(clips, MEGC3, CFG, seed=7), a)
    write_jsonl(build_records(list(reversed(clips)), MEGC3, CFG, seed=7), b)
    write_jsonl(build_records(clips, MEGC3, CFG, seed=8), c)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    back = read_jsonl(a)
    assert [r.to_dict() for r in back] == [json.loads(line) for line in a.read_text().splitlines()]


def test_fold_build_holds_only_training_subjects_and_identical_records(clips):
    full = {r.id: r.to_dict() for r in build_records(clips, MEGC3, CFG, seed=3)}
    fold = build_records(clips, MEGC3, CFG, seed=3, subjects={"s1", "s3"})
    assert {r.subject for r in fold} == {"s1", "s3"}
    assert all(full[r.id] == r.to_dict() for r in fold)


def test_policies(clips):
    keep = build_records(clips, MEGC3, CFG.model_copy(update={"policy": "keep_all"}), seed=0)
    r = next(x for x in keep if x.id == "toy/s1/c1#reasoning")
    assert r.aus == ["LAU12", "AU4"] and "AU4 — labelled, but" in r.answer
    drop = build_records(clips, MEGC3, CFG.model_copy(update={"policy": "drop_low_score", "min_score": 0.75}), seed=0)
    assert "toy/s1/c1" not in {x.sample_id for x in drop}      # score 0.5
    assert "toy/s1/c2" in {x.sample_id for x in drop}          # score 1.0
    only = build_records(clips, MEGC3, CFG.model_copy(update={"tasks": ["motion"]}), seed=0)
    assert {x.task for x in only} == {"motion"} and len(only) == 5


def test_read_jsonl_errors_name_the_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_jsonl(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    with pytest.raises(UserError, match="bad.jsonl:1"):
        read_jsonl(bad)


def test_card_counts_and_pass_rates(clips, tmp_path):
    analyses = analyse_clips(clips, MEGC3, CFG)
    recs = records_from_analyses(analyses, MEGC3, CFG, seed=0)
    card = build_card("toy", "megc3", analyses, recs, CFG, seed=0)
    assert card.clips == 5 and card.clips_labelled_aus == 4 and card.records == 18
    assert card.per_task == {"au": 5, "emotion": 4, "motion": 5, "reasoning": 4}
    assert card.per_subject == {"s1": 8, "s2": 4, "s3": 6}
    assert card.per_emotion == {"(not in class set)": 1, "negative": 2, "positive": 1, "surprise": 1}
    assert card.verdicts == {"supported": 5, "weak": 0, "contradicted": 1}
    au4 = next(a for a in card.per_au if a.au == 4)
    assert (au4.labelled, au4.supported, au4.contradicted, au4.support_rate) == (2, 1, 1, 0.5)
    assert next(a for a in card.per_au if a.au == 15).inferred == 1
    md, js = write_card(card, tmp_path / "u.jsonl")
    assert md.name == "u.card.md" and "| AU4 | 2 | 1 | 0 | 1 | 50.0% | 0 |" in md.read_text()
    assert json.loads(js.read_text())["thresholds"]["support_snr"] == CFG.support_snr
