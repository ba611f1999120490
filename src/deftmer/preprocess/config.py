"""Settings of preprocessing; their hash keys the cache, so any change recomputes."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict


class PreprocessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = 224
    flow: Literal["tvl1", "dis", "farneback"] = "tvl1"
    remove_head_motion: bool = True
    landmarker: Literal["mediapipe"] = "mediapipe"
    apex_smoothing: int = 3
    dynamic_image_frames: int = 16

    def cache_hash(self) -> str:
        blob = json.dumps(self.model_dump(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]
