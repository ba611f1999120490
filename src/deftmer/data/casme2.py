"""CASME II loader (Yan et al., 2014): ``CASME2-coding-*.xlsx`` + ``sub01/EP02_01f/img46.jpg``.

Quirks honoured: the subject cell is ``1``, ``01`` or ``sub01``; ``ApexFrame`` can be ``/``;
the sheet has unnamed blank columns; ``Objective Classes`` exists only in later releases;
frames are raw ``img46.jpg`` or the official crop ``reg_img46.jpg``. SynthME writes this same
layout, so it is read by this loader too (``name="synthme"``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from deftmer.data.annotation import (
    Column,
    cell_int,
    cell_text,
    find_file,
    find_folder_with_children,
    objective_class_text,
    read_excel_table,
)
from deftmer.data.dataset import MEDataset, register_dataset
from deftmer.data.labels import get_class_set
from deftmer.data.loader_options import call_loader
from deftmer.data.rules import (
    attach,
    aus_with_problems,
    clip_frames,
    dedupe_ids,
    frame_problems,
    interval_problems,
    label_with_problems,
)
from deftmer.data.sample import Problem, Sample
from deftmer.utils.console import logger

CASME2_FPS = 200.0
ANNOTATION_PATTERNS = ("casme2-coding-*.xlsx", "casme2_coding*.xlsx", "casme2-coding*.xlsx")
SUBJECT_FOLDER = r"sub\d+"

COLUMNS = [
    Column("subject", ("Subject",)),
    Column("filename", ("Filename", "File name")),
    Column("onset", ("OnsetFrame", "Onset Frame", "Onset")),
    Column("apex", ("ApexFrame", "Apex Frame", "Apex")),
    Column("offset", ("OffsetFrame", "Offset Frame", "Offset")),
    Column("aus", ("Action Units", "AUs", "AU")),
    Column("emotion", ("Estimated Emotion", "Emotion")),
    Column("objective", ("Objective Classes", "Objective Class"), required=False),
]


def normalise_casme2_subject(value: object) -> str:
    """``1``, ``01``, ``1.0``, ``sub1`` and ``sub01`` all become ``sub01``."""
    text = cell_text(value)
    m = re.fullmatch(r"(?i)(?:sub)?\s*0*(\d+)", text)
    return f"sub{int(m.group(1)):02d}" if m else text


def _clip_folder(frames_root: Path, subject: str, raw_subject: str, clip: str) -> Path:
    for name in dict.fromkeys((subject, raw_subject, f"sub{raw_subject}")):
        folder = frames_root / name / clip
        if folder.is_dir():
            return folder
    return frames_root / subject / clip


def load_casme2(
    root: Path,
    *,
    annotation: Path | None = None,
    class_set: str = "casme2_5",
    name: str = "casme2",
    frames: Path | None = None,
) -> MEDataset:
    """Read CASME II (or a tree in its layout) under ``root``.

    ``annotation``: the coding spreadsheet (default: ``CASME2-coding-*.xlsx`` found under root).
    ``frames``: the folder holding ``sub01/...`` (default: the folder under root with the most
    ``subNN`` folders, e.g. ``CASME2_RAW_selected`` or ``Cropped``).
    """
    root = Path(root)
    cs = get_class_set(class_set)
    ann = Path(annotation) if annotation else find_file(root, ANNOTATION_PATTERNS, "CASME II coding spreadsheet",
                                                        "annotation")
    table = read_excel_table(ann, COLUMNS, sheet=0)
    frames_root = Path(frames) if frames else find_folder_with_children(
        root, SUBJECT_FOLDER, "CASME II subjects", "frames")
    logger.debug("casme2: annotation %s, frames %s", ann, frames_root)

    samples: list[Sample] = []
    problems: list[Problem] = []
    file = str(ann)
    for row in table.rows:
        raw_subject = cell_text(row.get("subject"))
        clip = cell_text(row.get("filename"))
        if not raw_subject or not clip:
            problems.append(Problem("field_missing", f"row {row.line} has no subject or filename; skipped", None, file))
            continue
        subject = normalise_casme2_subject(raw_subject)
        emotion = cell_text(row.get("emotion"))
        sample = Sample(dataset=name, subject=subject, clip=clip, emotion=emotion,
                        onset=cell_int(row.get("onset")), apex=cell_int(row.get("apex")),
                        offset=cell_int(row.get("offset")),
                        objective_class=objective_class_text(row.get("objective")),
                        source=name, fps=CASME2_FPS,
                        extra={"annotation_line": str(row.line), "apex_cell": cell_text(row.get("apex"))})
        aus, p_au = aus_with_problems(row.get("aus"), sample.id, file)
        label, p_label = label_with_problems(emotion, cs, sample.id, file)
        folder = _clip_folder(frames_root, subject, raw_subject, clip)
        paths, numbers = clip_frames(folder)
        sample = replace(sample, aus=aus, label=label, frames=paths, frame_numbers=numbers)
        p = p_au + p_label + interval_problems(sample, file) + frame_problems(sample, folder)
        problems.extend(p)
        samples.append(attach(sample, p))
    samples, p_dup = dedupe_ids(samples, file)
    problems.extend(p_dup)
    return MEDataset(name=name, root=root, class_set=cs, samples=samples, problems=problems)


@register_dataset("casme2", "CASME II (CASME2-coding-*.xlsx + subNN/EPxx/img*.jpg), 200 fps; default class set casme2_5")
def _load(root: Path, **options: object) -> MEDataset:
    return call_loader(load_casme2, "casme2", root, options)
