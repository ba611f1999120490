"""Dynamic-texture inputs: the onset/apex difference image and a rank-pooled dynamic image.

Approximate rank pooling (Bilen et al., CVPR 2016) folds a frame sequence into one image
whose pixels encode the direction of change over time, so a 2-D backbone can read it.
"""

from __future__ import annotations

import numpy as np


def rank_pooling_weights(n: int) -> np.ndarray:
    """Bilen et al.'s approximate rank pooling coefficients alpha_t, t = 1..n.

    alpha_t = 2(n - t + 1) - (n + 1)(H_n - H_{t-1}), with H_t the t-th harmonic number
    (H_0 = 0). They sum to zero, so a static sequence pools to zero.
    """
    if n < 1:
        raise ValueError("rank pooling needs at least one frame")
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1))])
    t = np.arange(1, n + 1)
    return 2.0 * (n - t + 1) - (n + 1) * (harmonic[n] - harmonic[t - 1])


def dynamic_image(frames: list[np.ndarray]) -> np.ndarray:
    """float32 (H, W, 3) dynamic image of uint8 RGB frames, scaled to [-1, 1] by its max |value|.

    The weights sum to zero, so pooling ``frame_t - frame_0`` equals pooling the frames; the
    differences are small exact integers, so float32 (one BLAS product, ~3x faster than the
    float64 stack) loses nothing, and a static sequence pools to exactly zero.
    """
    n = len(frames)
    first = frames[0].astype(np.float32)
    change = np.stack([f.astype(np.float32) - first for f in frames]).reshape(n, -1)
    di = (rank_pooling_weights(n).astype(np.float32) @ change).reshape(frames[0].shape)
    peak = float(np.abs(di).max())
    if peak == 0.0:  # a static sequence
        return np.zeros(frames[0].shape, np.float32)
    return (di / peak).astype(np.float32)


def difference_image(onset: np.ndarray, apex: np.ndarray) -> np.ndarray:
    """float32 (H, W, 3) apex - onset in [-1, 1] (absolute, not rescaled: subtle stays subtle)."""
    return ((apex.astype(np.float32) - onset.astype(np.float32)) / 255.0).astype(np.float32)


def sample_indices(start: int, stop: int, count: int) -> list[int]:
    """Up to ``count`` evenly spaced indices from start to stop inclusive (both ends kept)."""
    if stop <= start:
        return [start]
    n = min(count, stop - start + 1)
    return sorted({int(round(x)) for x in np.linspace(start, stop, n)})
