"""Long SynthME: the event plan (distractors outnumber micro-expressions), the files, the loader."""

from __future__ import annotations

import json

import pytest

from deftmer.cli import main
from deftmer.data.longvideo import load_long_videos
from deftmer.data.synthme_long import load_long_truth
from deftmer.errors import UserError
from deftmer.synth.long import LongSynthOptions, generate_long_synthme, plan_video


def test_plan_has_more_distractors_than_micro_expressions_without_overlap():
    opts = LongSynthOptions(minutes=2.0)
    events = plan_video(seed=5, video=0, opts=opts)
    kinds = [e.kind for e in events]
    assert kinds.count("micro") == 8 and len(kinds) - kinds.count("micro") >= 2 * kinds.count("micro")
    assert set(kinds) == {"micro", "macro", "blink", "speech", "head_turn"}
    for a, b in zip(events, events[1:]):
        assert b.onset - a.offset >= opts.min_gap_s * opts.fps - 1
    micro = [e for e in events if e.kind == "micro"]
    assert all(0.2 * 30 <= e.offset - e.onset <= 0.5 * 30 + 1 and e.onset < e.apex < e.offset for e in micro)
    assert all(e.emotion and e.aus for e in micro)
    assert plan_video(seed=5, video=0, opts=opts) == events and plan_video(seed=6, video=0, opts=opts) != events
    with pytest.raises(UserError, match="do not fit"):
        plan_video(0, 0, LongSynthOptions(minutes=0.1, per_minute={"micro": 200}))


def test_synth_long_writes_the_casme_sq_layout_and_a_truth_of_every_event(tmp_path, capsys):
    out = tmp_path / "long"
    main(["synth", str(out), "--long", "--videos", "2", "--minutes", "0.1", "--size", "128", "--seed", "1"])
    truth = json.loads((out / "synthme_long_truth.json").read_text())
    assert truth["fps"] == 30.0 and truth["n_frames"] == 180 and len(truth["videos"]) == 2
    ds = load_long_videos("synthme_long", out)
    assert [v.video for v in ds.videos] == ["15_0101synth", "16_0201synth"] and ds.problems == []
    events = load_long_truth(out)
    for v in ds.videos:
        assert len(v.frames) == 180 and v.fps == 30.0
        written = [(e.onset, e.apex, e.offset, e.kind) for e in events[v.video] if e.kind in ("micro", "macro")]
        assert [(t.onset, t.apex, t.offset, t.kind) for t in v.intervals] == written
        assert all(t.label in ds.class_set.classes for t in v.micro())
    assert "spot-eval --dataset synthme_long" in capsys.readouterr().out

    again = generate_long_synthme(out, videos=2, seed=1, options=LongSynthOptions(minutes=0.1, size=128),
                                  progress=False)
    assert again.rendered == 0                                   # a rerun resumes
    with pytest.raises(UserError, match="other settings"):
        generate_long_synthme(out, videos=2, seed=2, options=LongSynthOptions(minutes=0.1, size=128), progress=False)
