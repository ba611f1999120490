"""SynthME motion: each AU moves its own regions, the FACS way, by the amount the truth records.

Motion is *measured* here with OpenCV optical flow between the written onset and apex JPEGs,
not read back from the generator, so these tests fail if the rendering, the side convention
or the truth bookkeeping is wrong.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from deftmer.data.frames import read_frame
from deftmer.data.sample import ActionUnit
from deftmer.facs import expected_motions
from deftmer.synth.generate import ClipPlan, SynthOptions, render_clip, subject_face
from deftmer.synth.motion import blink_course, time_course

QUIET = SynthOptions(head_motion_px=0.0, flicker=0.0, noise_sigma=0.0, blink_prob=0.0, fps=100.0)


def _flow(folder: Path, a: int, b: int) -> np.ndarray:
    ga = cv2.cvtColor(read_frame(folder / f"img{a}.jpg"), cv2.COLOR_RGB2GRAY)
    gb = cv2.cvtColor(read_frame(folder / f"img{b}.jpg"), cv2.COLOR_RGB2GRAY)
    return cv2.optflow.DualTVL1OpticalFlow_create(nscales=3, warps=3, epsilon=0.02).calc(ga, gb, None)


def _region_mean(flow: np.ndarray, centre: tuple[float, float], radius: int) -> np.ndarray:
    x, y = int(round(centre[0])), int(round(centre[1]))
    return flow[y - radius:y + radius + 1, x - radius:x + radius + 1].reshape(-1, 2).mean(0)


def _clip(aus, n_frames=21, apex=8, blink=None) -> ClipPlan:
    return ClipPlan(subject_index=0, clip_index=0, emotion="others", aus=tuple(aus), n_frames=n_frames,
                    apex_index=apex, first_frame=10, blink=blink)


@pytest.fixture(scope="module")
def face():
    return subject_face(seed=3, subject_index=0, size=256)


@pytest.mark.parametrize("au", [
    (1, None), (2, None), (4, None), (6, None), (9, None), (10, None),
    (12, "L"), (12, "R"), (14, None), (15, None), (17, None), (20, None), (26, None),
])
def test_each_au_moves_its_regions_in_the_facs_direction(face, tmp_path, au):
    number, side = au
    plan = _clip([(number, side, 2.0)])
    truth = render_clip(face, plan, seed=3, opts=QUIET, folder=tmp_path / "clip")
    flow = _flow(tmp_path / "clip", truth.onset, truth.apex)
    radius = max(2, int(0.05 * truth.iod_px))
    (au_truth,) = truth.aus
    assert au_truth.peak_px == pytest.approx(2.0 * truth.iod_px / (0.30 * 224), rel=0.35)
    checked = 0
    for region, dx, dy, _weight in expected_motions(ActionUnit(number, side)):
        true = np.array(truth.region_flow[region])
        if np.linalg.norm(true) < 0.6:
            continue
        # The truth points the FACS way (facs table, side L = image right) ...
        assert true @ np.array([dx, dy]) / np.linalg.norm(true) > 0.8, region
        # ... and the rendered frames really move that way, by about that much.
        got = _region_mean(flow, truth.region_centres[region], radius)
        cos = got @ true / (np.linalg.norm(got) * np.linalg.norm(true))
        assert cos > 0.8, (region, got, true)
        assert 0.35 < np.linalg.norm(got) / np.linalg.norm(true) < 1.3, (region, got, true)
        checked += 1
    assert checked >= 1


def test_unilateral_au_moves_only_its_side(face, tmp_path):
    truth = render_clip(face, _clip([(12, "L", 2.0)]), seed=3, opts=QUIET, folder=tmp_path / "clip")
    flow = _flow(tmp_path / "clip", truth.onset, truth.apex)
    radius = max(2, int(0.05 * truth.iod_px))
    left = _region_mean(flow, truth.region_centres["lip_corner_L"], radius)
    right = _region_mean(flow, truth.region_centres["lip_corner_R"], radius)
    # Subject's left lip corner lies at the IMAGE RIGHT (larger x) and moves up (-y) and out (+x).
    assert truth.region_centres["lip_corner_L"][0] > truth.region_centres["lip_corner_R"][0]
    assert left[1] < -0.5 and left[0] > 0.3
    assert np.linalg.norm(right) < 0.35 * np.linalg.norm(left)
    assert np.linalg.norm(truth.region_flow["lip_corner_R"]) < 0.05


def test_motion_follows_onset_apex_offset_course(face, tmp_path):
    truth = render_clip(face, _clip([(1, None, 2.0)], n_frames=31, apex=10), seed=3, opts=QUIET,
                        folder=tmp_path / "clip")
    folder = tmp_path / "clip"
    radius = max(2, int(0.05 * truth.iod_px))
    centre = truth.region_centres["brow_inner_L"]
    rise = [-_region_mean(_flow(folder, truth.onset, n), centre, radius)[1] for n in
            (truth.onset + 3, truth.apex, truth.offset)]
    assert rise[1] > 1.0                       # brow up at apex
    assert 0.1 * rise[1] < rise[0] < rise[1]   # part way up during onset
    assert abs(rise[2]) < 0.25 * rise[1]       # back down at offset
    course = time_course(31, 10)
    assert course[0] == 0.0 and course[10] == 1.0 and course[-1] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(course[:11]) > 0) and np.all(np.diff(course[10:]) < 0)


def test_blink_moves_upper_lids_down_and_is_recorded(face, tmp_path):
    opts = SynthOptions(head_motion_px=0.0, flicker=0.0, noise_sigma=0.0, fps=100.0, blink_amplitude_px=3.0)
    plan = _clip([(12, None, 1.0)], n_frames=21, apex=8, blink=(4, 8))
    truth = render_clip(face, plan, seed=3, opts=opts, folder=tmp_path / "clip")
    assert truth.blink == (14, 22)
    assert blink_course(21, 4, 8)[8] == pytest.approx(1.0)
    flow = _flow(tmp_path / "clip", truth.onset, truth.onset + 8)
    radius = max(2, int(0.05 * truth.iod_px))
    for region in ("upper_lid_L", "upper_lid_R"):
        assert _region_mean(flow, truth.region_centres[region], radius)[1] > 0.8
    # Blinks are a nuisance: they are not in the AU label.
    assert [a.number for a in truth.aus] == [12]
