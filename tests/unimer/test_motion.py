"""Region motion: SNR against the clip's noise floor, directions named in face terms."""

import math

import pytest
from unimer_toys import make_prepared

from deftmer.data.sample import ActionUnit
from deftmer.facs import REGION_NAMES
from deftmer.unimer.motion import direction_name, direction_vector, noise_floor, ranked_regions, region_stats


def test_noise_floor_measures_coherent_gap_motion_not_au_motion():
    still = noise_floor(make_prepared([], noise=0.1, seed=1))
    with_au = noise_floor(make_prepared([ActionUnit(12), ActionUnit(4)], amplitude=0.6, noise=0.1, seed=1))
    assert with_au == pytest.approx(still, rel=0.05)           # AU regions do not count
    assert 0.02 <= still < 0.1                                 # iid flicker mostly cancels in a patch mean
    drift = make_prepared([], noise=0.0)
    drift.flow[0] += 0.3                                       # residual head motion moves every patch
    assert noise_floor(drift) == pytest.approx(0.3, abs=1e-4)
    assert noise_floor(make_prepared([], noise=0.0)) == pytest.approx(0.02)  # floor of the floor


def test_stats_follow_region_order_and_measure_the_injected_vector():
    p = make_prepared([], noise=0.02, flow_of={"lip_corner_L": (0.3, -0.3), "chin": (0.0, 0.5)})
    stats = region_stats(p)
    assert [s.region for s in stats] == list(REGION_NAMES)
    lc = stats[REGION_NAMES.index("lip_corner_L")]
    assert lc.mean_u == pytest.approx(0.3, abs=0.02) and lc.mean_v == pytest.approx(-0.3, abs=0.02)
    assert lc.direction == "up-outward"
    assert stats[REGION_NAMES.index("chin")].direction == "down"
    assert stats[REGION_NAMES.index("cheek_R")].direction == "still"
    assert lc.snr > 10 and stats[REGION_NAMES.index("cheek_R")].snr < 1.2
    assert [s.region for s in ranked_regions(stats)[:2]] == ["chin", "lip_corner_L"]


def test_left_and_right_mirror_images_get_the_same_face_direction():
    # subject's left lip corner moves to image right, subject's right one to image left
    assert direction_name(0.3, -0.3, "L") == direction_name(-0.3, -0.3, "R") == "up-outward"
    assert direction_name(-0.4, 0.0, "L") == direction_name(0.4, 0.0, "R") == "inward"
    assert direction_name(0.4, 0.0, None) == "left"  # midline: image right = subject's left
    for name in ("up-outward", "inward", "down"):
        for side in ("L", "R"):
            u, v = direction_vector(name, side)
            assert direction_name(u, v, side) == name
    assert direction_vector("left", "R")[0] == pytest.approx(1.0)  # subject's left is +x everywhere


def test_asymmetry_is_positive_when_subject_left_moves_more():
    p = make_prepared([], noise=0.01, flow_of={"lip_corner_L": (0.4, -0.4), "lip_corner_R": (-0.1, -0.1)})
    stats = {s.region: s for s in region_stats(p)}
    expected = (math.hypot(0.4, 0.4) - math.hypot(0.1, 0.1)) / (math.hypot(0.4, 0.4) + math.hypot(0.1, 0.1))
    assert stats["lip_corner_L"].asymmetry == pytest.approx(expected, abs=0.03)
    assert stats["lip_corner_R"].asymmetry == stats["lip_corner_L"].asymmetry
    assert stats["chin"].asymmetry == 0.0
