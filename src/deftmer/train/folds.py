"""Cross-validation folds of the field: leave-one-subject-out and leave-one-dataset-out.

A fold is named by what it holds out (a subject, or a source dataset of a composite) and
knows only sample ids, so it can be checked for leaks before any model sees data.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from deftmer.data.sample import Sample
from deftmer.errors import UserError

Protocol = Literal["loso", "lodo"]


@dataclass(frozen=True)
class Fold:
    """One held-out group: ``name`` is the test subject (loso) or source dataset (lodo)."""

    name: str
    protocol: Protocol
    train_ids: tuple[str, ...]
    test_ids: tuple[str, ...]


def group_of(sample: Sample, protocol: Protocol) -> str:
    """The unit a protocol holds out: the subject, or the source dataset of a composite."""
    return sample.subject if protocol == "loso" else (sample.source or sample.dataset)


def make_folds(samples: Sequence[Sample], protocol: Protocol = "loso") -> list[Fold]:
    """One fold per subject (loso) or per source dataset (lodo), sorted by name."""
    if protocol not in ("loso", "lodo"):
        raise UserError(f"unknown protocol '{protocol}'; use loso or lodo")
    groups: dict[str, list[str]] = {}
    for s in samples:
        groups.setdefault(group_of(s, protocol), []).append(s.id)
    if protocol == "lodo" and len(groups) < 2:
        raise UserError(
            f"protocol lodo needs a composite dataset with 2+ source datasets, found {sorted(groups) or 'none'}; "
            "use --protocol loso or a composite such as megc2019")
    if len(groups) < 2:
        raise UserError(f"{protocol} needs at least 2 {'subjects' if protocol == 'loso' else 'sources'} "
                        f"with labelled samples, found {len(groups)}")
    folds = []
    for name in sorted(groups):
        test = tuple(sorted(groups[name]))
        train = tuple(sorted(i for g, ids in groups.items() if g != name for i in ids))
        folds.append(Fold(name=name, protocol=protocol, train_ids=train, test_ids=test))
    return folds


def select_folds(folds: list[Fold], names: Sequence[str] | None) -> list[Fold]:
    """The folds named in ``names`` (None: all); an unknown name is a one-line user error."""
    if not names:
        return folds
    known = {f.name: f for f in folds}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"unknown fold(s) {', '.join(unknown)}; available: {', '.join(sorted(known))}")
    return [known[n] for n in dict.fromkeys(names)]


def fold_seed(seed: int, fold: str) -> int:
    """A seed per fold that depends only on the run seed and the fold name (not on order or
    on which process runs it), so a fold gives the same result alone, resumed or in parallel."""
    digest = hashlib.sha256(f"{seed}/{fold}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def fold_dir_name(fold: str) -> str:
    """A file-system-safe folder name for a fold (subject names may hold ``/`` or spaces)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", fold) or "_"


def check_no_leak(fold: Fold, train: Sequence[Sample], test: Sequence[Sample]) -> None:
    """Fail loudly if any held-out group reaches the training set (a bug, never a user error)."""
    held_out = {group_of(s, fold.protocol) for s in test}
    leaked = {group_of(s, fold.protocol) for s in train} & held_out
    if leaked or not held_out <= {fold.name}:
        raise RuntimeError(f"fold {fold.name}: test {fold.protocol} group(s) {sorted(leaked or held_out)} "
                           "appear in the training set")
    if {s.id for s in train} & {s.id for s in test}:
        raise RuntimeError(f"fold {fold.name}: a sample is in both train and test")
