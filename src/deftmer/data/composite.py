"""MEGC 2019 composite (3 classes): CASME II + SAMM + SMIC-HS as one dataset.

Each source is read by its own loader and its emotions mapped through the MEGC3 table
(negative: anger, contempt, disgust, fear, sadness, repression; positive: happiness;
surprise; ``others`` excluded). Samples keep their source in ``Sample.source`` and their
own subject names (``sub01``, ``006``, ``s01``), which never collide across sources, so
leave-one-subject-out over the composite gives the 68 folds of the challenge.

The challenge's official clip list can be given as its ground-truth CSV (``dataset, subject,
filename, label``, no header): then exactly the listed clips are kept, with the listed label.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from deftmer.data.annotation import Column, cell_int, cell_text, option_hint, read_csv_table
from deftmer.data.casme2 import load_casme2, normalise_casme2_subject
from deftmer.data.dataset import MEDataset, register_dataset
from deftmer.data.labels import get_class_set
from deftmer.data.loader_options import call_loader
from deftmer.data.rules import attach, dedupe_ids
from deftmer.data.samm import load_samm, normalise_samm_subject
from deftmer.data.sample import Problem, Sample
from deftmer.data.smic import load_smic, normalise_smic_subject
from deftmer.errors import DataLayoutError
from deftmer.utils.console import logger

NAME = "megc2019"
GT_LABEL_MISMATCH = "label_mismatch"
GT_CLIP_NOT_FOUND = "gt_clip_not_found"
#: Folder-name prefixes (lower case, letters and digits only) that identify each source under root.
SOURCE_FOLDER_PREFIXES: dict[str, tuple[str, ...]] = {
    "casme2": ("casme2", "casmeii"),
    "samm": ("samm",),
    "smic": ("smic",),
}
SOURCE_ALIASES = {"casme2": "casme2", "casmeii": "casme2", "casme_ii": "casme2", "samm": "samm",
                  "smic": "smic", "smichs": "smic", "smic_hs": "smic"}
SUBJECT_NORMALISERS = {"casme2": normalise_casme2_subject, "samm": normalise_samm_subject,
                       "smic": lambda v: normalise_smic_subject(cell_text(v))}
GT_COLUMNS = [Column("dataset", ()), Column("subject", ()), Column("filename", ()), Column("label", ())]


def canonical_clip(name: str) -> str:
    """Matching key for clip names across lists: case and zero padding ignored (``s01_po_01`` == ``s1_po_1``)."""
    return re.sub(r"\d+", lambda m: str(int(m.group())), name.strip().lower())


def _find_source(root: Path, source: str) -> Path:
    prefixes = SOURCE_FOLDER_PREFIXES[source]
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        key = re.sub(r"[^a-z0-9]", "", d.name.lower())
        if key.startswith(prefixes):
            return d
    raise DataLayoutError(
        f"no {source} folder under {root} (a sub-folder named like {'/'.join(p.upper() for p in prefixes)}...); "
        f"put the three datasets side by side there or pass {option_hint(source + '_root')}"
    )


def _gt_label(value: str, classes: tuple[str, ...]) -> str | None:
    code = cell_int(value)
    if code is not None:
        return classes[code] if code < len(classes) else None
    v = value.strip().lower()
    return v if v in classes else None


def load_megc2019(
    root: Path,
    *,
    casme2_root: Path | None = None,
    samm_root: Path | None = None,
    smic_root: Path | None = None,
    ground_truth: Path | None = None,
    class_set: str = "megc3",
    name: str = NAME,
) -> MEDataset:
    """Read the three sources (found as sub-folders of ``root`` unless given) into one dataset."""
    root = Path(root)
    cs = get_class_set(class_set)
    roots = {
        "casme2": Path(casme2_root) if casme2_root else _find_source(root, "casme2"),
        "samm": Path(samm_root) if samm_root else _find_source(root, "samm"),
        "smic": Path(smic_root) if smic_root else _find_source(root, "smic"),
    }
    parts = {
        "casme2": load_casme2(roots["casme2"], class_set=class_set),
        "samm": load_samm(roots["samm"], class_set=class_set),
        "smic": load_smic(roots["smic"], class_set=class_set),
    }
    samples: list[Sample] = []
    problems: list[Problem] = []
    for source, ds in parts.items():
        renamed = {s.id: replace(s, dataset=name, source=source) for s in ds.samples}
        samples.extend(renamed.values())
        for p in ds.problems:
            new_id = renamed[p.sample_id].id if p.sample_id in renamed else p.sample_id
            problems.append(replace(p, sample_id=new_id, message=f"{source}: {p.message}"
                                    if p.sample_id is None else p.message))

    if ground_truth is not None:
        samples, gt_problems = _apply_ground_truth(samples, Path(ground_truth), cs.classes)
        problems.extend(gt_problems)
    else:
        kept = [s for s in samples if s.label is not None]
        logger.info("%s: %d of %d clips are in the %s classes (others excluded)", name, len(kept), len(samples), cs.name)
        samples = kept
    ids = {s.id for s in samples}
    problems = [p for p in problems if p.sample_id is None or p.sample_id in ids]
    samples, p_dup = dedupe_ids(samples, None)
    problems.extend(p_dup)
    return MEDataset(name=name, root=root, class_set=cs, samples=samples, problems=problems)


def _apply_ground_truth(samples: list[Sample], path: Path, classes: tuple[str, ...]
                        ) -> tuple[list[Sample], list[Problem]]:
    """Keep the listed clips with the listed labels; report listed clips not found and label conflicts."""
    table = read_csv_table(path, GT_COLUMNS, has_header=False)
    index = {(s.source, s.subject, canonical_clip(s.clip)): s for s in samples}
    kept: list[Sample] = []
    problems: list[Problem] = []
    for row in table.rows:
        raw_source = re.sub(r"[^a-z0-9_]", "", cell_text(row.get("dataset")).lower().replace(" ", "_"))
        source = SOURCE_ALIASES.get(raw_source, SOURCE_ALIASES.get(raw_source.replace("_", ""), raw_source))
        norm = SUBJECT_NORMALISERS.get(source)
        subject = norm(row.get("subject")) if norm else cell_text(row.get("subject"))
        clip = cell_text(row.get("filename"))
        label = _gt_label(cell_text(row.get("label")), classes)
        where = f"{path} line {row.line}"
        sample = index.get((source, subject, canonical_clip(clip)))
        if sample is None:
            problems.append(Problem(GT_CLIP_NOT_FOUND, f"{source}/{subject}/{clip} is listed but not in the data",
                                    None, where))
            continue
        if label is None:
            problems.append(Problem("label_unknown", f"label '{row.get('label')}' is not one of {classes}",
                                    sample.id, where))
        elif sample.label != label:
            p = Problem(GT_LABEL_MISMATCH, f"ground truth says {label}, emotion '{sample.emotion}' maps to "
                        f"{sample.label}; the ground truth is used", sample.id, where)
            problems.append(p)
            sample = attach(sample, [p])
        kept.append(sample.with_label(label) if label is not None else sample)
    return kept, problems


@register_dataset("megc2019", "MEGC 2019 composite: CASME II + SAMM + SMIC-HS in 3 classes, with a source field "
                  "(option ground_truth=CSV); default class set megc3")
def _load(root: Path, **options: object) -> MEDataset:
    return call_loader(load_megc2019, "megc2019", root, options)
