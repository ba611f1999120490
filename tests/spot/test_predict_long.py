"""`deftmer predict` on long inputs: spot, then one result per micro-expression interval."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from long_videos import TWO_MES_AND_A_BLINK, folder_to_video, render_folder

from deftmer.data.synthme_long import LongEvent
from deftmer.spot.metrics import interval_iou

pytestmark = pytest.mark.slow

TODAY_FIELDS = {"input", "n_frames", "fps", "onset_index", "apex_index", "apex_spotted", "label", "probs", "aus",
                "description", "generated_text", "moving_regions", "motion_aus", "head_motion_px", "model"}


@pytest.fixture(scope="module")
def world(checkpoint, long_video, tmp_path_factory):
    base = tmp_path_factory.mktemp("predict_long")
    quiet = [LongEvent("blink", 20, 23, 26), LongEvent("head_turn", 50, 70, 70,
                                                       params={"tx": 6.0, "ty": 1.0, "roll_deg": 3.0,
                                                               "squeeze": 0.03, "back": 0.0})]
    quiet_video = folder_to_video(render_folder(base / "quiet", quiet, 90), base / "quiet.avi")
    return {"ckpt": checkpoint[0], "classes": checkpoint[1], "long": long_video, "quiet": quiet_video}


def test_a_long_video_gives_one_result_per_interval_with_todays_fields(world, cli):
    code, stdout, stderr = cli("predict", str(world["long"]), "--checkpoint", str(world["ckpt"]), "--json")
    assert code == 0, stderr
    out = json.loads(stdout)
    assert isinstance(out, list) and len(out) == 2
    truths = [(e.onset - 1, e.offset - 1) for e in TWO_MES_AND_A_BLINK if e.kind == "micro"]
    for item, truth in zip(out, truths):
        assert TODAY_FIELDS <= set(item)
        assert interval_iou((item["onset_index"], item["offset_index"]), truth) >= 0.5
        assert item["onset_index"] <= item["apex_index"] <= item["offset_index"]
        assert item["label"] in world["classes"] and item["fps"] == pytest.approx(30)
        assert sum(item["probs"].values()) == pytest.approx(1, abs=1e-3)
    assert out[1]["moving_regions"][0]["region"].startswith("brow")      # the raised brows, measured
    assert "Warning" not in stderr


def test_no_micro_expression_is_an_answer_and_onset_apex_keep_the_single_clip(world, cli):
    code, out, err = cli("predict", str(world["quiet"]), "--checkpoint", str(world["ckpt"]), "--json")
    assert code == 0, err
    assert json.loads(out) == [] and "no micro-expression found" in err
    code, out, err = cli("predict", str(world["long"]), "--checkpoint", str(world["ckpt"]), "--onset", "39",
                         "--apex", "43", "--json")
    assert code == 0, err
    one = json.loads(out)
    assert isinstance(one, dict) and (one["onset_index"], one["apex_index"]) == (39, 43) and one["n_frames"] == 240


def test_a_long_video_without_a_face_is_one_line(world, tmp_path, cli):
    video = tmp_path / "wall.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    for i in range(50):
        w.write(np.full((120, 160, 3), 90 + i, np.uint8))
    w.release()
    code, _, err = cli("predict", str(video), "--checkpoint", str(world["ckpt"]))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no face found in any of the 50 frames" in err
