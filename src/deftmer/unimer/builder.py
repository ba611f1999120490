"""Uni-MER instruction records: four task types per clip, every sentence backed by flow.

Per clip: measure region motion, apply the dual constraint, keep the AUs the policy allows,
and write (1) emotion recognition, (2) AU recognition, (3) local motion description and
(4) motion -> AU -> emotion reasoning. Clips without AU labels get AUs read from motion
alone, worded "motion consistent with AUx". Template choice is seeded per (seed, clip, task),
so a record does not depend on which other clips are in the build: per-fold builds for LOSO
(``subjects=`` the fold's training subjects) contain exactly the same records for those clips.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from deftmer.data.labels import ClassSet
from deftmer.data.sample import ActionUnit, Sample
from deftmer.errors import UserError
from deftmer.facs import AUS, OBJECTIVE_CLASS_EMOTION, REGION_INDEX, emfacs_emotion, objective_class
from deftmer.preprocess.records import ClipInputs
from deftmer.unimer.answer import EVIDENCE_KEY, INFERRED_PREFIX, format_answer, format_evidence
from deftmer.unimer.config import UnimerConfig
from deftmer.unimer.constraints import ClipConsistency, check_clip
from deftmer.unimer.describe import EvidenceItem, describe_au, describe_region
from deftmer.unimer.motion import ranked_regions, region_stats
from deftmer.unimer.records import AUVerdict, InstructionRecord, RegionMotionStats
from deftmer.unimer.templates import INSTRUCTIONS
from deftmer.utils.console import shell_arg
from deftmer.utils.io import atomic_write_text

#: At most this many regions are described in a motion answer (strongest first).
MAX_MOTION_REGIONS = 5
#: At most this many AUs are named in an Evidence line (supported before weak, then by support).
MAX_EVIDENCE_AUS = 3


@dataclass
class ClipAnalysis:
    """Everything the builder and the dataset card need to know about one clip."""

    sample: Sample
    label: str | None
    stats: list[RegionMotionStats]
    consistency: ClipConsistency

    @property
    def evidence_verdicts(self) -> list[tuple[AUVerdict, bool]]:
        """(verdict, inferred) pairs for the AUs the text may name."""
        if self.consistency.labelled:
            return [(v, False) for v in self.consistency.verdicts]
        return [(v, True) for v in self.consistency.inferred]


def target_label(sample: Sample, class_set: ClassSet) -> str | None:
    """The sample's class in ``class_set`` (its loader label if it belongs there, else mapped)."""
    if sample.label is not None and sample.label in class_set.classes:
        return sample.label
    return class_set.map(sample.emotion)


def analyse_clip(clip: ClipInputs, class_set: ClassSet, cfg: UnimerConfig) -> ClipAnalysis:
    stats = region_stats(clip.prepared)
    return ClipAnalysis(sample=clip.sample, label=target_label(clip.sample, class_set), stats=stats,
                        consistency=check_clip(clip.sample, stats, cfg))


def analyse_clips(clips: Iterable[ClipInputs], class_set: ClassSet, cfg: UnimerConfig,
                  subjects: set[str] | None = None) -> list[ClipAnalysis]:
    """Analyse the clips of ``subjects`` (all when None), in sample-id order."""
    chosen = [c for c in clips if subjects is None or c.sample.subject in subjects]
    chosen.sort(key=lambda c: c.sample.id)
    return [analyse_clip(c, class_set, cfg) for c in chosen]


# --- answers ---------------------------------------------------------------------------------

def _kept(a: ClipAnalysis, cfg: UnimerConfig) -> list[tuple[AUVerdict, bool]]:
    kept = a.evidence_verdicts if cfg.policy == "keep_all" else \
        [(v, inf) for v, inf in a.evidence_verdicts if v.verdict != "contradicted"]
    rank = {"supported": 0, "weak": 1, "contradicted": 2}
    return sorted(kept, key=lambda p: (rank[p[0].verdict], -p[0].score))[:MAX_EVIDENCE_AUS]


def evidence_items(a: ClipAnalysis, cfg: UnimerConfig) -> list[EvidenceItem]:
    return [describe_au(v, a.stats, cfg, inferred=inf) for v, inf in _kept(a, cfg)]


def _au_answer(a: ClipAnalysis, cfg: UnimerConfig) -> tuple[str, list[int]]:
    parts: list[str] = []
    regions: list[int] = []
    for v, inf in _kept(a, cfg):
        side = {"L": "subject's left side", "R": "subject's right side"}.get(v.side or "", "both sides")
        head = f"{INFERRED_PREFIX}{v.au}" if inf else v.au
        note = "" if v.verdict == "supported" else f" ({v.verdict} in the flow)"
        parts.append(f"{head} — {AUS[v.number].name}, {side}{note}")
        regions.extend(REGION_INDEX[r] for r in v.regions)
    text = "; ".join(parts) if parts else format_evidence([])
    return f"{EVIDENCE_KEY}: {text}", sorted(set(regions))


def _motion_answer(a: ClipAnalysis, cfg: UnimerConfig) -> tuple[str, list[int]]:
    moving = ranked_regions(a.stats, cfg.support_snr)[:MAX_MOTION_REGIONS]
    if not moving:
        return "Motion: no facial region moves above the noise floor between onset and apex.", []
    text = "; ".join(describe_region(s, cfg) for s in moving)
    return f"Motion: {text[0].upper()}{text[1:]}.", [REGION_INDEX[s.region] for s in moving]


def _reasoning(a: ClipAnalysis, items: list[EvidenceItem], class_set: ClassSet, cfg: UnimerConfig) -> str:
    """One or two short sentences from the kept AUs to the class, ending with the class.

    Short on purpose: every token of every answer costs a pass through the LLM in training,
    and the Evidence line has already said what moved.
    """
    label = a.label
    kept = [v for v, _ in _kept(a, cfg) if v.verdict != "contradicted"][:MAX_EVIDENCE_AUS]
    if not kept:
        moving = ranked_regions(a.stats, cfg.support_snr)
        seen = (f"The strongest motion is that {describe_region(moving[0], cfg)}, but no action unit is clearly "
                "supported" if moving else "No facial region moves clearly above the noise floor")
        return f"{seen}; the motion alone does not decide. Answer: {label}."
    combo = "+".join(f"AU{n}" for n in sorted({v.number for v in kept}))
    aus = [ActionUnit(v.number, v.side) for v in kept]  # type: ignore[arg-type]
    emo = emfacs_emotion(aus)
    oc = objective_class(aus)
    if emo is not None and class_set.map(emo) == label:
        rule = f"{combo} is the EMFACS prototype of {emo}"
    elif oc != "VII" and class_set.map(OBJECTIVE_CLASS_EMOTION[oc]) == label:
        rule = f"{combo} is CASME II objective class {oc} ({OBJECTIVE_CLASS_EMOTION[oc]})"
    elif emo is not None:
        rule = f"{combo} resembles {emo}, but micro-expressions are often partial"
    else:
        rule = f"{combo} matches no single prototype"
    return f"{rule}. Answer: {label}."


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def records_for_clip(a: ClipAnalysis, class_set: ClassSet, cfg: UnimerConfig, seed: int) -> list[InstructionRecord]:
    """The clip's records, one per configured task (emotion/reasoning need a class label)."""
    if not a.consistency.passes(cfg):
        return []
    options = ", ".join(class_set.classes)
    items = evidence_items(a, cfg)
    au_tokens = [e.au for e in items]
    out: list[InstructionRecord] = []
    for task in cfg.tasks:
        if task in ("emotion", "reasoning") and a.label is None:
            continue
        rng = random.Random(f"{seed}|{a.sample.id}|{task}")
        instruction = rng.choice(INSTRUCTIONS[task]).format(options=options)
        if task == "emotion":
            answer, evidence = f"Emotion: {a.label}", []
        elif task == "au":
            answer, evidence = _au_answer(a, cfg)
        elif task == "motion":
            answer, evidence = _motion_answer(a, cfg)
        else:
            answer = format_answer(a.label, items, _reasoning(a, items, class_set, cfg))
            evidence = sorted({i for e in items for i in e.regions})
        out.append(InstructionRecord(
            id=f"{a.sample.id}#{task}", sample_id=a.sample.id, subject=a.sample.subject, dataset=a.sample.dataset,
            task=task, instruction=instruction, answer=answer, label=a.label, evidence=list(evidence),
            aus=list(au_tokens), consistency=a.consistency.score,
        ))
    return out


def records_from_analyses(analyses: list[ClipAnalysis], class_set: ClassSet, cfg: UnimerConfig,
                          seed: int) -> list[InstructionRecord]:
    return [r for a in analyses for r in records_for_clip(a, class_set, cfg, seed)]


def build_records(clips: list[ClipInputs], class_set: ClassSet, cfg: UnimerConfig, seed: int,
                  subjects: set[str] | None = None) -> list[InstructionRecord]:
    """Instruction records for the clips of ``subjects`` (a LOSO fold's training subjects),
    so no test subject's text reaches training; all clips when ``subjects`` is None."""
    return records_from_analyses(analyse_clips(clips, class_set, cfg, subjects), class_set, cfg, seed)


def full_answers(clips: list[ClipInputs], class_set: ClassSet, cfg: UnimerConfig) -> list[str]:
    """Each clip's complete three-part answer (Emotion, Evidence, Reasoning), in clip order:
    what DEFT's stage 2 learns under its decision instruction."""
    out = []
    for clip in clips:
        a = analyse_clip(clip, class_set, cfg)
        items = evidence_items(a, cfg)
        out.append(format_answer(a.label, items, _reasoning(a, items, class_set, cfg)))
    return out


def motion_descriptions(clips: list[ClipInputs], class_set: ClassSet, cfg: UnimerConfig) -> list[str]:
    """Each clip's measured region motion as one sentence (strongest regions first): what a
    text-only MLLM (MELLM) is given instead of expert tokens."""
    return [_motion_answer(analyse_clip(c, class_set, cfg), cfg)[0] for c in clips]


# --- JSONL -----------------------------------------------------------------------------------

def write_jsonl(records: list[InstructionRecord], path: str | Path) -> None:
    """One JSON object per line, keys in field order: byte-identical for the same records."""
    text = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)
    atomic_write_text(path, text)


def read_jsonl(path: str | Path) -> list[InstructionRecord]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"instruction file {p} not found; build it with `deftmer unimer ... --out {shell_arg(p)}`")
    out: list[InstructionRecord] = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(InstructionRecord(**json.loads(line)))
        except (ValueError, TypeError) as e:
            raise UserError(f"{p}:{n} is not a Uni-MER record ({e}); rebuild the file with `deftmer unimer`") from None
    return out
