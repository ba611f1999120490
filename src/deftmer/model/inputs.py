"""What the motion expert reads of a prepared clip, and how a face mirrors.

Two views of the same onset->apex flow:

* region statistics: flow and strain pooled in each AU region (``facs.REGIONS``), one row of
  ``REGION_FEATURES`` per region: what the flow says about each anatomical unit;
* the flow field itself: u, v and strain resampled to a small square (28 x 28 by default,
  the size of the public flow packs), each clip divided by its own robust motion scale, so
  that a subject's expression intensity, a camera's frame rate and a flow pack's per-image
  min-max scaling all land on one scale while the spatial pattern is kept.

Mirroring (a horizontal flip of the face) is the one augmentation that is exact for flow:
columns reverse, u changes sign, and each left region trades places with its right twin.
"""

from __future__ import annotations

from typing import get_args

import cv2
import numpy as np

from deftmer.facs import REGION_INDEX, REGION_NAMES
from deftmer.model.config import FieldScale
from deftmer.preprocess.records import ClipInputs, PreparedSample

#: per-region motion features, in this order (see ``region_motion_features``)
REGION_FEATURES: tuple[str, ...] = ("mean_u", "mean_v", "mean_mag", "p90_mag", "mean_strain", "std_u", "std_v")
#: channels of the flow field, in this order
FIELD_CHANNELS: tuple[str, ...] = ("u", "v", "strain")
#: the field's motion scale under ``p99``: this percentile of the flow magnitude (strain: of the strain)
FIELD_SCALE_PERCENTILE = 99.0
#: how a clip's field is brought to one scale (``model.motion_field_scale``)
FIELD_SCALES: tuple[str, ...] = get_args(FieldScale)
_EPS = 1e-6


def region_motion_features(flow: np.ndarray, strain: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Pool flow (2, S, S) and strain (S, S) in each region mask (R, S, S) -> (R, F) float32.

    An empty mask gives zeros (the region was not visible), never NaN.
    """
    u, v = flow[0], flow[1]
    mag = np.hypot(u, v)
    out = np.zeros((masks.shape[0], len(REGION_FEATURES)), dtype=np.float32)
    for r, m in enumerate(masks):
        if not m.any():
            continue
        ur, vr, mr = u[m], v[m], mag[m]
        out[r] = (ur.mean(), vr.mean(), mr.mean(), np.percentile(mr, 90), strain[m].mean(), ur.std(), vr.std())
    return out


def resize_field(flow: np.ndarray, strain: np.ndarray, size: int) -> np.ndarray:
    """(3, size, size) float32: u, v in pixels of the small image, and strain.

    Area interpolation averages the flow inside each output pixel, which is how the
    STSTNet/HTNet family made their 28 x 28 maps from a larger face.
    """
    k = size / float(flow.shape[-1])
    planes = ((flow[0], k), (flow[1], k), (strain, 1.0))
    chans = [cv2.resize(np.ascontiguousarray(p, dtype=np.float32), (size, size), interpolation=cv2.INTER_AREA) * s
             for p, s in planes]
    return np.stack(chans).astype(np.float32)


def flow_field(prepared: PreparedSample, size: int, scale: FieldScale = "p99") -> np.ndarray:
    """The clip's flow field at ``size``, scaled by the clip's own motion (see module docstring).

    u and v share one scale, so directions are kept; strain gets its own. ``p99``: the 99th
    percentile of the flow magnitude (of |strain|), so the few most-moving cells set it; ``rms``:
    the root mean square over all cells, the clip's motion energy; ``rms_sqrt``: ``rms``, then each
    value's square root with its sign, so that the strongest cells do not drown the weaker ones.
    A still clip stays all-zero rather than amplifying noise to 1.
    """
    if scale not in FIELD_SCALES:
        raise ValueError(f"field scale {scale!r}: choose one of {', '.join(FIELD_SCALES)}")
    field = resize_field(prepared.flow, prepared.strain, size)
    if scale == "p99":
        mag_scale = float(np.percentile(np.hypot(field[0], field[1]), FIELD_SCALE_PERCENTILE))
        strain_scale = float(np.percentile(np.abs(field[2]), FIELD_SCALE_PERCENTILE))
    else:
        mag_scale = float(np.sqrt(np.mean(field[0] ** 2 + field[1] ** 2)))
        strain_scale = float(np.sqrt(np.mean(field[2] ** 2)))
    field[:2] /= max(mag_scale, _EPS)
    field[2] /= max(strain_scale, _EPS)
    if scale == "rms_sqrt":
        field = np.sign(field) * np.sqrt(np.abs(field))
    return field


def _mirror_permutation() -> list[int]:
    """Index of each region's mirror twin (midline regions map to themselves)."""
    twin = {"_L": "_R", "_R": "_L"}
    out = []
    for name in REGION_NAMES:
        suffix = name[-2:]
        out.append(REGION_INDEX[name[:-2] + twin[suffix]] if suffix in twin else REGION_INDEX[name])
    return out


#: region order of the mirrored face
MIRROR_REGIONS: tuple[int, ...] = tuple(_mirror_permutation())
_U_COL = REGION_FEATURES.index("mean_u")


def mirror_regions(feats):
    """Region features (..., R, F) of the mirrored face: twins swapped, mean u negated.

    Works on numpy arrays and torch tensors alike (fancy indexing and negation only).
    """
    out = feats[..., list(MIRROR_REGIONS), :] * 1
    out[..., _U_COL] = -out[..., _U_COL]
    return out


def mirror_field(field):
    """A flow field (..., 3, H, W) of the mirrored face: columns reversed, u negated."""
    if isinstance(field, np.ndarray):
        out = field[..., ::-1].copy()
    else:
        out = field.flip(-1).clone()
    out[..., 0, :, :] = -out[..., 0, :, :]
    return out


def mirror_prepared(prep: PreparedSample) -> PreparedSample:
    """The prepared clip of the mirrored face: images and fields flipped, u negated, each
    region's mask taken from its mirrored twin. Landmarks are dropped (their index order has
    sides too; nothing in training reads them)."""
    from dataclasses import replace

    def flip(img):
        return None if img is None else np.ascontiguousarray(img[:, ::-1])

    flow = np.ascontiguousarray(prep.flow[:, :, ::-1])
    flow[0] = -flow[0]
    masks = np.ascontiguousarray(prep.roi_masks[list(MIRROR_REGIONS)][:, :, ::-1])
    return replace(prep, sample_id=prep.sample_id + MIRROR_SUFFIX, apex_face=flip(prep.apex_face), flow=flow,
                   strain=flip(prep.strain), roi_masks=masks, onset_face=flip(prep.onset_face), diff=flip(prep.diff),
                   dynamic=flip(prep.dynamic), landmarks=None, head_motion=(-prep.head_motion[0], prep.head_motion[1]))


#: id suffix of a mirrored training clip
MIRROR_SUFFIX = "~mirrored"


def mirror_sample(sample):
    """The annotation of the mirrored face: the same class, every one-sided AU on the other side."""
    from dataclasses import replace

    swap = {"L": "R", "R": "L", None: None}
    aus = tuple(replace(a, side=swap[a.side]) for a in sample.aus)
    return replace(sample, clip=sample.clip + MIRROR_SUFFIX, aus=aus)


def mirror_clip(clip):
    """A training clip and its annotation as seen in a mirror (see `mirror_prepared`)."""

    return ClipInputs(mirror_sample(clip.sample), mirror_prepared(clip.prepared))
