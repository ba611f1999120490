"""Reading a long SynthME folder (`deftmer synth OUT --long`): the long-video loader and its events.

The renderer lives in `deftmer.synth.long`; the folder it writes is CAS(ME)^2-layout, read by
that loader, plus ``synthme_long_truth.json`` with every event (distractors included) as
`LongEvent` records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from deftmer.data.casme_sq import load_casme_sq
from deftmer.data.loader_options import call_loader
from deftmer.data.longvideo import LongVideoSet, register_long_dataset
from deftmer.errors import UserError

TRUTH_NAME = "synthme_long_truth.json"
ANNOTATION_NAME = "CAS(ME)^2code_final.xlsx"
KINDS = ("micro", "macro", "blink", "speech", "head_turn")


@dataclass(frozen=True)
class LongEvent:
    """One event of a long video; frames are file numbers (``img1.jpg`` is frame 1)."""

    kind: str
    onset: int
    apex: int
    offset: int
    emotion: str = ""
    aus: tuple[tuple[int, str | None, float], ...] = ()     # (AU, side, amplitude_224)
    params: dict[str, float] = field(default_factory=dict)


def load_long_truth(root: str | Path) -> dict[str, list[LongEvent]]:
    """Every event (distractors too) of a long SynthME folder, keyed by video folder name."""
    path = Path(root) / TRUTH_NAME
    if not path.is_file():
        raise UserError(f"{path} not found; create it with: deftmer synth {root} --long")
    try:
        doc = json.loads(path.read_text())
        return {v["video"]: [LongEvent(e["kind"], int(e["onset"]), int(e["apex"]), int(e["offset"]), e["emotion"],
                                       tuple((int(a[0]), a[1], float(a[2])) for a in e["aus"]), e["params"])
                             for e in v["events"]] for v in doc["videos"]}
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise UserError(f"{path} is not a long SynthME truth file ({e}); regenerate it") from None


def load_synthme_long(root: Path, *, class_set: str = "casme2_5") -> LongVideoSet:
    """A long SynthME folder through the CAS(ME)^2 loader, at the frame rate it was rendered at."""
    fps = json.loads((Path(root) / TRUTH_NAME).read_text())["fps"] if (Path(root) / TRUTH_NAME).is_file() else 30.0
    ds = load_casme_sq(Path(root), class_set=class_set, name="synthme_long")
    ds.videos = [replace(v, fps=float(fps)) for v in ds.videos]
    return ds


@register_long_dataset("synthme_long", "long SynthME videos (deftmer synth OUT --long), CAS(ME)^2 layout, "
                                       "30 fps; default class set casme2_5")
def _load(root: Path, **options: object) -> LongVideoSet:
    return call_loader(load_synthme_long, "synthme_long", root, options)  # type: ignore[arg-type,return-value]
