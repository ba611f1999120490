"""Long videos with annotated expression intervals: what spotting datasets hold.

CAS(ME)^2 and SAMM long videos annotate every micro- AND macro-expression of a long
recording (onset, apex, offset as frame numbers of the video's own files). A `LongVideo`
keeps that view; `LongVideoSet.micro_samples` turns its micro-expressions into ordinary
`Sample` clips, so the same annotation also trains and tests recognition. Long-video loaders
register here (``@register_long_dataset``), as clip loaders do in `deftmer.data.dataset`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from deftmer.data.annotation import AnnotationRow, cell_int, cell_text
from deftmer.data.dataset import MEDataset
from deftmer.data.labels import ClassSet
from deftmer.data.rules import FIELD_MISSING, FRAMES_MISSING, aus_with_problems, clip_frames, label_with_problems
from deftmer.data.sample import ActionUnit, Problem, Sample
from deftmer.errors import UserError

OFFSET_MISSING = "offset_missing"
KIND_UNKNOWN = "expression_type_unknown"

Kind = Literal["micro", "macro"]


@dataclass(frozen=True)
class TruthInterval:
    """One annotated expression of a long video (frame numbers as in the file names)."""

    onset: int
    apex: int | None
    offset: int
    kind: Kind
    emotion: str = ""
    label: str | None = None
    aus: tuple[ActionUnit, ...] = ()
    name: str = ""                  # the annotation's own name for it (e.g. ``anger1_1``, ``006_1_2``)


@dataclass(frozen=True)
class LongVideo:
    """One long recording: its frames (sorted by number) and its annotated expressions."""

    dataset: str
    subject: str
    video: str
    fps: float
    frames: tuple[Path, ...] = ()
    frame_numbers: tuple[int, ...] = ()
    intervals: tuple[TruthInterval, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.video}"

    @property
    def folder(self) -> Path | None:
        return self.frames[0].parent if self.frames else None

    def index_of(self, number: int) -> int:
        """Position in ``frames`` of a frame number (the nearest when it is not on disk)."""
        if not self.frame_numbers:
            raise ValueError(f"{self.id} has no frames")
        lo = min(range(len(self.frame_numbers)), key=lambda i: abs(self.frame_numbers[i] - number))
        return lo

    def micro(self) -> list[TruthInterval]:
        return [t for t in self.intervals if t.kind == "micro"]


@dataclass
class LongVideoSet:
    """The long videos of one dataset plus the problems its loader found."""

    name: str
    root: Path
    class_set: ClassSet
    videos: list[LongVideo]
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.videos)

    def to_frame(self) -> pd.DataFrame:
        """One row per annotated interval (pandas view, as the clip datasets give)."""
        rows = [{"video": v.id, "subject": v.subject, "n_frames": len(v.frames), "fps": v.fps, "kind": t.kind,
                 "onset": t.onset, "apex": t.apex, "offset": t.offset, "emotion": t.emotion, "label": t.label,
                 "aus": "+".join(str(a) for a in t.aus), "name": t.name}
                for v in self.videos for t in v.intervals]
        return pd.DataFrame(rows)

    def micro_samples(self) -> list[Sample]:
        """Every annotated micro-expression as a clip `Sample` (frames onset..offset of its video)."""
        out = []
        for v in self.videos:
            for t in v.micro():
                keep = [i for i, n in enumerate(v.frame_numbers) if t.onset <= n <= t.offset]
                out.append(Sample(dataset=self.name, subject=v.subject, clip=f"{v.video}_{t.onset}",
                                  emotion=t.emotion, frames=tuple(v.frames[i] for i in keep),
                                  frame_numbers=tuple(v.frame_numbers[i] for i in keep), onset=t.onset,
                                  apex=t.apex, offset=t.offset, aus=t.aus, label=t.label, source=self.name,
                                  fps=v.fps, extra={"video": v.id, "name": t.name}))
        return out


def video_from_folder(dataset: str, subject: str, folder: Path, fps: float,
                      intervals: list[TruthInterval]) -> LongVideo:
    """A video folder on disk (frames sorted by number) with its intervals in time order."""
    paths, numbers = clip_frames(folder)
    return LongVideo(dataset, subject, folder.name, fps, paths, numbers, tuple(sorted(intervals, key=lambda t: t.onset)))


def clip_view(videos: LongVideoSet) -> MEDataset:
    """The dataset's micro-expressions as an ordinary clip dataset (``prepare``, ``loso``,
    ``train`` read it like CASME II): the recognition half of spot-then-recognise."""
    samples = videos.micro_samples()
    absent = [Problem(FRAMES_MISSING, "no frames between its onset and offset", s.id, None)
              for s in samples if not s.frames]
    return MEDataset(videos.name, videos.root, videos.class_set, samples, [*videos.problems, *absent])


@dataclass(frozen=True)
class LongDatasetInfo:
    name: str
    loader: Callable[..., LongVideoSet]
    description: str


_LONG_REGISTRY: dict[str, LongDatasetInfo] = {}

#: Modules that register a long-video loader (one file plus one line here per dataset).
LONG_LOADER_MODULES: tuple[str, ...] = ("deftmer.data.casme_sq", "deftmer.data.samm_long", "deftmer.data.synthme_long")


def register_long_dataset(name: str, description: str) -> Callable[[Callable[..., LongVideoSet]],
                                                                    Callable[..., LongVideoSet]]:
    def deco(fn: Callable[..., LongVideoSet]) -> Callable[..., LongVideoSet]:
        _LONG_REGISTRY[name] = LongDatasetInfo(name, fn, description)
        return fn

    return deco


def _import_long_loaders() -> None:
    import importlib

    for mod in LONG_LOADER_MODULES:
        importlib.import_module(mod)


def list_long_datasets() -> list[LongDatasetInfo]:
    _import_long_loaders()
    return [_LONG_REGISTRY[k] for k in sorted(_LONG_REGISTRY)]


def load_long_videos(name: str, root: str | Path, **options: Any) -> LongVideoSet:
    """Load a registered long-video dataset from ``root``; `UserError` with what to do otherwise."""
    _import_long_loaders()
    key = name.lower().replace("-", "_")
    key = {"cas(me)^2": "casme_sq", "cas(me)2": "casme_sq", "casme^2": "casme_sq", "samm_lv": "samm_long",
           "sammlv": "samm_long", "samm_longvideos": "samm_long"}.get(key, key)
    if key not in _LONG_REGISTRY:
        raise UserError(f"unknown long-video dataset '{name}'; known: {', '.join(sorted(_LONG_REGISTRY))}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"dataset root {root} is not a folder; pass --root pointing at the {name} folder")
    return _LONG_REGISTRY[key].loader(root, **options)


def interval_from_row(row: AnnotationRow, name: str, emotion: str, cs: ClassSet,
                      file: str) -> tuple[TruthInterval | None, list[Problem]]:
    """One annotated expression from a row with ``onset, apex, offset, type, aus`` cells.

    The type names micro or macro (``micro-expression``, ``Micro - 1/2``, ``Macro``); a row
    without an onset or a known type is skipped and reported. A missing offset (``0`` in
    CAS(ME)^2) is reported and set as far after the apex as the onset lies before it, the
    convention of the public MEGC evaluation code. Only micro-expressions get a class.
    """
    onset, apex, offset = cell_int(row.get("onset")), cell_int(row.get("apex")), cell_int(row.get("offset"))
    kind_text = cell_text(row.get("type")).lower()
    kind = "micro" if "micro" in kind_text else "macro" if "macro" in kind_text else None
    if onset is None or kind is None:
        what = "onset" if onset is None else f"expression type '{kind_text}'"
        return None, [Problem(FIELD_MISSING if onset is None else KIND_UNKNOWN,
                              f"row {row.line} has no usable {what}; skipped", name, file)]
    problems = []
    if not offset:
        offset = (apex or onset) + max((apex or onset) - onset, 0)
        problems.append(Problem(OFFSET_MISSING, f"row {row.line}: no offset (0 or blank); using {offset}", name, file))
    aus, p_au = aus_with_problems(row.get("aus"), name, file)
    label, p_label = label_with_problems(emotion, cs, name, file) if emotion and kind == "micro" else (None, [])
    return TruthInterval(onset, apex, offset, kind, emotion, label, aus, name), problems + p_au + p_label  # type: ignore[arg-type]
