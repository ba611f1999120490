"""Settings of evaluation: protocol and which folds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protocol: Literal["loso", "lodo"] = "loso"
    folds: list[str] | None = None   # subset of test subjects; None = all
    generate_explanations: bool = True
