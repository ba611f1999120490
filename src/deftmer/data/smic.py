"""SMIC-HS loader (Li et al., 2013): the folder tree is the annotation.

``HS/s1/micro/{positive,negative,surprise}/s1_po_01/*.bmp|jpg``: subject, emotion and clip
come from folder names; onset and offset are the first and last frame on disk; SMIC has no
apex annotation (one dataset-level note, the apex is spotted later). Non-micro folders
(``non_micro``) are not micro-expressions and are not read.
"""

from __future__ import annotations

import re
from pathlib import Path

from deftmer.data.annotation import find_folder_with_children, option_hint
from deftmer.data.dataset import MEDataset, register_dataset
from deftmer.data.labels import get_class_set
from deftmer.data.loader_options import call_loader
from deftmer.data.rules import APEX_MISSING, FRAMES_MISSING, attach, clip_frames, dedupe_ids, label_with_problems
from deftmer.data.sample import Problem, Sample
from deftmer.errors import DataLayoutError

SMIC_HS_FPS = 100.0
SUBJECT_FOLDER = r"s\d+"
MICRO_FOLDER = "micro"


def normalise_smic_subject(name: str) -> str:
    """``s1`` -> ``s01`` (the form the MEGC 2019 lists and the flow pack use)."""
    m = re.fullmatch(r"(?i)s0*(\d+)", name.strip())
    return f"s{int(m.group(1)):02d}" if m else name.strip()


def _find_hs(root: Path) -> Path:
    """The ``HS`` folder: root itself, ``root/HS``, or the folder of ``sN`` subjects below root."""
    for cand in (root, *sorted(p for p in root.glob("**/HS") if p.is_dir())):
        if any((c / MICRO_FOLDER).is_dir() for c in cand.iterdir() if c.is_dir()):
            return cand
    try:
        return find_folder_with_children(root, SUBJECT_FOLDER, "SMIC-HS subjects", "hs")
    except DataLayoutError:
        raise DataLayoutError(
            f"no SMIC-HS tree under {root}: expected HS/s1/micro/{{positive,negative,surprise}}/s1_po_01/*.bmp; "
            f"point --root at the SMIC folder (the one holding HS) or pass {option_hint('hs')}"
        ) from None


def load_smic(root: Path, *, class_set: str = "smic3", name: str = "smic", hs: Path | None = None) -> MEDataset:
    """Read SMIC-HS under ``root`` (``hs``: the HS folder itself, found when omitted)."""
    root = Path(root)
    cs = get_class_set(class_set)
    hs_root = Path(hs) if hs else _find_hs(root)
    samples: list[Sample] = []
    problems: list[Problem] = []
    subjects = sorted((d for d in hs_root.iterdir() if d.is_dir() and re.fullmatch(SUBJECT_FOLDER, d.name, re.I)),
                      key=lambda d: int(re.sub(r"\D", "", d.name)))
    for sdir in subjects:
        micro = sdir / MICRO_FOLDER
        if not micro.is_dir():
            problems.append(Problem(FRAMES_MISSING, f"subject {sdir.name} has no '{MICRO_FOLDER}' folder", None, str(sdir)))
            continue
        subject = normalise_smic_subject(sdir.name)
        for edir in sorted(d for d in micro.iterdir() if d.is_dir()):
            emotion = edir.name.strip().lower()
            for cdir in sorted(d for d in edir.iterdir() if d.is_dir()):
                paths, numbers = clip_frames(cdir)
                sample = Sample(dataset=name, subject=subject, clip=cdir.name, emotion=emotion,
                                frames=paths, frame_numbers=numbers,
                                onset=numbers[0] if numbers else None, offset=numbers[-1] if numbers else None,
                                source=name, fps=SMIC_HS_FPS)
                label, p = label_with_problems(emotion, cs, sample.id, str(edir))
                if not paths:
                    p.append(Problem(FRAMES_MISSING, "clip folder holds no numbered image frames", sample.id, str(cdir)))
                problems.extend(p)
                samples.append(attach(sample.with_label(label), p))
    if not samples:
        raise DataLayoutError(f"no clips found in {hs_root}: expected sN/micro/<emotion>/<clip>/ folders of frames")
    problems.insert(0, Problem(APEX_MISSING, f"SMIC-HS does not annotate apex frames ({len(samples)} clips); "
                               "the apex is spotted from the frames", None, str(hs_root)))
    samples, p_dup = dedupe_ids(samples, str(hs_root))
    problems.extend(p_dup)
    return MEDataset(name=name, root=root, class_set=cs, samples=samples, problems=problems)


@register_dataset("smic", "SMIC-HS (folder tree HS/sN/micro/<emotion>/<clip>/), 100 fps, no apex; "
                  "default class set smic3")
def _load(root: Path, **options: object) -> MEDataset:
    return call_loader(load_smic, "smic", root, options)
