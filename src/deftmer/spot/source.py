"""A long video (file or folder of numbered frames) read one frame at a time.

A 10-minute 1080p video is about 3.7 million pixels x 18000 frames: it never fits in memory,
so spotting streams it, and recognition later reads back only the frames of each interval.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from deftmer.data.frames import IMAGE_SUFFIXES, VIDEO_SUFFIXES, list_frames, read_frame
from deftmer.errors import UserError
from deftmer.utils.console import quiet_native_stderr


@dataclass(frozen=True)
class VideoSource:
    """Where the frames come from, how many there are and at what rate."""

    path: Path
    fps: float
    n_frames: int
    frame_paths: tuple[Path, ...] = field(default=(), repr=False)   # empty for a video file
    frame_numbers: tuple[int, ...] = field(default=(), repr=False)

    @property
    def is_folder(self) -> bool:
        return bool(self.frame_paths)

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps if self.fps > 0 else 0.0

    def frames(self, step: int = 1) -> Iterator[tuple[int, np.ndarray]]:
        """(index, RGB frame) for every ``step``-th frame, decoded one at a time."""
        if self.is_folder:
            for i in range(0, self.n_frames, step):
                yield i, read_frame(self.frame_paths[i])
            return
        with quiet_native_stderr():
            cap = cv2.VideoCapture(str(self.path))
        try:
            i = 0
            while True:
                ok = cap.grab()
                if not ok:
                    return
                if i % step == 0:
                    ok, bgr = cap.retrieve()
                    if not ok:
                        return
                    yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                i += 1
        finally:
            cap.release()

    def segments(self, ranges: list[tuple[int, int]]) -> list[list[np.ndarray]]:
        """RGB frames of each inclusive range (start, stop), read in one pass up to the last
        one; only the requested frames are kept."""
        if self.is_folder:
            return [[read_frame(p) for p in self.frame_paths[a:b + 1]] for a, b in ranges]
        out: list[list[np.ndarray]] = [[] for _ in ranges]
        last = max((b for _, b in ranges), default=-1)
        for i, frame in self.frames():
            if i > last:
                break
            for k, (a, b) in enumerate(ranges):
                if a <= i <= b:
                    out[k].append(frame)
        return out


def open_source(path: str | Path, fps: float | None = None) -> VideoSource:
    """Probe a video file or a frame folder without decoding it.

    A folder of frames carries no frame rate, and every duration rule of spotting depends on
    it, so a folder needs ``fps``; a video's own rate is used unless ``fps`` overrides it.
    """
    path = Path(path)
    if fps is not None and fps <= 0:
        raise UserError(f"--fps {fps} must be positive")
    if path.is_dir():
        listed = list_frames(path)
        if not listed:
            raise UserError(f"folder {path} holds no numbered image frames ({', '.join(sorted(IMAGE_SUFFIXES))})")
        if fps is None:
            raise UserError(f"folder {path} has no frame rate; pass --fps (e.g. 30 for CAS(ME)^2, 200 for SAMM)")
        return VideoSource(path, float(fps), len(listed), tuple(p for _, p in listed), tuple(n for n, _ in listed))
    if not path.exists():
        raise UserError(f"input {path} does not exist; give a video file or a folder of frames")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise UserError(f"input {path} is neither a video ({', '.join(sorted(VIDEO_SUFFIXES))}) nor a folder of frames")
    return _probe_video(path, fps)


def _probe_video(path: Path, fps: float | None) -> VideoSource:
    with quiet_native_stderr():
        cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise UserError(f"video {path} cannot be opened (unsupported or corrupt); convert it to mp4/avi")
        own = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        ok = cap.grab()
    finally:
        cap.release()
    if not ok:
        raise UserError(f"video {path} has no decodable frames (corrupt or truncated)")
    rate = float(fps) if fps is not None else own
    if rate <= 0:
        raise UserError(f"video {path} does not say its frame rate; pass --fps")
    return VideoSource(path, rate, max(count, 1))
