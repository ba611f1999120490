"""Clips the baseline tests make: class-dependent motion in one AU region, on a grid of region masks.

Every subject has its own gain, a residual global drift and motion in a nuisance region
unrelated to the class, so a classifier has to read *where and which way* the face moved.
"""

from __future__ import annotations

import numpy as np

from deftmer.data.sample import Sample
from deftmer.facs import REGION_INDEX, REGION_NAMES
from deftmer.preprocess.records import ClipInputs, PreparedSample

SIZE = 40
CLASSES = ("negative", "positive", "surprise")
# class -> (region, direction (dx, dy) in image coords): lip corners up/out, brows up, brows down/in
CLASS_MOTION = {
    "positive": (("lip_corner_L", (0.7, -0.7)), ("lip_corner_R", (-0.7, -0.7))),
    "surprise": (("brow_outer_L", (0.0, -1.0)), ("brow_outer_R", (0.0, -1.0))),
    "negative": (("brow_inner_L", (-0.7, 0.7)), ("brow_inner_R", (0.7, 0.7))),
}


def grid_masks(size: int = SIZE) -> np.ndarray:
    """17 disjoint rectangular regions on a 5 x 4 grid (fixed, like an aligned face's ROIs)."""
    masks = np.zeros((len(REGION_NAMES), size, size), bool)
    cw, ch = size // 5, size // 4
    for r in range(len(REGION_NAMES)):
        row, col = divmod(r, 5)
        masks[r, row * ch:(row + 1) * ch, col * cw:(col + 1) * cw] = True
    return masks


def strain_of(flow: np.ndarray) -> np.ndarray:
    du_dy, du_dx = np.gradient(flow[0])
    dv_dy, dv_dx = np.gradient(flow[1])
    exy = 0.5 * (du_dy + dv_dx)
    return np.sqrt(du_dx ** 2 + dv_dy ** 2 + 2 * exy ** 2).astype(np.float32)


def make_clip(subject: str, clip: str, label: str, rng: np.random.Generator, gain: float,
              drift: tuple[float, float], nuisance: int, masks: np.ndarray) -> ClipInputs:
    flow = rng.normal(0.0, 0.15, size=(2, SIZE, SIZE)).astype(np.float32)
    flow[0] += drift[0]
    flow[1] += drift[1]
    amp = gain * rng.uniform(0.6, 1.4)
    for region, (dx, dy) in CLASS_MOTION[label]:
        if rng.random() < 0.25:           # unilateral variant: one side only
            continue
        m = masks[REGION_INDEX[region]]
        flow[0][m] += amp * dx
        flow[1][m] += amp * dy
    ang = rng.uniform(0, 2 * np.pi)
    m = masks[nuisance]
    flow[0][m] += 0.8 * np.cos(ang)
    flow[1][m] += 0.8 * np.sin(ang)
    sample = Sample(dataset="toy", subject=subject, clip=clip, emotion=label, label=label)
    prepared = PreparedSample(sample_id=sample.id, dataset="toy", subject=subject, label=label,
                              apex_face=np.zeros((SIZE, SIZE, 3), np.uint8), flow=flow,
                              strain=strain_of(flow), roi_masks=masks)
    return ClipInputs(sample=sample, prepared=prepared)


def make_clips(n_subjects: int = 6, per_class: int = 4, seed: int = 0,
               classes: tuple[str, ...] = CLASSES) -> list[ClipInputs]:
    rng = np.random.default_rng(seed)
    masks = grid_masks()
    used = {REGION_INDEX[r] for pairs in CLASS_MOTION.values() for r, _ in pairs}
    free = [i for i in range(len(REGION_NAMES)) if i not in used]
    clips = []
    for s in range(n_subjects):
        subject = f"s{s:02d}"
        gain = rng.uniform(0.5, 1.5)
        drift = tuple(rng.normal(0, 0.3, size=2))
        nuisance = int(rng.choice(free))
        for label in classes:
            for j in range(per_class):
                clips.append(make_clip(subject, f"{label}_{j}", label, rng, gain, drift, nuisance, masks))
    return clips


def split_by_subject(clips: list[ClipInputs], test_subjects: set[str]) -> tuple[list[ClipInputs], list[ClipInputs]]:
    train = [c for c in clips if c.sample.subject not in test_subjects]
    test = [c for c in clips if c.sample.subject in test_subjects]
    return train, test
