"""Per-frame motion signals of a long video, computed in one streaming pass.

Each processed frame is aligned to a small face crop (similarity from the eye corners of
MediaPipe landmarks, refreshed every few frames), and DIS flow is computed against the crop
of the frame ``lag`` steps back (the MEGC main-directional idea: a micro-expression's onset
-> apex motion shows up as a short rise of that signal). The head's rigid motion left after
alignment is fitted on face skin outside the AU regions and removed; what remains is read
as one mean flow vector per AU region (averaging vectors cancels flow noise). Only a ring of
``lag + 1`` crops is kept, so memory does not grow with the video.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.sparse import csr_matrix

from deftmer.preprocess.face import Alignment, align_from_landmarks, get_landmarker
from deftmer.preprocess.flow import fit_affine_motion, to_gray
from deftmer.preprocess.rois import roi_masks, stable_mask
from deftmer.spot.config import SpotConfig
from deftmer.spot.source import VideoSource

#: How fast the region masks follow the face (exponential average of the aligned landmarks),
#: and how many landmark refreshes pass between two rebuilds of the masks (they move slowly).
_MASK_SMOOTHING = 0.2
_MASK_EVERY = 8


@dataclass
class MotionSignals:
    """What spotting reads, one row per processed frame (``frame`` = index in the video).

    ``region_flow`` (T, R, 2): each AU region's mean flow vector (crop px) from the frame
    ``lag`` rows back, head motion removed, NaN where either frame had no face.
    ``head`` (T,): the head's rigid shift over the same lag at the face centre (crop px).
    """

    fps: float
    step: int
    lag: int
    frame: np.ndarray
    region_flow: np.ndarray
    head: np.ndarray
    face: np.ndarray
    seconds: float = 0.0
    iod_px: float = 0.0           # the face's inter-ocular distance in the video, px (median)
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Processed frames per second of video."""
        return self.fps / self.step

    def __len__(self) -> int:
        return len(self.frame)


def processing_step(fps: float, cfg: SpotConfig) -> tuple[int, int]:
    """(read every n-th frame, lag in processed frames) for a video of ``fps``."""
    step = max(1, int(round(fps / cfg.max_fps)))
    lag = max(1, int(round(cfg.lag_s * fps / step)))
    return step, lag


class _FaceTrack:
    """The current alignment and region masks, refreshed from landmarks every few frames."""

    def __init__(self, cfg: SpotConfig) -> None:
        self.cfg = cfg
        self.alignment: Alignment | None = None
        self.mean_points: np.ndarray | None = None
        self.region_matrix = csr_matrix((0, 0), dtype=np.float32)
        self.updates = 0
        self.centroids = np.zeros((0, 2), np.float32)   # (R, 2) mean (x, y) of each region
        self.stable: np.ndarray | None = None
        self.iods: list[float] = []

    def update(self, rgb: np.ndarray) -> bool:
        """Detect landmarks; False (and the track reset) when no face is found."""
        pts = get_landmarker().detect(rgb)
        if pts is None:
            self.alignment = None
            self.updates = 0        # a face found again gets fresh masks
            return False
        cfg = self.cfg
        self.alignment = align_from_landmarks(pts, cfg.size, cfg.eye_y, cfg.eye_distance)
        self.iods.append(float(np.linalg.norm(pts[[33, 133]].mean(0) - pts[[362, 263]].mean(0))))
        aligned = self.alignment.points(pts)
        if self.mean_points is None:
            self.mean_points = aligned
        else:
            self.mean_points = (1 - _MASK_SMOOTHING) * self.mean_points + _MASK_SMOOTHING * aligned
        if self.updates % _MASK_EVERY == 0:
            self._masks()
        self.updates += 1
        return True

    def _masks(self) -> None:
        """Region averaging matrix (sparse: each region covers a few % of the crop), region
        centroids and the stable skin mask, from the smoothed aligned landmarks."""
        size = self.cfg.size
        masks = roi_masks(self.mean_points, size).reshape(-1, size * size).astype(np.float32)
        matrix = masks / masks.sum(axis=1, keepdims=True).clip(min=1)
        self.region_matrix = csr_matrix(matrix)
        yy, xx = np.mgrid[0:size, 0:size]
        self.centroids = matrix @ np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
        stable = stable_mask(self.mean_points, size)
        self.stable = stable if stable.sum() >= 50 else None


def _head_shift(before: Alignment, after: Alignment, residual: np.ndarray, centre: np.ndarray) -> float:
    """Rigid motion of the face centre over the lag, in crop px of the earlier frame.

    The residual flow fitted on the crops mixes the head's own motion with the change of
    alignment between the two frames; the latter (where the later alignment puts the earlier
    crop's centre) is taken back out, so a jump of the landmarks is not read as head motion.
    """
    inv = cv2.invertAffineTransform(before.matrix)
    image_pt = inv[:, :2] @ centre + inv[:, 2]
    induced = after.matrix[:, :2] @ image_pt + after.matrix[:, 2] - centre
    shift = residual[:, :2] @ centre + residual[:, 2] - induced
    return float(np.hypot(*shift))


def extract_signals(source: VideoSource, cfg: SpotConfig,
                    on_frame: Callable[[int], None] | None = None) -> MotionSignals:
    """Stream ``source`` once and return its motion signals (see `MotionSignals`)."""
    step, lag = processing_step(source.fps, cfg)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    track = _FaceTrack(cfg)
    ring: deque[tuple[np.ndarray, Alignment]] = deque(maxlen=lag + 1)
    centre = np.array([cfg.size / 2.0, cfg.size * 0.55])
    frames, flows, heads, faces = [], [], [], []
    n_regions = 0
    t0 = time.perf_counter()
    for k, (index, rgb) in enumerate(source.frames(step)):
        if track.alignment is None or k % cfg.landmark_every == 0:
            if not track.update(rgb):
                ring.clear()
        row = None
        head = np.nan
        if track.alignment is not None:
            gray = to_gray(track.alignment.warp(rgb))
            ring.append((gray, track.alignment))
            if len(ring) == lag + 1:
                row, head = _region_motion(dis, ring[0], ring[-1], track, centre)
                n_regions = len(row)
        frames.append(index)
        flows.append(row)
        heads.append(head)
        faces.append(track.alignment is not None)
        if on_frame is not None:
            on_frame(index)
    n_regions = n_regions or track.region_matrix.shape[0] or 17
    blank = np.full((n_regions, 2), np.nan, np.float32)
    return MotionSignals(
        fps=source.fps, step=step, lag=lag, frame=np.asarray(frames, np.int64),
        region_flow=np.stack([blank if f is None else f for f in flows]) if flows else np.zeros((0, n_regions, 2)),
        head=np.asarray(heads, np.float32), face=np.asarray(faces, bool), seconds=time.perf_counter() - t0,
        iod_px=float(np.median(track.iods)) if track.iods else 0.0)


def _region_motion(dis: cv2.DISOpticalFlow, before: tuple[np.ndarray, Alignment],
                   after: tuple[np.ndarray, Alignment], track: _FaceTrack,
                   centre: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean flow vector per region (head motion removed) and the head's shift, frame t-lag -> t."""
    flow_hw = dis.calc(before[0], after[0], None)            # (H, W, 2), contiguous
    residual = np.zeros((2, 3))
    if track.stable is not None:
        residual = fit_affine_motion(np.moveaxis(flow_hw, -1, 0), track.stable, max_points=1500)
    # The region mean of (flow - affine field) is the region mean of the flow minus the affine
    # field at the region's centroid (the field is linear), so the field is never built.
    vectors = track.region_matrix @ flow_hw.reshape(-1, 2) - (track.centroids @ residual[:, :2].T + residual[:, 2])
    return vectors.astype(np.float32), _head_shift(before[1], after[1], residual, centre)
