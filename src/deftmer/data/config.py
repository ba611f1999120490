"""Settings of the data stage (which dataset, where, which class set)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = "synthme"
    root: str | None = None
    class_set: str | None = None  # None: the dataset's default class set
    options: dict[str, str] = {}
