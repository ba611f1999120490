"""Dataset card of a Uni-MER build (Markdown + JSON): what is in it and how well labels held.

The card is the audit trail of the dual constraint: per-AU pass rates say which annotations
the flow confirmed, and the thresholds printed with them let anyone rebuild the same file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deftmer.unimer.builder import ClipAnalysis
from deftmer.unimer.config import UnimerConfig
from deftmer.unimer.records import InstructionRecord
from deftmer.utils.io import atomic_write_json, atomic_write_text


@dataclass
class AUPassRate:
    au: int
    labelled: int
    supported: int
    weak: int
    contradicted: int
    inferred: int           # times read from motion alone on clips without AU labels

    @property
    def support_rate(self) -> float | None:
        return self.supported / self.labelled if self.labelled else None


@dataclass
class DatasetCard:
    name: str
    class_set: str
    seed: int
    clips: int
    clips_kept: int
    clips_labelled_aus: int
    records: int
    per_task: dict[str, int]
    per_emotion: dict[str, int]
    per_subject: dict[str, int]
    per_au: list[AUPassRate]
    verdicts: dict[str, int]
    mean_clip_score: float
    clips_with_unexplained_motion: int
    unverifiable_aus: int
    thresholds: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        for row, au in zip(d["per_au"], self.per_au):
            row["support_rate"] = au.support_rate
        return d

    def to_markdown(self) -> str:
        total = sum(self.verdicts.values())
        rate = (lambda k: f"{self.verdicts.get(k, 0) / total:.1%}") if total else (lambda k: "n/a")
        lines = [
            f"# Uni-MER dataset card: {self.name}", "",
            f"Class set `{self.class_set}`, seed {self.seed}. {self.records} instruction records from "
            f"{self.clips_kept} of {self.clips} clips ({self.clips_labelled_aus} with AU labels).", "",
            "## Dual constraint", "",
            f"- labelled AUs checked: {total} — supported {rate('supported')}, weak {rate('weak')}, "
            f"contradicted {rate('contradicted')}",
            f"- mean clip consistency score: {self.mean_clip_score:.3f}",
            f"- clips with unexplained strong motion: {self.clips_with_unexplained_motion}",
            f"- AUs without local motion (not checkable, not written): {self.unverifiable_aus}", "",
            "| AU | labelled | supported | weak | contradicted | support rate | inferred (no labels) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for a in self.per_au:
            sr = f"{a.support_rate:.1%}" if a.support_rate is not None else "-"
            lines.append(f"| AU{a.au} | {a.labelled} | {a.supported} | {a.weak} | {a.contradicted} | {sr} | {a.inferred} |")
        lines += ["", "## Records per task", "", "| task | records |", "| --- | ---: |"]
        lines += [f"| {k} | {v} |" for k, v in self.per_task.items()]
        lines += ["", "## Clips per emotion class", "", "| class | clips |", "| --- | ---: |"]
        lines += [f"| {k} | {v} |" for k, v in self.per_emotion.items()]
        lines += ["", "## Records per subject", "", "| subject | records |", "| --- | ---: |"]
        lines += [f"| {k} | {v} |" for k, v in self.per_subject.items()]
        lines += ["", "## Thresholds", "", "| setting | value |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in self.thresholds.items()]
        return "\n".join(lines) + "\n"


def build_card(name: str, class_set: str, analyses: list[ClipAnalysis], records: list[InstructionRecord],
               cfg: UnimerConfig, seed: int) -> DatasetCard:
    verdicts: Counter[str] = Counter()
    per_au: dict[int, AUPassRate] = {}
    unexplained = unverifiable = 0
    for a in analyses:
        c = a.consistency
        for v in c.verdicts:
            verdicts[v.verdict] += 1
            row = per_au.setdefault(v.number, AUPassRate(v.number, 0, 0, 0, 0, 0))
            row.labelled += 1
            setattr(row, v.verdict, getattr(row, v.verdict) + 1)
        for v in c.inferred:
            per_au.setdefault(v.number, AUPassRate(v.number, 0, 0, 0, 0, 0)).inferred += 1
        unexplained += bool(c.unexplained)
        unverifiable += len(c.unverifiable)
    kept = {r.sample_id for r in records}
    scores = [a.consistency.score for a in analyses if a.consistency.labelled]
    return DatasetCard(
        name=name, class_set=class_set, seed=seed, clips=len(analyses), clips_kept=len(kept),
        clips_labelled_aus=sum(a.consistency.labelled for a in analyses), records=len(records),
        per_task=dict(sorted(Counter(r.task for r in records).items())),
        per_emotion=dict(sorted(Counter(a.label or "(not in class set)" for a in analyses if a.sample.id in kept).items())),
        per_subject=dict(sorted(Counter(r.subject for r in records).items())),
        per_au=[per_au[k] for k in sorted(per_au)],
        verdicts={k: verdicts.get(k, 0) for k in ("supported", "weak", "contradicted")},
        mean_clip_score=round(sum(scores) / len(scores), 4) if scores else 1.0,
        clips_with_unexplained_motion=unexplained, unverifiable_aus=unverifiable,
        thresholds=cfg.model_dump(mode="json"),
    )


def card_paths(jsonl: str | Path) -> tuple[Path, Path]:
    """``out.jsonl`` -> (``out.card.md``, ``out.card.json``) beside it."""
    p = Path(jsonl)
    stem = p.with_suffix("") if p.suffix else p
    return stem.with_name(stem.name + ".card.md"), stem.with_name(stem.name + ".card.json")


def write_card(card: DatasetCard, jsonl: str | Path) -> tuple[Path, Path]:
    md, js = card_paths(jsonl)
    atomic_write_text(md, card.to_markdown())
    atomic_write_json(js, card.to_dict())
    return md, js
