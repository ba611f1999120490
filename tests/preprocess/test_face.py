"""Alignment: eye centres land on their targets, and one transform serves the whole clip."""

import json

import numpy as np
import pytest
from synthclips import base_face, base_landmarks, make_clip

from deftmer.preprocess import PreprocessConfig, prepare_frames
from deftmer.preprocess.face import (
    FaceLandmarker,
    align_from_landmarks,
    eye_centres,
    eye_targets,
    similarity_from_points,
)


def test_similarity_maps_both_points_exactly():
    rng = np.random.default_rng(3)
    for _ in range(20):
        src = tuple(rng.uniform(0, 300, 2) for _ in range(2))
        dst = tuple(rng.uniform(0, 224, 2) for _ in range(2))
        m = similarity_from_points(src, dst)
        for s, d in zip(src, dst):
            assert np.allclose(m[:, :2] @ s + m[:, 2], d, atol=1e-9)
        # a similarity: the linear part is a scaled rotation
        a = m[:, :2]
        assert np.allclose(a @ a.T, np.eye(2) * np.linalg.det(a), atol=1e-9)


def test_aligned_face_has_eyes_on_targets_when_detected_again():
    cfg = PreprocessConfig()
    rotated = np.ascontiguousarray(np.rot90(base_face(), 0))
    al = align_from_landmarks(base_landmarks(), cfg.size, cfg.eye_y, cfg.eye_distance)
    with FaceLandmarker() as lm:
        redetected = lm.detect(al.warp(rotated))
    assert redetected is not None
    targets = eye_targets(cfg.size, cfg.eye_y, cfg.eye_distance)
    for found, target in zip(eye_centres(redetected), targets):
        assert np.hypot(*(found - target)) < 1.0


def test_same_transform_on_every_frame_so_head_motion_is_kept_and_reported():
    shift = (3.0, 2.0)  # whole-image translation at the last frame, original pixels
    clip = make_clip("chin", (0, 1), amplitude=0.0, n_frames=11, apex=5, head_shift=shift, noise=0.0)
    p = prepare_frames(clip.frames, PreprocessConfig(flow="dis"), onset=0, apex=10, offset=10)
    onset_only = align_from_landmarks(base_landmarks(), 224, 0.36, 0.30)
    assert np.allclose(json.loads(p.meta["alignment"]), onset_only.matrix, atol=1e-3)
    # the apex frame was warped with the onset's transform, so the shift shows up as head motion
    expected = np.array(shift) * onset_only.scale
    assert np.array(p.head_motion) == pytest.approx(expected, abs=0.35)
    # ...and is removed from the stored flow
    assert np.abs(np.median(p.flow[:, p.roi_masks.any(0)], axis=1)).max() < 0.2
