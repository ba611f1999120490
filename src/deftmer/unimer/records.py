"""Typed records of Uni-MER: per-region motion, per-AU verdicts, and instruction records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Verdict = Literal["supported", "weak", "contradicted"]
TaskType = Literal["emotion", "au", "motion", "reasoning"]


@dataclass(frozen=True)
class RegionMotionStats:
    """Motion statistics of one region of one clip (face coordinates, px onset->apex)."""

    region: str
    mean_u: float
    mean_v: float
    magnitude: float        # mean flow magnitude in the region
    snr: float              # magnitude / clip noise floor
    direction: str          # one of 8 compass names in face terms, or "still"
    angle_deg: float        # image-coords angle of the mean vector (0 = +x, 90 = +y/down)
    strain: float
    asymmetry: float = 0.0  # paired regions: (|L| - |R|) / (|L| + |R|), >0 = subject's left stronger

    @property
    def coherent(self) -> float:
        """Length of the mean flow vector (px): the motion the whole region shares."""
        return float((self.mean_u ** 2 + self.mean_v ** 2) ** 0.5)


@dataclass(frozen=True)
class AUVerdict:
    au: str                 # e.g. "LAU12"
    number: int
    side: str | None
    verdict: Verdict
    regions: tuple[str, ...]
    score: float            # support in [0, 1]
    reason: str


@dataclass
class InstructionRecord:
    """One instruction/answer pair, grounded in verified motion and labels."""

    id: str
    sample_id: str
    subject: str
    dataset: str
    task: TaskType
    instruction: str
    answer: str
    label: str | None
    evidence: list[int] = field(default_factory=list)   # region indices the answer used
    aus: list[str] = field(default_factory=list)
    consistency: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)
