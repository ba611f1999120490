"""CAS(ME)^3 part A: sheet 'label', repeated (Subject, Filename) -> one clip each, segment frames."""

from me_trees import CASME3_HEADER, make_casme3

from deftmer.data import load_dataset
from deftmer.data.sample import ActionUnit as AU

ROWS = [
    # Subject, Filename, Onset, Apex, Offset, AU, Objective class, emotion
    ["spNO.1", "a", 10, 14, 20, "L2+L1", 2, "surprise"],
    ["spNO.1", "a", 40, 45, 52, "R14", 7, "others"],
    ["spNO.1", "b", 3, 5, 9, "T28+14", 3, "anger"],
    ["spNO.2", "a", 1, 30, 12, "4+7", 3, "disgust"],                   # apex outside
]
FRAMES = {("spNO.1", "a"): range(0, 60), ("spNO.1", "b"): range(0, 12), ("spNO.2", "a"): range(0, 40)}


def test_repeated_filename_gives_distinct_clips_with_their_segments(tmp_path):
    ds = load_dataset("casme3", make_casme3(tmp_path, ROWS, FRAMES))
    ids = [s.id for s in ds.samples]
    assert ids == ["casme3/spNO.1/a_10", "casme3/spNO.1/a_40", "casme3/spNO.1/b_3", "casme3/spNO.2/a_1"]
    first, second = ds.samples[0], ds.samples[1]
    assert first.frame_numbers == tuple(range(10, 21)) and first.frames[0].name == "10.jpg"
    assert second.frame_numbers == tuple(range(40, 53))
    assert first.frames[0].parent.name == "color" and first.extra["filename"] == "a"
    assert first.fps == 30.0


def test_aus_labels_and_problems(tmp_path):
    ds = load_dataset("casme3", make_casme3(tmp_path, ROWS, FRAMES))
    by_id = ds.by_id()
    assert by_id["casme3/spNO.1/a_10"].aus == (AU(2, "L"), AU(1, "L"))
    assert by_id["casme3/spNO.1/b_3"].aus == (AU(28), AU(14))
    assert [s.label for s in ds.samples] == ["surprise", "others", "anger", "disgust"]
    assert by_id["casme3/spNO.1/a_10"].objective_class == "II"
    assert [(p.kind, p.sample_id) for p in ds.problems] == [("apex_outside_interval", "casme3/spNO.2/a_1")]
    assert by_id["casme3/spNO.2/a_1"].frame_numbers == tuple(range(1, 13))
    four = load_dataset("casme3", tmp_path, class_set="casme3_4")
    assert [s.label for s in four.samples] == ["surprise", "others", "negative", "negative"]


def test_missing_segment_frames_are_reported(tmp_path):
    rows = [["spNO.3", "c", 5, 7, 9, "12", 1, "happy"]]
    ds = load_dataset("casme3", make_casme3(tmp_path, rows, {("spNO.3", "c"): range(0, 6)}))
    (s,) = ds.samples
    assert s.frame_numbers == (5,) and s.label == "happy"
    assert [p.kind for p in ds.problems] == ["frame_not_on_disk"] and "apex 7, offset 9" in ds.problems[0].message
    assert ds.labelled() == []


def test_split_download_layout_and_filename_case_are_accepted(tmp_path):
    """``part_A/data/part_A_split/part_A/spNO.*`` (the split download) and a label file that
    writes a recording's name in another case than its folder."""
    from me_trees import write_frames, write_xlsx

    from deftmer.data.casme3 import find_frames_root

    root = tmp_path / "casme3"
    write_xlsx(root / "part_A" / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
               {"label": [CASME3_HEADER, ["spNO.3", "J", 2, 4, 6, "12", 1, "happy"]]})
    frames_root = root / "part_A" / "data" / "part_A_split" / "part_A"
    write_frames(frames_root / "spNO.3" / "j" / "color", range(0, 8), "{n}.jpg")
    assert find_frames_root(root) == frames_root
    ds = load_dataset("casme3", root)
    (s,) = ds.samples
    assert s.frame_numbers == tuple(range(2, 7)) and s.frames[0].parent.parent.name == "j"
    assert not ds.problems
