"""Builders of tiny dataset trees laid out exactly like the real MER releases.

Spreadsheets are written with openpyxl using the real file names, sheet names, preamble rows
and column names (including CASME II's unnamed blank columns); frames are 8x8 images.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import openpyxl


def write_image(path: Path, size: int = 8, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((size, size, 3), value, np.uint8)
    ok, buf = cv2.imencode(path.suffix, img)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def write_frames(folder: Path, numbers: Iterable[int], pattern: str) -> list[Path]:
    return [write_image(folder / pattern.format(n=n)) for n in numbers]


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """Workbook with the given sheets in order (rows as lists; None is an empty cell)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


# --- CASME II --------------------------------------------------------------------------------

CASME2_HEADER = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                 "Action Units", "Estimated Emotion"]


def make_casme2(root: Path, rows: list[list[Any]], frames: dict[tuple[str, str], tuple[range, str]],
                header: list[Any] | None = None, frames_folder: str = "CASME2_RAW_selected") -> Path:
    """``rows`` follow ``header`` (default CASME2_HEADER); ``frames`` maps (subject folder, clip)
    to (frame numbers, file pattern such as ``img{n}.jpg`` or ``reg_img{n}.jpg``)."""
    write_xlsx(root / "CASME2-coding-20140508.xlsx", {"Sheet1": [header or CASME2_HEADER, *rows]})
    for (sub, clip), (numbers, pattern) in frames.items():
        write_frames(root / frames_folder / sub / clip, numbers, pattern)
    return root


# --- SAMM ------------------------------------------------------------------------------------

SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
               "Duration", "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
SAMM_PREAMBLE = [
    ["SAMM: A Spontaneous Micro-Facial Movement Dataset"],
    ["Please cite the following paper when using this dataset:"],
    ["A. K. Davison, C. Lansley, N. Costen, K. Tan and M. H. Yap, IEEE Transactions on Affective Computing, 2018"],
    [None],
    ["Subject", "is the participant number"],  # a preamble line that mentions a column name
    [None],
]


def make_samm(root: Path, rows: list[list[Any]], frames: dict[tuple[str, str], tuple[range, str]]) -> Path:
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", {
        "FACS_Codes_ALL": [SAMM_HEADER, *rows],
        "MICRO_ONLY": [*SAMM_PREAMBLE, SAMM_HEADER, *rows],
    })
    for (sub, clip), (numbers, pattern) in frames.items():
        write_frames(root / "SAMM" / sub / clip, numbers, pattern)
    return root


# --- SMIC-HS ---------------------------------------------------------------------------------

def make_smic(root: Path, clips: dict[tuple[str, str, str], range], suffix: str = ".bmp") -> Path:
    """``clips`` maps (subject folder ``s1``, emotion folder, clip folder) to frame numbers."""
    hs = root / "SMIC_all_raw" / "HS"
    for (sub, emotion, clip), numbers in clips.items():
        write_frames(hs / sub / "micro" / emotion / clip, numbers, "image{n:06d}" + suffix)
    # Non-micro recordings sit beside micro/ in the release and must not be read.
    write_frames(hs / "s1" / "non_micro" / "positive" / "s1_po_99", range(1, 3), "image{n:06d}" + suffix)
    return root


# --- CAS(ME)^3 -------------------------------------------------------------------------------

CASME3_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]


def make_casme3(root: Path, rows: list[list[Any]], frames: dict[tuple[str, str], range]) -> Path:
    write_xlsx(root / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", {"label": [CASME3_HEADER, *rows]})
    for (sub, name), numbers in frames.items():
        write_frames(root / "data" / "part_A" / sub / name / "color", numbers, "{n}.jpg")
    return root


# --- flow pack -------------------------------------------------------------------------------

FLOWPACK_HEADER = "dataset,sub,filename_o,label,apex,imagename,sub_filename"


def make_flowpack(root: Path, rows: list[tuple[str, str, str, int, str]], skip_flow: set[str] = frozenset()) -> Path:
    """rows: (dataset, sub, filename_o, label code, imagename) as in the HTNet release."""
    lines = [FLOWPACK_HEADER] + [f"{d},{s},{f},{lab},,{img}," for d, s, f, lab, img in rows]
    (root / "combined_3_class2_for_optical_flow.csv").write_text("\n".join(lines) + "\n")
    for _d, s, f, _lab, img in rows:
        if f"{s}_{f}" not in skip_flow:
            write_image(root / "datasets" / "STSNet_whole_norm_u_v_os" / f"{s}_{f} .png", size=28)
        write_image(root / "datasets" / "combined_datasets_whole" / img, size=224)
    return root
