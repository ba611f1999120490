"""SynthME faces: one real face image, its landmarks, and per-subject identity variants.

The base face is scikit-image's ``astronaut`` photograph (and its mirror image), so every
synthetic subject has real skin, eyes, brows and lips for optical flow to lock on to. Its
478 MediaPipe landmarks are detected once and cached; each subject is then a smooth geometric
warp (face shape and proportions, crop, scale, roll) plus a photometric change (skin tone,
lighting) of that base. The warp is a closed-form function, so the landmarks are carried
through it exactly instead of being detected again, and every AU's motion can be placed at its
anatomical point of the warped face.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from deftmer.errors import UserError
from deftmer.preprocess.face import FaceLandmarker
from deftmer.utils.io import atomic_save_npz

#: MediaPipe face-mesh indices that locate each FACS region's anatomical centre (their mean).
#: Side suffixes are the subject's sides: ``_L`` (subject's left) lies at the IMAGE RIGHT.
REGION_LANDMARKS: dict[str, tuple[int, ...]] = {
    "brow_inner_L": (336, 296, 285, 295),
    "brow_inner_R": (107, 66, 55, 65),
    "brow_outer_L": (300, 293, 276, 283),
    "brow_outer_R": (70, 63, 46, 53),
    "glabella": (9, 8),
    "upper_lid_L": (386, 385, 387),
    "upper_lid_R": (159, 158, 160),
    "lower_lid_L": (374, 373, 380),
    "lower_lid_R": (145, 144, 153),
    "cheek_L": (346, 347, 280),
    "cheek_R": (117, 118, 50),
    "nose_wing_L": (358, 327, 294),
    "nose_wing_R": (129, 98, 64),
    "upper_lip": (0, 37, 267),
    "lip_corner_L": (291,),
    "lip_corner_R": (61,),
    "chin": (17, 199, 200),
}

#: Gaussian radius of each region's motion, as a fraction of the inter-ocular distance.
REGION_SIGMA: dict[str, float] = {
    "brow_inner": 0.13, "brow_outer": 0.14, "glabella": 0.13, "upper_lid": 0.10,
    "lower_lid": 0.10, "cheek": 0.18, "nose_wing": 0.12, "upper_lip": 0.14,
    "lip_corner": 0.13, "chin": 0.18,
}

EYE_R = (33, 133)    # subject's right eye corners (image left)
EYE_L = (263, 362)   # subject's left eye corners (image right)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
BASE_FACES = ("astronaut", "astronaut_mirror")
_CACHE_VERSION = 1


def region_sigma(region: str) -> float:
    base = region[:-2] if region.endswith(("_L", "_R")) else region
    return REGION_SIGMA[base]


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(subject's left eye centre, subject's right eye centre) from eye-corner landmarks."""
    return landmarks[list(EYE_L)].mean(0), landmarks[list(EYE_R)].mean(0)


def interocular(landmarks: np.ndarray) -> float:
    left, right = eye_centres(landmarks)
    return float(np.linalg.norm(left - right))


def region_anchors(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Anatomical centre (x, y) of every FACS region, in the landmarks' coordinates."""
    return {name: landmarks[list(idx)].mean(0) for name, idx in REGION_LANDMARKS.items()}


# --- landmark detection -----------------------------------------------------------------------

def detect_landmarks(images: list[np.ndarray]) -> list[np.ndarray | None]:
    """478 MediaPipe landmarks (x, y in px) per RGB uint8 image, or None where no face is found.

    The same landmarker preprocessing uses, so SynthME's anatomy and the pipeline's agree.
    """

    with FaceLandmarker() as landmarker:
        found = [landmarker.detect(img) for img in images]
    return [None if pts is None else pts.astype(np.float64) for pts in found]


def _cache_dir() -> Path:
    home = os.environ.get("DEFTMER_HOME")
    return (Path(home) if home else Path.home() / ".cache" / "deftmer") / "synthme"


@dataclass(frozen=True)
class BaseFace:
    """A real face photograph (RGB float32, 0-255) and its 478 landmarks (x, y px)."""

    name: str
    image: np.ndarray
    landmarks: np.ndarray


def _base_image(name: str) -> np.ndarray:
    from skimage import data

    img = data.astronaut()
    if name == "astronaut_mirror":
        img = img[:, ::-1]
    elif name != "astronaut":
        raise ValueError(f"unknown base face {name}")
    return np.ascontiguousarray(img)


@cache
def load_base_face(name: str) -> BaseFace:
    """The base face and its landmarks: detected once with MediaPipe, then read from a cache.

    The cache key holds the image's hash, so a changed sample image is detected again. Landmarks
    are rounded to 1/1000 px so that the generator's output does not hinge on float noise.
    """
    img = _base_image(name)
    digest = hashlib.sha256(img.tobytes()).hexdigest()[:16]
    path = _cache_dir() / f"{name}_landmarks_v{_CACHE_VERSION}_{digest}.npz"
    landmarks = None
    if path.is_file():
        try:
            landmarks = np.load(path)["landmarks"]
        except (OSError, ValueError, KeyError):
            landmarks = None
    if landmarks is None or landmarks.shape != (478, 2):
        found = detect_landmarks([img])[0]
        if found is None:
            raise UserError(f"MediaPipe found no face in the '{name}' base image; check the mediapipe install")
        landmarks = np.round(found, 3)
        try:
            atomic_save_npz(path, landmarks=landmarks)
        except OSError:  # read-only home: keep going with the in-memory result
            pass
    img.setflags(write=False)
    return BaseFace(name=name, image=img, landmarks=landmarks.astype(np.float64))


# --- identity -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShapeBump:
    """One smooth local shift of the face shape: a Gaussian of radius ``sigma`` at ``centre``."""

    centre: tuple[float, float]
    shift: tuple[float, float]
    sigma: float


@dataclass(frozen=True)
class IdentityParams:
    """Everything that makes one synthetic subject look different (all drawn from a seed)."""

    base: str
    face_width: float        # face-oval width as a fraction of the frame
    centre: tuple[float, float]   # face centre as a fraction of the frame
    roll_deg: float
    aspect: float            # >1: wider face, <1: longer face
    bumps: tuple[ShapeBump, ...]
    skin_gain: tuple[float, float, float]
    light_gain: float
    light_gradient: float
    light_angle_deg: float
    gamma: float


@dataclass
class SubjectFace:
    """One subject's face, ready to render: a photometrically adjusted source image, the map
    from frame pixels into it, and the landmarks at their place in the frame."""

    params: IdentityParams
    size: int
    source: np.ndarray          # float32 (H, W, 3), 0-255: base photo with skin tone and lighting
    source_map: np.ndarray      # float32 (size, size, 2): frame pixel -> source pixel
    landmarks: np.ndarray       # (478, 2) frame px

    @property
    def iod(self) -> float:
        return interocular(self.landmarks)

    @property
    def face_width(self) -> float:
        return float(np.ptp(self.landmarks[list(FACE_OVAL), 0]))

    def anchors(self) -> dict[str, np.ndarray]:
        return region_anchors(self.landmarks)

    def render_neutral(self) -> np.ndarray:
        """The neutral face as RGB uint8 (no motion, no noise)."""
        img = cv2.remap(self.source, self.source_map[..., 0], self.source_map[..., 1],
                        cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def draw_identity(rng: np.random.Generator, subject_index: int) -> IdentityParams:
    """Random but plausible identity parameters; subjects alternate between the two base faces."""
    base_face = load_base_face(BASE_FACES[subject_index % len(BASE_FACES)])
    lm = base_face.landmarks
    iod = interocular(lm)
    eye_l, eye_r = eye_centres(lm)

    def pt(*idx: int) -> tuple[float, float]:
        c = lm[list(idx)].mean(0)
        return (float(c[0]), float(c[1]))

    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    e, h, n, m, mh, j, c = (u(-0.07, 0.07), u(-0.06, 0.06), u(-0.07, 0.07), u(-0.07, 0.07),
                            u(-0.06, 0.06), u(-0.10, 0.10), u(-0.10, 0.10))
    bumps = (
        ShapeBump((float(eye_l[0]), float(eye_l[1])), (e * iod, 0.0), 0.30 * iod),   # eye spacing
        ShapeBump((float(eye_r[0]), float(eye_r[1])), (-e * iod, 0.0), 0.30 * iod),
        ShapeBump(pt(*REGION_LANDMARKS["brow_inner_L"], *REGION_LANDMARKS["brow_outer_L"]), (0.0, h * iod), 0.30 * iod),
        ShapeBump(pt(*REGION_LANDMARKS["brow_inner_R"], *REGION_LANDMARKS["brow_outer_R"]), (0.0, h * iod), 0.30 * iod),
        ShapeBump(pt(1, 4), (0.0, n * iod), 0.35 * iod),                                 # nose length
        ShapeBump(pt(291), (m * iod, 0.0), 0.25 * iod),                                  # mouth width
        ShapeBump(pt(61), (-m * iod, 0.0), 0.25 * iod),
        ShapeBump(pt(0, 17), (0.0, mh * iod), 0.35 * iod),                               # mouth height
        ShapeBump(pt(397), (j * iod, 0.0), 0.45 * iod),                                  # jaw width
        ShapeBump(pt(172), (-j * iod, 0.0), 0.45 * iod),
        ShapeBump(pt(152), (0.0, c * iod), 0.45 * iod),                                  # chin length
    )
    darkness = u(0.55, 1.08)
    warmth = u(-0.04, 0.10)
    return IdentityParams(
        base=base_face.name,
        face_width=u(0.56, 0.66),
        centre=(0.5 + u(-0.04, 0.04), 0.52 + u(-0.03, 0.03)),
        roll_deg=u(-5.0, 5.0),
        aspect=u(0.9, 1.1),
        bumps=bumps,
        skin_gain=(darkness * (1 + warmth), darkness, darkness * (1 - 1.3 * warmth)),
        light_gain=u(0.85, 1.1),
        light_gradient=u(0.0, 0.35),
        light_angle_deg=u(0.0, 360.0),
        gamma=u(0.85, 1.15),
    )


def _bump_field(points: np.ndarray, bumps: tuple[ShapeBump, ...]) -> np.ndarray:
    """Sum of the Gaussian shifts at ``points`` (..., 2) -> (..., 2)."""
    out = np.zeros_like(points, dtype=np.float64)
    for b in bumps:
        d2 = ((points[..., 0] - b.centre[0]) ** 2 + (points[..., 1] - b.centre[1]) ** 2) / (2 * b.sigma ** 2)
        w = np.exp(-d2)
        out[..., 0] += w * b.shift[0]
        out[..., 1] += w * b.shift[1]
    return out


def _frame_to_base_affine(params: IdentityParams, base_lm: np.ndarray, size: int) -> np.ndarray:
    """2x3 matrix taking frame pixels to (unwarped) base-image pixels: crop, scale, roll, aspect."""
    oval = base_lm[list(FACE_OVAL)]
    c_src = oval.mean(0)
    scale = params.face_width * size / float(np.ptp(oval[:, 0]))
    th = np.deg2rad(params.roll_deg)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    aspect = np.diag([1.0 / params.aspect, params.aspect])
    lin = aspect @ rot / scale
    c_out = np.array([params.centre[0] * size, params.centre[1] * size])
    return np.hstack([lin, (c_src - lin @ c_out)[:, None]])


def _skin_mask(img: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Soft mask of skin near the face: skin-coloured pixels within reach of the face oval."""
    ycc = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2YCrCb)
    skin = ((ycc[..., 1] >= 133) & (ycc[..., 1] <= 180) & (ycc[..., 2] >= 77) & (ycc[..., 2] <= 135))
    hull = np.zeros(img.shape[:2], np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(landmarks[list(FACE_OVAL)]).astype(np.int32)), 1)
    iod = interocular(landmarks)
    k = int(2 * round(0.6 * iod) + 1)
    near = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    mask = (hull | (skin & near.astype(bool))).astype(np.float32)
    return cv2.GaussianBlur(mask, (0, 0), 0.08 * iod)[..., None]


def build_subject_face(params: IdentityParams, size: int) -> SubjectFace:
    """Render the identity: photometric change on the base photo, and the frame->source map."""
    base = load_base_face(params.base)
    img = base.image.astype(np.float32)
    mask = _skin_mask(base.image, base.landmarks)
    gain = np.asarray(params.skin_gain, np.float32)
    img = img * (1.0 + mask * (gain - 1.0))
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    th = np.deg2rad(params.light_angle_deg)
    c = base.landmarks[list(FACE_OVAL)].mean(0)
    width = float(np.ptp(base.landmarks[list(FACE_OVAL), 0]))
    ramp = ((xx - c[0]) * np.cos(th) + (yy - c[1]) * np.sin(th)) / width
    light = params.light_gain * (1.0 + params.light_gradient * np.clip(ramp, -1.0, 1.0))
    img = img * light[..., None]
    img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** params.gamma
    source = img.astype(np.float32)

    aff = _frame_to_base_affine(params, base.landmarks, size)
    gy, gx = np.mgrid[0:size, 0:size].astype(np.float64)
    u = np.stack([aff[0, 0] * gx + aff[0, 1] * gy + aff[0, 2], aff[1, 0] * gx + aff[1, 1] * gy + aff[1, 2]], -1)
    source_map = (u + _bump_field(u, params.bumps)).astype(np.float32)
    landmarks = carry_landmarks(base.landmarks, params, aff)
    return SubjectFace(params=params, size=size, source=source, source_map=source_map, landmarks=landmarks)


def carry_landmarks(base_lm: np.ndarray, params: IdentityParams, aff: np.ndarray) -> np.ndarray:
    """Frame positions of the base landmarks: invert the shape warp (fixed point), then the affine.

    The frame samples the base photo at ``s = u + W(u)`` with ``u = A p + b``; a landmark at
    ``q`` therefore shows where ``u + W(u) = q``. The bumps move less than 0.2 px per px, so the
    fixed-point iteration ``u <- q - W(u)`` converges to well below 1e-6 px.
    """
    u = base_lm.copy()
    for _ in range(50):
        nxt = base_lm - _bump_field(u, params.bumps)
        if np.max(np.abs(nxt - u)) < 1e-9:
            u = nxt
            break
        u = nxt
    lin, t = aff[:, :2], aff[:, 2]
    return (np.linalg.solve(lin, (u - t).T)).T
