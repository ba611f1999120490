"""SMIC-HS: the folder tree is the annotation; no apex; non-micro folders ignored."""

import pytest
from me_trees import make_smic

from deftmer.data import load_dataset
from deftmer.errors import DataLayoutError

CLIPS = {
    ("s1", "positive", "s1_po_01"): range(22364, 22380),
    ("s1", "negative", "s1_ne_01"): range(100, 105),
    ("s3", "surprise", "s3_sur_01"): range(7, 19),
    ("s11", "negative", "s11_ne_02"): range(1, 9),
}


def test_tree_read_with_subjects_labels_and_interval(tmp_path):
    ds = load_dataset("smic", make_smic(tmp_path, CLIPS))
    assert [s.id for s in ds.samples] == ["smic/s01/s1_ne_01", "smic/s01/s1_po_01", "smic/s03/s3_sur_01",
                                          "smic/s11/s11_ne_02"]
    s = ds.by_id()["smic/s01/s1_po_01"]
    assert (s.onset, s.apex, s.offset) == (22364, None, 22379)
    assert s.frames[0].name == "image022364.bmp" and len(s.frames) == 16
    assert s.label == "positive" and s.emotion == "positive" and s.fps == 100.0
    assert all("s1_po_99" not in s.clip for s in ds.samples)          # non_micro not read


def test_missing_apex_is_one_dataset_level_note(tmp_path):
    ds = load_dataset("smic", make_smic(tmp_path, CLIPS))
    apex = [p for p in ds.problems if p.kind == "apex_missing"]
    assert len(apex) == 1 and apex[0].sample_id is None and "4 clips" in apex[0].message


def test_root_may_be_the_hs_folder_and_jpg_frames(tmp_path):
    make_smic(tmp_path, CLIPS, suffix=".jpg")
    ds = load_dataset("smic-hs", tmp_path / "SMIC_all_raw" / "HS")
    assert len(ds) == 4 and ds.samples[0].frames[0].suffix == ".jpg"


def test_no_tree_is_a_layout_error(tmp_path):
    (tmp_path / "other").mkdir()
    with pytest.raises(DataLayoutError, match="HS/s1/micro"):
        load_dataset("smic", tmp_path)
