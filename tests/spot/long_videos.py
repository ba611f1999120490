"""Short long-SynthME videos with events placed by hand, written as frame folders or videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from deftmer.data.synthme_long import LongEvent
from deftmer.synth.generate import subject_face
from deftmer.synth.long import LongSynthOptions, render_video

OPTS = LongSynthOptions(size=224, fps=30.0)


def render_folder(folder: Path, events: list[LongEvent], n_frames: int, seed: int = 0) -> Path:
    """Frames ``img1.jpg``... of one subject with exactly ``events`` (frame numbers from 1)."""
    folder.mkdir(parents=True, exist_ok=True)

    def write(number: int, rgb: np.ndarray) -> None:
        cv2.imwrite(str(folder / f"img{number}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
    render_video(subject_face(seed, 0, OPTS.size), events, n_frames, seed, 0, OPTS, write)
    return folder


def folder_to_video(folder: Path, video: Path, fps: float = 30.0) -> Path:
    """The folder's frames as an MJPG .avi (what a user's camera file would be)."""
    frames = sorted(folder.glob("img*.jpg"), key=lambda p: int(p.stem[3:]))
    first = cv2.imread(str(frames[0]))
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), fps, (first.shape[1], first.shape[0]))
    for p in frames:
        w.write(cv2.imread(str(p)))
    w.release()
    return video


def micro(onset: int, n: int, emotion: str, aus: tuple) -> LongEvent:
    return LongEvent("micro", onset, onset + int(0.4 * (n - 1)), onset + n - 1, emotion, aus)


#: Two micro-expressions (a smile, raised brows) and a blink between them, in 8 s at 30 fps.
TWO_MES_AND_A_BLINK = [micro(40, 10, "happiness", ((6, None, 1.4), (12, None, 1.8))),
                       LongEvent("blink", 100, 103, 106),
                       micro(160, 12, "surprise", ((1, None, 1.6), (2, None, 1.8)))]
