"""AU regions of interest from MediaPipe's 478-point face mesh: ONE table, in REGIONS order.

Each region is the convex hull of a few mesh points (MediaPipe names sides by the subject:
its "left" points sit on the image right, the same convention as ``facs``), so region k of
every sample covers the same anatomy. Face skin outside all regions is the stable reference
whose motion is treated as head motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from deftmer.facs import REGION_NAMES


@dataclass(frozen=True)
class RegionTemplate:
    """A region as mesh landmarks; ``aus`` lists the FACS AUs whose motion it shows."""

    name: str
    landmarks: tuple[int, ...]
    aus: tuple[int, ...]


# Subject's left (_L) = MediaPipe "left" = image right; subject's right (_R) = image left.
ROI_TABLE: tuple[RegionTemplate, ...] = (
    RegionTemplate("brow_inner_L", (336, 296, 295, 285, 299, 337), (1, 4)),
    RegionTemplate("brow_inner_R", (107, 66, 65, 55, 69, 108), (1, 4)),
    RegionTemplate("brow_outer_L", (276, 283, 282, 334, 293, 300, 333, 298), (2,)),
    RegionTemplate("brow_outer_R", (46, 53, 52, 105, 63, 70, 104, 68), (2,)),
    RegionTemplate("glabella", (9, 8, 168, 193, 417, 55, 285), (4, 9)),
    RegionTemplate("upper_lid_L", (263, 466, 388, 387, 386, 385, 384, 398, 362, 286, 258, 257, 259, 260, 467),
                   (5, 41, 42, 43, 45)),
    RegionTemplate("upper_lid_R", (33, 246, 161, 160, 159, 158, 157, 173, 133, 56, 28, 27, 29, 30, 247),
                   (5, 41, 42, 43, 45)),
    RegionTemplate("lower_lid_L", (263, 249, 390, 373, 374, 380, 381, 382, 362, 261, 448, 449, 450, 451, 452),
                   (6, 7)),
    RegionTemplate("lower_lid_R", (33, 7, 163, 144, 145, 153, 154, 155, 133, 31, 228, 229, 230, 231, 232),
                   (6, 7)),
    RegionTemplate("cheek_L", (346, 347, 330, 266, 425, 411, 376, 352, 345, 340, 280), (6, 12)),
    RegionTemplate("cheek_R", (117, 118, 101, 36, 205, 187, 147, 123, 116, 111, 50), (6, 12)),
    RegionTemplate("nose_wing_L", (360, 279, 358, 423, 294, 327, 460, 305, 278, 344), (9, 10, 11, 38, 39)),
    RegionTemplate("nose_wing_R", (131, 49, 129, 203, 64, 98, 240, 75, 48, 115), (9, 10, 11, 38, 39)),
    RegionTemplate("upper_lip", (164, 167, 165, 92, 40, 39, 37, 0, 267, 269, 270, 322, 391, 393), (10, 24)),
    RegionTemplate("lip_corner_L", (291, 409, 270, 375, 321, 287, 410, 432, 434, 273, 422),
                   (12, 13, 14, 15, 18, 20, 23)),
    RegionTemplate("lip_corner_R", (61, 185, 40, 146, 91, 57, 186, 212, 214, 43, 202),
                   (12, 13, 14, 15, 18, 20, 23)),
    RegionTemplate("chin", (17, 84, 314, 181, 405, 18, 200, 199, 175, 152, 201, 421, 208, 428, 32, 262),
                   (16, 17, 24, 25, 26, 28)),
)

ROI_BY_NAME: dict[str, RegionTemplate] = {r.name: r for r in ROI_TABLE}
# Reordered to deftmer.facs.REGIONS; a missing or extra name fails at import, not in a later stage.
ROI_TEMPLATES: tuple[RegionTemplate, ...] = tuple(ROI_BY_NAME[n] for n in REGION_NAMES)
assert set(ROI_BY_NAME) == set(REGION_NAMES), "rois.ROI_TABLE must cover exactly facs.REGIONS"


def hull_mask(points: np.ndarray, size: int) -> np.ndarray:
    """Filled convex hull of ``points`` (pixel coords) as a bool (size, size) mask."""
    mask = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(points * 16).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def roi_masks(landmarks: np.ndarray, size: int) -> np.ndarray:
    """bool (R, size, size) masks of the AU regions, in ``facs.REGIONS`` order."""
    return np.stack([hull_mask(landmarks[list(t.landmarks)], size) for t in ROI_TEMPLATES])


def stable_mask(landmarks: np.ndarray, size: int, margin: int = 4) -> np.ndarray:
    """bool (size, size): face skin outside every AU region (grown by ``margin`` px).

    Its median flow is taken as head motion. A small nose-root patch (MELLM's choice) was
    tried first: it is ridge-shaped, so its vertical flow is ill-determined, and AU9/AU4
    motion spills onto it; the median over all non-AU skin is robust to both.
    """
    rois = roi_masks(landmarks, size).any(axis=0).astype(np.uint8)
    grown = cv2.dilate(rois, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)).astype(bool)
    return face_mask(landmarks, size) & ~grown


def face_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """bool (size, size) convex hull of the whole mesh (for apex spotting)."""
    return hull_mask(landmarks[:468], size)
