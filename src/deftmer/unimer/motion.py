"""Per-region motion descriptors of one clip, read from its onset->apex optical flow.

Micro-expressions move the skin by a fraction of a pixel, so a region's motion only means
something relative to the clip's own noise: every region gets a signal-to-noise ratio (SNR)
against a noise floor measured on face pixels that no AU region covers. Directions are named
in FACE terms (up / outward / toward the midline), not image terms, so the subject's left and
right lip corner pulled "up and outward" get the same name although their image x-motions
have opposite signs.
"""

from __future__ import annotations

import math

import numpy as np

from deftmer.facs import REGIONS, Region
from deftmer.preprocess.records import PreparedSample
from deftmer.unimer.records import RegionMotionStats

#: Floor of the noise floor (px): clean synthetic flow has no noise at all, and dividing by ~0
#: would call every sub-pixel wobble a strong motion.
MIN_NOISE_FLOOR = 0.02
#: Regions whose mean motion is below this SNR get the direction name "still".
STILL_SNR = 1.5
#: Percentile of the gap patches taken as the noise floor (see `noise_floor`).
NOISE_PERCENTILE = 25.0

#: The 8 compass names for lateral regions, counter-clockwise from "outward" in face terms.
LATERAL_DIRECTIONS: tuple[str, ...] = (
    "outward", "up-outward", "up", "up-inward", "inward", "down-inward", "down", "down-outward",
)
#: For midline regions horizontal motion is toward the subject's left or right.
MIDLINE_DIRECTIONS: tuple[str, ...] = (
    "left", "up-left", "up", "up-right", "right", "down-right", "down", "down-left",
)
DIRECTION_PHRASES: dict[str, str] = {
    "outward": "outward", "up-outward": "up and outward", "up": "up", "up-inward": "up and toward the midline",
    "inward": "toward the midline", "down-inward": "down and toward the midline", "down": "down",
    "down-outward": "down and outward",
    "left": "toward the subject's left", "up-left": "up and toward the subject's left",
    "up-right": "up and toward the subject's right", "right": "toward the subject's right",
    "down-right": "down and toward the subject's right", "down-left": "down and toward the subject's left",
    "still": "does not move",
}


def _face_components(u: float, v: float, side: str | None) -> tuple[float, float]:
    """(horizontal, up) in face terms: horizontal = outward for lateral regions, subject's left
    for midline ones (the subject's left is the image right)."""
    up = -v
    if side == "R":
        return -u, up
    return u, up


def direction_name(u: float, v: float, side: str | None) -> str:
    """Compass name in face terms of an image-coordinate vector (u right, v down)."""
    h, up = _face_components(u, v, side)
    octant = int(round(math.degrees(math.atan2(up, h)) / 45.0)) % 8
    return (MIDLINE_DIRECTIONS if side is None else LATERAL_DIRECTIONS)[octant]


def direction_vector(name: str, side: str | None) -> tuple[float, float]:
    """Unit image-coordinate vector (dx, dy) of a compass name for a region on ``side``.

    Accepts lateral names for midline regions too (outward = subject's left) so that a claim
    made in either vocabulary can be checked.
    """
    names = LATERAL_DIRECTIONS if name in LATERAL_DIRECTIONS else MIDLINE_DIRECTIONS
    if name not in names:
        raise ValueError(f"unknown direction name '{name}'")
    a = math.radians(45.0 * names.index(name))
    h, up = math.cos(a), math.sin(a)
    # "outward" mirrors with the side; "toward the subject's left" is image +x on every region
    u = -h if (side == "R" and names is LATERAL_DIRECTIONS) else h
    return u, -up


def angle_between(u: float, v: float, dx: float, dy: float) -> float:
    """Angle in degrees (0..180) between two image vectors; 180 when either is zero."""
    n = math.hypot(u, v) * math.hypot(dx, dy)
    if n == 0:
        return 180.0
    c = max(-1.0, min(1.0, (u * dx + v * dy) / n))
    return math.degrees(math.acos(c))


def _face_box(masks: np.ndarray) -> np.ndarray:
    """Bounding box of all regions: the face area in which non-region pixels measure noise."""
    union = masks.any(axis=0)
    ys, xs = np.nonzero(union)
    box = np.zeros_like(union)
    if len(ys):
        box[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1] = True
    return box & ~union


def noise_floor(prepared: PreparedSample, min_floor: float = MIN_NOISE_FLOOR) -> float:
    """Coherent motion (px) of face patches where no AU acts: the yardstick of region SNR.

    The face box (bounding box of all regions) is cut into patches about the size of a region;
    each patch mostly outside the regions gives the length of its mean flow vector over its
    non-region pixels, measured exactly as a region's motion is. The median patch is the clip's
    noise: solver noise, residual head motion and lighting change, without the AUs. Per-pixel
    magnitudes would overstate it, because random flicker cancels in a region's mean.
    """
    masks = np.asarray(prepared.roi_masks, dtype=bool)
    union = masks.any(axis=0)
    gaps = _face_box(masks)
    if gaps.sum() < 32:
        gaps = ~union
    areas = masks.reshape(len(masks), -1).sum(axis=1)
    side = max(8, int(round(float(np.sqrt(np.median(areas[areas > 0])))))) if (areas > 0).any() else 16
    u, v = prepared.flow[0], prepared.flow[1]
    values: list[float] = []
    h, w = gaps.shape
    for y in range(0, h, side):
        for x in range(0, w, side):
            g = gaps[y:y + side, x:x + side]
            if g.sum() < 0.5 * side * side:
                continue
            values.append(float(np.hypot(u[y:y + side, x:x + side][g].mean(), v[y:y + side, x:x + side][g].mean())))
    if not values:
        return float(min_floor)
    return float(max(min_floor, np.percentile(values, NOISE_PERCENTILE)))


def region_stats(prepared: PreparedSample, floor: float | None = None,
                 still_snr: float = STILL_SNR) -> list[RegionMotionStats]:
    """Motion statistics of every region in `facs.REGIONS` order.

    ``snr`` is the length of the region's MEAN flow vector over the noise floor: coherent
    motion counts, random flicker inside a region averages out. ``magnitude`` is the mean
    per-pixel magnitude; ``strain`` the mean optical strain.
    """
    masks = np.asarray(prepared.roi_masks, dtype=bool)
    if masks.shape[0] != len(REGIONS):
        raise ValueError(f"{prepared.sample_id}: {masks.shape[0]} ROI masks, expected {len(REGIONS)} (facs.REGIONS)")
    floor = noise_floor(prepared) if floor is None else float(floor)
    u_img, v_img = prepared.flow[0], prepared.flow[1]
    mag = prepared.magnitude
    raw: list[tuple[Region, float, float, float, float]] = []
    for region, m in zip(REGIONS, masks):
        if not m.any():
            raw.append((region, 0.0, 0.0, 0.0, 0.0))
            continue
        raw.append((region, float(u_img[m].mean()), float(v_img[m].mean()), float(mag[m].mean()),
                    float(prepared.strain[m].mean())))
    coherent = {r.name: math.hypot(u, v) for r, u, v, _, _ in raw}
    out: list[RegionMotionStats] = []
    for region, u, v, magnitude, strain in raw:
        snr = coherent[region.name] / floor
        asym = 0.0
        if region.side is not None:
            left, right = coherent[f"{region.base}_L"], coherent[f"{region.base}_R"]
            asym = (left - right) / (left + right) if left + right > 0 else 0.0
        out.append(RegionMotionStats(
            region=region.name, mean_u=u, mean_v=v, magnitude=magnitude, snr=snr,
            direction=direction_name(u, v, region.side) if snr >= still_snr else "still",
            angle_deg=math.degrees(math.atan2(v, u)) % 360.0, strain=strain, asymmetry=asym,
        ))
    return out


def ranked_regions(stats: list[RegionMotionStats], min_snr: float = STILL_SNR) -> list[RegionMotionStats]:
    """Regions that moved (SNR >= ``min_snr``), strongest first; ties keep region order."""
    moving = [s for s in stats if s.snr >= min_snr]
    return sorted(moving, key=lambda s: -s.snr)


def strength_word(snr: float, support_snr: float) -> str:
    """'slight' below the support threshold, 'strong' from twice it, else 'moderate'."""
    if snr < support_snr:
        return "slight"
    return "strong" if snr >= 2 * support_snr else "moderate"
