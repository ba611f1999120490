"""Settings of Uni-MER instruction building: dual-constraint thresholds and policy."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class UnimerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: Literal["keep_all", "drop_contradicted", "drop_low_score"] = "drop_contradicted"
    min_score: float = 0.5
    support_snr: float = 2.5        # region mean-flow length / noise floor needed for "supported"
    weak_snr: float = 1.5           # below this a region counts as still
    direction_tolerance_deg: float = 67.5
    unexplained_snr: float = 3.0
    tasks: list[Literal["emotion", "au", "motion", "reasoning"]] = ["emotion", "au", "motion", "reasoning"]
