"""Small synthetic clips for the preprocessing tests: a real face (skimage's astronaut) with a
known, local, sub-pixel displacement that rises to an apex frame and falls again."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from skimage.data import astronaut

from deftmer.preprocess.rois import ROI_BY_NAME

BASE_SIZE = 256


@lru_cache(maxsize=1)
def base_face() -> np.ndarray:
    """A 256x256 RGB frontal face (the astronaut, cropped around the head)."""
    return cv2.resize(astronaut()[20:300, 90:370], (BASE_SIZE, BASE_SIZE), interpolation=cv2.INTER_AREA)


@lru_cache(maxsize=1)
def base_landmarks() -> np.ndarray:
    from deftmer.preprocess.face import FaceLandmarker

    with FaceLandmarker() as lm:
        pts = lm.detect(base_face())
    assert pts is not None
    return pts


def warp(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Move image content by (u, v) px (backward map, accurate for smooth small fields)."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(img, xx - u.astype(np.float32), yy - v.astype(np.float32), cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REFLECT)


@dataclass
class Clip:
    frames: list[np.ndarray]
    apex: int
    region: str


def make_clip(region: str = "lip_corner_L", direction: tuple[float, float] = (1.0, -1.0), amplitude: float = 1.5,
              n_frames: int = 21, apex: int = 10, head_shift: tuple[float, float] = (0.0, 0.0),
              noise: float = 1.0, seed: int = 0) -> Clip:
    """A clip whose ``region`` moves by ``amplitude`` px along ``direction`` at the apex.

    ``head_shift`` is a whole-image translation reached at the last frame (rigid head motion).
    """
    rng = np.random.default_rng(seed)
    face = base_face().astype(np.float32)
    centre = base_landmarks()[list(ROI_BY_NAME[region].landmarks)].mean(axis=0)
    yy, xx = np.mgrid[0:BASE_SIZE, 0:BASE_SIZE].astype(np.float32)
    bump = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * 9.0**2))
    d = np.asarray(direction, np.float64) / np.hypot(*direction)
    frames = []
    for t in range(n_frames):
        a = amplitude * np.sin(np.pi / 2 * min(t / apex, (n_frames - 1 - t) / (n_frames - 1 - apex) if t > apex else 1.0))
        a = amplitude * (t / apex if t <= apex else max(0.0, (n_frames - 1 - t) / (n_frames - 1 - apex)))
        s = t / (n_frames - 1)
        u = a * d[0] * bump + head_shift[0] * s
        v = a * d[1] * bump + head_shift[1] * s
        img = warp(face, u, v) + rng.normal(0, noise, face.shape)
        frames.append(np.clip(np.round(img), 0, 255).astype(np.uint8))
    return Clip(frames, apex, region)
