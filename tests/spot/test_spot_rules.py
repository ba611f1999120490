"""Candidate intervals and rejection rules on hand-made motion signals (no video)."""

from __future__ import annotations

import numpy as np
import pytest
from motion_toys import BLINK as BLINK_MOVES
from motion_toys import BROWS_UP, FPS, SMILE, Scene, rise_fall

from deftmer.spot.config import SpotConfig
from deftmer.spot.intervals import chained_shift, robust_z, segments
from deftmer.spot.metrics import interval_iou
from deftmer.spot.rules import BLINK, HEAD, NO_RETURN, SPEECH, TOO_LONG
from deftmer.spot.spotter import judge


def reasons_over(rejected, first: int, last: int) -> set:
    return {r.reason for r in rejected if interval_iou((r.onset, r.offset), (first, last)) > 0}


def test_two_micro_expressions_are_found_and_every_distractor_is_rejected_for_its_reason():
    scene = Scene(720, seed=1)
    scene.micro(100, 10, SMILE).micro(160, 12, BROWS_UP)                 # 0.33 s and 0.4 s
    scene.add(230, rise_fall(7, 3), BLINK_MOVES)                         # a blink, 0.23 s
    macro = np.concatenate([rise_fall(19, 9)[:10], np.ones(40), rise_fall(25, 12)[12:]])
    scene.add(300, macro, {k: (4 * v[0], 4 * v[1]) for k, v in SMILE.items()})    # a 2.5 s smile
    t = np.arange(80) / FPS                                              # 2.7 s of speech at 4 syllables/s
    scene.add(420, np.sin(np.pi * 4 * t) ** 2 * np.minimum(1, np.minimum(t, t[::-1]) / 0.15),
              {"chin": (0, 1.5), "lip_corner_L": (-0.3, 0), "lip_corner_R": (0.3, 0)})
    scene.add(540, rise_fall(12, 5), {"brow_outer_L": (0.4, 0), "cheek_L": (0.4, 0), "nose_wing_L": (0.3, 0)})
    scene.head[541:553] = 4.0                                           # ... while the head turns
    scene.add(620, rise_fall(13, 6)[:7], BROWS_UP)                      # brows go up and stay: a new pose

    accepted, rejected, score, high = judge(scene.signals(), SpotConfig())
    found = [x for i in accepted for x in (i.onset, i.offset)]
    assert found == pytest.approx([100, 109, 160, 171], abs=2)
    assert all(interval_iou((a.onset, a.offset), t) >= 0.5 for a, t in zip(accepted, [(100, 109), (160, 171)]))
    assert accepted[0].regions[0].startswith(("lip_corner", "cheek")) and accepted[1].regions[0].startswith("brow")
    assert 100 <= accepted[0].apex <= 106 and accepted[0].fps == FPS
    assert reasons_over(rejected, 230, 236) == {BLINK}
    assert reasons_over(rejected, 300, 364) <= {NO_RETURN, TOO_LONG} and reasons_over(rejected, 300, 364)
    assert reasons_over(rejected, 420, 499) == {SPEECH}
    assert reasons_over(rejected, 540, 551) == {HEAD}
    assert reasons_over(rejected, 620, 640) == {NO_RETURN}
    assert score.shape == (720,) and high > 0


def test_a_face_at_rest_has_no_candidates():
    accepted, rejected, _, _ = judge(Scene(600, seed=3).signals(), SpotConfig(threshold_mad=8))
    assert accepted == [] and rejected == []


def test_segments_merge_an_expressions_rise_and_fall():
    score = np.zeros(60)
    score[10:14] = [3, 9, 9, 3]         # rise
    score[15:19] = [3, 8, 8, 3]         # fall, two rows later
    score[40:43] = [3, 9, 3]
    assert segments(score, high=5, low=2, merge_gap=3) == [(10, 18), (40, 42)]
    assert segments(score, high=5, low=2, merge_gap=0) == [(10, 13), (15, 18), (40, 42)]


def test_chained_shift_recovers_the_displacement_from_lagged_flow():
    scene = Scene(40, noise=0.0).micro(10, 12, SMILE)
    sig = scene.signals()
    shift = chained_shift(sig.region_flow, 10, sig.lag)
    assert np.allclose(shift[:, :, :], scene.x[10:] - scene.x[10], atol=1e-5)


def test_robust_z_ignores_outliers():
    v = np.concatenate([np.random.default_rng(0).normal(5, 1, 1000), [500.0]])
    z = robust_z(v)
    assert abs(np.median(z)) < 0.1 and 0.8 < np.median(np.abs(z)) / 0.6745 < 1.2 and z[-1] > 100
