"""The container a loader returns, and the registry that finds loaders by name.

Registry in the timm style: each loader module registers itself with ``@register_dataset``,
so a new dataset is one new file plus one import line in ``deftmer/data/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from deftmer.data.labels import ClassSet
from deftmer.data.rules import ABSENT, EXCLUDING, exclusion
from deftmer.data.sample import Problem, Sample
from deftmer.errors import UserError

if TYPE_CHECKING:
    from deftmer.data.config import DataConfig


@dataclass
class MEDataset:
    """Samples of one dataset (or composite) plus the problems its loader found."""

    name: str
    root: Path
    class_set: ClassSet
    samples: list[Sample]
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def subjects(self) -> list[str]:
        return sorted({s.subject for s in self.samples})

    def usable(self) -> list[Sample]:
        """Samples every stage may use: not excluded by an annotation rule, inputs on disk
        (`deftmer.data.rules.exclusion`); labelled or not (``prepare`` caches both)."""
        return [s for s in self.samples if exclusion(s) is None]

    def labelled(self) -> list[Sample]:
        """Usable samples that belong to the target class set (label not None): what unimer,
        loso and train use, so a clip an annotation problem makes unusable never reaches a metric."""
        return [s for s in self.usable() if s.label is not None]

    def excluded(self) -> dict[str, list[Sample]]:
        """Samples kept out of every stage, by reason: an excluding problem kind, or ``absent``."""
        out: dict[str, list[Sample]] = {}
        for s in self.samples:
            reason = exclusion(s)
            if reason is not None:
                out.setdefault(reason, []).append(s)
        return out

    def exclusion_notes(self) -> list[str]:
        """One line per reason clips are left out (what a stage logs before it starts)."""
        notes = []
        messages = {p.sample_id: p.message for p in self.problems if p.kind in EXCLUDING}
        for reason, samples in self.excluded().items():
            if reason == ABSENT:
                notes.append(f"{len(samples)} clip(s) absent: no frames (or flow map) on disk, e.g. {samples[0].id}")
                continue
            first = samples[0].id
            detail = f": {messages[first]}" if first in messages else ""
            notes.append(f"{len(samples)} clip(s) excluded by rule {reason} ({EXCLUDING[reason]}), e.g. "
                         f"{first}{detail}; `deftmer check-data` lists them all")
        return notes

    def by_id(self) -> dict[str, Sample]:
        return {s.id: s for s in self.samples}

    def to_frame(self) -> pd.DataFrame:
        """A pandas view of the annotations (one row per sample), as meb does."""
        rows = []
        for s in self.samples:
            rows.append(
                {
                    "id": s.id,
                    "dataset": s.dataset,
                    "source": s.source or s.dataset,
                    "subject": s.subject,
                    "clip": s.clip,
                    "n_frames": len(s.frames),
                    "onset": s.onset,
                    "apex": s.apex,
                    "offset": s.offset,
                    "aus": "+".join(str(a) for a in s.aus),
                    "emotion": s.emotion,
                    "objective_class": s.objective_class,
                    "label": s.label,
                    "problems": ";".join(s.problems),
                }
            )
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    loader: Callable[..., MEDataset]
    description: str


_REGISTRY: dict[str, DatasetInfo] = {}

#: Modules that register a loader; a new dataset is one file plus one line here.
LOADER_MODULES: tuple[str, ...] = (
    "deftmer.data.casme2", "deftmer.data.samm", "deftmer.data.smic", "deftmer.data.casme3",
    "deftmer.data.composite", "deftmer.data.flowpack", "deftmer.data.synthme",
    "deftmer.data.casme_sq", "deftmer.data.samm_long",
)


def _import_loaders() -> None:
    import importlib

    for mod in LOADER_MODULES:
        importlib.import_module(mod)


def register_dataset(name: str, description: str) -> Callable[[Callable[..., MEDataset]], Callable[..., MEDataset]]:
    def deco(fn: Callable[..., MEDataset]) -> Callable[..., MEDataset]:
        _REGISTRY[name] = DatasetInfo(name=name, loader=fn, description=description)
        return fn

    return deco


def list_datasets() -> list[DatasetInfo]:
    _import_loaders()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def load_dataset(name: str, root: str | Path, **options: Any) -> MEDataset:
    """Load a registered dataset from ``root``; raises `UserError` with an actionable message."""
    _import_loaders()
    key = name.lower().replace("-", "_")
    aliases = {"casme_ii": "casme2", "casmeii": "casme2", "smic_hs": "smic", "casme3": "casme3",
               "cas(me)3": "casme3", "cas(me)^3": "casme3", "megc2019": "megc2019", "composite": "megc2019"}
    key = aliases.get(key, key)
    if key not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise UserError(f"unknown dataset '{name}'; known datasets: {known}")
    root = Path(root).expanduser()
    if not root.exists():
        raise UserError(f"dataset root {root} does not exist; pass --root pointing at the {name} folder")
    if not root.is_dir():
        raise UserError(f"dataset root {root} is a file, not a folder; pass --root pointing at the folder that "
                        f"holds the {name} dataset")
    return _REGISTRY[key].loader(root, **options)


def load_configured_dataset(data: DataConfig, **extra_options: Any) -> MEDataset:
    """Load the dataset a config's ``data`` section names, with its class set and loader options.

    Every command goes through here, so ``--set data.options.KEY=VALUE`` and
    ``--set data.class_set=NAME`` mean the same thing to check-data, prepare, unimer and loso.
    """
    if not data.root:
        raise UserError(f"no root given for dataset '{data.dataset}'; pass --root PATH (or data.root in --config)")
    options: dict[str, Any] = {**data.options, **extra_options}
    if data.class_set:
        options["class_set"] = data.class_set
    return load_dataset(data.dataset, data.root, **options)
