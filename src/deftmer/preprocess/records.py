"""What preprocessing hands to every later stage: one aligned, flow-annotated clip.

All images are in the aligned face frame (``size`` x ``size``, eyes at fixed positions), so
region k of every sample covers the same anatomy (see ``deftmer.facs.REGIONS``).
Exception: flowpack samples stay in their release's own crop frame (image and flow together,
never re-aligned); their regions come from landmarks in that frame (``meta["landmarks"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deftmer.data.sample import Sample


@dataclass
class PreparedSample:
    """Cached model inputs for one sample.

    Arrays (``S`` = configured size, ``R`` = number of regions in ``facs.REGIONS``):
      onset_face   uint8 (S, S, 3) RGB, or None when the source has no onset frame (flowpack)
      apex_face    uint8 (S, S, 3) RGB
      flow         float32 (2, S, S): u (x, px), v (y, px), onset->apex, head motion removed
      strain       float32 (S, S): optical strain magnitude
      diff         float32 (S, S, 3) apex - onset in [-1, 1], or None (flowpack)
      dynamic      float32 (S, S, 3) dynamic image by approximate rank pooling, or None
      landmarks    float32 (N, 2) in aligned pixel coords (N = 478 for MediaPipe), or None;
                   flowpack: crop pixel coords, detected or the template layout
      roi_masks    bool (R, S, S)
    """

    sample_id: str
    dataset: str
    subject: str
    label: str | None
    apex_face: np.ndarray
    flow: np.ndarray
    strain: np.ndarray
    roi_masks: np.ndarray
    onset_face: np.ndarray | None = None
    diff: np.ndarray | None = None
    dynamic: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    onset_index: int | None = None
    apex_index: int | None = None
    apex_spotted: bool = False
    head_motion: tuple[float, float] = (0.0, 0.0)
    flow_method: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def magnitude(self) -> np.ndarray:
        return np.hypot(self.flow[0], self.flow[1]).astype(np.float32)

    @property
    def has_onset(self) -> bool:
        return self.onset_face is not None


@dataclass
class ClipInputs:
    """What a model sees of one clip: the annotation record and its cached inputs."""

    sample: Sample
    prepared: PreparedSample

    @property
    def id(self) -> str:
        return self.sample.id
