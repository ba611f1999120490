"""One rule keeps unusable clips out of every stage, and check-data counts what is really usable.

A tree in the CASME II layout with one clip per annotation problem: onset after offset, a
duplicated row, an annotated apex frame not on disk, a frame missing inside the clip, and a
clip whose frames are not on disk at all.
"""

from __future__ import annotations

import pytest
from me_trees import make_casme2, make_samm
from test_check_data import run  # noqa: E402  (check-data through main(), exit code and output)

from deftmer.data import load_dataset
from deftmer.data.au_parse import parse_aus
from deftmer.data.check import summarise
from deftmer.data.sample import ActionUnit as AU

GOOD = [
    [1, "EP01_01", None, 1, 3, 6, None, "12", "happiness"],
    [2, "EP02_01", None, 1, 3, 6, None, "1+2", "surprise"],
    [3, "EP03_01", None, 1, 3, 6, None, "4", "disgust"],
]
BAD = [
    [1, "EP04_01", None, 6, 3, 1, None, "12", "happiness"],          # onset after offset
    [2, "EP02_01", None, 1, 3, 6, None, "1+2", "surprise"],          # the same clip again
    [2, "EP05_01", None, 1, 4, 6, None, "14", "repression"],         # apex frame 4 not on disk
    [3, "EP06_01", None, 1, 3, 6, None, "4", "disgust"],             # frame 5 missing inside
    [3, "EP07_01", None, 1, 3, 6, None, "4", "disgust"],             # no frames on disk at all
]
FRAMES = {("sub01", "EP01_01"): (range(1, 7), "img{n}.jpg"), ("sub02", "EP02_01"): (range(1, 7), "img{n}.jpg"),
          ("sub03", "EP03_01"): (range(1, 7), "img{n}.jpg"), ("sub01", "EP04_01"): (range(1, 7), "img{n}.jpg"),
          ("sub02", "EP05_01"): ((1, 2, 3, 5, 6), "img{n}.jpg"), ("sub03", "EP06_01"): ((1, 2, 3, 4, 6), "img{n}.jpg")}


@pytest.fixture()
def root(tmp_path):
    return make_casme2(tmp_path / "CASME2", GOOD + BAD, FRAMES)


def test_every_unusable_clip_is_excluded_by_its_rule(root):
    ds = load_dataset("casme2", root)
    excluded = {k: [s.id for s in v] for k, v in ds.excluded().items()}
    assert excluded == {"interval_invalid": ["casme2/sub01/EP04_01"], "frame_not_on_disk": ["casme2/sub02/EP05_01"],
                        "frame_gap": ["casme2/sub03/EP06_01"], "absent": ["casme2/sub03/EP07_01"],
                        "duplicate_id": ["casme2/sub02/EP02_01_dup2"]}
    # what prepare, unimer, loso and train get: the three good clips, each once
    assert [s.id for s in ds.labelled()] == ["casme2/sub01/EP01_01", "casme2/sub02/EP02_01", "casme2/sub03/EP03_01"]
    assert [s.id for s in ds.usable()] == [s.id for s in ds.labelled()]
    gap = next(p for p in ds.problems if p.kind == "frame_gap")
    assert "frame(s) 5 missing between frames 1 and 6" in gap.message
    notes = ds.exclusion_notes()
    assert len(notes) == 5 and any("interval_invalid" in n and "onset 6 is after offset 1" in n for n in notes)


def test_check_data_counts_usable_clips_and_subjects_honestly(root, capsys):
    r = summarise(load_dataset("casme2", root))
    assert (r.n_labelled, r.n_usable_inputs, r.usable_subjects) == (8, 3, 3)
    assert r.excluded == {"interval_invalid": 1, "duplicate_id": 1, "frame_not_on_disk": 1, "frame_gap": 1,
                          "absent": 1}
    code, out, err = run(["check-data", "-d", "casme2", "-r", str(root)], capsys)
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last == ("usable in part: 3 labelled clips ready from 3 subjects; 4 excluded (1 duplicate_id, "
                    "1 frame_gap, 1 frame_not_on_disk, 1 interval_invalid); 1 absent (no frames on disk)")
    assert "excluded: interval_invalid" in out and "subjects with usable clips" in out
    code, out, err = run(["check-data", "-d", "casme2", "-r", str(root), "--strict"], capsys)
    assert code == 1 and "problem(s) found (--strict)" in err and "Traceback" not in err


def test_partial_tree_counts_subjects_with_frames_and_absent_clips_once(tmp_path, capsys):
    """The real CASME II sheet with frames of one subject: not 'ready from 26 subjects'."""
    rows = [[s, f"EP0{k}_01", None, 1, 3, 6, None, "12", "happiness"] for s in range(1, 6) for k in range(1, 4)]
    root = make_casme2(tmp_path / "c", rows, {("sub01", f"EP0{k}_01"): (range(1, 7), "img{n}.jpg")
                                              for k in range(1, 4)})
    code, out, err = run(["check-data", "-d", "casme2", "-r", str(root), "--brief"], capsys)
    assert code == 0, err
    assert out.strip().splitlines()[-1] == ("usable in part: 3 labelled clips ready from 1 subjects; "
                                            "12 absent (no frames on disk)")


def test_a_dataset_whose_every_clip_is_excluded_is_unusable(tmp_path, capsys):
    root = make_casme2(tmp_path / "c", [BAD[0]], {("sub01", "EP04_01"): (range(1, 7), "img{n}.jpg")})
    code, out, err = run(["check-data", "-d", "casme2", "-r", str(root)], capsys)
    assert code == 1 and "unusable" in err and "interval_invalid" in err


def test_samm_intensity_choice_is_one_certain_au(tmp_path):
    assert parse_aus("4A/B").aus == (AU(4, intensity="A/B"),) and parse_aus("4A/B").unparsed == ()
    assert parse_aus("R4A/B+7").aus == (AU(4, "R", "A/B"), AU(7))
    assert parse_aus("4/7").aus == (AU(4, alternative=True), AU(7, alternative=True))     # still alternatives
    row = ["006", "006_1_2", "c", 5562, 5588, 5644, 82, "Micro - 1/2", "4A/B", "Anger", "III", ""]
    root = make_samm(tmp_path / "samm", [row], {("006", "006_1_2"): (range(5562, 5645), "006_{n:05d}.jpg")})
    ds = load_dataset("samm", root)
    assert [p.kind for p in ds.problems] == [] and ds.samples[0].aus == (AU(4, intensity="A/B"),)


def test_root_that_is_a_file_and_loader_option_hints(tmp_path, capsys):
    afile = tmp_path / "afile.txt"
    afile.write_text("x")
    code, _, err = run(["check-data", "-d", "synthme", "-r", str(afile)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"dataset root {afile} is a file, not a folder" in err and "CASME2-coding" not in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(["check-data", "-d", "casme2", "-r", str(tmp_path / "empty")], capsys)
    assert code == 2 and "-o annotation=PATH (or --set data.options.annotation=PATH)" in err
