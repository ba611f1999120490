"""SynthME motion: AU displacement fields, the onset-apex-offset time course, nuisances, rendering.

An AU is a smooth local displacement field: a Gaussian bump at each of its regions' anatomical
points, pointing in the FACS direction that `deftmer.facs.expected_motions` gives. The
field is the *forward* displacement of skin content (onset -> apex), so optical flow measured
between the onset and apex frames recovers it directly. Head motion, flicker, sensor noise and
blinks are layered on top so that frame differences alone do not reveal the expression.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from deftmer.data.sample import ActionUnit
from deftmer.facs import expected_motions
from deftmer.synth.face import SubjectFace, region_sigma

#: Inter-ocular distance of a 224-px aligned face (preprocessing puts the eyes 0.30 x 224 apart);
#: amplitudes are given in px of such a face and scaled to the frame by the subject's own IOD.
IOD_224 = 0.30 * 224


def au_field(face: SubjectFace, au: ActionUnit, amplitude_px: float) -> np.ndarray:
    """Displacement field (size, size, 2) float32 of one AU at its apex, in frame px.

    Each expected region motion contributes ``amplitude * weight * direction`` with a Gaussian
    fall-off of the region's radius around its landmark-defined centre.
    """
    size = face.size
    gy, gx = np.mgrid[0:size, 0:size].astype(np.float32)
    field = np.zeros((size, size, 2), np.float32)
    anchors = face.anchors()
    iod = face.iod
    for region, dx, dy, weight in expected_motions(au):
        cx, cy = anchors[region]
        sigma = region_sigma(region) * iod
        w = np.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / (2.0 * sigma ** 2)) * (amplitude_px * weight)
        field[..., 0] += w * dx
        field[..., 1] += w * dy
    return field


def time_course(n_frames: int, apex_index: int) -> np.ndarray:
    """Expression strength per frame: 0 at onset, 1 at apex, back to 0 at offset (raised cosine)."""
    t = np.arange(n_frames, dtype=np.float64)
    a = np.zeros(n_frames)
    rise = t <= apex_index
    a[rise] = 0.5 - 0.5 * np.cos(np.pi * t[rise] / max(apex_index, 1))
    fall = ~rise
    span = max(n_frames - 1 - apex_index, 1)
    a[fall] = 0.5 + 0.5 * np.cos(np.pi * (t[fall] - apex_index) / span)
    return a


def blink_course(n_frames: int, start: int, length: int) -> np.ndarray:
    """Eyelid closure per frame for a blink of ``length`` frames starting at ``start`` (0..1)."""
    t = np.arange(n_frames, dtype=np.float64) - start
    b = np.where((t >= 0) & (t <= length), np.sin(np.pi * np.clip(t / max(length, 1), 0, 1)) ** 2, 0.0)
    return b


@dataclass(frozen=True)
class HeadMotion:
    """Slight rigid head motion: translation (px) and roll (deg) as sums of slow sinusoids."""

    tx: tuple[tuple[float, float, float], ...]   # (amplitude, frequency Hz, phase) terms
    ty: tuple[tuple[float, float, float], ...]
    roll: tuple[tuple[float, float, float], ...]
    centre: tuple[float, float]

    @staticmethod
    def draw(rng: np.random.Generator, amplitude_px: float, centre: tuple[float, float]) -> HeadMotion:
        def terms(amp: float) -> tuple[tuple[float, float, float], ...]:
            return tuple((float(amp * rng.uniform(0.3, 1.0) / 2), float(rng.uniform(0.5, 3.0)),
                          float(rng.uniform(0, 2 * np.pi))) for _ in range(2))
        return HeadMotion(terms(amplitude_px), terms(amplitude_px), terms(amplitude_px * 0.35), centre)

    def at(self, time_s: float) -> np.ndarray:
        """2x3 matrix taking face coordinates to frame coordinates at ``time_s``."""
        def val(ts: tuple[tuple[float, float, float], ...]) -> float:
            return sum(a * np.sin(2 * np.pi * f * time_s + ph) for a, f, ph in ts)
        th = np.deg2rad(val(self.roll))
        c, s = np.cos(th), np.sin(th)
        cx, cy = self.centre
        rot = np.array([[c, -s], [s, c]])
        t = np.array([cx, cy]) - rot @ np.array([cx, cy]) + np.array([val(self.tx), val(self.ty)])
        return np.hstack([rot, t[:, None]])


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


@dataclass
class ClipRenderer:
    """Renders the frames of one clip of one subject: expression field, blink, head motion."""

    face: SubjectFace
    expression: np.ndarray      # (size, size, 2) apex displacement of all AUs, face coords
    blink: np.ndarray           # (size, size, 2) full-closure blink displacement
    _grid: np.ndarray | None = None

    def displacement(self, strength: float, blink: float) -> np.ndarray:
        return (strength * self.expression + blink * self.blink).astype(np.float32)

    def render(self, strength: float, blink: float, head: np.ndarray, gain: float,
               noise: np.ndarray | None) -> np.ndarray:
        """One RGB uint8 frame.

        Pixel p shows face point q = H^-1(p); the skin there came from x0 with x0 + D(x0) = q
        (solved by fixed-point iteration on the smooth field D); x0 is looked up in the
        subject's source photo through its identity map. One interpolation of the photo only.
        """
        size = self.face.size
        if self._grid is None:
            gy, gx = np.mgrid[0:size, 0:size].astype(np.float32)
            self._grid = np.stack([gx, gy], -1)
        inv = cv2.invertAffineTransform(head.astype(np.float64))
        q = (self._grid @ inv[:, :2].T.astype(np.float32) + inv[:, 2].astype(np.float32)).astype(np.float32)
        d = self.displacement(strength, blink)
        x0 = q
        if strength != 0.0 or blink != 0.0:
            for _ in range(4):
                dx = cv2.remap(d, x0[..., 0], x0[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                x0 = q - dx
        src = cv2.remap(self.face.source_map, x0[..., 0], x0[..., 1], cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        img = cv2.remap(self.face.source, src[..., 0], src[..., 1], cv2.INTER_CUBIC,
                        borderMode=cv2.BORDER_REFLECT)
        img = img * np.float32(gain)
        if noise is not None:
            img = img + noise
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def forward_displacement(field: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Displacement of the skin point that starts at ``point`` (x, y): bilinear field lookup."""
    x = np.array([[point]], np.float32)
    out = cv2.remap(field, x[..., 0], x[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out[0, 0].astype(np.float64)
