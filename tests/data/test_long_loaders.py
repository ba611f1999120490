"""Long-video loaders on fixture trees laid out like CAS(ME)^2 and SAMM long videos."""

from __future__ import annotations

import pytest
from me_trees import SAMM_HEADER, SAMM_PREAMBLE, write_frames, write_xlsx

from deftmer.data.longvideo import list_long_datasets, load_long_videos
from deftmer.data.sample import ActionUnit as AU
from deftmer.errors import UserError

# --- CAS(ME)^2: header-less coding sheet, naming-rule sheets, rawpic/s15/15_0101name/img1.jpg ---------

CASME_SQ_CODE = [  # participant, name, onset, apex, offset, AUs, emotion, type, self-reported
    [1, "disgust1_1", 5, 8, 12, "4+7", "negative", "micro-expression", "disgust"],
    [1, "disgust1_2", 20, 30, 0, "12", "positive", "macro-expression", None],     # offset 0 = not annotated
    [2, "anger1_1", 3, 4, 7, "L12", "others", "micro-expression", None],
    [3, "happy2_1", 1, 2, 3, "12", "positive", "micro-expression", None],         # s19 has no video folder
    [2, "anger1_2", 9, 11, 14, "4", "negative", "blink?", None],                  # unknown expression type
]
RULE1 = [[15, "s15", 1], [16, "s16", 2], [19, "s19", 3]]
RULE2 = [["0101", "disgust1"], [401, "anger1"], ["0502", "happy2"]]   # the code as text or as a number


@pytest.fixture()
def casme_sq(tmp_path):
    root = tmp_path / "CAS(ME)^2"
    write_xlsx(root / "CAS(ME)^2code_final.xlsx", {"CASFEcode_final": CASME_SQ_CODE, "naming rule1": RULE1,
                                                    "naming rule2": RULE2})
    write_frames(root / "rawpic" / "s15" / "15_0101disgustingteeth", range(1, 51), "img{n}.jpg")
    write_frames(root / "rawpic" / "s16" / "16_0401girlcrashing", range(1, 21), "img{n}.jpg")
    write_frames(root / "rawpic" / "s16" / "16_0502hungry", range(1, 11), "img{n}.jpg")   # nothing annotated
    return root


def test_casme_sq_reads_the_header_less_sheet_by_position_and_finds_every_video(casme_sq):
    ds = load_long_videos("casme_sq", casme_sq)
    assert [v.id for v in ds.videos] == ["casme_sq/s15/15_0101disgustingteeth", "casme_sq/s16/16_0401girlcrashing",
                                         "casme_sq/s16/16_0502hungry"]
    first = ds.videos[0]
    assert first.fps == 30.0 and len(first.frames) == 50 and first.frame_numbers[:3] == (1, 2, 3)
    me, macro = first.intervals
    assert (me.onset, me.apex, me.offset, me.kind, me.label) == (5, 8, 12, "micro", "negative")
    assert me.aus == (AU(4), AU(7)) and me.name == "disgust1_1"
    assert (macro.kind, macro.offset, macro.label) == ("macro", 40, None)    # 30 + (30 - 20), reported
    anger = ds.videos[1].intervals
    assert len(anger) == 1 and anger[0].aus == (AU(12, "L"),) and anger[0].label is None   # 'others' not in megc3
    assert ds.videos[2].intervals == ()
    kinds = sorted(p.kind for p in ds.problems)
    assert kinds == ["expression_type_unknown", "frames_missing", "offset_missing"]
    frame = ds.to_frame()
    assert list(frame["kind"]) == ["micro", "macro", "micro"]


def test_casme_sq_micro_expressions_become_clip_samples(casme_sq):
    samples = load_long_videos("cas(me)^2", casme_sq).micro_samples()
    assert [s.id for s in samples] == ["casme_sq/s15/15_0101disgustingteeth_5", "casme_sq/s16/16_0401girlcrashing_3"]
    assert samples[0].frame_numbers == tuple(range(5, 13)) and samples[0].apex == 8 and samples[0].fps == 30.0
    assert [s.label for s in samples] == ["negative", None]      # megc3 leaves 'others' out


def test_casme_sq_layout_errors_are_actionable(casme_sq, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no CAS\\(ME\\)\\^2 coding workbook"):
        load_long_videos("casme_sq", tmp_path / "empty")
    with pytest.raises(UserError, match="has no option anotation"):
        load_long_videos("casme_sq", casme_sq, anotation="x.xlsx")
    with pytest.raises(UserError, match="unknown long-video dataset"):
        load_long_videos("casme4", casme_sq)
    assert {d.name for d in list_long_datasets()} >= {"casme_sq", "samm_long", "synthme_long"}


# --- SAMM long videos: preamble rows, header by name, SAMM_longvideos/006_1/006_1_0001.jpg -------------

LONG_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
               "Action Units", "Notes"]
LONG_ROWS = [
    [6, "006_1_1", 1, 10, 25, 60, 51, "Macro", "12", None],
    [6, "006_1_2", 1, 80, 90, 110, 31, "Micro - 1/2", "R12", None],
    [7, "007_3_1", 3, 5, -1, 20, 16, "Micro - 1/2", "A1+A2", "apex not coded"],
    [9, "009_2_1", 2, 1, 2, 3, 3, "Micro - 1/2", "4", None],                # no folder 009_2
]


@pytest.fixture()
def samm_long(tmp_path):
    root = tmp_path / "SAMM_LV"
    write_xlsx(root / "SAMM_LongVideos_V3_Release.xlsx", {"FACS_Movement_Only": [*SAMM_PREAMBLE, *[[None]] * 3,
                                                                                  LONG_HEADER, *LONG_ROWS]})
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", {"MICRO_ONLY": [*SAMM_PREAMBLE, SAMM_HEADER,
               [6, "006_1_2", "1_2", 80, 90, 110, 31, "Micro", "R12", "Happiness", 1, None],
               [7, "007_3_1", "3_1", 5, 12, 20, 16, "Micro", "A1+A2", "Surprise", 2, None]]})
    write_frames(root / "SAMM_longvideos" / "006_1", range(1, 121), "006_1_{n:04d}.jpg")
    write_frames(root / "SAMM_longvideos" / "007_3", range(1, 31), "007_3_{n:04d}.jpg")
    return root


def test_samm_long_reads_by_column_name_and_takes_emotions_from_the_micro_sheet(samm_long):
    ds = load_long_videos("samm_long", samm_long)
    assert [(v.subject, v.video, len(v.frames), v.fps) for v in ds.videos] == [("006", "006_1", 120, 200.0),
                                                                               ("007", "007_3", 30, 200.0)]
    macro, micro = ds.videos[0].intervals
    assert (macro.kind, macro.onset, macro.offset, macro.emotion) == ("macro", 10, 60, "")
    assert (micro.kind, micro.apex, micro.emotion, micro.label, micro.aus) == ("micro", 90, "Happiness", "positive",
                                                                               (AU(12, "R"),))
    other = ds.videos[1].intervals[0]
    assert other.apex is None and other.label == "surprise"
    assert [p.kind for p in ds.problems] == ["frames_missing"]
    (samm_long / "SAMM_Micro_FACS_Codes_v2.xlsx").unlink()          # without the micro sheet: no emotions
    plain = load_long_videos("samm_lv", samm_long)
    assert [t.emotion for t in plain.videos[0].intervals] == ["", ""] and plain.videos[0].intervals[1].label is None


def test_the_micro_expressions_of_long_videos_are_a_clip_dataset_too(casme_sq, samm_long):
    from deftmer.data import load_dataset

    clips = load_dataset("casme_sq", casme_sq)
    assert [(s.id, s.label, len(s.frames)) for s in clips.samples] == [
        ("casme_sq/s15/15_0101disgustingteeth_5", "negative", 8), ("casme_sq/s16/16_0401girlcrashing_3", None, 5)]
    assert [s.id for s in clips.labelled()] == ["casme_sq/s15/15_0101disgustingteeth_5"]
    samm = load_dataset("samm_long", samm_long)
    assert [(s.id, s.label, s.fps) for s in samm.samples] == [("samm_long/006/006_1_80", "positive", 200.0),
                                                              ("samm_long/007/007_3_5", "surprise", 200.0)]
