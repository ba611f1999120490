"""Spotting real rendered frames end to end: the library call, `deftmer spot`, and its errors."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from long_videos import TWO_MES_AND_A_BLINK

from deftmer.spot.config import SpotConfig
from deftmer.spot.metrics import interval_iou
from deftmer.spot.rules import BLINK
from deftmer.spot.source import open_source
from deftmer.spot.spotter import spot_video

pytestmark = pytest.mark.slow

TRUE_MES = [(e.onset - 1, e.offset - 1) for e in TWO_MES_AND_A_BLINK if e.kind == "micro"]   # 0-based indices
BLINK_AT = next((e.onset - 1, e.offset - 1) for e in TWO_MES_AND_A_BLINK if e.kind == "blink")


def test_both_micro_expressions_are_found_and_the_blink_is_rejected_as_a_blink(long_folder):
    result = spot_video(open_source(long_folder, fps=30), SpotConfig(), progress=False)
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


def test_spot_cli_json_csv_and_figure(long_folder, tmp_path, cli):
    code, out, err = cli("spot", str(long_folder), "--fps", "30", "--json", "--csv", str(tmp_path / "s.csv"),
                         "--figure", str(tmp_path / "s.png"))
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["intervals"]) == 2 and doc["n_frames"] == 240 and doc["fps"] == 30
    first = doc["intervals"][0]
    assert first["onset_s"] == pytest.approx(first["onset"] / 30, abs=1e-3) and first["regions"]
    assert any(x["reason"] == BLINK for x in doc["rejected"])
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert [(int(x["onset"]), int(x["offset"])) for x in rows if x["status"] == "micro-expression"] == [
        (i["onset"], i["offset"]) for i in doc["intervals"]]
    assert {x["reason"] for x in rows if x["status"] == "rejected"} >= {BLINK}
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_spot_errors_are_one_line(long_folder, tmp_path, cli):
    code, _, err = cli("spot", str(long_folder))
    assert code == 2 and "has no frame rate; pass --fps" in err
    video = tmp_path / "no_face.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(30):
        w.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    w.release()
    code, _, err = cli("spot", str(video))
    assert code == 2 and "no face found in any of the 30 frames" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("spot", str(tmp_path / "missing.mp4"))
    assert code == 2 and "does not exist" in err
