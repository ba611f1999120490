"""Prepared clips with known flow in known regions: the ground truth the Uni-MER tests check."""

from __future__ import annotations

import numpy as np

from deftmer.data.sample import ActionUnit, Sample
from deftmer.facs import REGION_NAMES, expected_motions
from deftmer.preprocess.records import PreparedSample

SIZE = 96
#: (x0, x1, y0, y1) of each region on a 96 px aligned face; subject's left = image right.
BOXES: dict[str, tuple[int, int, int, int]] = {
    "brow_inner_L": (52, 62, 14, 22), "brow_inner_R": (34, 44, 14, 22),
    "brow_outer_L": (66, 80, 14, 22), "brow_outer_R": (16, 30, 14, 22),
    "glabella": (45, 51, 14, 24),
    "upper_lid_L": (56, 74, 26, 30), "upper_lid_R": (22, 40, 26, 30),
    "lower_lid_L": (56, 74, 34, 38), "lower_lid_R": (22, 40, 34, 38),
    "cheek_L": (62, 80, 44, 56), "cheek_R": (16, 34, 44, 56),
    "nose_wing_L": (50, 58, 50, 58), "nose_wing_R": (38, 46, 50, 58),
    "upper_lip": (42, 54, 62, 66),
    "lip_corner_L": (60, 68, 66, 74), "lip_corner_R": (28, 36, 66, 74),
    "chin": (40, 56, 78, 88),
}


def roi_masks() -> np.ndarray:
    masks = np.zeros((len(REGION_NAMES), SIZE, SIZE), dtype=bool)
    for i, name in enumerate(REGION_NAMES):
        x0, x1, y0, y1 = BOXES[name]
        masks[i, y0:y1, x0:x1] = True
    return masks


def make_prepared(aus: list[ActionUnit], amplitude: float = 0.4, noise: float = 0.05, seed: int = 0,
                  sample_id: str = "toy/s1/c1", flow_of: dict[str, tuple[float, float]] | None = None) -> PreparedSample:
    """Flow = each AU's FACS motion x amplitude inside its regions, plus Gaussian noise.

    ``flow_of`` sets explicit image-coordinate vectors per region instead (overrides AUs).
    """
    rng = np.random.default_rng(seed)
    masks = roi_masks()
    flow = rng.normal(0.0, noise, size=(2, SIZE, SIZE)).astype(np.float32)
    vectors: dict[str, tuple[float, float]] = {}
    for au in aus:
        for region, dx, dy, w in expected_motions(au):
            u, v = vectors.get(region, (0.0, 0.0))
            vectors[region] = (u + amplitude * w * dx, v + amplitude * w * dy)
    vectors.update(flow_of or {})
    for region, (u, v) in vectors.items():
        m = masks[REGION_NAMES.index(region)]
        flow[0][m] += u
        flow[1][m] += v
    strain = np.abs(np.gradient(flow[0], axis=1)).astype(np.float32)
    face = np.full((SIZE, SIZE, 3), 128, np.uint8)
    ds, subj, clip = sample_id.split("/")
    return PreparedSample(sample_id=sample_id, dataset=ds, subject=subj, label=None, apex_face=face,
                          flow=flow, strain=strain, roi_masks=masks, onset_face=face)


def make_sample(aus: list[ActionUnit], emotion: str = "happiness", sample_id: str = "toy/s1/c1",
                label: str | None = None) -> Sample:
    ds, subj, clip = sample_id.split("/")
    return Sample(dataset=ds, subject=subj, clip=clip, emotion=emotion, aus=tuple(aus), label=label)
