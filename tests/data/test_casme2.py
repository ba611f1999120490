"""CASME II: subject spellings, '/' apex, raw and cropped frames, columns by name, problems by rule."""

import pytest
from me_trees import make_casme2, write_xlsx

from deftmer.data import load_dataset
from deftmer.data.casme2 import load_casme2
from deftmer.data.sample import ActionUnit as AU
from deftmer.errors import DataLayoutError, UserError

ROWS = [
    # Subject, Filename, blank, Onset, Apex, Offset, blank, AUs, Emotion
    [1, "EP02_01f", None, 46, 59, 86, None, "12", "happiness"],
    ["01", "EP19_05f", None, 96, "/", 130, None, "4+L10", "disgust"],
    ["sub02", "EP01_11f", None, 10, 15, 20, None, "R12", "repression"],
    [2, "EP03_02", None, 95, 140, 120, None, "1+2", "surprise"],       # apex after offset
    [3, "EP07_04", None, 5, 8, 12, None, "14", "fear"],                 # excluded in casme2_5
    [3, "EP09_03", None, 5, 8, 12, None, "7(?)", "sadness"],            # unparseable AU
    [4, "EP12_02f", None, 5, 8, 12, None, "4", "contempt"],            # unknown emotion; no frames
]
FRAMES = {
    ("sub01", "EP02_01f"): (range(46, 87), "img{n}.jpg"),
    ("sub01", "EP19_05f"): (range(96, 131), "reg_img{n}.jpg"),      # official crop names
    ("sub02", "EP01_11f"): (range(8, 103), "img{n}.jpg"),           # crosses 99 -> 100
    ("sub02", "EP03_02"): (range(95, 141), "img{n}.jpg"),
    ("sub03", "EP07_04"): (range(5, 13), "img{n}.jpg"),
    ("sub03", "EP09_03"): (range(5, 10), "img{n}.jpg"),             # offset 12 not on disk
}


@pytest.fixture()
def casme2_root(tmp_path):
    return make_casme2(tmp_path / "CASME2", ROWS, FRAMES)


def test_subjects_normalise_and_ids(casme2_root):
    ds = load_dataset("casme2", casme2_root)
    by_id = ds.by_id()
    assert "casme2/sub01/EP02_01f" in by_id and "casme2/sub01/EP19_05f" in by_id
    assert "casme2/sub02/EP01_11f" in by_id
    assert ds.subjects == ["sub01", "sub02", "sub03", "sub04"]
    assert len(ds) == 7


def test_frames_raw_and_cropped_sorted_by_number(casme2_root):
    by_id = load_casme2(casme2_root).by_id()
    s = by_id["casme2/sub01/EP02_01f"]
    assert s.frame_numbers[0] == 46 and s.frame_numbers[-1] == 86 and len(s.frames) == 41
    assert (s.onset, s.apex, s.offset) == (46, 59, 86)
    assert s.fps == 200.0
    crop = by_id["casme2/sub01/EP19_05f"]
    assert crop.frames[0].name == "reg_img96.jpg" and len(crop.frames) == 35
    s2 = by_id["casme2/sub02/EP01_11f"]
    assert list(s2.frame_numbers) == list(range(8, 103))            # numeric, not lexicographic
    assert s2.frames[s2.frame_index(100)].name == "img100.jpg"


def test_apex_slash_is_missing_and_reported(casme2_root):
    ds = load_casme2(casme2_root)
    s = ds.by_id()["casme2/sub01/EP19_05f"]
    assert s.apex is None and "apex_missing" in s.problems
    assert s.aus == (AU(4), AU(10, "L"))
    assert any(p.kind == "apex_missing" and p.sample_id == s.id for p in ds.problems)


def test_problems_by_rule(casme2_root):
    ds = load_casme2(casme2_root)
    kinds = {(p.kind, p.sample_id) for p in ds.problems}
    assert ("apex_outside_interval", "casme2/sub02/EP03_02") in kinds
    assert ("au_unparsed", "casme2/sub03/EP09_03") in kinds
    assert ("frame_not_on_disk", "casme2/sub03/EP09_03") in kinds     # offset 12 not on disk
    assert ("frames_missing", "casme2/sub04/EP12_02f") in kinds       # no folder at all
    assert ("emotion_unknown", "casme2/sub04/EP12_02f") in kinds
    # Clean clips carry no flags; problem clips are kept in the dataset (check-data lists them) ...
    assert ds.by_id()["casme2/sub01/EP02_01f"].problems == ()
    assert len(ds) == 7
    # ... but those an annotation problem makes unusable never reach a stage
    assert {k: [s.id for s in v] for k, v in ds.excluded().items()} == {
        "frame_not_on_disk": ["casme2/sub03/EP09_03"], "absent": ["casme2/sub04/EP12_02f"]}
    assert "casme2/sub03/EP09_03" not in {s.id for s in ds.usable()}
    assert "casme2/sub02/EP03_02" in {s.id for s in ds.labelled()}    # apex outside: spotted, still usable


def test_labels_follow_class_set(casme2_root):
    by_id = load_casme2(casme2_root).by_id()
    assert by_id["casme2/sub01/EP02_01f"].label == "happiness"
    assert by_id["casme2/sub03/EP07_04"].label is None               # fear: excluded, not a problem
    assert "emotion_unknown" not in by_id["casme2/sub03/EP07_04"].problems
    megc = load_dataset("casme2", casme2_root, class_set="megc3").by_id()
    assert megc["casme2/sub01/EP19_05f"].label == "negative"
    assert megc["casme2/sub01/EP02_01f"].label == "positive"


def test_columns_are_read_by_name_in_any_order_with_objective_classes(tmp_path):
    header = ["Objective Classes", "Estimated Emotion", " action units ", "Offset Frame", "Apex Frame",
              "Onset Frame", None, "Filename", "SUBJECT"]
    rows = [[1, "happiness", "6+12", 12, 8, 5, None, "EP01_01", "sub05"]]
    root = make_casme2(tmp_path / "c", rows, {("sub05", "EP01_01"): (range(5, 13), "img{n}.jpg")}, header=header)
    (s,) = load_casme2(root).samples
    assert (s.subject, s.clip, s.onset, s.apex, s.offset) == ("sub05", "EP01_01", 5, 8, 12)
    assert s.aus == (AU(6), AU(12)) and s.objective_class == "I" and s.label == "happiness"


def test_duplicate_rows_get_distinct_ids_and_a_problem(tmp_path):
    rows = [[1, "EP01_01", None, 1, 2, 3, None, "12", "happiness"]] * 2
    root = make_casme2(tmp_path / "c", rows, {("sub01", "EP01_01"): (range(1, 4), "img{n}.jpg")})
    ds = load_casme2(root)
    assert [s.id for s in ds.samples] == ["casme2/sub01/EP01_01", "casme2/sub01/EP01_01_dup2"]
    assert [p.kind for p in ds.problems] == ["duplicate_id"]
    assert [s.id for s in ds.labelled()] == ["casme2/sub01/EP01_01"]    # the repeat is excluded


def test_layout_errors_name_the_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataLayoutError, match="CASME2-coding|casme2-coding"):
        load_casme2(tmp_path / "empty")
    bad = tmp_path / "bad"
    write_xlsx(bad / "CASME2-coding-20140508.xlsx", {"Sheet1": [["Subject", "Filename", "OnsetFrame"], [1, "x", 1]]})
    with pytest.raises(DataLayoutError, match="no header row with the columns"):
        load_casme2(bad)
    with pytest.raises(UserError, match="does not exist"):
        load_dataset("casme2", tmp_path / "nowhere")
    with pytest.raises(UserError, match="no option anotation"):
        load_dataset("casme2", bad, anotation="x.xlsx")
