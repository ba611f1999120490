"""Reading frames and videos into RGB uint8 arrays, with errors a user can act on."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from deftmer.errors import UserError
from deftmer.utils.console import quiet_native_stderr

# A corrupt file must give the user one clear line (our UserError), not OpenCV's warnings too.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
_NUM = re.compile(r"(\d+)(?!.*\d)")


def frame_number(path: str | Path) -> int | None:
    """The last run of digits in a file's stem (``img46.jpg`` -> 46, ``006_05562.jpg`` -> 5562)."""
    m = _NUM.search(Path(path).stem)
    return int(m.group(1)) if m else None


def list_frames(folder: str | Path) -> list[tuple[int, Path]]:
    """Image files of a clip folder as (frame number, path), sorted by number (not by name)."""
    folder = Path(folder)
    out = []
    for p in folder.iterdir():
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."):
            n = frame_number(p)
            if n is not None:
                out.append((n, p))
    out.sort(key=lambda t: (t[0], t[1].name))
    return out


def read_frame(path: str | Path) -> np.ndarray:
    """Read one image as RGB uint8 (H, W, 3); a missing or corrupt file raises `UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"frame {path} does not exist; check the dataset root and its layout")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise UserError(f"frame {path} cannot be decoded (corrupt or truncated image); replace or remove it")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_video(path: str | Path, max_frames: int | None = None) -> tuple[list[np.ndarray], float]:
    """Read a video as RGB uint8 frames plus its frame rate (0.0 when the container has none)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"video {path} does not exist")
    with quiet_native_stderr():
        return _decode_video(path, max_frames)


def _decode_video(path: Path, max_frames: int | None) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise UserError(f"video {path} cannot be opened (unsupported or corrupt); convert it to mp4/avi")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        frames: list[np.ndarray] = []
        while max_frames is None or len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise UserError(f"video {path} has no decodable frames (corrupt or truncated)")
    return frames, fps


def read_clip_input(path: str | Path) -> tuple[list[np.ndarray], float]:
    """A video file or a folder of frames, as RGB frames plus fps (0.0 when unknown)."""
    path = Path(path)
    if path.is_dir():
        frames = list_frames(path)
        if not frames:
            raise UserError(f"folder {path} holds no numbered image frames (jpg/png/bmp)")
        return [read_frame(p) for _, p in frames], 0.0
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return read_video(path)
    if not path.exists():
        raise UserError(f"input {path} does not exist; give a video file or a folder of frames")
    raise UserError(f"input {path} is neither a video ({', '.join(sorted(VIDEO_SUFFIXES))}) nor a folder of frames")
