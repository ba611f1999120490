"""Uni-MER for a list of prepared clips, end to end: what `deftmer unimer` and the demo run.

Each clip is analysed (region motion, dual constraint), its instruction records written as
JSONL, and the dataset card (verdict counts, AU pass rates) written beside the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deftmer.data.labels import ClassSet
from deftmer.preprocess.records import ClipInputs
from deftmer.unimer.builder import analyse_clip, records_from_analyses, write_jsonl
from deftmer.unimer.card import DatasetCard, build_card, write_card
from deftmer.unimer.config import UnimerConfig
from deftmer.unimer.records import InstructionRecord


@dataclass
class UnimerBuild:
    """What `build_unimer` wrote: the records (``jsonl``) and the card (``card_md``, ``card_json``)."""

    records: list[InstructionRecord]
    card: DatasetCard
    jsonl: Path
    card_md: Path
    card_json: Path


def build_unimer(clips: list[ClipInputs], class_set: ClassSet, cfg: UnimerConfig, seed: int, dataset: str,
                 out: Path, on_clip: Callable[[], None] | None = None) -> UnimerBuild:
    """Analyse ``clips`` in sample-id order, write their records to ``out`` (.jsonl) and the
    card beside it; ``on_clip`` is called after each clip (progress)."""
    analyses = []
    for clip in sorted(clips, key=lambda c: c.sample.id):
        analyses.append(analyse_clip(clip, class_set, cfg))
        if on_clip is not None:
            on_clip()
    records = records_from_analyses(analyses, class_set, cfg, seed)
    write_jsonl(records, out)
    card = build_card(dataset, class_set.name, analyses, records, cfg, seed)
    md, js = write_card(card, out)
    return UnimerBuild(records, card, Path(out), md, js)
