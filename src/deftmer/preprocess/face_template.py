"""A mean 478-point face layout for face crops on which MediaPipe finds no face.

Flowpack apex images are already cropped and aligned by the release that made them, but a
tight crop (the face filling the image, brows or chin cut) can defeat MediaPipe's detector.
The AU regions still need landmarks, so such a sample gets this template instead: the
MediaPipe mesh of a real frontal face (scikit-image's astronaut), levelled so the eyes are
horizontal, in coordinates normalised to the mesh's own bounding box -- i.e. the layout of a
crop whose edges touch the forehead top, the chin and both cheeks. (Mesh indices follow the
image, not the anatomy, on a mirrored photo, so a mirror average would need an index
permutation; one near-frontal face is used instead.)

It is computed once by `build_face_template` and shipped as a small ``.npy`` resource, so
no detector runs to use it; a test checks that the resource still equals a fresh build.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from deftmer.errors import UserError
from deftmer.preprocess.face import FaceLandmarker, eye_centres
from deftmer.utils.io import atomic_write_with

#: Resource file inside the package: float32 (478, 2), x and y in [0, 1] of the crop.
TEMPLATE_RESOURCE = "face_template_478.npy"
N_POINTS = 478


def _template_path() -> Path:
    return Path(str(resources.files("deftmer") / "resources" / TEMPLATE_RESOURCE))


def build_face_template(rgb: np.ndarray | None = None) -> np.ndarray:
    """The normalised layout from MediaPipe on ``rgb`` (default: scikit-image's astronaut).

    The mesh is rotated about the eye midpoint so the eye line is horizontal (a photo's head
    roll is not part of a face's layout), then scaled to its own bounding box.
    """

    if rgb is None:
        from skimage.data import astronaut

        rgb = astronaut()
    with FaceLandmarker() as lm:
        points = lm.detect(rgb)
    if points is None:
        raise UserError("no face found in the image given to build the landmark template; use a frontal face photo")
    points = points.astype(np.float64)
    image_left_eye, image_right_eye = eye_centres(points)
    dx, dy = image_right_eye - image_left_eye
    angle = -np.arctan2(dy, dx)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = (image_left_eye + image_right_eye) / 2.0
    level = (points - centre) @ rot.T
    lo, hi = level.min(axis=0), level.max(axis=0)
    return ((level - lo) / (hi - lo)).astype(np.float32)


def save_face_template(path: str | Path | None = None) -> Path:
    """Rebuild the shipped resource (a maintainer's step; the result is committed)."""

    target = Path(path) if path is not None else _template_path()
    template = build_face_template()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, template, allow_pickle=False)

    atomic_write_with(target, write)
    return target


@lru_cache(maxsize=1)
def face_template() -> np.ndarray:
    """The shipped normalised layout, float32 (478, 2) in [0, 1] (read-only)."""
    path = _template_path()
    try:
        template = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UserError(f"landmark template {path} is missing or unreadable ({e}); reinstall deftmer") from None
    if template.shape != (N_POINTS, 2):
        raise UserError(f"landmark template {path} has shape {template.shape}, expected ({N_POINTS}, 2); "
                        "reinstall deftmer")
    template.setflags(write=False)
    return template


def template_landmarks(width: int, height: int | None = None) -> np.ndarray:
    """The template in pixels of a ``width`` x ``height`` crop (x right, y down), float32 (478, 2)."""
    height = width if height is None else height
    return (face_template() * np.array([width, height], np.float32)).astype(np.float32)
