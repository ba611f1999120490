"""SAMM loader (Davison et al., 2018): ``SAMM_Micro_FACS_Codes_v2.xlsx`` + ``006/006_1_2/006_05562.jpg``.

Quirks honoured: the sheet ``MICRO_ONLY`` starts with citation/preamble rows, so the header
row is found by its cells; subjects are stored as numbers (``6``) but the folders are ``006``;
frame files use varying zero padding; some apex values lie outside [onset, offset] (reported);
AU strings hold ``or`` / ``/`` alternatives and L/R/A prefixes; emotions are capitalised
(``Others``).
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

SAMM_FPS = 200.0
SHEET = "MICRO_ONLY"
ANNOTATION_PATTERNS = ("samm_micro_facs_codes*.xlsx",)
SUBJECT_FOLDER = r"\d{3}"

COLUMNS = [
    Column("subject", ("Subject",)),
    Column("filename", ("Filename", "File name")),
    Column("onset", ("Onset Frame", "OnsetFrame", "Onset")),
    Column("apex", ("Apex Frame", "ApexFrame", "Apex")),
    Column("offset", ("Offset Frame", "OffsetFrame", "Offset")),
    Column("aus", ("Action Units", "AUs", "AU")),
    Column("emotion", ("Estimated Emotion", "Emotion")),
    Column("objective", ("Objective Classes", "Objective Class"), required=False),
    Column("inducement", ("Inducement Code",), required=False),
    Column("notes", ("Notes",), required=False),
]


def normalise_samm_subject(value: object) -> str:
    """``6``, ``06``, ``6.0`` and ``006`` all become ``006`` (SAMM folder names)."""
    text = cell_text(value)
    return f"{int(text):03d}" if re.fullmatch(r"\d+", text) else text


def load_samm(
    root: Path,
    *,
    annotation: Path | None = None,
    class_set: str = "samm_5",
    name: str = "samm",
    frames: Path | None = None,
    sheet: str = SHEET,
) -> MEDataset:
    """Read SAMM under ``root``; ``frames`` is the folder holding ``006/``, ``007/``... (found when omitted)."""
    root = Path(root)
    cs = get_class_set(class_set)
    ann = Path(annotation) if annotation else find_file(root, ANNOTATION_PATTERNS, "SAMM FACS codes spreadsheet",
                                                        "annotation")
    table = read_excel_table(ann, COLUMNS, sheet=sheet)
    frames_root = Path(frames) if frames else find_folder_with_children(
        root, SUBJECT_FOLDER, "SAMM subjects", "frames")
    file = str(ann)
    samples: list[Sample] = []
    problems: list[Problem] = []
    for row in table.rows:
        subject = normalise_samm_subject(row.get("subject"))
        clip = cell_text(row.get("filename"))
        if not subject or not clip:
            problems.append(Problem("field_missing", f"row {row.line} has no subject or filename; skipped", None, file))
            continue
        emotion = cell_text(row.get("emotion"))
        sample = Sample(dataset=name, subject=subject, clip=clip, emotion=emotion,
                        onset=cell_int(row.get("onset")), apex=cell_int(row.get("apex")),
                        offset=cell_int(row.get("offset")),
                        objective_class=objective_class_text(row.get("objective")),
                        source=name, fps=SAMM_FPS,
                        extra={k: v for k, v in (("annotation_line", str(row.line)),
                                                 ("inducement", cell_text(row.get("inducement"))),
                                                 ("notes", cell_text(row.get("notes")))) if v})
        aus, p_au = aus_with_problems(row.get("aus"), sample.id, file)
        label, p_label = label_with_problems(emotion, cs, sample.id, file)
        folder = frames_root / subject / clip
        paths, numbers = clip_frames(folder)
        sample = replace(sample, aus=aus, label=label, frames=paths, frame_numbers=numbers)
        p = p_au + p_label + interval_problems(sample, file) + frame_problems(sample, folder)
        problems.extend(p)
        samples.append(attach(sample, p))
    samples, p_dup = dedupe_ids(samples, file)
    problems.extend(p_dup)
    return MEDataset(name=name, root=root, class_set=cs, samples=samples, problems=problems)


@register_dataset("samm", "SAMM (SAMM_Micro_FACS_Codes_v2.xlsx sheet MICRO_ONLY + 006/006_1_2/*.jpg), 200 fps; "
                  "default class set samm_5")
def _load(root: Path, **options: object) -> MEDataset:
    return call_loader(load_samm, "samm", root, options)
