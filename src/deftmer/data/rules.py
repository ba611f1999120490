"""Annotation problems found by rules, the same rules for every dataset.

Nothing is fixed by row number (the habit of research code that breaks on the next
spreadsheet version): each rule looks at one clip's values and files, and a violation
becomes a `Problem` attached to the clip and to the dataset. Most problems leave the clip
usable (a missing apex is spotted); the kinds in `EXCLUDING` make it unusable, and one rule,
`exclusion`, keeps such clips out of every stage (prepare, unimer, loso, train), so bad
annotations never reach a metric. Clips whose inputs are not on disk at all are "absent".
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
FRAME_NOT_ON_DISK = "frame_not_on_disk"
FRAME_GAP = "frame_gap"

#: Problem kinds that make a clip unusable, and why: such a clip is excluded from every stage.
EXCLUDING: dict[str, str] = {
    INTERVAL_INVALID: "onset after offset",
    DUPLICATE_ID: "repeats another row's id",
    FRAME_NOT_ON_DISK: "an annotated frame is not on disk",
    FRAME_GAP: "frames missing inside the clip",
}
#: Problem kinds that say a clip's inputs (frames, or a flow pack's files) are not on disk at all.
ABSENT_KINDS: tuple[str, ...] = (FRAMES_MISSING, FILES_MISSING)
ABSENT = "absent"


def exclusion(sample: Sample) -> str | None:
    """The excluding problem kind of ``sample``, `ABSENT` when it has no inputs on disk, else None."""
    for kind in sample.problems:
        if kind in EXCLUDING:
            return kind
    if any(kind in ABSENT_KINDS for kind in sample.problems):
        return ABSENT
    return None


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
        out.append(Problem(INTERVAL_INVALID, f"onset {on} is after offset {off}; clip excluded", sid, file))
    if ap is None:
        if apex_expected:
            out.append(Problem(APEX_MISSING, "apex frame not annotated; it will be spotted from the frames", sid, file))
    elif on is not None and off is not None and not (on <= ap <= off):
        out.append(Problem(APEX_OUTSIDE, f"apex {ap} lies outside [onset {on}, offset {off}]", sid, file))
    return out


def frame_problems(sample: Sample, folder: Path) -> list[Problem]:
    """Clip folder missing (absent), annotated onset/apex/offset frames not on disk, or a gap
    in the frame numbers between onset and offset (each excludes the clip: the pipeline would
    otherwise quietly use a neighbouring frame)."""
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
        return [Problem(FRAME_NOT_ON_DISK, f"annotated frame(s) {', '.join(lost)} not on disk (frames {span}); "
                        "clip excluded", sid, str(folder))]
    on, off = sample.onset, sample.offset
    first = on if on is not None else sample.frame_numbers[0]
    last = off if off is not None else sample.frame_numbers[-1]
    gaps = [n for n in range(first, last + 1) if n not in have]
    if gaps:
        shown = ", ".join(str(n) for n in gaps[:5]) + (f" and {len(gaps) - 5} more" if len(gaps) > 5 else "")
        return [Problem(FRAME_GAP, f"frame(s) {shown} missing between frames {first} and {last}; clip excluded",
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
        p = Problem(DUPLICATE_ID, f"id {s.id} appears more than once; this repeat ({new.id}) is excluded, the "
                    "first row is kept", new.id, file)
        problems.append(p)
        out.append(attach(new, [p]))
    return out, problems
