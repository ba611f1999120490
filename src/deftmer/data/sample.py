"""Typed records every stage passes around: one micro-expression clip and its annotation.

A `Sample` is what a loader reads from a dataset's own annotation format; later stages never
look at spreadsheets again. Frame positions are kept as the *annotation's frame numbers*
(e.g. ``img46.jpg`` -> 46) next to the ordered frame paths, because every MER dataset
annotates onset/apex/offset in its own file numbering, not as list indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from deftmer.facs import ActionUnit, Side

__all__ = ["ActionUnit", "Problem", "Sample", "Side"]  # ActionUnit, Side: FACS records (deftmer.facs)


@dataclass(frozen=True)
class Problem:
    """An annotation or layout problem found by a rule, reported and never silently fixed."""

    kind: str  # e.g. "apex_missing", "apex_outside_interval", "frames_missing", "au_unparsed"
    message: str
    sample_id: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = f" [{self.sample_id}]" if self.sample_id else ""
        f = f" ({self.file})" if self.file else ""
        return f"{self.kind}{where}: {self.message}{f}"


@dataclass(frozen=True)
class Sample:
    """One micro-expression clip.

    ``frames``/``frame_numbers`` are parallel and sorted by frame number; they are empty for
    sources that ship no frames (the ``flowpack`` layout), which carry ``apex_image`` and
    ``flow_image`` instead. ``label`` is the dataset emotion mapped into the loader's target
    class set (``None`` when that class set excludes the clip, e.g. "others" in MEGC 3-class).
    """

    dataset: str
    subject: str
    clip: str
    emotion: str
    frames: tuple[Path, ...] = ()
    frame_numbers: tuple[int, ...] = ()
    onset: int | None = None
    apex: int | None = None
    offset: int | None = None
    aus: tuple[ActionUnit, ...] = ()
    objective_class: str | None = None
    label: str | None = None
    source: str | None = None
    apex_image: Path | None = None
    flow_image: Path | None = None
    fps: float | None = None
    problems: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def id(self) -> str:
        """Stable id, unique across datasets: ``dataset/subject/clip``."""
        return f"{self.dataset}/{self.subject}/{self.clip}"

    @property
    def has_frames(self) -> bool:
        return len(self.frames) > 0

    def frame_index(self, number: int) -> int:
        """Position in ``frames`` of an annotated frame number (nearest when not exact)."""
        if not self.frame_numbers:
            raise ValueError(f"{self.id} has no frames")
        best = min(range(len(self.frame_numbers)), key=lambda i: abs(self.frame_numbers[i] - number))
        return best

    def with_label(self, label: str | None) -> Sample:
        return replace(self, label=label)
