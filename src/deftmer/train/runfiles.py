"""The files of a LOSO run folder, read back safely, and the locks that keep its writers apart.

A run folder is written over hours, resumed, and shared by several jobs (``--folds`` subsets,
`accelerate launch` processes, a second ``deftmer loso`` started by mistake). Here:

- every file read on resume or by ``evaluate`` is validated; a damaged one is one line
  naming it and how to rebuild it, or, for a fold's own files, the fold simply runs again;
- each fold is run under its own lock, so two jobs never run one fold at once: a job skips
  folds another is running, and waits for them (saying who runs them) only at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from deftmer.errors import UserError
from deftmer.eval.predictions import read_predictions
from deftmer.train.folds import Fold, fold_dir_name
from deftmer.utils import testhooks
from deftmer.utils.console import logger
from deftmer.utils.io import read_json, remove_stale_tmp
from deftmer.utils.locks import release, try_lock, wait_lock

RUN_CARD = "run.json"
DONE = "done.json"
PREDICTIONS = "predictions.csv"
CARD_KEYS = ("model", "dataset", "protocol", "class_set", "classes", "folds")
DONE_KEYS = ("fit_s", "predict_s", "n_train", "n_test")
#: How to rebuild the pooled files of a run whose fold folders are intact.
REMERGE = "run the same `deftmer loso` command again: it keeps the done folds and rewrites the pooled files"


def fold_dir(run_dir: Path, fold: str) -> Path:
    return run_dir / "folds" / fold_dir_name(fold)


def read_run_card(run_dir: Path) -> dict[str, Any]:
    """``run.json``, checked; a damaged card is one line saying how to recover."""
    path = run_dir / RUN_CARD
    fix = (f"delete {path} and run the same `deftmer loso` command again (done folds are kept; it rewrites "
           "run.json)")
    card = read_json(path, fix)
    lacking = [k for k in CARD_KEYS if not isinstance(card, dict) or k not in card]
    if lacking:
        raise UserError(f"{path} lacks {', '.join(lacking)} (edited or from another tool); {fix}")
    return card


def any_fold_done(run_dir: Path) -> bool:
    """Whether any fold of the run finished (a card without done folds protects nothing)."""
    return any((run_dir / "folds").glob(f"*/{DONE}"))


def read_done(run_dir: Path, fold: str, classes: Sequence[str] | None = None, warn: bool = True
              ) -> tuple[dict[str, Any], pd.DataFrame] | None:
    """The ``done.json`` record and predictions of a finished fold whose files are intact, else None.

    A fold whose files are damaged (a cut ``done.json`` or ``predictions.csv``) counts as not
    done, with a warning: resuming runs it again instead of failing on it.
    """
    fdir = fold_dir(run_dir, fold)
    if not (fdir / DONE).is_file():
        return None
    fix = "the fold is run again"
    try:
        record = read_json(fdir / DONE, fix)
        if not isinstance(record, dict) or any(k not in record for k in DONE_KEYS):
            raise UserError(f"{fdir / DONE} lacks {', '.join(DONE_KEYS)}; {fix}")
        predictions = read_predictions(fdir / PREDICTIONS, classes, fix)
    except UserError as e:
        if warn:
            logger.warning(str(e))
        return None
    return record, predictions


def read_descriptions(path: Path) -> list[dict[str, Any]]:
    """The generated answers of a fold (``descriptions.jsonl``); a damaged line is left out, with a warning."""
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            logger.warning(f"{path} line {n} is not JSON (cut short?); that answer is left out of descriptions.jsonl")
    return out


def fold_lock_path(run_dir: Path, fold: str) -> Path:
    """Where a fold's lock lives: a hidden folder of the run, so ``folds/`` holds only fold folders."""
    return run_dir / ".locks" / f"{fold_dir_name(fold)}.lock"


def _while_locked(fold: Fold, lock, run_dir: Path, resume: bool) -> Iterator[Fold]:
    try:
        if resume and read_done(run_dir, fold.name, warn=False) is not None:
            return                             # another job finished it meanwhile
        ckpt = run_dir / "checkpoints" / fold_dir_name(fold.name)
        if ckpt.is_dir():
            remove_stale_tmp(ckpt)
        yield fold
        testhooks.reached("loso.fold_done")
    finally:
        release(lock)


def claim_folds(folds: Sequence[Fold], run_dir: Path, resume: bool) -> Iterator[Fold]:
    """Yield the folds to run, each with its lock held while the caller runs it.

    Folds another process is running are left to the end; then this one waits for each
    (saying which process holds it) and runs it only if that process did not finish it.
    """
    deferred: list[Fold] = []
    for fold in folds:
        lock = try_lock(fold_lock_path(run_dir, fold.name))
        if lock is None:
            deferred.append(fold)
            continue
        yield from _while_locked(fold, lock, run_dir, resume)
    for fold in deferred:
        lock = wait_lock(fold_lock_path(run_dir, fold.name), f"fold {fold.name} of {run_dir}")
        yield from _while_locked(fold, lock, run_dir, resume)



def check_pooled_counts(run_dir: Path, pooled: pd.DataFrame, path: Path) -> None:
    """Each fold's rows in the pooled table match its ``done.json`` count: a table cut short at
    a line boundary, or with rows deleted, is caught (when the fold folders are there)."""
    if "fold" not in pooled.columns:
        return
    counts = pooled["fold"].astype(str).value_counts()
    for fold, n in counts.items():
        done = fold_dir(run_dir, str(fold)) / DONE
        try:
            expected = int(read_json(done, "")["n_test"]) if done.is_file() else None
        except (UserError, KeyError, TypeError, ValueError):
            expected = None
        if expected is not None and expected != n:
            raise UserError(f"{path} holds {n} prediction(s) of fold {fold}, its {done} says {expected}; {REMERGE}")
