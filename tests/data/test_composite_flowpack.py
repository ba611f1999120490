"""MEGC 2019 composite (three sources, 3 classes, ground-truth list) and the precomputed flow pack."""

import cv2
import pytest
from me_trees import make_casme2, make_flowpack, make_samm, make_smic

from deftmer.data import load_dataset
from deftmer.errors import DataLayoutError


@pytest.fixture()
def megc_root(tmp_path):
    root = tmp_path / "megc"
    make_casme2(root / "CASME2", [
        [1, "EP02_01f", None, 1, 3, 5, None, "12", "happiness"],
        [1, "EP19_05f", None, 1, 3, 5, None, "4+L10", "disgust"],
        [2, "EP01_11f", None, 1, 3, 5, None, "14", "others"],
        [2, "EP03_02", None, 1, 3, 5, None, "1+2", "surprise"],
    ], {("sub01", "EP02_01f"): (range(1, 6), "img{n}.jpg"), ("sub01", "EP19_05f"): (range(1, 6), "img{n}.jpg"),
        ("sub02", "EP01_11f"): (range(1, 6), "img{n}.jpg"), ("sub02", "EP03_02"): (range(1, 6), "img{n}.jpg")})
    make_samm(root / "SAMM", [
        [6, "006_1_2", "1_2", 10, 12, 14, 5, "Micro", "R12", "Contempt", 7, None],
        [7, "007_6_1", "6_1", 10, 12, 14, 5, "Micro", "12", "Happiness", 1, None],
    ], {("006", "006_1_2"): (range(10, 15), "006_{n:05d}.jpg"), ("007", "007_6_1"): (range(10, 15), "007_{n:05d}.jpg")})
    make_smic(root / "SMIC", {("s1", "negative", "s1_ne_01"): range(1, 5), ("s2", "surprise", "s2_sur_01"): range(1, 5)})
    return root


def test_composite_maps_three_sources_to_megc3(megc_root):
    ds = load_dataset("megc2019", megc_root)
    got = {(s.source, s.id, s.label) for s in ds.samples}
    assert got == {
        ("casme2", "megc2019/sub01/EP02_01f", "positive"), ("casme2", "megc2019/sub01/EP19_05f", "negative"),
        ("casme2", "megc2019/sub02/EP03_02", "surprise"),
        ("samm", "megc2019/006/006_1_2", "negative"), ("samm", "megc2019/007/007_6_1", "positive"),
        ("smic", "megc2019/s01/s1_ne_01", "negative"), ("smic", "megc2019/s02/s2_sur_01", "surprise"),
    }  # casme2 "others" excluded
    assert ds.class_set.name == "megc3" and len(ds.subjects) == 6
    assert ds.to_frame()["source"].value_counts().to_dict() == {"casme2": 3, "samm": 2, "smic": 2}
    assert all(s.has_frames for s in ds.samples)


def test_ground_truth_list_selects_and_labels(megc_root, tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text("casme2,sub01,EP02_01f,positive\n"
                  "CASME2,1,EP19_05f,surprise\n"      # conflicts with disgust -> negative
                  "smic,s01,s01_ne_01,0\n"            # numeric label, padded clip name
                  "samm,006,006_1_2,negative\n"
                  "samm,009,009_1_1,negative\n")      # not in the data
    ds = load_dataset("megc2019", megc_root, ground_truth=str(gt))
    assert {s.id: s.label for s in ds.samples} == {
        "megc2019/sub01/EP02_01f": "positive", "megc2019/sub01/EP19_05f": "surprise",
        "megc2019/s01/s1_ne_01": "negative", "megc2019/006/006_1_2": "negative"}
    kinds = sorted(p.kind for p in ds.problems if p.kind != "apex_missing")
    assert kinds == ["gt_clip_not_found", "label_mismatch"]


def test_composite_missing_source_names_option(tmp_path):
    (tmp_path / "CASME2").mkdir()
    with pytest.raises(DataLayoutError, match="samm_root=PATH"):
        load_dataset("megc2019", tmp_path)


FLOW_ROWS = [
    ("casme2", "sub01", "EP02_01f", 1, "sub01_EP02_01f.jpg"),
    ("smic", "s01", "s01_ne_01", 0, "s01_s1_ne_01.jpg"),
    ("samm", "006", "006_1_2", 2, "006_006_1_2.jpg"),
    ("samm", "007", "007_3_1", 0, "007_007_3_1.jpg"),
]


def test_flowpack_default_release_layout(tmp_path):
    ds = load_dataset("flowpack", make_flowpack(tmp_path, FLOW_ROWS))
    by_id = ds.by_id()
    assert list(by_id) == ["flowpack/sub01/EP02_01f", "flowpack/s01/s01_ne_01", "flowpack/006/006_1_2",
                           "flowpack/007/007_3_1"]
    samm = by_id["flowpack/006/006_1_2"]
    assert samm.subject == "006" and samm.source == "samm" and samm.label == "surprise"
    assert samm.flow_image.name == "006_006_1_2 .png" and not samm.has_frames
    assert cv2.imread(str(samm.flow_image)).shape == (28, 28, 3)
    smic = by_id["flowpack/s01/s01_ne_01"]
    assert smic.apex_image.name == "s01_s1_ne_01.jpg" and smic.label == "negative"
    assert [s.label for s in ds.samples] == ["positive", "negative", "surprise", "negative"]
    assert ds.problems == []


def test_flowpack_missing_files_and_options(tmp_path):
    make_flowpack(tmp_path, FLOW_ROWS, skip_flow={"007_007_3_1"})
    ds = load_dataset("flowpack", tmp_path)
    assert [(p.kind, p.sample_id) for p in ds.problems] == [("files_missing", "flowpack/007/007_3_1")]
    moved = tmp_path / "elsewhere.csv"
    (tmp_path / "combined_3_class2_for_optical_flow.csv").rename(moved)
    with pytest.raises(DataLayoutError, match="csv=PATH"):
        load_dataset("flowpack", tmp_path)
    assert len(load_dataset("flowpack", tmp_path, csv=str(moved))) == 4
