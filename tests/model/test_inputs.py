"""The motion expert's inputs: the clip-scaled flow field and the mirror image of a face."""

import numpy as np
import pytest
import torch

from deftmer.data.sample import ActionUnit, Sample
from deftmer.facs import REGION_INDEX, REGION_NAMES
from deftmer.model.inputs import (
    MIRROR_REGIONS,
    REGION_FEATURES,
    flow_field,
    mirror_clip,
    mirror_field,
    mirror_regions,
    region_motion_features,
    resize_field,
)
from deftmer.preprocess.records import ClipInputs, PreparedSample


def _prepared(flow, strain, masks=None):
    size = flow.shape[-1]
    masks = np.zeros((len(REGION_NAMES), size, size), bool) if masks is None else masks
    return PreparedSample("d/s/c", "d", "s", None, np.zeros((size, size, 3), np.uint8), flow, strain, masks)


def test_resize_field_keeps_pixel_units_of_the_small_map():
    flow = np.zeros((2, 112, 112), np.float32)
    flow[0] = 4.0                      # 4 px at 112 px is 1 px at 28 px
    field = resize_field(flow, np.full((112, 112), 0.2, np.float32), 28)
    assert field.shape == (3, 28, 28)
    assert np.allclose(field[0], 1.0) and np.allclose(field[1], 0.0) and np.allclose(field[2], 0.2)


def test_flow_field_is_scaled_by_the_clips_own_motion():
    """A weak and a strong version of the same motion give the same field; a still clip stays 0."""
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 1, (2, 56, 56)).astype(np.float32)
    strain = np.abs(rng.normal(0, 0.1, (56, 56))).astype(np.float32)
    a = flow_field(_prepared(flow, strain), 28)
    b = flow_field(_prepared(flow * 0.1, strain * 3), 28)
    assert np.allclose(a, b, atol=1e-5)
    mag = np.hypot(a[0], a[1])
    assert abs(np.percentile(mag, 99) - 1.0) < 1e-4 and abs(np.percentile(a[2], 99) - 1.0) < 1e-4
    assert np.all(flow_field(_prepared(np.zeros_like(flow), np.zeros_like(strain)), 28) == 0)


def test_rms_scales_bring_every_clip_to_unit_root_mean_square():
    """``rms``: u / v at unit root mean square over all cells (strain too); ``rms_sqrt`` is its
    signed square root. Both stay intensity-free, mirror with the face, and leave a still clip at zero."""
    rng = np.random.default_rng(3)
    flow = rng.normal(0, 1, (2, 56, 56)).astype(np.float32)
    strain = rng.normal(0, 0.1, (56, 56)).astype(np.float32)
    rms = flow_field(_prepared(flow, strain), 28, "rms")
    assert abs(np.sqrt(np.mean(rms[0] ** 2 + rms[1] ** 2)) - 1.0) < 1e-4
    assert abs(np.sqrt(np.mean(rms[2] ** 2)) - 1.0) < 1e-4
    np.testing.assert_allclose(flow_field(_prepared(flow * 0.1, strain * 3), 28, "rms"), rms, atol=1e-5)
    root = flow_field(_prepared(flow, strain), 28, "rms_sqrt")
    np.testing.assert_allclose(root, np.sign(rms) * np.sqrt(np.abs(rms)), atol=1e-6)
    for scale in ("rms", "rms_sqrt"):
        a = flow_field(_prepared(flow, strain), 28, scale)
        m_flow = np.stack([-flow[0, :, ::-1], flow[1, :, ::-1]]).copy()
        b = flow_field(_prepared(m_flow, strain[:, ::-1].copy()), 28, scale)
        np.testing.assert_allclose(mirror_field(torch.from_numpy(a[None])).numpy()[0], b, atol=1e-5)
        assert np.all(flow_field(_prepared(np.zeros_like(flow), np.zeros_like(strain)), 28, scale) == 0)


def test_an_unknown_field_scale_is_refused():
    flow, strain = np.zeros((2, 28, 28), np.float32), np.zeros((28, 28), np.float32)
    with pytest.raises(ValueError, match="p99, rms, rms_sqrt"):
        flow_field(_prepared(flow, strain), 28, "max")


def test_mirrored_regions_equal_the_features_of_the_mirrored_flow():
    """Mirroring the features (twins swapped, u negated) = computing them on the mirrored clip."""
    rng = np.random.default_rng(1)
    size = 32
    masks = np.zeros((len(REGION_NAMES), size, size), bool)
    for r in range(len(REGION_NAMES)):          # left/right twins sit at mirrored columns
        name = REGION_NAMES[r]
        row = r % 8 * 4
        col = 4 if name.endswith("_R") else size - 8 if name.endswith("_L") else 14
        masks[r, row:row + 4, col:col + 4] = True
    flow = rng.normal(0, 1, (2, size, size)).astype(np.float32)
    strain = np.abs(rng.normal(0, 1, (size, size))).astype(np.float32)
    clip = ClipInputs(Sample("d", "s", "c", "happiness", aus=(ActionUnit(12, "L"), ActionUnit(6))),
                      _prepared(flow, strain, masks))
    mirrored = mirror_clip(clip)
    direct = region_motion_features(mirrored.prepared.flow, mirrored.prepared.strain, mirrored.prepared.roi_masks)
    via = mirror_regions(region_motion_features(flow, strain, masks))
    assert np.allclose(direct, via, atol=1e-5)
    assert [str(a) for a in mirrored.sample.aus] == ["RAU12", "AU6"]        # one-sided AUs change side
    assert mirrored.sample.id != clip.sample.id and mirrored.prepared.sample_id == mirrored.sample.id
    assert MIRROR_REGIONS[REGION_INDEX["lip_corner_L"]] == REGION_INDEX["lip_corner_R"]
    assert MIRROR_REGIONS[REGION_INDEX["chin"]] == REGION_INDEX["chin"]


def test_mirror_field_flips_columns_and_negates_u_twice_is_identity():
    x = torch.randn(2, 3, 5, 5)
    m = mirror_field(x)
    assert torch.allclose(m[:, 0, :, 0], -x[:, 0, :, -1]) and torch.allclose(m[:, 1, :, 0], x[:, 1, :, -1])
    assert torch.allclose(mirror_field(m), x)
    u = REGION_FEATURES.index("mean_u")
    f = torch.randn(2, len(REGION_NAMES), len(REGION_FEATURES))
    assert torch.allclose(mirror_regions(mirror_regions(f)), f)
    assert torch.allclose(mirror_regions(f)[:, REGION_INDEX["chin"], u], -f[:, REGION_INDEX["chin"], u])
