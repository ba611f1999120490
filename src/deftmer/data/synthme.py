"""Reading a SynthME folder (`deftmer synth OUT`): the dataset loader and the ground-truth records.

The generator lives in `deftmer.synth` (it renders with preprocessing, so it sits above this
layer); what it writes is read here, like any other dataset: the frames and spreadsheet through
the CASME II loader, and ``synthme_truth.json`` as `ClipTruth` records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from deftmer.data.casme2 import load_casme2
from deftmer.data.dataset import MEDataset, register_dataset
from deftmer.data.loader_options import call_loader
from deftmer.data.sample import ActionUnit
from deftmer.errors import UserError
from deftmer.utils.console import logger

ANNOTATION_NAME = "CASME2-coding-synthme.xlsx"
TRUTH_NAME = "synthme_truth.json"


@dataclass(frozen=True)
class TrueAU:
    """One rendered AU: label, the regions it moved, and how far (frame px, onset -> apex)."""

    number: int
    side: str | None
    amplitude_224: float
    peak_px: float                       # largest displacement of this AU's own field, frame px
    regions: tuple[str, ...]
    region_displacement: dict[str, tuple[float, float]]   # this AU's (dx, dy) at each region centre

    def action_unit(self) -> ActionUnit:
        return ActionUnit(self.number, self.side)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ClipTruth:
    """What really happened in one SynthME clip (frame numbers as in the file names)."""

    sample_id: str
    subject: str
    clip: str
    emotion: str
    objective_class: str
    fps: float
    onset: int
    apex: int
    offset: int
    aus: tuple[TrueAU, ...]
    region_centres: dict[str, tuple[float, float]]      # onset-frame px
    region_flow: dict[str, tuple[float, float]]         # total true motion onset -> apex at each centre
    head_motion_px: float                               # head displacement at the face centre, onset -> apex
    blink: tuple[int, int] | None                       # first and last frame number of a blink
    frame_size: int
    iod_px: float

    @property
    def au_string(self) -> str:
        return "+".join(f"{a.side or ''}{a.number}" for a in self.aus)


def _truth_from_json(d: Mapping) -> ClipTruth:
    aus = tuple(TrueAU(number=int(a["number"]), side=a["side"], amplitude_224=float(a["amplitude_224"]),
                       peak_px=float(a["peak_px"]), regions=tuple(a["regions"]),
                       region_displacement={k: (float(v[0]), float(v[1])) for k, v in a["region_displacement"].items()})
                for a in d["aus"])
    pairs = lambda m: {k: (float(v[0]), float(v[1])) for k, v in m.items()}  # noqa: E731
    return ClipTruth(
        sample_id=d["sample_id"], subject=d["subject"], clip=d["clip"], emotion=d["emotion"],
        objective_class=d["objective_class"], fps=float(d["fps"]), onset=int(d["onset"]), apex=int(d["apex"]),
        offset=int(d["offset"]), aus=aus, region_centres=pairs(d["region_centres"]),
        region_flow=pairs(d["region_flow"]), head_motion_px=float(d["head_motion_px"]),
        blink=tuple(d["blink"]) if d.get("blink") else None,  # type: ignore[arg-type]
        frame_size=int(d["frame_size"]), iod_px=float(d["iod_px"]))


def load_truth(root: str | Path) -> dict[str, ClipTruth]:
    """The ground truth of a SynthME folder, keyed by sample id (``synthme/sub01/EP01_01``)."""
    path = Path(root) / TRUTH_NAME
    if not path.is_file():
        raise UserError(f"{path} not found; create the benchmark with: deftmer synth {root}")
    try:
        doc = json.loads(path.read_text())
        return {c["sample_id"]: _truth_from_json(c) for c in doc["clips"]}
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path} is not a SynthME truth file ({e}); regenerate it with deftmer synth") from e


def load_synthme(root: Path, *, class_set: str = "casme2_5") -> MEDataset:
    """Read a SynthME folder through the CASME II loader (it is written in that layout)."""
    ann = Path(root) / ANNOTATION_NAME
    if not ann.is_file():
        raise UserError(f"{ann} not found: {root} is not a SynthME folder; create one with: deftmer synth {root}")
    ds = load_casme2(Path(root), annotation=ann, class_set=class_set, name="synthme")
    truth_file = Path(root) / TRUTH_NAME
    if truth_file.is_file():  # the CASME II loader assumes 200 fps; SynthME records its own rate
        try:
            fps = float(json.loads(truth_file.read_text())["fps"])
        except (ValueError, KeyError, TypeError):
            logger.warning(f"{truth_file} is unreadable; assuming 200 fps")
        else:
            ds.samples = [replace(s, fps=fps) for s in ds.samples]
    return ds


@register_dataset("synthme", "SynthME synthetic micro-expressions (deftmer synth OUT), CASME II layout, "
                             "200 fps; default class set casme2_5")
def _load(root: Path, **options: object) -> MEDataset:
    return call_loader(load_synthme, "synthme", root, options)
