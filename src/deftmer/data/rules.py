"""Annotation problems found by rules, the same rules for every dataset.

Nothing is fixed by row number (the habit of research code that breaks on the next
spreadsheet version): each rule looks at one clip's values and files, and a violation
becomes a `Problem` attached to the clip and to the dataset. Clips are kept; later stages
decide (for example, spot the apex when it is missing).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from deftmer.data.au_parse import parse_aus
from deftmer.data.frames import list_frames
from deftmer.data.labels import ClassSet, normalise_emotion
from deftmer.data.sample import ActionUnit, Problem, Sample

APEX_MISSING = "apex_missing"
APEX_OUTSIDE = "apex_outside_interval"
INTERVAL_INVALID = "interval_invalid"
FRAMES_MISSING = "frames_missing"
FILES_MISSING = "files_missing"
AU_UNPARSED = "au_unparsed"
EMOTION_UNKNOWN = "emotion_unknown"
DUPLICATE_ID = "duplicate_id"
FIELD_MISSING = "field_missing"


def clip_frames(folder: Path) -> tuple[tuple[Path, ...], tuple[int, ...]]:
    """Frames of a clip folder sorted by number; one file per number (``img46`` before ``reg_img46``).

    CASME II ships raw ``img46.jpg`` and cropped ``reg_img46.jpg``; a folder holding both
    would otherwise list every frame twice.
    """
    if not folder.is_dir():
        return (), ()
    seen: set[int] = set()
    paths, numbers = [], []
    for n, p in list_frames(folder):
        if n in seen:
            continue
        seen.add(n)
        paths.append(p)
        numbers.append(n)
    return tuple(paths), tuple(numbers)


def aus_with_problems(value: object, sample_id: str, file: str) -> tuple[tuple[ActionUnit, ...], list[Problem]]:
    """Parse an AU cell; every unreadable part becomes an ``au_unparsed`` problem."""
    parsed = parse_aus(value)
    problems = [
        Problem(AU_UNPARSED, f"cannot read '{part}' in AU string '{parsed.text}'", sample_id, file)
        for part in parsed.unparsed
    ]
    return parsed.aus, problems


def label_with_problems(emotion: str, class_set: ClassSet, sample_id: str, file: str | None
                        ) -> tuple[str | None, list[Problem]]:
    """Map an emotion into the class set; a name the table does not know is a problem.

    A name the table lists as excluded (``others`` in MEGC 3-class) gives ``None`` silently:
    that is the protocol, not an annotation error.
    """
    key = normalise_emotion(emotion)
    if key in class_set.table:
        return class_set.table[key], []
    return None, [Problem(EMOTION_UNKNOWN,
                          f"emotion '{emotion}' is not in the {class_set.name} table; clip excluded",
                          sample_id, file)]


def interval_problems(sample: Sample, file: str | None, apex_expected: bool = True) -> list[Problem]:
    """Apex missing / outside [onset, offset], onset after offset."""
    out: list[Problem] = []
    sid = sample.id
    on, ap, off = sample.onset, sample.apex, sample.offset
    if on is None or off is None:
        out.append(Problem(FIELD_MISSING, f"onset={on} offset={off}: onset or offset frame is not a number", sid, file))
    elif on > off:
        out.append(Problem(INTERVAL_INVALID, f"onset {on} is after offset {off}", sid, file))
    if ap is None:
        if apex_expected:
            out.append(Problem(APEX_MISSING, "apex frame not annotated; it will be spotted from the frames", sid, file))
    elif on is not None and off is not None and not (on <= ap <= off):
        out.append(Problem(APEX_OUTSIDE, f"apex {ap} lies outside [onset {on}, offset {off}]", sid, file))
    return out


def frame_problems(sample: Sample, folder: Path) -> list[Problem]:
    """Clip folder missing, or annotated onset/apex/offset frames not on disk."""
    sid = sample.id
    if not folder.is_dir():
        return [Problem(FRAMES_MISSING, "clip folder does not exist", sid, str(folder))]
    if not sample.frames:
        return [Problem(FRAMES_MISSING, "no numbered image frames of this clip in its folder", sid, str(folder))]
    have = set(sample.frame_numbers)
    lost = [f"{name} {n}" for name, n in (("onset", sample.onset), ("apex", sample.apex), ("offset", sample.offset))
            if n is not None and n not in have]
    if lost:
        span = f"{sample.frame_numbers[0]}..{sample.frame_numbers[-1]}"
        return [Problem(FRAMES_MISSING, f"annotated frame(s) {', '.join(lost)} not on disk (frames {span})",
                        sid, str(folder))]
    return []


def attach(sample: Sample, problems: list[Problem]) -> Sample:
    """The sample with the kinds of its problems as flags (full messages stay in the dataset)."""
    if not problems:
        return sample
    kinds = tuple(dict.fromkeys((*sample.problems, *(p.kind for p in problems))))
    return replace(sample, problems=kinds)


def dedupe_ids(samples: list[Sample], file: str | None) -> tuple[list[Sample], list[Problem]]:
    """Give every repeat of an id a ``_dupN`` clip suffix and report it, so ids stay unique keys."""
    counts: Counter[str] = Counter()
    out: list[Sample] = []
    problems: list[Problem] = []
    taken = {s.id for s in samples}
    for s in samples:
        counts[s.id] += 1
        if counts[s.id] == 1:
            out.append(s)
            continue
        n = counts[s.id]
        clip = f"{s.clip}_dup{n}"
        while f"{s.dataset}/{s.subject}/{clip}" in taken:
            n += 1
            clip = f"{s.clip}_dup{n}"
        new = replace(s, clip=clip)
        taken.add(new.id)
        p = Problem(DUPLICATE_ID, f"id {s.id} appears more than once; this repeat is {new.id}", new.id, file)
        problems.append(p)
        out.append(attach(new, [p]))
    return out, problems
