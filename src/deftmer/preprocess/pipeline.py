"""One clip from raw frames to a `PreparedSample`: the order of the preprocessing steps.

Pure: reads frames, computes, returns; the cache and the process pool sit outside. The same
code path serves dataset samples (`prepare_sample`) and a user's in-memory video
(`prepare_frames`), so `deftmer predict` sees exactly what training saw.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from deftmer.data.frames import read_frame
from deftmer.data.sample import Sample
from deftmer.errors import UserError
from deftmer.facs import REGION_NAMES
from deftmer.preprocess.apex import spot_apex
from deftmer.preprocess.cache import round_to_storage
from deftmer.preprocess.config import PreprocessConfig
from deftmer.preprocess.dynamic import difference_image, dynamic_image, sample_indices
from deftmer.preprocess.face import NoFaceError, align_from_landmarks, get_landmarker
from deftmer.preprocess.flow import compute_flow, optical_strain, remove_head_motion
from deftmer.preprocess.from_flowpack import decode_flowpack_flow, prepare_flowpack  # noqa: F401 (re-exported)
from deftmer.preprocess.records import PreparedSample
from deftmer.preprocess.rois import roi_masks, stable_mask
from deftmer.preprocess.timing import STAGES, StageTimer  # noqa: F401 (re-exported for the runner)

#: Annotation problems (data layer's `Problem.kind`) that make an annotated apex untrustworthy.
APEX_PROBLEMS = ("apex_missing", "apex_outside_interval", "apex_flagged", "apex_equals_onset")

#: Regions whose motion counts for apex spotting: all but the upper eyelids (blinks).
SPOTTING_REGIONS = [i for i, n in enumerate(REGION_NAMES) if not n.startswith("upper_lid")]


def _apex_untrusted(sample: Sample) -> bool:
    return sample.apex is None or any(p.split(":")[0].strip() in APEX_PROBLEMS for p in sample.problems)


def prepare_sample(sample: Sample, cfg: PreprocessConfig, timer: StageTimer | None = None) -> PreparedSample:
    """Preprocess one dataset sample (frames on disk, or a flowpack's apex image + flow PNG).

    Raises `NoFaceError` when no face is found and `UserError` for unreadable inputs; the
    dataset runner records either as a per-sample failure and goes on.
    """
    timer = timer or StageTimer()
    if not sample.has_frames and sample.flow_image is None and sample.apex_image is None:
        raise UserError(f"{sample.id}: no frames of this clip on disk; check the dataset's frames folder")
    if not sample.has_frames:
        return round_to_storage(prepare_flowpack(sample, cfg, timer))
    n = len(sample.frames)
    onset = sample.frame_index(sample.onset) if sample.onset is not None else 0
    offset = sample.frame_index(sample.offset) if sample.offset is not None else n - 1
    offset = max(offset, onset)
    apex = None if (_apex_untrusted(sample) or cfg.spot_apex == "always") else sample.frame_index(sample.apex)
    decoded: dict[int, np.ndarray] = {}

    def get(i: int) -> np.ndarray:
        if i not in decoded:
            with timer.stage("decode"):
                decoded[i] = read_frame(sample.frames[i])
        return decoded[i]

    prepared = _prepare_clip(get, onset, apex, offset, cfg, timer, sample_id=sample.id,
                             where=str(sample.frames[onset]))
    prepared.dataset, prepared.subject, prepared.label = sample.dataset, sample.subject, sample.label
    prepared.meta.update(
        onset_frame=str(sample.frame_numbers[onset]),
        apex_frame=str(sample.frame_numbers[prepared.apex_index or 0]),
        offset_frame=str(sample.frame_numbers[offset]),
    )
    return round_to_storage(prepared)


def prepare_frames(frames: list[np.ndarray], cfg: PreprocessConfig, *, sample_id: str = "input",
                   onset: int | None = None, apex: int | None = None, offset: int | None = None,
                   timer: StageTimer | None = None) -> PreparedSample:
    """The same pipeline on in-memory RGB frames (a user's video). Indices are list positions.

    ``onset`` defaults to the first frame, ``offset`` to the last; the apex is spotted when None.
    """
    if not frames:
        raise UserError(f"{sample_id}: no frames to prepare")
    n = len(frames)
    on = 0 if onset is None else onset
    off = n - 1 if offset is None else offset
    for name, idx in (("onset", on), ("offset", off), ("apex", apex)):
        if idx is not None and not 0 <= idx < n:
            raise UserError(f"{sample_id}: {name} index {idx} is outside the clip's {n} frames")
    if off < on:
        raise UserError(f"{sample_id}: offset {off} comes before onset {on}")
    timer = timer or StageTimer()
    prepared = _prepare_clip(lambda i: frames[i], on, apex, off, cfg, timer, sample_id=sample_id, where=sample_id)
    prepared.dataset, prepared.subject = "input", "input"
    return round_to_storage(prepared)


def _prepare_clip(get: Callable[[int], np.ndarray], onset: int, apex: int | None, offset: int,
                  cfg: PreprocessConfig, timer: StageTimer, *, sample_id: str, where: str) -> PreparedSample:
    onset_rgb = get(onset)
    with timer.stage("landmarks"):
        landmarks = get_landmarker().detect(onset_rgb)
    if landmarks is None:
        raise NoFaceError(f"{sample_id}: no face found in the onset frame ({where}); "
                          "check the frame shows a frontal face, or exclude the clip")
    with timer.stage("align"):
        alignment = align_from_landmarks(landmarks, cfg.size, cfg.eye_y, cfg.eye_distance)
        aligned_landmarks = alignment.points(landmarks)
        onset_face = alignment.warp(onset_rgb)
    with timer.stage("regions"):
        masks = roi_masks(aligned_landmarks, cfg.size)
        stable = stable_mask(aligned_landmarks, cfg.size)
    aligned: dict[int, np.ndarray] = {onset: onset_face}

    def face(i: int) -> np.ndarray:
        if i not in aligned:
            rgb = get(i)
            with timer.stage("align"):
                aligned[i] = alignment.warp(rgb)
        return aligned[i]

    spotted = apex is None
    if spotted:
        window = [face(i) for i in range(onset, offset + 1)]
        with timer.stage("apex"):
            rel, _ = spot_apex(window, masks[SPOTTING_REGIONS], stable, cfg.apex_smoothing)
        apex = onset + rel
    apex_face = face(apex)
    with timer.stage("flow"):
        flow = compute_flow(onset_face, apex_face, cfg.flow)
        head = (0.0, 0.0)
        if cfg.remove_head_motion:
            flow, head = remove_head_motion(flow, stable)
    with timer.stage("strain"):
        strain = optical_strain(flow)
    lo, hi = sorted((onset, apex))
    seq = [face(i) for i in sample_indices(lo, hi, cfg.dynamic_image_frames)]
    with timer.stage("dynamic"):
        diff = difference_image(onset_face, apex_face)
        dyn = dynamic_image(seq) if len(seq) > 1 else np.zeros_like(diff)
    return PreparedSample(
        sample_id=sample_id, dataset="", subject="", label=None,
        apex_face=apex_face, flow=flow, strain=strain, roi_masks=masks,
        onset_face=onset_face, diff=diff, dynamic=dyn, landmarks=aligned_landmarks,
        onset_index=onset, apex_index=apex, apex_spotted=spotted, head_motion=head,
        flow_method=cfg.flow,
        meta={"landmarks": "detected", "alignment": json.dumps(np.round(alignment.matrix, 6).tolist()),
              "alignment_scale": f"{alignment.scale:.6f}"},
    )
