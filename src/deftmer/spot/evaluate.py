"""Spot every video of a long-video dataset and score it against its annotation (MEGC rules).

Recognition sits above this layer, so spot-then-recognise takes it as a callback that labels
the spotted intervals of one video (`deftmer.eval.spot_recognise` provides one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deftmer.data.longvideo import LongVideo, LongVideoSet
from deftmer.spot.config import SpotConfig
from deftmer.spot.metrics import SpotCounts, spot_counts, str_counts
from deftmer.spot.source import VideoSource
from deftmer.spot.spotter import SpotResult, SpottedInterval, spot_video

Recogniser = Callable[[VideoSource, list[SpottedInterval]], list[str | None]]


@dataclass
class VideoScore:
    """One video's spotted intervals, ground truth (frame indices) and counts."""

    video: str
    result: SpotResult
    truth: list[tuple[int, int]]
    spotting: SpotCounts
    labels: list[str | None] = field(default_factory=list)
    str_: SpotCounts | None = None


@dataclass
class SpotEvaluation:
    dataset: str
    videos: list[VideoScore]

    @property
    def spotting(self) -> SpotCounts:
        total = SpotCounts()
        for v in self.videos:
            total = total.add(v.spotting)
        return total

    @property
    def str_(self) -> SpotCounts | None:
        if any(v.str_ is None for v in self.videos) or not self.videos:
            return None
        total = SpotCounts()
        for v in self.videos:
            total = total.add(v.str_)  # type: ignore[arg-type]
        return total

    @property
    def frames(self) -> int:
        return sum(v.result.n_frames for v in self.videos)

    @property
    def seconds(self) -> float:
        return sum(v.result.seconds for v in self.videos)

    def to_json(self) -> dict:
        str_ = self.str_
        return {"dataset": self.dataset, "spotting": self.spotting.to_json(),
                "spot_then_recognise": str_.to_json() if str_ else None,
                "frames": self.frames, "seconds": round(self.seconds, 2),
                "videos": [{"video": v.video, "truth": v.truth, "spotting": v.spotting.to_json(),
                            "intervals": [i.to_json() for i in v.result.intervals],
                            "labels": v.labels, "rejected": [i.to_json() for i in v.result.rejected]}
                           for v in self.videos]}


def video_source(video: LongVideo) -> VideoSource:
    """A dataset video (a frame folder) as a stream at the dataset's frame rate."""
    return VideoSource(video.folder or Path(video.id), video.fps, len(video.frames),
                       video.frames, video.frame_numbers)


def score_video(video: LongVideo, cfg: SpotConfig, recognise: Recogniser | None = None,
                progress: bool = True) -> VideoScore:
    """Spot one video and count its matches against its micro-expression annotation."""
    source = video_source(video)
    result = spot_video(source, cfg, progress=progress)
    truth = [(video.index_of(t.onset), video.index_of(t.offset)) for t in video.micro()]
    pred = [(i.onset, i.offset) for i in result.intervals]
    score = VideoScore(video.id, result, truth, spot_counts(pred, truth))
    if recognise is not None:
        score.labels = recognise(source, result.intervals) if result.intervals else []
        score.str_ = str_counts(pred, score.labels, truth, [t.label for t in video.micro()])
    return score


def evaluate_spotting(dataset: LongVideoSet, cfg: SpotConfig, recognise: Recogniser | None = None,
                      limit: int | None = None, progress: bool = True) -> SpotEvaluation:
    """Spot the first ``limit`` videos (all by default) that have frames, and score them."""
    videos = [v for v in dataset.videos if len(v.frames) >= 3][:limit]
    return SpotEvaluation(dataset.name, [score_video(v, cfg, recognise, progress) for v in videos])
