"""CAS(ME)^2 long videos (Qu et al., 2018): ``CAS(ME)^2code_final.xlsx`` + ``rawpic/s15/15_0101disgustingteeth/img1.jpg``.

The public coding workbook has NO header row, so its columns are read by position, in the
order every public spotting code reads them (MEAN, SOFTNet, LSSNet, the MEGC baselines):
participant, expression name (``anger1_1``), onset, apex, offset, AUs, emotion, expression
type (``micro-expression`` / ``macro-expression``), self-reported emotion. Two more sheets
name the folders: ``naming rule1`` maps the participant number (3rd column) to the subject
folder number (1st column: participant 1 is ``s15``), ``naming rule2`` maps the expression
name (2nd column, ``anger1``) to the 4-digit video code (1st column, ``0101``) that the
video folder ``15_0101...`` starts with. An offset of 0 means "not annotated" and is
reported; the interval then ends as far after the apex as the onset lies before it (the
convention of the public MEGC evaluation code). Recorded at 30 fps.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from deftmer.data.annotation import Column, cell_int, cell_text, find_file, find_folder_with_children, read_excel_table
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
from deftmer.data.sample import Problem

CASME_SQ_FPS = 30.0
ANNOTATION_PATTERNS = ("cas(me)^2code_final*.xlsx", "cas(me)2code_final*.xlsx", "casme^2code_final*.xlsx",
                       "casme_sq*code*.xlsx", "code_final*.xlsx")

COLUMNS = [Column("participant", ()), Column("name", ()), Column("onset", ()), Column("apex", ()),
           Column("offset", ()), Column("aus", ()), Column("emotion", ()), Column("type", ()),
           Column("self_report", (), required=False)]
RULE1 = [Column("folder_number", ()), Column("folder", ()), Column("participant", ())]
RULE2 = [Column("code", ()), Column("expression", ())]


def _subject_folders(ann: Path) -> dict[int, int]:
    """participant number -> subject folder number (``naming rule1``)."""
    out = {}
    for row in read_excel_table(ann, RULE1, sheet="naming rule1", has_header=False).rows:
        p, n = cell_int(row.get("participant")), cell_int(row.get("folder_number"))
        if p is None or n is None:
            digits = re.sub(r"\D", "", cell_text(row.get("folder")))
            n = int(digits) if digits and p is not None else None
        if p is not None and n is not None:
            out[p] = n
    return out


def _video_codes(ann: Path) -> dict[str, str]:
    """expression name (``anger1``) -> 4-digit video code (``0101``) (``naming rule2``)."""
    out = {}
    for row in read_excel_table(ann, RULE2, sheet="naming rule2", has_header=False).rows:
        code, name = cell_text(row.get("code")), cell_text(row.get("expression")).lower()
        if code.isdigit() and name:
            out[name] = f"{int(code):04d}"
    return out


def _video_folders(frames_root: Path) -> dict[tuple[int, str], Path]:
    """(subject folder number, video code) -> video folder, for every ``sNN/NN_CODEname`` on disk."""
    out = {}
    for sub in sorted(p for p in frames_root.iterdir() if p.is_dir() and re.fullmatch(r"(?i)s\d+", p.name)):
        for vid in sorted(p for p in sub.iterdir() if p.is_dir()):
            m = re.match(r"(\d+)_(\d{4})", vid.name)
            if m:
                out[(int(sub.name[1:]), m.group(2))] = vid
    return out


def load_casme_sq(root: Path, *, annotation: Path | None = None, frames: Path | None = None,
                  class_set: str = "megc3", name: str = "casme_sq") -> LongVideoSet:
    """Read CAS(ME)^2 under ``root``: every video folder on disk, with its annotated intervals."""
    root = Path(root)
    cs = get_class_set(class_set)
    ann = Path(annotation) if annotation else find_file(root, ANNOTATION_PATTERNS, "CAS(ME)^2 coding workbook",
                                                        "annotation")
    file = str(ann)
    table = read_excel_table(ann, COLUMNS, sheet=0, has_header=False)
    subjects, codes = _subject_folders(ann), _video_codes(ann)
    frames_root = Path(frames) if frames else find_folder_with_children(root, r"s\d+", "CAS(ME)^2 subjects",
                                                                       "frames", known=("rawpic",))
    folders = _video_folders(frames_root)
    rows: dict[tuple[int, str], list[TruthInterval]] = defaultdict(list)
    problems: list[Problem] = []
    for row in table.rows:
        participant, expr = cell_int(row.get("participant")), cell_text(row.get("name"))
        if participant is None and row.line == 1:  # a header row some re-releases add
            continue
        stem = expr.rsplit("_", 1)[0].lower()
        key = (subjects.get(participant, -1) if participant is not None else -1, codes.get(stem, ""))
        if key not in folders:
            problems.append(Problem(FRAMES_MISSING, f"row {row.line} ({participant}, {expr}): no video folder "
                                    f"s{key[0]}/{key[0]}_{key[1] or '????'}* under {frames_root}", expr, file))
            continue
        interval, p = interval_from_row(row, expr, cell_text(row.get("emotion")), cs, file)
        problems.extend(p)
        if interval is not None:
            rows[key].append(interval)
    videos = [video_from_folder(name, f"s{number}", folder, CASME_SQ_FPS, rows.get((number, code), []))
              for (number, code), folder in sorted(folders.items())]
    return LongVideoSet(name, root, cs, videos, problems)


@register_long_dataset("casme_sq", "CAS(ME)^2 long videos (CAS(ME)^2code_final.xlsx, header-less, + "
                                   "rawpic/s15/15_0101*/img1.jpg), 30 fps; default class set megc3")
def _load(root: Path, **options: object) -> LongVideoSet:
    return call_loader(load_casme_sq, "casme_sq", root, options)  # type: ignore[arg-type,return-value]


@register_dataset("casme_sq", "CAS(ME)^2 micro-expressions of the long videos as clips (onset..offset of "
                              "rawpic/...), 30 fps; default class set megc3")
def _load_clips(root: Path, **options: object) -> MEDataset:
    return clip_view(call_loader(load_casme_sq, "casme_sq", root, options))  # type: ignore[arg-type]
