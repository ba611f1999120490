"""`deftmer check-data`: counts and problems printed, exit codes for usable / unusable / unreadable."""

import pytest
from me_trees import make_casme2

from deftmer.cli import main
from deftmer.data import load_dataset
from deftmer.data.check import summarise

ROWS = [
    [1, "EP02_01f", None, 1, 3, 5, None, "12", "happiness"],
    [1, "EP19_05f", None, 1, "/", 5, None, "4+L10", "disgust"],
    [2, "EP01_11f", None, 1, 3, 5, None, "14", "others"],
    [2, "EP03_02", None, 1, 3, 5, None, "1+2", "surprise"],
    [3, "EP07_04", None, 1, 3, 5, None, "1+4+15", "sadness"],
]


def _frames(rows):
    return {(f"sub{r[0]:02d}", r[1]): (range(1, 6), "img{n}.jpg") for r in rows}


@pytest.fixture()
def root(tmp_path):
    return make_casme2(tmp_path / "CASME2", ROWS, _frames(ROWS))


def run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_summary_counts(root):
    r = summarise(load_dataset("casme2", root))
    assert r.n_samples == 5 and r.n_labelled == 4 and r.n_usable_inputs == 4 and r.usable
    assert r.per_class == {"happiness": 1, "disgust": 1, "repression": 0, "surprise": 1, "others": 1,
                           "(excluded)": 1}
    assert r.per_subject["sub02"]["others"] == 1 and sum(r.per_subject["sub01"].values()) == 2
    assert r.problem_counts == {"apex_missing": 1}


def test_cli_prints_tables_and_problems(root, capsys):
    code, out, err = run(["check-data", "--dataset", "casme2", "--root", str(root)], capsys)
    assert code == 0, err
    assert "per class" in out and "per subject" in out and "every problem" in out
    assert "apex_missing" in out and "casme2/sub01/EP19_05f" in out
    # sub03's only clip (sadness) is not in casme2_5: 2 subjects have clips the stages will use
    assert "ok: 4 labelled clips ready from 2 subjects" in out


def test_cli_class_set_option_and_strict(root, capsys):
    code, out, _ = run(["check-data", "-d", "casme2", "-r", str(root), "--class-set", "megc3"], capsys)
    assert code == 0 and "negative" in out
    code, _, err = run(["check-data", "-d", "casme2", "-r", str(root), "--strict"], capsys)
    assert code == 1 and "problem" in err


def test_cli_unreadable_layout_exits_2_with_expected_file(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run(["check-data", "-d", "casme2", "-r", str(tmp_path / "empty")], capsys)
    assert code == 2 and "casme2-coding" in err and "Traceback" not in err
    code, _, err = run(["check-data", "-d", "nosuch", "-r", str(tmp_path)], capsys)
    assert code == 2 and "unknown dataset" in err
    code, _, err = run(["check-data", "-d", "casme2", "-r", str(tmp_path), "--option", "oops"], capsys)
    assert code == 2 and "KEY=VALUE" in err


def test_cli_no_frames_is_unusable_exit_1(tmp_path, capsys):
    root = make_casme2(tmp_path / "c", ROWS, {("sub09", "EPX"): (range(1, 3), "img{n}.jpg")})
    code, out, err = run(["check-data", "-d", "casme2", "-r", str(root)], capsys)
    assert code == 1 and "unusable" in err and "frames_missing" in out


def test_cli_loader_option_passes_through(root, capsys, tmp_path):
    ann = root / "CASME2-coding-20140508.xlsx"
    moved = tmp_path / "coding.xlsx"
    ann.rename(moved)
    code, _, err = run(["check-data", "-d", "casme2", "-r", str(root)], capsys)
    assert code == 2 and "annotation=PATH" in err
    code, out, err = run(["check-data", "-d", "casme2", "-r", str(root), "-o", f"annotation={moved}"], capsys)
    assert code == 0, err
