"""bench_spot.py at a tiny size: every table filled with real numbers (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "spot"))
from long_videos import folder_to_video, micro, render_folder  # noqa: E402
from test_bench_scripts import BENCH, number, table_rows  # noqa: E402

pytestmark = pytest.mark.slow


def test_spot_benchmark_scores_synthme_and_reports_real_videos(tmp_path):
    real = folder_to_video(render_folder(tmp_path / "frames", [micro(30, 10, "happiness", ((12, None, 1.8),))], 90),
                           tmp_path / "talk.avi")
    no_face = tmp_path / "wall.avi"
    w = cv2.VideoWriter(str(no_face), cv2.VideoWriter_fourcc(*"MJPG"), 25, (96, 96))
    for i in range(20):
        w.write(np.full((96, 96, 3), 60 + i, np.uint8))
    w.release()
    md = tmp_path / "spot.md"
    proc = subprocess.run([sys.executable, str(BENCH / "bench_spot.py"), "--work", str(tmp_path / "work"),
                           "--videos", "1", "--minutes", "0.2", "--str-subjects", "1", "--str-clips", "5",
                           "--real", str(real), "--no-face", str(no_face), "--figure", str(tmp_path / "spot.png"),
                           "--markdown", str(md), "--set", "preprocess.flow=dis", "--set", "preprocess.size=96"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    text = md.read_text()
    (videos, cells), = table_rows(text, "Spotting on long SynthME").items()
    mes, distractors, spotted, tp, fp, fn, _, _, f1, _, str_f1, fps = (number(c) for c in cells)
    assert number(videos) == 1 and mes >= 1 and distractors > mes and tp + fn == mes and tp + fp == spotted
    assert 0 <= str_f1 <= f1 <= 1 and fps > 0
    events = table_rows(text, "What became of each true event")
    assert "micro" in events and number(events["micro"][0]) == mes
    real_rows = table_rows(text, "Spotting real videos")
    assert number(real_rows["talk.avi"][2]) == pytest.approx(3.0) and number(real_rows["talk.avi"][6]) > 0
    assert real_rows["wall.avi"][5].startswith("error: no face found in any of the 20 frames")
    assert (tmp_path / "spot.png").read_bytes()[:4] == b"\x89PNG"
