"""Spot micro-expressions in a long video: stream it once, score it, judge each candidate."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from deftmer.facs import REGION_NAMES
from deftmer.preprocess.face import NoFaceError
from deftmer.spot.config import SpotConfig
from deftmer.spot.intervals import motion_score, segments
from deftmer.spot.rules import extent, rejection
from deftmer.spot.signals import MotionSignals, extract_signals
from deftmer.spot.source import VideoSource
from deftmer.utils.console import make_progress

#: Fewer measured frames than this leave no noise level to judge candidates against.
MIN_MEASURED_ROWS = 10


@dataclass(frozen=True)
class SpottedInterval:
    """One candidate, in frame indices of the video (0-based); ``reason`` None = accepted."""

    onset: int
    apex: int
    offset: int
    fps: float
    score: float
    regions: tuple[str, ...]
    reason: str | None = None

    @property
    def onset_s(self) -> float:
        return self.onset / self.fps

    @property
    def apex_s(self) -> float:
        return self.apex / self.fps

    @property
    def offset_s(self) -> float:
        return self.offset / self.fps

    def to_json(self) -> dict:
        d = asdict(self)
        d.update(onset_s=round(self.onset_s, 3), apex_s=round(self.apex_s, 3), offset_s=round(self.offset_s, 3),
                 score=round(self.score, 2), regions=list(self.regions))
        return d


@dataclass
class SpotResult:
    """Everything `deftmer spot` reports about one video, plus the signal its figure draws."""

    input: str
    fps: float
    n_frames: int
    intervals: list[SpottedInterval]
    rejected: list[SpottedInterval]
    seconds: float
    signal_frames: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    signal: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    threshold: float = 0.0
    face_frames: int = 0

    @property
    def frames_per_second(self) -> float:
        return self.n_frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def minutes(self) -> float:
        return self.n_frames / self.fps / 60.0 if self.fps > 0 else 0.0

    def to_json(self) -> dict:
        return {"input": self.input, "fps": round(self.fps, 3), "n_frames": self.n_frames,
                "seconds": round(self.seconds, 2), "frames_per_second": round(self.frames_per_second, 1),
                "intervals": [i.to_json() for i in self.intervals],
                "rejected": [i.to_json() for i in self.rejected]}


def judge(sig: MotionSignals, cfg: SpotConfig) -> tuple[list[SpottedInterval], list[SpottedInterval], np.ndarray, float]:
    """Accepted and rejected intervals of the signals, plus the score and its threshold."""
    if (~np.isnan(sig.region_flow).any(axis=(1, 2))).sum() < MIN_MEASURED_ROWS:   # too little face to judge
        return [], [], np.zeros(len(sig)), 0.0
    ms = motion_score(sig, cfg)
    accepted, rejected = [], []
    for first, last in segments(ms.score, ms.high, ms.low, sig.lag):
        e = extent(sig, ms, first, last)
        reason = rejection(sig, ms, e, cfg)
        item = SpottedInterval(int(sig.frame[e.onset]), int(sig.frame[e.apex]), int(sig.frame[e.offset]), sig.fps,
                               e.peak, tuple(REGION_NAMES[r] for r in e.regions), reason)
        (accepted if reason is None else rejected).append(item)
    return accepted, rejected, ms.score, ms.high


def spot_video(source: VideoSource, cfg: SpotConfig | None = None, progress: bool = True) -> SpotResult:
    """Spot the micro-expressions of ``source``; `NoFaceError` when no frame shows a face."""
    cfg = cfg or SpotConfig()
    with make_progress(transient=True) as bar:
        bar.disable = not progress
        task = bar.add_task(f"spotting {Path(source.path).name}", total=source.n_frames)
        sig = extract_signals(source, cfg, on_frame=lambda i: bar.update(task, completed=i + 1))
    n_frames = int(sig.frame[-1]) + 1 if len(sig) else source.n_frames
    if not sig.face.any():
        raise NoFaceError(f"no face found in any of the {n_frames} frames of {source.path}; "
                          "spotting needs a visible, roughly frontal face")
    accepted, rejected, score, high = judge(sig, cfg)
    return SpotResult(str(source.path), source.fps, n_frames, accepted, rejected, sig.seconds,
                      signal_frames=sig.frame, signal=score, threshold=high, face_frames=int(sig.face.sum()))
