"""The hand-crafted features and the flow images read flow the way their docstrings say."""

from __future__ import annotations

import numpy as np
from baseline_toy_data import SIZE, grid_masks

from deftmer.baselines.config import MdmoSvmConfig
from deftmer.baselines.features import (
    flow_image,
    mdmo_feature_dim,
    mdmo_features,
    mirror_flow_image,
    region_main_direction,
)
from deftmer.facs import REGION_NAMES
from deftmer.preprocess.records import PreparedSample


def _prepared(flow: np.ndarray, strain: np.ndarray | None = None) -> PreparedSample:
    s = flow.shape[-1]
    return PreparedSample(sample_id="t/s/c", dataset="t", subject="s", label=None,
                          apex_face=np.zeros((s, s, 3), np.uint8), flow=flow.astype(np.float32),
                          strain=np.zeros((s, s), np.float32) if strain is None else strain,
                          roi_masks=grid_masks(s))


def test_main_direction_is_the_mean_of_the_dominant_bin():
    # 30 vectors (1, -2) and 10 opposite vectors (-1, 2): the main bin holds the 30, their mean is (1, -2)
    u = np.array([1.0] * 30 + [-1.0] * 10)
    v = np.array([-2.0] * 30 + [2.0] * 10)
    mean, hist = region_main_direction(u, v, bins=8)
    np.testing.assert_allclose(mean, [1.0, -2.0], atol=1e-6)
    # histogram = mean magnitude per pixel per bin: 30 * sqrt(5) / 40 and 10 * sqrt(5) / 40
    np.testing.assert_allclose(sorted(hist[hist > 0]), [10 * 5 ** 0.5 / 40, 30 * 5 ** 0.5 / 40], rtol=1e-5)


def test_many_tiny_noise_vectors_do_not_outvote_one_real_motion():
    rng = np.random.default_rng(0)
    ang = rng.uniform(-np.pi, np.pi, 200)
    u = np.concatenate([0.01 * np.cos(ang), np.full(20, 1.5)])   # 200 noise vectors, 20 moving +x
    v = np.concatenate([0.01 * np.sin(ang), np.zeros(20)])
    mean, _ = region_main_direction(u, v, bins=8)
    # the +x bin wins; its mean also holds the ~25 noise vectors that fell in it (MDMO's plain mean)
    assert abs(np.degrees(np.arctan2(mean[1], mean[0]))) < 2.0
    assert 20 * 1.5 / 60 < mean[0] < 1.5


def test_mdmo_features_normalise_by_the_strongest_region():
    flow = np.zeros((2, SIZE, SIZE))
    masks = grid_masks()
    flow[0][masks[0]] = 2.0     # region 0 moves +x by 2 px
    flow[1][masks[5]] = -1.0    # region 5 moves up by 1 px
    cfg = MdmoSvmConfig(histograms=False, strain=False)
    f = mdmo_features(_prepared(flow), cfg).reshape(len(REGION_NAMES), 2)
    np.testing.assert_allclose(f[0], [1.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(f[5], [0.0, -0.5], atol=1e-5)
    assert np.abs(f[[i for i in range(len(REGION_NAMES)) if i not in (0, 5)]]).max() == 0
    raw = mdmo_features(_prepared(flow), MdmoSvmConfig(histograms=False, strain=False, normalise="none"))
    np.testing.assert_allclose(raw.reshape(-1, 2)[0], [2.0, 0.0], atol=1e-5)


def test_feature_length_matches_the_config():
    flow = np.random.default_rng(1).normal(size=(2, SIZE, SIZE))
    for cfg in (MdmoSvmConfig(), MdmoSvmConfig(histograms=False), MdmoSvmConfig(direction_bins=4, strain=False)):
        assert mdmo_features(_prepared(flow), cfg).shape == (mdmo_feature_dim(len(REGION_NAMES), cfg),)


def test_flow_image_keeps_pixel_units_of_the_small_image():
    flow = np.zeros((2, 56, 56))
    flow[0] = 2.0          # 2 px at 56 px -> 1 px at 28 px
    flow[1] = -4.0
    strain = np.full((56, 56), 0.3, np.float32)
    img = flow_image(_prepared(flow, strain), 28)
    assert img.shape == (3, 28, 28)
    np.testing.assert_allclose(img[0], 1.0, atol=1e-6)
    np.testing.assert_allclose(img[1], -2.0, atol=1e-6)
    np.testing.assert_allclose(img[2], 0.3, atol=1e-6)   # strain is unit-free


def test_mirror_reverses_columns_and_negates_u():
    img = np.random.default_rng(2).normal(size=(3, 8, 8)).astype(np.float32)
    m = mirror_flow_image(img)
    np.testing.assert_array_equal(m[0], -img[0][:, ::-1])
    np.testing.assert_array_equal(m[1], img[1][:, ::-1])
    np.testing.assert_array_equal(mirror_flow_image(m), img)
