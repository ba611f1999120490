"""Flowpack samples (no frames): the release's apex face and flow map, passed through.

Frame of reference: a flowpack release already cropped and aligned each apex face and
computed its flow in that crop's own frame. Both stay in that frame, only resized to the
configured size; nothing is re-aligned. Warping the image by an eye alignment without
warping the flow identically (or warping the coarse 28 px flow by a different transform)
would put the motion on the wrong anatomy. So flowpack samples are *not* in the eye-aligned
layout of frame-based datasets; their AU regions come from landmarks in the crop's frame:
MediaPipe's when it finds the face, otherwise the shipped template layout
(`face_template`). ``meta["landmarks"]`` records which ("detected" / "template").

The template assumes a crop whose edges touch the forehead top, chin and cheeks. Measured on
astronaut crops: exact-layout crop -> landmarks within 4 px (median, 224 px), region IoU 0.68;
a crop 10% looser or tighter -> 12-16 px, IoU ~0.25. So the report counts template samples;
many of them mean the regions of those samples are approximate.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from deftmer.data.frames import read_frame
from deftmer.data.sample import Sample
from deftmer.errors import UserError
from deftmer.preprocess.config import PreprocessConfig
from deftmer.preprocess.face import get_landmarker
from deftmer.preprocess.face_template import template_landmarks
from deftmer.preprocess.records import PreparedSample
from deftmer.preprocess.rois import roi_masks
from deftmer.preprocess.timing import StageTimer

#: ``meta["landmarks"]`` values: where a sample's region landmarks came from.
LANDMARKS_DETECTED = "detected"
LANDMARKS_TEMPLATE = "template"


def decode_flowpack_flow(rgb: np.ndarray, max_flow: float, encoding: str = "minmax",
                         channels: str = "uvs") -> tuple[np.ndarray, np.ndarray]:
    """Flow (2, h, w) and strain (h, w) from a flowpack PNG read as RGB (each channel 0..255).

    Flow packs do not record their scale. The public STSTNet/HTNet releases were made by
    scaling each channel of each image to 0..255 on its own (min-max; the scripts that wrote
    them are not public, but every public re-implementation does this), so the value of zero
    motion differs per image and the pixel scale is lost:

    - ``"minmax"``: zero motion is the channel's median (most of a face crop does not move),
      and half the channel range stands for ``max_flow`` px: flow in relative units, which the
      models' clip-normalised motion features and the Uni-MER SNR tests are built to take.
      Per-channel scaling also distorts the u:v ratio, so directions are approximate.
    - ``"fixed"``: 127.5 is zero motion and 0 / 255 stand for -max_flow / +max_flow px.

    ``channels`` gives the order as read ("uvs": u, v, strain; "svu": strain, v, u). Axes are
    image axes (u > 0 rightwards, v > 0 downwards); strain is channel / 255, relative units.
    """
    x = rgb.astype(np.float32)
    if channels == "svu":
        x = x[..., ::-1]
    elif channels != "uvs":
        raise ValueError(f"unknown flowpack channel order {channels!r}")
    if encoding == "minmax":
        zero = np.median(x[..., :2].reshape(-1, 2), axis=0)
    elif encoding == "fixed":
        zero = np.array([127.5, 127.5], np.float32)
    else:
        raise ValueError(f"unknown flowpack encoding {encoding!r}")
    uv = (x[..., :2] - zero) / 127.5 * max_flow
    return np.moveaxis(uv, -1, 0).astype(np.float32), (x[..., 2] / 255.0).astype(np.float32)


def resize_flow(flow: np.ndarray, size: int) -> np.ndarray:
    """Flow (2, h, w) resampled to (2, size, size), vectors rescaled to the new pixel size."""
    h, w = flow.shape[1:]
    u = cv2.resize(flow[0], (size, size), interpolation=cv2.INTER_LINEAR) * (size / w)
    v = cv2.resize(flow[1], (size, size), interpolation=cv2.INTER_LINEAR) * (size / h)
    return np.stack([u, v]).astype(np.float32)


def flowpack_landmarks(apex_face: np.ndarray, mode: str) -> tuple[np.ndarray, str]:
    """Landmarks on an already-cropped apex face and where they came from.

    ``mode`` "detect": MediaPipe, falling back to the template when no face is found (a
    flowpack image is a face by construction, and a tight crop often defeats the detector);
    "template": always the template, so every sample's regions are identical.
    """
    h, w = apex_face.shape[:2]
    if mode == "detect":
        found = get_landmarker().detect(apex_face)
        if found is not None:
            return found, LANDMARKS_DETECTED
    return template_landmarks(w, h), LANDMARKS_TEMPLATE


def prepare_flowpack(sample: Sample, cfg: PreprocessConfig, timer: StageTimer | None = None) -> PreparedSample:
    """A flowpack sample as a `PreparedSample` in its crop's frame (no onset face, no dynamic image)."""
    timer = timer or StageTimer()
    missing = [name for name, path in (("apex face image", sample.apex_image), ("flow map PNG", sample.flow_image))
               if path is None]
    if missing:
        raise UserError(f"{sample.id}: no frames and no {' or '.join(missing)}; a flowpack sample needs both "
                        "(see `deftmer check-data` for the file names it expected)")
    size = cfg.size
    with timer.stage("decode"):
        apex_rgb = read_frame(Path(sample.apex_image))
        flow_rgb = read_frame(Path(sample.flow_image))
    with timer.stage("align"):
        shrink = apex_rgb.shape[0] >= size and apex_rgb.shape[1] >= size
        apex_face = cv2.resize(apex_rgb, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    with timer.stage("landmarks"):
        landmarks, source = flowpack_landmarks(apex_face, cfg.flowpack_landmarks)
    with timer.stage("flow"):
        uv, strain_small = decode_flowpack_flow(flow_rgb, cfg.flowpack_max_flow, cfg.flowpack_encoding,
                                                cfg.flowpack_channels)
        flow = resize_flow(uv, size)
    with timer.stage("strain"):
        strain = cv2.resize(strain_small, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    with timer.stage("regions"):
        masks = roi_masks(landmarks, size)
    h, w = flow_rgb.shape[:2]
    return PreparedSample(
        sample_id=sample.id, dataset=sample.dataset, subject=sample.subject, label=sample.label,
        apex_face=apex_face, flow=flow, strain=strain, roi_masks=masks, landmarks=landmarks.astype(np.float32),
        flow_method="flowpack",
        meta={"flowpack_flow_side": f"{w}x{h}", "landmarks": source, "frame": "flowpack_crop"},
    )


def encode_flowpack_flow(flow: np.ndarray, strain: np.ndarray, side: int = 28, encoding: str = "minmax",
                         max_flow: float = 1.0) -> np.ndarray:
    """A flow field as a flow pack stores it: (side, side, 3) uint8 RGB of (u, v, strain).

    The field is area-averaged to ``side`` px (vectors in pixels of the small map), then each
    channel is scaled to 0..255 on its own (``"minmax"``, the public packs), or ``"fixed"``
    at 127.5 +- 127.5 / ``max_flow`` per px. `decode_flowpack_flow` reads it back.
    """
    k = side / float(flow.shape[-1])
    planes = [cv2.resize(np.ascontiguousarray(p, np.float32), (side, side), interpolation=cv2.INTER_AREA) * s
              for p, s in ((flow[0], k), (flow[1], k), (strain, 1.0))]
    out = []
    for i, p in enumerate(planes):
        if encoding == "minmax" or i == 2:
            lo, hi = float(p.min()), float(p.max())
            q = (p - lo) / (hi - lo) * 255.0 if hi > lo else np.full_like(p, 127.5 if i < 2 else 0.0)
        else:
            q = 127.5 + p / max_flow * 127.5
        out.append(np.clip(np.rint(q), 0, 255))
    return np.stack(out, -1).astype(np.uint8)


def as_flowpack_sample(prepared: PreparedSample, cfg: PreprocessConfig, side: int = 28) -> PreparedSample:
    """A clip prepared from frames, in the representation a flow-pack-trained model learned:
    its flow written as the pack writes it (``side`` px, per-image scaling) and read back as
    `prepare_flowpack` reads it, with the apex face and AU regions of the aligned crop. No onset
    face or dynamic image (a flow pack has none)."""
    from dataclasses import replace

    rgb = encode_flowpack_flow(prepared.flow, prepared.strain, side, cfg.flowpack_encoding, cfg.flowpack_max_flow)
    uv, strain_small = decode_flowpack_flow(rgb, cfg.flowpack_max_flow, cfg.flowpack_encoding, "uvs")
    size = prepared.flow.shape[-1]
    strain = cv2.resize(strain_small, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    return replace(prepared, flow=resize_flow(uv, size), strain=strain, onset_face=None, diff=None, dynamic=None,
                   flow_method="flowpack", meta={**prepared.meta, "flowpack_flow_side": f"{side}x{side}",
                                                 "frame": "aligned_as_flowpack"})
