"""AU region masks follow facs.REGIONS and the anatomy; rank pooling and difference images."""

import numpy as np
import pytest
from synthclips import base_landmarks

from deftmer.facs import REGION_NAMES
from deftmer.preprocess.dynamic import difference_image, dynamic_image, rank_pooling_weights, sample_indices
from deftmer.preprocess.face import align_from_landmarks
from deftmer.preprocess.rois import ROI_TEMPLATES, roi_masks, stable_mask


@pytest.fixture(scope="module")
def aligned_landmarks() -> np.ndarray:
    return align_from_landmarks(base_landmarks(), 224, 0.36, 0.30).points(base_landmarks())


def test_region_table_follows_facs_order(aligned_landmarks):
    assert tuple(t.name for t in ROI_TEMPLATES) == REGION_NAMES
    masks = roi_masks(aligned_landmarks, 224)
    assert masks.shape == (17, 224, 224) and masks.dtype == bool
    assert (masks.sum(axis=(1, 2)) > 60).all()


def test_regions_sit_at_their_anatomy(aligned_landmarks):
    masks = roi_masks(aligned_landmarks, 224)
    centre = {n: np.argwhere(m).mean(axis=0)[::-1] for n, m in zip(REGION_NAMES, masks)}  # (x, y)
    for base in ("brow_inner", "brow_outer", "upper_lid", "lower_lid", "cheek", "nose_wing", "lip_corner"):
        left, right = centre[f"{base}_L"], centre[f"{base}_R"]
        assert left[0] > 112 > right[0], base  # subject's left is the image right
        assert abs(left[1] - right[1]) < 6, base  # mirrored at the same height
    ys = [centre[n][1] for n in ("brow_inner_L", "upper_lid_L", "lower_lid_L", "nose_wing_L", "lip_corner_L")]
    assert ys == sorted(ys)
    assert centre["glabella"][1] < centre["upper_lip"][1] < centre["chin"][1]
    overlap = (masks.sum(axis=0) > 1).sum() / masks.any(axis=0).sum()
    assert overlap < 0.05


def test_stable_mask_is_face_skin_outside_regions(aligned_landmarks):
    masks = roi_masks(aligned_landmarks, 224)
    stable = stable_mask(aligned_landmarks, 224)
    assert stable.sum() > 2000
    assert not (stable & masks.any(axis=0)).any()


def test_rank_pooling_weights_match_bilen_and_sum_to_zero():
    w = rank_pooling_weights(4)
    h = [0, 1, 1.5, 1 + 1 / 2 + 1 / 3, 1 + 1 / 2 + 1 / 3 + 1 / 4]
    expected = [2 * (4 - t + 1) - 5 * (h[4] - h[t - 1]) for t in range(1, 5)]
    assert np.allclose(w, expected)
    assert abs(rank_pooling_weights(17).sum()) < 1e-9


def test_dynamic_image_shows_where_and_which_way_intensity_changes():
    frames = []
    for t in range(8):
        f = np.full((16, 16, 3), 100, np.uint8)
        f[:, :8] += 10 * t   # brightening on the left half
        f[:, 8:] -= 5 * t    # darkening on the right half
        frames.append(f)
    di = dynamic_image(frames)
    assert di.dtype == np.float32 and np.abs(di).max() == pytest.approx(1.0)
    assert (di[:, :8] > 0.5).all() and (di[:, 8:] < -0.2).all()
    assert np.abs(dynamic_image([frames[0]] * 5)).max() == 0.0


def test_difference_image_and_index_sampling():
    a = np.full((4, 4, 3), 10, np.uint8)
    b = np.full((4, 4, 3), 61, np.uint8)
    assert np.allclose(difference_image(a, b), 51 / 255)
    assert sample_indices(3, 40, 5) == [3, 12, 22, 31, 40]
    assert sample_indices(2, 4, 16) == [2, 3, 4]
    assert sample_indices(5, 5, 16) == [5]
