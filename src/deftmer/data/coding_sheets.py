"""AU codes of the original coding spreadsheets, keyed by (source, subject, clip).

Flow packs (the STSTNet/HTNet release) carry only a 3-class label per clip; the Action Units
of their CASME II and SAMM clips are in the databases' own coding sheets
(``CASME2-coding-*.xlsx``, ``SAMM_Micro_FACS_Codes_v2.xlsx``). Reading those sheets with the
CASME II and SAMM loaders' own column tables and subject normalisation lets a flow-pack clip
take its real AUs by (subject, clip name). SMIC was never FACS-coded: it has no sheet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deftmer.data import casme2, samm
from deftmer.data.annotation import cell_text, read_excel_table
from deftmer.data.rules import aus_with_problems
from deftmer.data.sample import ActionUnit, Problem


@dataclass(frozen=True)
class CodedClip:
    """What a coding sheet says about one clip that a flow pack does not."""

    aus: tuple[ActionUnit, ...]
    emotion: str
    line: int
    problems: tuple[Problem, ...] = ()   # AU cells the parser could not read


def _read(path: Path, columns, sheet, normalise_subject, source: str) -> dict[tuple[str, str, str], CodedClip]:
    table = read_excel_table(Path(path), columns, sheet=sheet)
    out: dict[tuple[str, str, str], CodedClip] = {}
    for row in table.rows:
        subject, clip = normalise_subject(row.get("subject")), cell_text(row.get("filename"))
        if not subject or not clip:
            continue
        aus, p = aus_with_problems(row.get("aus"), f"{source}/{subject}/{clip}", str(path))
        out[(source, subject, clip.lower())] = CodedClip(aus, cell_text(row.get("emotion")), row.line, tuple(p))
    return out


def read_coding_sheets(casme2_coding: Path | None = None,
                       samm_coding: Path | None = None) -> dict[tuple[str, str, str], CodedClip]:
    """{(source, subject, clip lower-case): CodedClip} from the sheets given."""
    table: dict[tuple[str, str, str], CodedClip] = {}
    if casme2_coding is not None:
        table.update(_read(casme2_coding, casme2.COLUMNS, 0, casme2.normalise_casme2_subject, "casme2"))
    if samm_coding is not None:
        table.update(_read(samm_coding, samm.COLUMNS, samm.SHEET, samm.normalise_samm_subject, "samm"))
    return table


def coding_key(source: str, subject: str, clip: str) -> tuple[str, str, str]:
    """The lookup key of a flow-pack row: subjects normalised the way each sheet's loader does."""
    if source == "casme2":
        subject = casme2.normalise_casme2_subject(subject)
    elif source == "samm":
        subject = samm.normalise_samm_subject(subject)
    return source, subject, clip.lower()
