"""SynthME as a benchmark: deterministic files, CASME II layout, truth, balance, subjects, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook

from deftmer.data import load_dataset
from deftmer.data.frames import read_frame
from deftmer.data.sample import ActionUnit
from deftmer.data.synthme import ANNOTATION_NAME, TRUTH_NAME, load_truth
from deftmer.errors import UserError
from deftmer.facs import emfacs_emotion, expected_motions, objective_class
from deftmer.synth.face import detect_landmarks
from deftmer.synth.generate import (
    CLASS_COMBOS,
    COLUMNS,
    SynthOptions,
    class_schedule,
    emotion_rule_check,
    generate_synthme,
)

FAST = SynthOptions(fps=100.0)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthme")
    generate_synthme(root, subjects=3, clips_per_subject=5, seed=11, options=FAST, progress=False)
    return root


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for root, seed in ((a, 5), (b, 5), (c, 6)):
        generate_synthme(root, subjects=1, clips_per_subject=2, seed=seed, options=FAST, progress=False)
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys() and len(fa) > 10
    assert all(fa[k] == fb[k] for k in fa)
    assert (a / TRUTH_NAME).read_bytes() != (c / TRUTH_NAME).read_bytes()


def test_casme2_loader_reads_it_back_with_the_truth(bench):
    ds = load_dataset("synthme", bench)
    truth = load_truth(bench)
    assert len(ds) == 15 and not ds.problems
    assert ds.subjects == ["sub01", "sub02", "sub03"]
    assert ds.class_set.name == "casme2_5"
    for s in ds.samples:
        t = truth[s.id]
        assert s.id.startswith("synthme/sub0") and s.dataset == "synthme"
        assert (s.onset, s.apex, s.offset) == (t.onset, t.apex, t.offset)
        assert s.frame_numbers == tuple(range(t.onset, t.offset + 1))
        assert s.label == t.emotion and s.emotion == t.emotion
        assert [(a.number, a.side) for a in s.aus] == [(a.number, a.side) for a in t.aus]
        assert s.objective_class == t.objective_class == objective_class(s.aus)
        assert read_frame(s.frames[0]).shape == (256, 256, 3)
        # clips last 0.2-0.5 s at the recorded frame rate, apex strictly inside
        assert 0.2 <= (t.offset - t.onset) / t.fps <= 0.5 + 1e-9
        assert t.onset < t.apex < t.offset


def test_spreadsheet_has_the_casme2_columns_and_subject_styles(bench):
    ws = load_workbook(bench / ANNOTATION_NAME).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == COLUMNS
    subjects = {r[0] for r in rows[1:]}
    assert subjects == {1, "02", 3}          # CASME II writes both 1 and 01
    assert all(isinstance(r[7], int) and 1 <= r[7] <= 7 for r in rows[1:])


def test_truth_records_aus_regions_and_displacement(bench):
    truth = load_truth(bench)
    for t in truth.values():
        assert t.aus
        for a in t.aus:
            assert a.regions == tuple(r for r, *_ in expected_motions(ActionUnit(a.number, a.side)))
            assert 0.6 <= a.amplitude_224 <= 2.0
            px = a.amplitude_224 * t.iod_px / (0.30 * 224)
            # peak of the field: amplitude times the strongest region weight (1.0 or a bit less)
            assert 0.45 * px <= a.peak_px <= 1.05 * px
            assert set(a.region_displacement) == set(a.regions)
        assert t.head_motion_px < 3.0
    raw = json.loads((bench / TRUTH_NAME).read_text())
    assert raw["fps"] == 100.0 and len(raw["clips"]) == 15


def test_classes_balanced_and_follow_emotion_rules(bench):
    counts = {}
    for t in load_truth(bench).values():
        counts[t.emotion] = counts.get(t.emotion, 0) + 1
        combo = tuple(a.number for a in t.aus)
        assert combo in CLASS_COMBOS[t.emotion]
        if t.emotion == "others":
            assert emfacs_emotion([a.action_unit() for a in t.aus]) is None
    assert counts == {c: 3 for c in ("happiness", "disgust", "repression", "surprise", "others")}
    assert emotion_rule_check() == []
    sched = class_schedule(8, 6, ("happiness", "disgust", "repression", "surprise", "others"))
    flat = [c for row in sched for c in row]
    assert sorted(flat.count(c) for c in set(flat)) == [9, 9, 10, 10, 10]
    assert all(len(set(row)) == 5 for row in sched)


def test_class_subset_is_honoured(tmp_path):
    s = generate_synthme(tmp_path / "b", subjects=2, clips_per_subject=2, seed=0, progress=False,
                         options=SynthOptions(fps=100.0, classes=("happiness", "surprise")))
    assert s.class_counts == {"happiness": 2, "surprise": 2}


def test_subjects_differ_and_mediapipe_finds_every_face(bench):
    ds = load_dataset("synthme", bench)
    truth = load_truth(bench)
    firsts = {}
    for s in ds.samples:
        firsts.setdefault(s.subject, (read_frame(s.frames[0]), truth[s.id]))
    imgs = [v[0] for v in firsts.values()]
    for i in range(len(imgs)):
        for j in range(i + 1, len(imgs)):
            assert np.abs(imgs[i].astype(int) - imgs[j].astype(int)).mean() > 12
    iods = [v[1].iod_px for v in firsts.values()]
    assert max(iods) - min(iods) > 2.0
    found = detect_landmarks(imgs)
    for (_img, t), lm in zip(firsts.values(), found):
        assert lm is not None
        # the anatomical centres the generator moved are where MediaPipe sees them
        for region in ("lip_corner_L", "brow_inner_R", "chin"):
            from deftmer.synth.face import REGION_LANDMARKS
            seen = lm[list(REGION_LANDMARKS[region])].mean(0)
            assert np.linalg.norm(seen - np.array(t.region_centres[region])) < 0.08 * t.iod_px


def test_nuisances_change_the_whole_frame_not_just_the_face(tmp_path):
    quiet = SynthOptions(fps=100.0, head_motion_px=0.0, flicker=0.0, noise_sigma=0.0, blink_prob=0.0)
    roots = {}
    for name, opts in (("quiet", quiet), ("noisy", SynthOptions(fps=100.0, flicker=0.02))):
        roots[name] = tmp_path / name
        generate_synthme(roots[name], subjects=1, clips_per_subject=1, seed=2, options=opts, progress=False)
    diffs = {}
    for name, root in roots.items():
        (t,) = load_truth(root).values()
        folder = root / t.subject / t.clip
        a = read_frame(folder / f"img{t.onset}.jpg").astype(float)
        b = read_frame(folder / f"img{t.apex}.jpg").astype(float)
        corner = (slice(0, 40), slice(0, 40))  # background, far from any AU
        diffs[name] = np.abs(a - b)[corner].mean()
    assert diffs["quiet"] < 0.5
    assert diffs["noisy"] > 1.0


def test_rerun_resumes_and_keeps_identical_files(tmp_path):
    root = tmp_path / "r"
    first = generate_synthme(root, subjects=1, clips_per_subject=3, seed=4, options=FAST, progress=False)
    before = _files(root)
    import shutil
    shutil.rmtree(root / "sub01" / "EP02_01")
    (root / "sub01" / ".EP02_01.partial").mkdir()
    (root / "sub01" / ".EP02_01.partial" / "img1.jpg").write_bytes(b"half")
    again = generate_synthme(root, subjects=1, clips_per_subject=3, seed=4, options=FAST, progress=False)
    assert first.rendered_clips == 3 and again.rendered_clips == 1
    assert _files(root) == before


def test_refuses_foreign_or_mismatched_folders(tmp_path):
    generate_synthme(tmp_path / "s", subjects=1, clips_per_subject=1, seed=0, options=FAST, progress=False)
    with pytest.raises(UserError, match="other settings"):
        generate_synthme(tmp_path / "s", subjects=1, clips_per_subject=1, seed=1, options=FAST, progress=False)
    redo = generate_synthme(tmp_path / "s", subjects=1, clips_per_subject=1, seed=1, options=FAST,
                            progress=False, overwrite=True)
    assert redo.rendered_clips == 1
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        generate_synthme(tmp_path / "x", subjects=1, clips_per_subject=1, options=FAST, progress=False)
    with pytest.raises(UserError):
        generate_synthme(tmp_path / "y", subjects=0, clips_per_subject=1, progress=False)
    with pytest.raises(UserError, match="fewer than 5 frames"):
        generate_synthme(tmp_path / "y", subjects=1, clips_per_subject=1, options=SynthOptions(fps=10.0),
                         progress=False)
    with pytest.raises(UserError, match="deftmer synth"):
        load_truth(tmp_path / "x")
    with pytest.raises(UserError, match="not a SynthME folder"):
        load_dataset("synthme", tmp_path / "x")
