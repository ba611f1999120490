"""Spotting real rendered frames end to end: the library call, `deftmer spot`, and its errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from deftmer.spot.config import SpotConfig
from deftmer.spot.metrics import interval_iou
from deftmer.spot.rules import BLINK
from deftmer.spot.source import open_source
from deftmer.spot.spotter import spot_video
from long_videos import TWO_MES_AND_A_BLINK, render_folder

pytestmark = pytest.mark.slow

TRUE_MES = [(e.onset - 1, e.offset - 1) for e in TWO_MES_AND_A_BLINK if e.kind == "micro"]   # 0-based indices
BLINK_AT = next((e.onset - 1, e.offset - 1) for e in TWO_MES_AND_A_BLINK if e.kind == "blink")


def deftmer(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "deftmer.cli", *args], capture_output=True, text=True, timeout=300,
                          env=env)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return render_folder(tmp_path_factory.mktemp("long") / "video", TWO_MES_AND_A_BLINK, n_frames=240)


def test_both_micro_expressions_are_found_and_the_blink_is_rejected_as_a_blink(folder):
    result = spot_video(open_source(folder, fps=30), SpotConfig(), progress=False)
    assert len(result.intervals) == 2
    for got, truth in zip(result.intervals, TRUE_MES):
        assert interval_iou((got.onset, got.offset), truth) >= 0.5
        assert truth[0] <= got.apex <= truth[1]
    assert result.intervals[0].regions[0] in ("lip_corner_L", "lip_corner_R", "cheek_L", "cheek_R", "lower_lid_L",
                                              "lower_lid_R")
    assert result.intervals[1].regions[0].startswith("brow")
    blink = [r for r in result.rejected if interval_iou((r.onset, r.offset), BLINK_AT) > 0]
    assert blink and {r.reason for r in blink} == {BLINK}
    assert result.n_frames == 240 and result.face_frames == 240 and result.fps == 30


def test_spot_cli_json_csv_and_figure(folder, tmp_path):
    r = deftmer("spot", str(folder), "--fps", "30", "--json", "--csv", str(tmp_path / "s.csv"),
                "--figure", str(tmp_path / "s.png"))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["intervals"]) == 2 and out["n_frames"] == 240 and out["fps"] == 30
    first = out["intervals"][0]
    assert first["onset_s"] == pytest.approx(first["onset"] / 30, abs=1e-3) and first["regions"]
    assert any(x["reason"] == BLINK for x in out["rejected"])
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert [x["status"] for x in rows].count("micro-expression") == 2
    assert {x["reason"] for x in rows if x["status"] == "rejected"} >= {BLINK}
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"

    table = deftmer("spot", str(folder), "--fps", "30")
    assert table.returncode == 0 and "2 micro-expression(s) in 8.0 s (15.0 per minute)" in table.stdout


def test_spot_errors_are_one_line(folder, tmp_path):
    r = deftmer("spot", str(folder))
    assert r.returncode == 2 and "has no frame rate; pass --fps" in r.stderr and "Traceback" not in r.stderr
    video = tmp_path / "no_face.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(30):
        w.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    w.release()
    r = deftmer("spot", str(video))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no face found in any of the 30 frames" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = deftmer("spot", str(tmp_path / "missing.mp4"))
    assert r.returncode == 2 and "does not exist" in r.stderr
