"""CAS(ME)^3 part A loader (Li et al., 2022): ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` +
``spNO.1/a/color/{n}.jpg``.

Quirks honoured: sheet ``label``; AU strings like ``L2+L1``, ``R14``, ``T28+14``; a folder
(``spNO.1/a``) is one long recording holding several MEs, so one (Subject, Filename) pair
appears on several rows: each ME gets its own clip id ``<filename>_<onset>`` and only the
frames of its [onset, offset] segment.
"""

from __future__ import annotations

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

CASME3_FPS = 30.0
SHEET = "label"
ANNOTATION_PATTERNS = ("cas(me)3_part_a_me_label*.xlsx", "cas(me)^3_part_a_me_label*.xlsx", "casme3_part_a*label*.xlsx")
SUBJECT_FOLDER = r"spNO\.\d+"
COLOR_FOLDER = "color"

COLUMNS = [
    Column("subject", ("Subject", "sub")),
    Column("filename", ("Filename", "File name")),
    Column("onset", ("Onset", "Onset Frame")),
    Column("apex", ("Apex", "Apex Frame")),
    Column("offset", ("Offset", "Offset Frame")),
    Column("aus", ("AU", "AUs", "Action Units")),
    Column("emotion", ("emotion", "Estimated Emotion")),
    Column("objective", ("Objective class", "Objective Classes"), required=False),
]


def normalise_casme3_subject(value: object) -> str:
    """``spNO.1`` stays ``spNO.1``; a bare ``1`` becomes ``spNO.1`` (the folder name)."""
    text = cell_text(value)
    return f"spNO.{int(text)}" if text.isdigit() else text


#: Where the release puts the ``spNO.*`` folders, relative to the dataset root (both layouts
#: circulate: ``part_A/data/part_A`` and the split download's ``part_A/data/part_A_split/part_A``).
FRAME_ROOTS = ("data/part_A", "data/part_A_split/part_A", "part_A/data/part_A", "part_A/data/part_A_split/part_A",
               "part_A", "")


def find_frames_root(root: Path) -> Path:
    """The folder holding ``spNO.*``: a known release layout first, else a shallow search."""
    return find_folder_with_children(root, SUBJECT_FOLDER, "CAS(ME)^3 subjects", "frames", known=FRAME_ROOTS)


def recording_folder(subject_folder: Path, filename: str) -> Path:
    """``<spNO.N>/<filename>``, matching the annotation's Filename without regard to case
    (the label file and the folders disagree in case for some recordings, e.g. ``J`` / ``j``)."""
    exact = subject_folder / filename
    if exact.is_dir() or not subject_folder.is_dir():
        return exact
    matches = [e for e in subject_folder.iterdir() if e.is_dir() and e.name.lower() == filename.lower()]
    return matches[0] if len(matches) == 1 else exact


def load_casme3(
    root: Path,
    *,
    annotation: Path | None = None,
    class_set: str = "casme3_7",
    name: str = "casme3",
    frames: Path | None = None,
    sheet: str = SHEET,
) -> MEDataset:
    """Read CAS(ME)^3 part A under ``root``; ``frames`` is the folder holding ``spNO.*`` (found when omitted)."""
    root = Path(root)
    cs = get_class_set(class_set)
    ann = Path(annotation) if annotation else find_file(root, ANNOTATION_PATTERNS, "CAS(ME)^3 part A ME label file",
                                                        "annotation")
    table = read_excel_table(ann, COLUMNS, sheet=sheet)
    frames_root = Path(frames) if frames else find_frames_root(root)
    file = str(ann)
    samples: list[Sample] = []
    problems: list[Problem] = []
    folder_cache: dict[Path, tuple[tuple[Path, ...], tuple[int, ...]]] = {}
    for row in table.rows:
        subject = normalise_casme3_subject(row.get("subject"))
        filename = cell_text(row.get("filename"))
        if not subject or not filename:
            problems.append(Problem("field_missing", f"row {row.line} has no subject or filename; skipped", None, file))
            continue
        onset, offset = cell_int(row.get("onset")), cell_int(row.get("offset"))
        clip = f"{filename}_{onset}" if onset is not None else f"{filename}_line{row.line}"
        emotion = cell_text(row.get("emotion"))
        sample = Sample(dataset=name, subject=subject, clip=clip, emotion=emotion,
                        onset=onset, apex=cell_int(row.get("apex")), offset=offset,
                        objective_class=objective_class_text(row.get("objective")),
                        source=name, fps=CASME3_FPS,
                        extra={"filename": filename, "annotation_line": str(row.line)})
        aus, p_au = aus_with_problems(row.get("aus"), sample.id, file)
        label, p_label = label_with_problems(emotion, cs, sample.id, file)
        folder = recording_folder(frames_root / subject, filename) / COLOR_FOLDER
        if folder not in folder_cache:
            folder_cache[folder] = clip_frames(folder)
        paths, numbers = folder_cache[folder]
        # Frames on disk are checked against the whole recording, then cut to the ME's segment.
        whole = replace(sample, aus=aus, label=label, frames=paths, frame_numbers=numbers)
        p = p_au + p_label + interval_problems(whole, file) + frame_problems(whole, folder)
        if onset is not None and offset is not None and onset <= offset:
            keep = [i for i, n in enumerate(numbers) if onset <= n <= offset]
            paths, numbers = tuple(paths[i] for i in keep), tuple(numbers[i] for i in keep)
        sample = replace(whole, frames=paths, frame_numbers=numbers)
        problems.extend(p)
        samples.append(attach(sample, p))
    samples, p_dup = dedupe_ids(samples, file)
    problems.extend(p_dup)
    return MEDataset(name=name, root=root, class_set=cs, samples=samples, problems=problems)


@register_dataset("casme3", "CAS(ME)^3 part A (cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx sheet label + "
                  "spNO.N/<file>/color/N.jpg), 30 fps; default class set casme3_7")
def _load(root: Path, **options: object) -> MEDataset:
    return call_loader(load_casme3, "casme3", root, options)
