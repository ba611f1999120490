"""Apex spotting: the frame in [onset, offset] whose motion from onset is largest.

Used when the annotation has no apex (SMIC) or flags it. Motion is cheap DIS flow from the
onset frame, with the head's translation removed, averaged over the AU regions (so blinks
inside the eye opening and the background weigh little), smoothed over time.
"""

from __future__ import annotations

import cv2
import numpy as np

from deftmer.preprocess.flow import to_gray

_SPOT_DIS: cv2.DISOpticalFlow | None = None


def _spotting_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    global _SPOT_DIS
    if _SPOT_DIS is None:
        _SPOT_DIS = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    return _SPOT_DIS.calc(a, b, None)


def motion_curve(frames: list[np.ndarray], region_mask: np.ndarray, stable_mask: np.ndarray) -> np.ndarray:
    """Mean local flow magnitude (px) from ``frames[0]`` to each frame, inside ``region_mask``.

    The median flow of ``stable_mask`` (non-AU face skin) is subtracted first, so a head
    translation does not look like an expression.
    """
    first = to_gray(frames[0])
    out = np.zeros(len(frames), np.float64)
    use_stable = bool(stable_mask.any())
    for i in range(1, len(frames)):
        f = _spotting_flow(first, to_gray(frames[i]))
        u, v = f[..., 0], f[..., 1]
        if use_stable:
            u = u - np.median(u[stable_mask])
            v = v - np.median(v[stable_mask])
        out[i] = float(np.hypot(u, v)[region_mask].mean())
    return out


def smooth(curve: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average (edges use the frames available)."""
    if window <= 1 or len(curve) < 2:
        return curve.astype(np.float64)
    k = np.ones(window) / window
    num = np.convolve(curve, k, mode="same")
    den = np.convolve(np.ones_like(curve, dtype=np.float64), k, mode="same")
    return num / den


def spot_apex(frames: list[np.ndarray], region_mask: np.ndarray, stable_mask: np.ndarray,
              smoothing: int = 3) -> tuple[int, np.ndarray]:
    """Index (into ``frames``, where frames[0] is the onset) of the spotted apex, and the curve."""
    if len(frames) < 2:
        return 0, np.zeros(len(frames))
    curve = smooth(motion_curve(frames, region_mask, stable_mask), smoothing)
    return int(np.argmax(curve)), curve
