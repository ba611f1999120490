"""Reading a ``predictions.csv`` back: a damaged file never reaches a metric.

Metrics are recomputed from these tables (``deftmer evaluate``, the LOSO merge), and a table
cut short mid-row, emptied, overwritten with binary data or edited by hand would otherwise be
counted as it stands: a half row as a sample, an unknown class as an error of a real one.
Each way it can be damaged is one `UserError` naming the file, the line, and ``fix`` (how to
rebuild the file).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from deftmer.errors import UserError

REQUIRED_COLUMNS = ("sample_id", "true", "pred")


def _text(path: Path, fix: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; {fix}") from None
    if not raw.strip():
        raise UserError(f"{path} is empty; {fix}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not text (binary or corrupt); {fix}") from None
    if "\x00" in text:
        raise UserError(f"{path} is not text (it holds NUL bytes); {fix}")
    if not text.endswith("\n"):
        raise UserError(f"{path} is cut short (its last line is incomplete); {fix}")
    return text


def _check_rows(path: Path, text: str, fix: str) -> None:
    """Every row has the header's number of fields, and the header names the columns needed."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows)
    lacking = [c for c in REQUIRED_COLUMNS if c not in header]
    if lacking:
        raise UserError(f"{path} lacks column(s) {', '.join(lacking)} (not a deftmer predictions table?); {fix}")
    for line, row in enumerate(rows, start=2):
        if row and len(row) != len(header):
            raise UserError(f"{path} line {line} has {len(row)} of {len(header)} fields (cut short or edited); {fix}")


def _check_values(path: Path, df: pd.DataFrame, classes: Sequence[str] | None, fix: str) -> None:
    """Class names in ``true``/``pred`` belong to the run's classes (when given); no sample is listed twice."""
    known = set(classes or ())
    for col in ("true", "pred") if classes is not None else ():
        bad = df.index[~df[col].astype(str).isin(known)]
        if len(bad):
            i = int(bad[0])
            raise UserError(f"{path} line {i + 2}: {col} class '{df[col].iloc[i]}' is not one of the run's classes "
                            f"({', '.join(classes)}); {fix}")
    dup = df["sample_id"][df["sample_id"].duplicated()]
    if len(dup):
        raise UserError(f"{path}: sample {dup.iloc[0]} is listed more than once; {fix}")


def read_predictions(path: str | Path, classes: Sequence[str] | None, fix: str) -> pd.DataFrame:
    """The predictions table at ``path``, checked whole before any metric sees it (``classes``
    None: the class names are not checked)."""
    path = Path(path)
    text = _text(path, fix)
    _check_rows(path, text, fix)
    df = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values={"claim_support": [""]})
    _check_values(path, df, classes, fix)
    return df
