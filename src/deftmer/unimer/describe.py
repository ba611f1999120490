"""Plain-language phrases for measured motion: the words Uni-MER answers are made of.

Every phrase is read off the clip's `RegionMotionStats` (measured direction and SNR), never off
the label alone, so "left lip corner moves up and outward" is only written when the left lip
corner's flow points up and outward.
"""

from __future__ import annotations

from dataclasses import dataclass

from deftmer.data.sample import ActionUnit
from deftmer.facs import AUS, REGION_INDEX, REGIONS, Region, expected_motions
from deftmer.unimer.config import UnimerConfig
from deftmer.unimer.motion import DIRECTION_PHRASES, strength_word
from deftmer.unimer.records import AUVerdict, RegionMotionStats

#: Noun of each region base, singular (paired regions get "left"/"right"/"both ... s").
BASE_NOUNS: dict[str, str] = {
    "brow_inner": "inner brow", "brow_outer": "outer brow", "glabella": "glabella", "upper_lid": "upper eyelid",
    "lower_lid": "lower eyelid", "cheek": "cheek", "nose_wing": "nasal wing", "upper_lip": "upper lip",
    "lip_corner": "lip corner", "chin": "chin",
}
#: Asymmetry (|L|-|R|)/(|L|+|R|) above which a bilateral description names the stronger side.
ASYMMETRY_NOTE = 0.25


@dataclass(frozen=True)
class EvidenceItem:
    """One AU with the measured local motion that backs it, as written in an answer."""

    au: str                 # "LAU12", "AU6"
    description: str        # "left lip corner moves up and outward (strong)"
    regions: tuple[int, ...]  # region indices the description was read from
    inferred: bool = False  # True: read from motion alone ("motion consistent with AU12")


def region_noun(region: Region) -> str:
    noun = BASE_NOUNS[region.base]
    if region.side is None:
        return noun
    return f"{'left' if region.side == 'L' else 'right'} {noun}"


def describe_region(stat: RegionMotionStats, cfg: UnimerConfig) -> str:
    """'the left lip corner moves up and outward (strong)' from one region's stats."""
    region = REGIONS[REGION_INDEX[stat.region]]
    noun = region_noun(region)
    if stat.direction == "still":
        return f"the {noun} does not move"
    return f"the {noun} moves {DIRECTION_PHRASES[stat.direction]} ({strength_word(stat.snr, cfg.support_snr)})"


def _primary(au: ActionUnit) -> list[str]:
    motions = expected_motions(au)
    top = max(w for *_, w in motions)
    return [r for r, _, _, w in motions if w == top]


def describe_au(verdict: AUVerdict, stats: list[RegionMotionStats], cfg: UnimerConfig,
                inferred: bool = False) -> EvidenceItem:
    """Evidence for one AU: the measured motion of its main region(s) on its side(s)."""
    by_region = {s.region: s for s in stats}
    au = ActionUnit(verdict.number, verdict.side)  # type: ignore[arg-type]
    names = _primary(au)
    used = tuple(REGION_INDEX[n] for n in names)
    info = AUS[verdict.number]
    if verdict.verdict == "contradicted":
        nouns = " and ".join(region_noun(REGIONS[REGION_INDEX[n]]) for n in names)
        text = f"labelled, but the {nouns} show no {info.phrase.split(' (')[0]} motion ({verdict.reason})"
        return EvidenceItem(verdict.au, text, used, inferred)
    parts = [by_region[n] for n in names]
    paired = len(parts) == 2 and all(REGIONS[REGION_INDEX[p.region]].side for p in parts)
    if paired and parts[0].direction == parts[1].direction and parts[0].direction != "still":
        base = REGIONS[REGION_INDEX[parts[0].region]].base
        strongest = max(parts, key=lambda p: p.snr)
        note = strength_word(strongest.snr, cfg.support_snr)
        asym = parts[0].asymmetry
        if abs(asym) >= ASYMMETRY_NOTE:
            note += f", {'left' if asym > 0 else 'right'} side stronger"
        text = f"both {BASE_NOUNS[base]}s move {DIRECTION_PHRASES[parts[0].direction]} ({note})"
    else:
        text = " and ".join(describe_region(p, cfg).removeprefix("the ") for p in parts)
    return EvidenceItem(verdict.au, text, used, inferred)
