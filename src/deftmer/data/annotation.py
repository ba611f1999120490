"""Reading annotation spreadsheets and CSVs by column NAME, wherever the header row sits.

Real MER annotation files differ between releases: SAMM puts a dozen citation rows above its
header, CASME II has unnamed blank columns, headers change spacing and case (``OnsetFrame``
vs ``Onset Frame``). Loaders therefore describe the columns they need by name, and this
module finds the header row by its cells and maps names to positions. Nothing here knows a
row index or a column position of any dataset.
"""

from __future__ import annotations

import csv
import fnmatch
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deftmer.errors import DataLayoutError


def option_hint(option: str, value: str = "PATH") -> str:
    """How a user passes a loader option, in the CLI's own syntax (the same on every command)."""
    return f"-o {option}={value} (or --set data.options.{option}={value})"


def normalise_header(text: object) -> str:
    """Header key: case, spaces, underscores and hyphens ignored (``Onset Frame`` -> ``onsetframe``)."""
    return re.sub(r"[\s_\-]+", "", str(text).strip().lower()) if text is not None else ""


@dataclass(frozen=True)
class Column:
    """A column a loader needs: its canonical name and the header spellings it accepts."""

    name: str
    aliases: tuple[str, ...]
    required: bool = True

    def keys(self) -> set[str]:
        return {normalise_header(a) for a in (self.name, *self.aliases)}


@dataclass(frozen=True)
class AnnotationRow:
    """One data row: canonical column name -> raw cell value, plus its 1-based line in the file."""

    line: int
    values: Mapping[str, Any]

    def get(self, name: str) -> Any:
        return self.values.get(name)


@dataclass(frozen=True)
class AnnotationTable:
    path: Path
    sheet: str | None
    header_line: int
    rows: tuple[AnnotationRow, ...]
    columns: tuple[str, ...]  # canonical names present


def _match_header(cells: list[Any], columns: Iterable[Column]) -> dict[str, int] | None:
    """Column positions if ``cells`` is a header row holding every required column, else None."""
    keys = [normalise_header(c) for c in cells]
    found: dict[str, int] = {}
    for col in columns:
        wanted = col.keys()
        for i, k in enumerate(keys):
            if k and k in wanted:
                found[col.name] = i
                break
        if col.name not in found and col.required:
            return None
    return found


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _table_from_rows(path: Path, sheet: str | None, raw_rows: Iterable[tuple[Any, ...]],
                     columns: list[Column], max_header_search: int = 60) -> AnnotationTable:
    header: dict[str, int] | None = None
    header_line = 0
    rows: list[AnnotationRow] = []
    for line, cells in enumerate(raw_rows, start=1):
        cells = list(cells)
        if header is None:
            if line > max_header_search:
                break
            header = _match_header(cells, columns)
            header_line = line
            continue
        if all(_is_blank(c) for c in cells):
            continue
        values = {name: (cells[i] if i < len(cells) else None) for name, i in header.items()}
        rows.append(AnnotationRow(line=line, values=values))
    if header is None:
        need = ", ".join(c.name for c in columns if c.required)
        where = f" (sheet '{sheet}')" if sheet else ""
        raise DataLayoutError(
            f"{path}{where} has no header row with the columns {need}; "
            f"point the loader at the original annotation file with {option_hint('annotation')}"
        )
    return AnnotationTable(path=path, sheet=sheet, header_line=header_line, rows=tuple(rows),
                           columns=tuple(header))


def read_excel_table(path: Path, columns: list[Column], sheet: str | int = 0,
                     has_header: bool = True) -> AnnotationTable:
    """Read one sheet (by name, case-insensitive, or by position) of an .xlsx file by column names.

    ``has_header=False`` takes the columns in the order given, as `read_csv_table` does (for
    sheets whose public release has no header row, such as CAS(ME)^2's coding sheet).
    """
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise DataLayoutError(f"annotation file {path} does not exist") from None
    except Exception as e:  # zip/xml errors from a corrupt or non-xlsx file
        raise DataLayoutError(f"annotation file {path} cannot be read as .xlsx ({e}); re-download it") from None
    try:
        names = list(wb.sheetnames)
        if isinstance(sheet, int):
            if sheet >= len(names):
                raise DataLayoutError(f"{path} has {len(names)} sheet(s), expected at least {sheet + 1}")
            ws_name = names[sheet]
        else:
            lower = {n.strip().lower(): n for n in names}
            if sheet.strip().lower() not in lower:
                raise DataLayoutError(
                    f"{path} has no sheet '{sheet}' (sheets: {', '.join(names)}); "
                    "use the dataset's original annotation file"
                )
            ws_name = lower[sheet.strip().lower()]
        ws = wb[ws_name]
        if not has_header:
            return _positional_table(path, ws_name, ws.iter_rows(values_only=True), columns)
        return _table_from_rows(path, ws_name, ws.iter_rows(values_only=True), columns)
    finally:
        wb.close()


def read_csv_table(path: Path, columns: list[Column], has_header: bool = True) -> AnnotationTable:
    """Read a CSV by column names (all cells as text, so ``006`` keeps its zeros).

    ``has_header=False`` takes the columns in the order given (for header-less files whose
    format is defined by position, such as the MEGC 2019 ground-truth list).
    """
    if not path.is_file():
        raise DataLayoutError(f"CSV file {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as f:
        raw = [tuple(c.strip() for c in r) for r in csv.reader(f)]
    if has_header:
        return _table_from_rows(path, None, raw, columns)
    return _positional_table(path, None, raw, columns)


def _positional_table(path: Path, sheet: str | None, raw: Iterable[Sequence[Any]],
                      columns: list[Column]) -> AnnotationTable:
    """Rows of a header-less table: the columns are taken in the order given."""
    rows = []
    for line, cells in enumerate(raw, start=1):
        if all(_is_blank(c) for c in cells):
            continue
        if len(cells) < sum(c.required for c in columns):
            raise DataLayoutError(f"{path} line {line} has {len(cells)} fields, expected {len(columns)}")
        rows.append(AnnotationRow(line, {c.name: (cells[i] if i < len(cells) else None)
                                         for i, c in enumerate(columns)}))
    return AnnotationTable(path, sheet, 0, tuple(rows), tuple(c.name for c in columns))


def find_file(root: Path, patterns: Iterable[str], what: str, option: str, max_depth: int = 3) -> Path:
    """The annotation file under ``root`` matching a glob pattern (case-insensitive), shallowest first.

    Raises `DataLayoutError` naming the file expected and the option that overrides it.
    """
    patterns = [p.lower() for p in patterns]
    hits: list[tuple[int, str, Path]] = []
    root_depth = len(root.parts)
    for p in _walk(root, max_depth):
        if p.is_file() and any(fnmatch.fnmatch(p.name.lower(), pat) for pat in patterns):
            hits.append((len(p.parts) - root_depth, p.name.lower(), p))
    if not hits:
        raise DataLayoutError(
            f"no {what} ({' or '.join(patterns)}) found under {root}; "
            f"put it there or pass {option_hint(option)}"
        )
    hits.sort(key=lambda t: (t[0], t[1]))
    return hits[0][2]


def _walk(root: Path, max_depth: int) -> Iterable[Path]:
    """Files and folders below ``root`` up to ``max_depth`` levels, skipping hidden ones."""
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except (PermissionError, NotADirectoryError):
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            yield e
            if e.is_dir() and depth + 1 < max_depth:
                stack.append((e, depth + 1))


def _count_children(folder: Path, rx: re.Pattern) -> int:
    """Sub-folders of ``folder`` whose names match ``rx`` (0 when it is not a readable folder)."""
    try:
        return sum(1 for e in folder.iterdir() if e.is_dir() and rx.fullmatch(e.name))
    except (FileNotFoundError, PermissionError, NotADirectoryError):
        return 0


def find_folder_with_children(root: Path, child_pattern: str, what: str, option: str,
                              max_depth: int = 3, known: Sequence[str] = ()) -> Path:
    """The folder under ``root`` (or root itself) holding the most sub-folders named like
    ``child_pattern`` (a regex, e.g. subject folders ``sub\\d+``); shallowest wins ties.

    ``known`` lists a release's own layouts (paths relative to ``root``): the first that holds
    such sub-folders is taken before searching, which also finds layouts deeper than ``max_depth``.
    """
    rx = re.compile(child_pattern, re.IGNORECASE)
    for rel in known:
        if _count_children(root / rel, rx):
            return root / rel
    candidates = [root] + [p for p in _walk(root, max_depth) if p.is_dir()]
    scored = []
    for c in candidates:
        n = _count_children(c, rx)
        if n:
            scored.append((-n, len(c.parts), str(c), c))
    if not scored:
        raise DataLayoutError(
            f"no folder of {what} (sub-folders named like '{child_pattern}') found under {root}; "
            f"point --root at the dataset or pass {option_hint(option)}"
        )
    scored.sort()
    return scored[0][3]


# --- cell values ----------------------------------------------------------------------------

def cell_text(value: Any) -> str:
    """A cell as clean text: ints stay ints (``6.0`` -> ``6``), blanks become ``""``."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value).strip()


def cell_int(value: Any) -> int | None:
    """A frame number from a cell, or None for ``/``, blanks, text and negative placeholders."""
    text = cell_text(value)
    if not text:
        return None
    try:
        f = float(text)
    except ValueError:
        return None
    if not math.isfinite(f) or not f.is_integer() or f < 0:
        return None
    return int(f)


_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII"}


def objective_class_text(value: Any) -> str | None:
    """Objective class as the Roman numeral the FACS table uses (``1`` -> ``I``), else the raw text."""
    text = cell_text(value)
    if not text:
        return None
    n = cell_int(text)
    if n is not None and n in _ROMAN:
        return _ROMAN[n]
    return text.upper() if text.upper() in _ROMAN.values() else text
