"""Hand-made motion signals: a face at rest (flow noise only) plus events whose region
displacement over time is written out explicitly, turned into the lagged flow the spotter
reads. No video, no flow: the rules are tested on numbers whose truth is known exactly."""

from __future__ import annotations

import numpy as np

from deftmer.facs import REGION_INDEX
from deftmer.spot.signals import MotionSignals

FPS = 30.0
LAG = 3


def rise_fall(n: int, apex: int) -> np.ndarray:
    t = np.arange(n, dtype=float)
    return np.where(t <= apex, 0.5 - 0.5 * np.cos(np.pi * t / max(apex, 1)),
                    0.5 + 0.5 * np.cos(np.pi * (t - apex) / max(n - 1 - apex, 1)))


class Scene:
    """Region displacement x(t) of every region (px), built event by event."""

    def __init__(self, rows: int, seed: int = 0, noise: float = 0.02) -> None:
        self.rows = rows
        self.x = np.zeros((rows, len(REGION_INDEX), 2))
        self.head = np.zeros(rows)
        self.noise = noise
        self.rng = np.random.default_rng(seed)

    def add(self, start: int, course: np.ndarray, moves: dict[str, tuple[float, float]]) -> Scene:
        """Regions move by ``moves`` (px at full strength) following ``course`` from row ``start``."""
        for region, v in moves.items():
            self.x[start:start + len(course), REGION_INDEX[region]] += course[:, None] * np.asarray(v)
            self.x[start + len(course):, REGION_INDEX[region]] += course[-1] * np.asarray(v)
        return self

    def micro(self, onset: int, n: int, moves: dict[str, tuple[float, float]]) -> Scene:
        return self.add(onset, rise_fall(n, int(0.4 * (n - 1))), moves)

    def signals(self) -> MotionSignals:
        lagged = self.x.copy()
        lagged[LAG:] -= self.x[:-LAG]
        lagged[:LAG] = np.nan
        flow = lagged + self.rng.normal(0, self.noise, lagged.shape)
        head = np.abs(self.head) + np.abs(self.rng.normal(0, 0.05, self.rows))
        return MotionSignals(fps=FPS, step=1, lag=LAG, frame=np.arange(self.rows), region_flow=flow.astype(np.float32),
                             head=head.astype(np.float32), face=np.ones(self.rows, bool))


SMILE = {"lip_corner_L": (0.35, -0.35), "lip_corner_R": (-0.35, -0.35), "cheek_L": (0.1, -0.2),
         "cheek_R": (-0.1, -0.2)}
BROWS_UP = {"brow_inner_L": (0.0, -0.5), "brow_inner_R": (0.0, -0.5), "brow_outer_L": (0.0, -0.4),
            "brow_outer_R": (0.0, -0.4)}
BLINK = {"upper_lid_L": (0.0, 2.0), "upper_lid_R": (0.0, 2.0), "lower_lid_L": (0.0, 0.5),
         "lower_lid_R": (0.0, 0.5), "brow_inner_L": (0.0, 0.1)}
