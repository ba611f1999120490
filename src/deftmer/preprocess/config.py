"""Settings of preprocessing; their hash keys the cache, so any change recomputes."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PreprocessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = Field(224, ge=32, le=1024, description="side of the aligned face crop, px")
    flow: Literal["tvl1", "dis", "farneback"] = "tvl1"
    remove_head_motion: bool = True
    landmarker: Literal["mediapipe"] = "mediapipe"
    apex_smoothing: int = Field(3, ge=1, description="moving-average window (frames) of the apex-spotting curve")
    dynamic_image_frames: int = Field(16, ge=2, description="at most this many onset->apex frames are rank-pooled")
    # Alignment targets, as fractions of `size`: the midpoint of each eye's corners lands at
    # (0.5 -/+ eye_distance/2, eye_y). These values keep brows and chin inside the crop.
    eye_y: float = Field(0.36, gt=0.0, lt=1.0)
    eye_distance: float = Field(0.30, gt=0.0, lt=1.0)
    spot_apex: Literal["missing", "always"] = Field(
        "missing", description="spot the apex when the annotation lacks/flags it, or for every clip")
    flowpack_encoding: Literal["minmax", "fixed"] = Field(
        "minmax", description="flowpack PNGs: 'minmax' = each channel min-max scaled to 0..255 per image, as the "
        "public STSTNet/HTNet packs were made (zero motion read as the channel median; flow in relative units); "
        "'fixed' = 127.5 is zero and 0/255 are -/+flowpack_max_flow px")
    flowpack_channels: Literal["uvs", "svu"] = Field(
        "uvs", description="flowpack PNGs: the channels as read in RGB order: 'uvs' = (u, v, strain), e.g. "
        "np.stack([strain, v, u]) written with cv2.imwrite; 'svu' = (strain, v, u), e.g. [u, v, strain] written "
        "with cv2.imwrite")
    flowpack_max_flow: float = Field(
        1.0, gt=0.0, description="flowpack PNGs: |u|,|v| in px (at 28 px) that a channel value of 0 or 255 stands "
        "for ('fixed'), or that half a channel's range stands for ('minmax')")
    flowpack_side: int = Field(
        28, ge=8, le=224, description="side (px) of a flow pack's maps; a user's clip given to a flow-pack-trained "
        "model is written at this size and scaling first")
    flowpack_landmarks: Literal["detect", "template"] = Field(
        "detect", description="flowpack apex faces: MediaPipe landmarks with the template layout as fallback when no "
        "face is found ('detect'), or the template for every sample ('template': identical regions everywhere)")

    def cache_hash(self) -> str:
        # flowpack_side only shapes user clips given to a flow-pack model, never a cached sample
        blob = json.dumps(self.model_dump(exclude={"flowpack_side"}), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]
