"""Bad input gets one line saying what is wrong and what to do, a non-zero exit, no traceback.

Each case runs the real CLI in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from deftmer.config import ExperimentConfig


def deftmer(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "deftmer.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def assert_one_line_error(r: subprocess.CompletedProcess, *words: str) -> str:
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]
    return lines[0]


def fake_checkpoint(path: Path, config: dict | None = None) -> Path:
    """A model folder's card (what is read before any weights are loaded)."""
    path.mkdir(parents=True, exist_ok=True)
    card = {"model": "deft", "class_set": "casme2_5", "classes": ["happiness", "disgust", "repression", "surprise", "others"],
            "config": ExperimentConfig().model_dump(mode="json") if config is None else config}
    (path / "model.json").write_text(json.dumps(card))
    return path


def write_frames(folder: Path, n: int, size: int = 64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(folder / f"img{i + 1}.png"), rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    return folder


def test_checkpoint_missing(tmp_path):
    r = deftmer("predict", str(write_frames(tmp_path / "clip", 4)), "--checkpoint", str(tmp_path / "none"))
    assert r.returncode == 2
    assert_one_line_error(r, "does not exist", "deftmer train")


def test_checkpoint_without_card(tmp_path):
    (tmp_path / "ckpt").mkdir()
    r = deftmer("predict", str(write_frames(tmp_path / "clip", 4)), "--checkpoint", str(tmp_path / "ckpt"))
    assert_one_line_error(r, "model.json")


def test_checkpoint_from_a_different_config(tmp_path):
    """A card whose config this version cannot read (unknown field, wrong type) is refused."""
    cfg = ExperimentConfig().model_dump(mode="json")
    cfg["model"]["experts_v9"] = 3
    ckpt = fake_checkpoint(tmp_path / "ckpt", cfg)
    r = deftmer("predict", str(write_frames(tmp_path / "clip", 4)), "--checkpoint", str(ckpt))
    assert_one_line_error(r, "config", "retrain")


def test_clip_shorter_than_three_frames(tmp_path):
    ckpt = fake_checkpoint(tmp_path / "ckpt")
    r = deftmer("predict", str(write_frames(tmp_path / "clip", 2)), "--checkpoint", str(ckpt))
    assert r.returncode == 2
    assert_one_line_error(r, "2 frame(s)", "at least 3")


def test_corrupt_image_in_frame_folder(tmp_path):
    ckpt = fake_checkpoint(tmp_path / "ckpt")
    clip = write_frames(tmp_path / "clip", 5)
    data = (clip / "img3.png").read_bytes()
    (clip / "img3.png").write_bytes(data[: len(data) // 3])          # truncated PNG
    (clip / "img4.png").write_bytes(b"not an image at all")
    r = deftmer("predict", str(clip), "--checkpoint", str(ckpt))
    assert_one_line_error(r, "img3.png", "corrupt or truncated")


def test_truncated_and_corrupt_video(tmp_path):
    ckpt = fake_checkpoint(tmp_path / "ckpt")
    video = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 64))
    for i in range(10):
        w.write(np.full((64, 64, 3), i * 20, np.uint8))
    w.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(video.read_bytes()[:200])                         # header only: no frame survives
    r = deftmer("predict", str(cut), "--checkpoint", str(ckpt))
    assert_one_line_error(r, "cut.avi")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    r = deftmer("predict", str(junk), "--checkpoint", str(ckpt))
    assert_one_line_error(r, "junk.mp4")


def test_input_missing_or_not_a_clip(tmp_path):
    ckpt = fake_checkpoint(tmp_path / "ckpt")
    r = deftmer("predict", str(tmp_path / "nothing.mp4"), "--checkpoint", str(ckpt))
    assert_one_line_error(r, "does not exist")
    (tmp_path / "notes.txt").write_text("hi")
    r = deftmer("predict", str(tmp_path / "notes.txt"), "--checkpoint", str(ckpt))
    assert_one_line_error(r, "neither a video")
    (tmp_path / "empty").mkdir()
    r = deftmer("explain", str(tmp_path / "empty"), "--checkpoint", str(ckpt), "--out", str(tmp_path / "x.png"))
    assert_one_line_error(r, "no numbered image frames")


def test_explain_out_must_be_png(tmp_path):
    ckpt = fake_checkpoint(tmp_path / "ckpt")
    r = deftmer("explain", str(write_frames(tmp_path / "clip", 4)), "--checkpoint", str(ckpt),
                "--out", str(tmp_path / "x.jpg"))
    assert_one_line_error(r, ".png")


def test_report_of_a_folder_without_a_run(tmp_path):
    r = deftmer("report", str(tmp_path / "missing"))
    assert_one_line_error(r, "does not exist")
    (tmp_path / "run").mkdir()
    r = deftmer("report", str(tmp_path / "run"))
    assert_one_line_error(r, "no metrics.json", "deftmer loso")


def test_disk_full_while_writing_the_report_leaves_nothing_half_written(tmp_path, monkeypatch, capsys):
    """The second file hits ENOSPC half-way: one line, exit 2, the first file intact, no temp files."""
    import errno
    import pathlib

    from deftmer.cli import main

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
    from test_report import make_run

    make_run(tmp_path / "run")
    real_write = pathlib.Path.write_bytes
    calls = {"n": 0}

    def filling_disk(self, data):
        calls["n"] += 1
        if calls["n"] == 2:
            real_write(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", filling_disk)
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "rep")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err and "Traceback" not in err
    files = sorted(p.relative_to(tmp_path / "rep").as_posix() for p in (tmp_path / "rep").rglob("*") if p.is_file())
    assert files == ["figures/confusion.png"]
    assert (tmp_path / "rep" / "figures" / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_report_into_a_read_only_folder_leaves_nothing_half_written(tmp_path, read_only):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
    from test_report import make_run

    make_run(tmp_path / "run")
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only(ro):                       # also as root (CI): see conftest.read_only
        r = deftmer("report", str(tmp_path / "run"), "--out", str(ro / "rep"))
        assert_one_line_error(r, "writable")
        assert list(ro.iterdir()) == []


# --- datasets ---------------------------------------------------------------------------------

def _casme2_sheet(root: Path, header: list) -> None:
    import openpyxl

    root.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    ws.append(["01", "EP01_01", 1, 3, 5, "12", "happiness"][: len(header)])
    wb.save(root / "CASME2-coding-20140508.xlsx")
    write_frames(root / "CASME2_RAW_selected" / "sub01" / "EP01_01", 5)


def test_dataset_root_does_not_exist(tmp_path):
    r = deftmer("check-data", "--dataset", "casme2", "--root", str(tmp_path / "nowhere"))
    assert r.returncode == 2
    assert_one_line_error(r, str(tmp_path / "nowhere"))


def test_dataset_root_with_the_wrong_layout(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.txt").write_text("not a dataset")
    r = deftmer("check-data", "--dataset", "casme2", "--root", str(tmp_path / "photos"))
    assert r.returncode == 2
    line = assert_one_line_error(r, "casme2")
    assert ".xlsx" in line or "annotation" in line.lower() or "spreadsheet" in line.lower()


def test_spreadsheet_missing_columns(tmp_path):
    _casme2_sheet(tmp_path / "casme2", ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame"])
    r = deftmer("check-data", "--dataset", "casme2", "--root", str(tmp_path / "casme2"))
    assert r.returncode == 2
    assert_one_line_error(r, "column")


# --- config and options -------------------------------------------------------------------------

def test_invalid_yaml_says_line_and_column(tmp_path):
    bad = tmp_path / "exp.yaml"
    bad.write_text("model:\n  lora_rank: 4\n   extra: [1,\n")
    r = deftmer("check-data", "--dataset", "synthme", "--root", str(tmp_path), "--config", str(bad))
    assert r.returncode == 2
    assert_one_line_error(r, f"config file {bad} is not valid YAML at line 3, column 9")
    r = deftmer("check-data", "--dataset", "synthme", "--root", str(tmp_path), "--set", "model.lora_rank=[1,")
    assert_one_line_error(r, "--set model.lora_rank=[1,: the value is not valid YAML at line 1", "quote it")


def test_unknown_set_key_lists_the_valid_keys(tmp_path):
    r = deftmer("check-data", "--dataset", "synthme", "--root", str(tmp_path), "--set", "model.lora_rnk=4")
    line = assert_one_line_error(r, "unknown key 'model.lora_rnk' (did you mean model.lora_rank?)")
    assert "valid keys: model.name, model.llm," in line and "model.lora_rank" in line
    r = deftmer("check-data", "--dataset", "synthme", "--root", str(tmp_path), "--set", "modle.name=x")
    assert_one_line_error(r, "unknown key 'modle' (did you mean model?)", "valid keys: seed, data, preprocess")


def test_predict_refuses_a_set_that_changes_the_trained_model(tmp_path):
    """--set preprocess.* would change the answer silently, --set model.* would be ignored: both refused."""
    trained = ExperimentConfig.model_validate({"preprocess": {"flow": "dis"}}).model_dump(mode="json")
    ckpt = fake_checkpoint(tmp_path / "ckpt", trained)
    clip = write_frames(tmp_path / "clip", 4)
    r = deftmer("predict", str(clip), "--checkpoint", str(ckpt), "--set", "preprocess.flow=tvl1")
    assert r.returncode == 2
    assert_one_line_error(r, f"--set changes settings the model in {ckpt} was trained with: preprocess.flow "
                             "(dis -> tvl1)", "train a model with these settings")
    r = deftmer("explain", str(clip), "--checkpoint", str(ckpt), "--set", "model.lora_rank=3",
                "--out", str(tmp_path / "x.png"))
    assert_one_line_error(r, "model.lora_rank (8 -> 3)")
    # settings that do not change the model pass; this clip then fails for what it is (noise, no face)
    r = deftmer("predict", str(clip), "--checkpoint", str(ckpt), "--set", "unimer.min_score=0.2")
    assert_one_line_error(r, "clip: no face found in any of its 4 frames")
    assert not (tmp_path / "x.png").exists()


def test_printed_commands_quote_paths_with_spaces(tmp_path):
    root = tmp_path / "my data"
    root.mkdir()
    r = deftmer("loso", "--dataset", "synthme", "--root", str(root), "--cache", str(tmp_path / "my cache"))
    line = assert_one_line_error(r, "does not exist")
    assert f"--root '{root}' --cache '{tmp_path / 'my cache'}'" in line
