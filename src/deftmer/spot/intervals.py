"""From motion signals to candidate intervals: a robust per-video score, peaks, extents.

Each region's flow magnitude is turned into a robust z-score against that region's own noise
in this video (median and MAD over all frames), so a region that is always busy (the mouth
of a talker) does not drown the others. The frame's score is the mean of its two strongest
regions (an expression moves at least a pair of regions: both sides, or a region and its
neighbour), upper eyelids left out because blinks dominate them. Peaks above median +
``threshold_mad`` * MAD of the score start a candidate, which extends while the score stays
above median + ``extend_mad`` * MAD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deftmer.facs import REGION_NAMES
from deftmer.spot.config import SpotConfig
from deftmer.spot.signals import MotionSignals

MAD_TO_SIGMA = 1.4826
UPPER_LIDS = [REGION_NAMES.index("upper_lid_L"), REGION_NAMES.index("upper_lid_R")]
MOUTH = [REGION_NAMES.index(n) for n in ("upper_lip", "lip_corner_L", "lip_corner_R", "chin")]
LOWER_LIDS = [REGION_NAMES.index("lower_lid_L"), REGION_NAMES.index("lower_lid_R")]
SCORED = [i for i in range(len(REGION_NAMES)) if i not in UPPER_LIDS]
AWAY_FROM_EYES = [i for i in SCORED if i not in LOWER_LIDS]


def robust_z(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """(x - median) / (1.4826 MAD), NaN-aware; a flat signal gets a tiny floor instead of 0."""
    med = np.nanmedian(values, axis=axis, keepdims=True)
    mad = np.nanmedian(np.abs(values - med), axis=axis, keepdims=True) * MAD_TO_SIGMA
    return (values - med) / np.maximum(mad, 1e-6)


def smooth_rows(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over rows (NaN rows stay NaN); edges average what exists."""
    if window <= 1 or len(values) < 2:
        return values
    kernel = np.ones(window) / window
    filled = np.nan_to_num(values)
    num = np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="same"), 0, filled)
    den = np.convolve(np.ones(len(values)), kernel, mode="same")[:, None]
    return np.where(np.isnan(values), np.nan, num / den)


@dataclass
class MotionScore:
    """Per processed frame: each region's z (T, R) and the frame's score with its thresholds."""

    z: np.ndarray
    score: np.ndarray
    high: float
    low: float


def motion_score(sig: MotionSignals, cfg: SpotConfig) -> MotionScore:
    """Region z-scores, the frame score and the video's own thresholds."""
    mag = np.linalg.norm(sig.region_flow, axis=-1)
    z = smooth_rows(robust_z(mag), max(1, int(round(cfg.smooth_s * sig.rate))))
    top = np.sort(np.nan_to_num(z[:, SCORED], nan=0.0), axis=1)[:, -2:]
    score = top.mean(axis=1)
    valid = ~np.isnan(mag).any(axis=1)
    base = score[valid] if valid.any() else score
    med = float(np.median(base)) if len(base) else 0.0
    mad = max(float(np.median(np.abs(base - med))) * MAD_TO_SIGMA, 1e-6) if len(base) else 1.0
    score = np.where(valid, score, 0.0)
    return MotionScore(z=z, score=score, high=med + cfg.threshold_mad * mad, low=med + cfg.extend_mad * mad)


def segments(score: np.ndarray, high: float, low: float, merge_gap: int) -> list[tuple[int, int]]:
    """Runs (first, last row) around each peak above ``high``, extended while above ``low``;
    runs closer than ``merge_gap`` rows are one movement (an expression's rise and fall)."""
    from scipy.signal import find_peaks  # lazy: scipy.signal is slow to import, and the CLI imports this

    peaks, _ = find_peaks(np.concatenate([[-np.inf], score, [-np.inf]]), height=high)
    runs: list[list[int]] = []
    for p in peaks - 1:
        a = b = int(p)
        while a > 0 and score[a - 1] > low:
            a -= 1
        while b < len(score) - 1 and score[b + 1] > low:
            b += 1
        if runs and a <= runs[-1][1] + merge_gap + 1:
            runs[-1][1] = max(runs[-1][1], b)
        else:
            runs.append([a, b])
    return [(a, b) for a, b in runs]


def chained_shift(flow: np.ndarray, start: int, lag: int) -> np.ndarray:
    """(T', R, 2) shift of each region from row ``start`` to each later row of ``flow``.

    ``flow[t]`` is the shift from row t - lag to t; chaining rows t, t - lag, ... down to
    the start gives the shift from the start, assuming the face rested before it (the
    frames before an expression's onset do).
    """
    n = len(flow) - start
    out = np.zeros((n, *flow.shape[1:]))
    src = np.nan_to_num(flow[start:].astype(np.float64))
    for t in range(1, n):
        out[t] = src[t] + (out[t - lag] if t - lag > 0 else 0.0)
    return out
