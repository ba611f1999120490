"""`deftmer predict` on long inputs: spot, then one result per micro-expression interval."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from deftmer.config import ExperimentConfig
from deftmer.data.synth_long import LongEvent
from deftmer.spot.metrics import interval_iou
from long_videos import TWO_MES_AND_A_BLINK, folder_to_video, render_folder

pytestmark = pytest.mark.slow

TODAY_FIELDS = {"input", "n_frames", "fps", "onset_index", "apex_index", "apex_spotted", "label", "probs", "aus",
                "description", "generated_text", "moving_regions", "motion_aus", "head_motion_px", "model"}


def deftmer(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "deftmer.cli", *args], capture_output=True, text=True, timeout=300,
                          env=env)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from deftmer.data import load_dataset
    from deftmer.data.synth import generate_synthme
    from deftmer.model.api import create_model
    from deftmer.preprocess import load_clip_inputs, prepare_dataset

    base = tmp_path_factory.mktemp("predict_long")
    generate_synthme(base / "synthme", subjects=2, clips_per_subject=5, seed=0, progress=False)
    cfg = ExperimentConfig.model_validate({"preprocess": {"flow": "dis", "size": 112}})
    ds = load_dataset("synthme", base / "synthme")
    prepare_dataset(ds.labelled(), base / "cache", cfg.preprocess, workers=1, progress=False)
    model = create_model("mdmo-svm", cfg, ds.class_set)
    model.fit(load_clip_inputs(ds.labelled(), base / "cache", cfg.preprocess))
    model.save(base / "ckpt")
    long_video = folder_to_video(render_folder(base / "frames", TWO_MES_AND_A_BLINK, 240), base / "long.avi")
    quiet = [LongEvent("blink", 20, 23, 26), LongEvent("head_turn", 50, 70, 70,
                                                       params={"tx": 6.0, "ty": 1.0, "roll_deg": 3.0,
                                                               "squeeze": 0.03, "back": 0.0})]
    quiet_video = folder_to_video(render_folder(base / "quiet", quiet, 90), base / "quiet.avi")
    return {"ckpt": base / "ckpt", "long": long_video, "quiet": quiet_video, "classes": ds.class_set.classes}


def test_a_long_video_gives_one_result_per_interval_with_todays_fields(world):
    r = deftmer("predict", str(world["long"]), "--checkpoint", str(world["ckpt"]), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert isinstance(out, list) and len(out) == 2
    truths = [(e.onset - 1, e.offset - 1) for e in TWO_MES_AND_A_BLINK if e.kind == "micro"]
    for item, truth in zip(out, truths):
        assert TODAY_FIELDS <= set(item)
        assert interval_iou((item["onset_index"], item["offset_index"]), truth) >= 0.5
        assert item["onset_index"] <= item["apex_index"] <= item["offset_index"]
        assert item["label"] in world["classes"] and item["fps"] == pytest.approx(30)
        assert sum(item["probs"].values()) == pytest.approx(1, abs=1e-3)
    assert out[1]["moving_regions"][0]["region"].startswith("brow")      # the raised brows, measured


def test_no_micro_expression_is_an_answer_and_onset_apex_keep_the_single_clip(world):
    r = deftmer("predict", str(world["quiet"]), "--checkpoint", str(world["ckpt"]), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [] and "no micro-expression found" in r.stderr
    table = deftmer("predict", str(world["quiet"]), "--checkpoint", str(world["ckpt"]))
    assert table.returncode == 0 and "no micro-expression found" in table.stderr

    single = deftmer("predict", str(world["long"]), "--checkpoint", str(world["ckpt"]), "--onset", "39",
                     "--apex", "43", "--json")
    assert single.returncode == 0, single.stderr
    one = json.loads(single.stdout)
    assert isinstance(one, dict) and (one["onset_index"], one["apex_index"]) == (39, 43) and one["n_frames"] == 240


def test_a_long_video_without_a_face_is_one_line(world, tmp_path):
    video = tmp_path / "wall.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    for i in range(50):
        w.write(np.full((120, 160, 3), 90 + i, np.uint8))
    w.release()
    r = deftmer("predict", str(video), "--checkpoint", str(world["ckpt"]))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "no face found" in r.stderr
