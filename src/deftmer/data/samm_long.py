"""SAMM long videos (Yap et al., 2020): ``SAMM_LongVideos_V3_Release.xlsx`` + ``SAMM_longvideos/006_1/006_1_0001.jpg``.

The workbook has preamble rows above its header, so the header row is found by its cells
and columns are read by name (Subject, Filename, Onset, Apex, Offset, Type, Action Units).
``Filename`` names one expression (``006_1_2``); its first two parts name the video folder
(``006_1``). ``Type`` is ``Micro - 1/2`` or ``Macro``. The long-video sheet has no emotion:
when ``SAMM_Micro_FACS_Codes_v2.xlsx`` is found (or given as ``micro_codes``), each
micro-expression takes the emotion that sheet gives its Filename, as MEGC 2023's
spot-then-recognise does. Recorded at 200 fps.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from deftmer.data.annotation import Column, cell_text, find_file, find_folder_with_children, read_excel_table
from deftmer.data.dataset import MEDataset, register_dataset
from deftmer.data.labels import get_class_set
from deftmer.data.loader_options import call_loader
from deftmer.data.longvideo import (
    LongVideoSet,
    TruthInterval,
    clip_view,
    interval_from_row,
    register_long_dataset,
    video_from_folder,
)
from deftmer.data.rules import FRAMES_MISSING
from deftmer.data.samm import ANNOTATION_PATTERNS as MICRO_PATTERNS
from deftmer.data.samm import COLUMNS as MICRO_COLUMNS
from deftmer.data.samm import SAMM_FPS
from deftmer.data.samm import SHEET as MICRO_SHEET
from deftmer.data.sample import Problem
from deftmer.errors import DataLayoutError

ANNOTATION_PATTERNS = ("samm_longvideos*.xlsx", "samm_long_videos*.xlsx")
VIDEO_FOLDER = r"\d{3}_\d+"

COLUMNS = [
    Column("subject", ("Subject",)),
    Column("filename", ("Filename", "File name")),
    Column("onset", ("Onset", "Onset Frame")),
    Column("apex", ("Apex", "Apex Frame")),
    Column("offset", ("Offset", "Offset Frame")),
    Column("type", ("Type",)),
    Column("aus", ("Action Units", "AUs"), required=False),
    Column("inducement", ("Inducement Code",), required=False),
    Column("notes", ("Notes",), required=False),
]


def _micro_emotions(root: Path, micro_codes: Path | None) -> dict[str, str]:
    """Filename -> emotion from the SAMM micro-expression sheet (empty when it is absent)."""
    try:
        path = Path(micro_codes) if micro_codes else find_file(root, MICRO_PATTERNS, "SAMM FACS codes", "micro_codes")
    except DataLayoutError:
        return {}
    table = read_excel_table(path, MICRO_COLUMNS, sheet=MICRO_SHEET)
    return {cell_text(r.get("filename")): cell_text(r.get("emotion")) for r in table.rows}


def load_samm_long(root: Path, *, annotation: Path | None = None, frames: Path | None = None,
                   micro_codes: Path | None = None, class_set: str = "megc3",
                   name: str = "samm_long") -> LongVideoSet:
    """Read SAMM long videos under ``root``: every video folder on disk, with its annotated intervals."""
    root = Path(root)
    cs = get_class_set(class_set)
    ann = Path(annotation) if annotation else find_file(root, ANNOTATION_PATTERNS, "SAMM long-video workbook",
                                                        "annotation")
    file = str(ann)
    table = read_excel_table(ann, COLUMNS, sheet=0)
    frames_root = Path(frames) if frames else find_folder_with_children(
        root, VIDEO_FOLDER, "SAMM long videos", "frames", known=("SAMM_longvideos",))
    emotions = _micro_emotions(root, micro_codes)
    found: dict[str, list[TruthInterval]] = defaultdict(list)
    problems: list[Problem] = []
    for row in table.rows:
        parts = cell_text(row.get("filename")).split("_")
        video = "_".join(parts[:2]) if len(parts) >= 2 else ""
        if not re.fullmatch(VIDEO_FOLDER, video) or not (frames_root / video).is_dir():
            problems.append(Problem(FRAMES_MISSING, f"row {row.line}: no video folder '{video}' under {frames_root}",
                                    cell_text(row.get("filename")) or None, file))
            continue
        expression = cell_text(row.get("filename"))
        interval, p = interval_from_row(row, expression, emotions.get(expression, ""), cs, file)
        problems.extend(p)
        if interval is not None:
            found[video].append(interval)
    folders = sorted(p for p in frames_root.iterdir() if p.is_dir() and re.fullmatch(VIDEO_FOLDER, p.name))
    videos = [video_from_folder(name, f.name.split("_")[0], f, SAMM_FPS, found.get(f.name, [])) for f in folders]
    return LongVideoSet(name, root, cs, videos, problems)


@register_long_dataset("samm_long", "SAMM long videos (SAMM_LongVideos_V3_Release.xlsx + "
                                    "SAMM_longvideos/006_1/006_1_0001.jpg), 200 fps; default class set megc3")
def _load(root: Path, **options: object) -> LongVideoSet:
    return call_loader(load_samm_long, "samm_long", root, options)  # type: ignore[arg-type,return-value]


@register_dataset("samm_long", "SAMM long-video micro-expressions as clips (SAMM_longvideos/...), 200 fps; "
                               "default class set megc3")
def _load_clips(root: Path, **options: object) -> MEDataset:
    return clip_view(call_loader(load_samm_long, "samm_long", root, options))  # type: ignore[arg-type]
