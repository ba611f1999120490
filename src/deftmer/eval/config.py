"""Settings of evaluation: protocol and which folds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protocol: Literal["loso", "lodo"] = "loso"
    folds: list[str] | None = None   # subset of test subjects; None = all
    generate_explanations: bool = True
    # LOSO/LODO folds run in this many processes at once, each with cores/workers torch threads
    # (0: as many as there are CPU cores, one on a CUDA machine). Folds are independent, so
    # this changes no result, only the wall time.
    workers: int = Field(0, ge=0)
