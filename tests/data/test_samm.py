"""SAMM: preamble rows, sheet MICRO_ONLY, subject zero padding, apex outside interval, AU alternatives."""

import pytest
from me_trees import SAMM_HEADER, make_samm, write_xlsx

from deftmer.data import load_dataset
from deftmer.data.samm import load_samm
from deftmer.data.sample import ActionUnit as AU
from deftmer.errors import DataLayoutError

ROWS = [
    # Subject, Filename, Inducement, Onset, Apex, Offset, Duration, Micro, AUs, Emotion, Objective, Notes
    [6, "006_1_2", "1_2", 5562, 5588, 5632, 71, "Micro", "R12 or R15", "Contempt", 7, None],
    [6, "006_1_3", "1_3", 3912, 3964, 3948, 37, "Micro", "A1+A2", "Surprise", 2, "apex after offset"],
    [7, "007_3_1", "3_1", 100, 120, 140, 41, "Micro", "L14 + 4/7", "Others", 7, None],
    [11, "011_2_1", "2_1", 1000, 1010, 1020, 21, "Micro", "R14A", "Happiness", 1, None],
]
FRAMES = {
    ("006", "006_1_2"): (range(5562, 5633), "006_{n:05d}.jpg"),
    ("006", "006_1_3"): (range(3912, 3965), "006_{n:05d}.jpg"),
    ("007", "007_3_1"): (range(100, 141), "007_{n:04d}.jpg"),         # different zero padding
    ("011", "011_2_1"): (range(1000, 1021), "011_{n}.jpg"),
}


@pytest.fixture()
def samm_root(tmp_path):
    return make_samm(tmp_path / "SAMM_root", ROWS, FRAMES)


def test_header_found_after_preamble_and_micro_only_sheet(samm_root):
    ds = load_dataset("samm", samm_root)
    assert [s.id for s in ds.samples] == ["samm/006/006_1_2", "samm/006/006_1_3", "samm/007/007_3_1",
                                          "samm/011/011_2_1"]
    s = ds.samples[0]
    assert (s.onset, s.apex, s.offset) == (5562, 5588, 5632)
    assert s.objective_class == "VII" and s.extra["inducement"] == "1_2"


def test_frames_with_varying_padding(samm_root):
    by_id = load_samm(samm_root).by_id()
    a = by_id["samm/006/006_1_2"]
    assert a.frames[0].name == "006_05562.jpg" and a.frame_numbers[-1] == 5632 and len(a.frames) == 71
    b = by_id["samm/007/007_3_1"]
    assert b.frames[0].name == "007_0100.jpg" and len(b.frames) == 41


def test_apex_outside_interval_is_reported_not_fixed(samm_root):
    ds = load_samm(samm_root)
    s = ds.by_id()["samm/006/006_1_3"]
    assert s.apex == 3964 and "apex_outside_interval" in s.problems
    assert [p.sample_id for p in ds.problems if p.kind == "apex_outside_interval"] == ["samm/006/006_1_3"]


def test_au_alternatives_and_prefixes(samm_root):
    by_id = load_samm(samm_root).by_id()
    assert by_id["samm/006/006_1_2"].aus == (AU(12, "R", alternative=True), AU(15, "R", alternative=True))
    assert by_id["samm/006/006_1_3"].aus == (AU(1), AU(2))
    assert by_id["samm/007/007_3_1"].aus == (AU(14, "L"), AU(4, alternative=True), AU(7, alternative=True))
    assert by_id["samm/011/011_2_1"].aus == (AU(14, "R", "A"),)


def test_labels_samm5_and_megc3(samm_root):
    five = {s.id: s.label for s in load_samm(samm_root).samples}
    assert five == {"samm/006/006_1_2": "contempt", "samm/006/006_1_3": "surprise",
                    "samm/007/007_3_1": "other", "samm/011/011_2_1": "happiness"}
    three = {s.id: s.label for s in load_samm(samm_root, class_set="megc3").samples}
    assert three["samm/006/006_1_2"] == "negative" and three["samm/007/007_3_1"] is None


def test_missing_micro_only_sheet_is_a_layout_error(tmp_path):
    write_xlsx(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx", {"Sheet1": [SAMM_HEADER]})
    with pytest.raises(DataLayoutError, match="no sheet 'MICRO_ONLY'"):
        load_samm(tmp_path)


def test_negative_apex_placeholder_is_missing(tmp_path):
    rows = [[9, "009_3_2", "3_2", 200, -1, 230, 31, "Micro", "4", "Anger", 3, None]]
    ds = load_samm(make_samm(tmp_path, rows, {("009", "009_3_2"): (range(200, 231), "009_{n:05d}.jpg")}))
    (s,) = ds.samples
    assert s.apex is None and s.problems == ("apex_missing",) and s.label == "anger"
