"""Clips made in the test: class-dependent motion in one AU region, so a model can learn it."""

from __future__ import annotations

import numpy as np

from deftmer.config import ExperimentConfig
from deftmer.data.labels import MEGC3
from deftmer.data.sample import ActionUnit, Sample
from deftmer.facs import REGION_INDEX, REGION_NAMES
from deftmer.preprocess.records import ClipInputs, PreparedSample

# class -> (region, (u, v), AU): positive pulls the lip corners up, surprise raises the brows,
# negative lowers the inner brows.
MOTION = {"positive": (("lip_corner_L", "lip_corner_R"), (0.0, -1.5), 12),
          "surprise": (("brow_outer_L", "brow_outer_R"), (0.0, -1.5), 2),
          "negative": (("brow_inner_L", "brow_inner_R"), (0.0, 1.5), 4)}


def region_masks(size: int) -> np.ndarray:
    """One horizontal-band-and-column cell per region: disjoint, fixed layout."""
    masks = np.zeros((len(REGION_NAMES), size, size), dtype=bool)
    cols, rows = 4, 5
    ch, cw = size // rows, size // cols
    for r in range(len(REGION_NAMES)):
        y, x = divmod(r, cols)
        masks[r, y * ch:(y + 1) * ch, x * cw:(x + 1) * cw] = True
    return masks


def make_clip(subject: str, idx: int, label: str, rng: np.random.Generator, size: int = 32,
              with_onset: bool = True) -> ClipInputs:
    masks = region_masks(size)
    flow = rng.normal(0, 0.3, (2, size, size)).astype(np.float32)
    regions, (u, v), au = MOTION[label]
    for name in regions:
        m = masks[REGION_INDEX[name]]
        flow[0][m] += u * rng.uniform(0.6, 1.4)
        flow[1][m] += v * rng.uniform(0.6, 1.4)
    strain = np.abs(rng.normal(0, 0.05, (size, size))).astype(np.float32)
    apex = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    onset = rng.integers(0, 255, (size, size, 3), dtype=np.uint8) if with_onset else None
    diff = rng.uniform(-0.1, 0.1, (size, size, 3)).astype(np.float32) if with_onset else None
    dyn = rng.normal(0, 1, (size, size, 3)).astype(np.float32) if with_onset else None
    sample = Sample(dataset="synth", subject=subject, clip=f"c{idx}", emotion=label, label=label,
                    aus=(ActionUnit(au),))
    prep = PreparedSample(sample_id=sample.id, dataset="synth", subject=subject, label=label, apex_face=apex,
                          flow=flow, strain=strain, roi_masks=masks, onset_face=onset, diff=diff, dynamic=dyn)
    return ClipInputs(sample, prep)


def make_clips(n_subjects: int = 6, per_subject: int = 6, seed: int = 0, size: int = 32,
               with_onset: bool = True) -> list[ClipInputs]:
    rng = np.random.default_rng(seed)
    clips = []
    for s in range(n_subjects):
        for i in range(per_subject):
            label = MEGC3.classes[(i + s) % 3]
            clips.append(make_clip(f"s{s:02d}", i, label, rng, size, with_onset))
    return clips


def tiny_config(**model_kw) -> ExperimentConfig:
    cfg = ExperimentConfig()
    m = cfg.model.model_copy(update={"llm": "tiny", "image_size": 32, "expert_dim": 32, "lora_rank": 4,
                                     "explain_max_tokens": 12, "motion_field_size": 16, **model_kw})
    # stage 2 keeps the default schedule: one answer epoch over ~36 toy clips is 5 steps, and the
    # default step floor (train.stage2_min_steps) adds the decision epochs a small set needs
    t = cfg.train.model_copy(update={"stage1_epochs": 30, "stage1_min_steps": 60, "stage2_epochs": 1,
                                     "batch_size": 8, "lr": 3e-3})
    return cfg.model_copy(update={"model": m, "train": t})
