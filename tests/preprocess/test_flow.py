"""Optical flow, strain and head-motion removal on warps whose true motion is known."""

import cv2
import numpy as np
import pytest
from synthclips import base_face, warp

from deftmer.preprocess.flow import compute_flow, optical_strain, remove_head_motion

INNER = (slice(20, -20), slice(20, -20))


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    return cv2.resize(base_face(), (224, 224), interpolation=cv2.INTER_AREA)


def smooth_subpixel_field(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = 0.6 + 0.2 * np.sin(2 * np.pi * yy / h)
    v = 0.15 * np.cos(2 * np.pi * xx / w)
    return u, v


def test_tvl1_recovers_subpixel_smooth_warp(texture):
    u, v = smooth_subpixel_field(*texture.shape[:2])
    flow = compute_flow(texture, warp(texture, u, v), "tvl1")
    epe = np.hypot(flow[0] - u, flow[1] - v)[INNER].mean()
    assert flow.shape == (2, 224, 224) and flow.dtype == np.float32
    assert epe < 0.2
    assert flow[0][INNER].mean() > 0.5  # the motion is to the right


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_fast_methods_point_the_right_way(texture, method):
    u, v = smooth_subpixel_field(*texture.shape[:2])
    flow = compute_flow(texture, warp(texture, u, v), method)
    assert flow[0][INNER].mean() > 0.35
    assert abs(flow[1][INNER].mean()) < 0.1
    assert np.hypot(flow[0] - u, flow[1] - v)[INNER].mean() < 0.3


def test_strain_of_uniform_stretch_within_ten_percent(texture):
    k = 0.03
    h, w = texture.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx = (w - 1) / 2
    stretched = cv2.remap(texture, cx + (xx - cx) / (1 + k), yy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    strain = optical_strain(compute_flow(texture, stretched, "tvl1"))
    assert abs(float(np.median(strain[INNER])) - k) < 0.1 * k


def test_strain_is_exact_on_analytic_fields_and_ignores_translation():
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    shear = np.stack([0.02 * yy, np.zeros_like(yy)])  # du/dy = 0.02 -> e_xy = 0.01
    assert np.allclose(optical_strain(shear), np.sqrt(2) * 0.01, atol=1e-6)
    translation = np.stack([np.full_like(xx, 1.3), np.full_like(xx, -0.4)])
    assert np.abs(optical_strain(translation)).max() < 1e-6


def test_head_motion_removal_subtracts_stable_region_median():
    flow = np.zeros((2, 32, 32), np.float32)
    flow[0] += 0.7
    flow[1] -= 0.2
    flow[:, 10:14, 10:14] += 2.0  # local "AU" motion outside the stable region
    stable = np.zeros((32, 32), bool)
    stable[20:, :] = True
    out, (dx, dy) = remove_head_motion(flow, stable)
    assert (dx, dy) == pytest.approx((0.7, -0.2), abs=1e-6)
    assert np.abs(out[:, stable]).max() < 1e-6
    assert out[0, 12, 12] == pytest.approx(2.0, abs=1e-6)
