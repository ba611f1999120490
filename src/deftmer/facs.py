"""FACS knowledge as data: Action Units, the face regions that show them, the direction each
moves the skin, and the emotion rules (EMFACS-style prototypes, CASME II objective classes).

This is the one place that says what an AU *looks like* in optical flow. SynthME uses it to
make motion, preprocessing uses the region list, Uni-MER checks labels against it, and the
model's AU head follows its order. Nothing here is code paths; it is a table.

Coordinates: image coordinates of an aligned frontal face, x to the image right, y down.
Sides are the *subject's* sides: the subject's left (``L``) is the image right, so "outward"
on the left side is +x and on the right side is -x. Directions below are written for the
subject's LEFT side and mirrored in x for the right side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Side = Literal["L", "R"]


@dataclass(frozen=True)
class ActionUnit:
    """One FACS Action Unit as annotated.

    ``side`` is the subject's own side (``"L"`` = subject's left, which is the *image right*
    in a frontal, non-mirrored view) or ``None`` for bilateral / unspecified.
    ``intensity`` is the FACS letter A-E when the annotation gives one (``"A/B"`` when it
    gives a choice of letters, as SAMM's ``4A/B``).
    ``alternative`` marks an AU that the annotator gave as one of several options
    (``"12 or 14"``, ``"4/7"``): it is kept, but it is not a certain label.
    """

    number: int
    side: Side | None = None
    intensity: str | None = None
    alternative: bool = False

    def __str__(self) -> str:
        s = f"{self.side or ''}AU{self.number}"
        if self.intensity:
            s += self.intensity
        return s


@dataclass(frozen=True)
class Region:
    """One AU region of interest. ``side`` is the subject's side, or None for midline regions."""

    name: str
    base: str
    side: str | None
    description: str


def _pair(base: str, desc: str) -> tuple[Region, Region]:
    return (Region(f"{base}_L", base, "L", f"left {desc}"), Region(f"{base}_R", base, "R", f"right {desc}"))


REGIONS: tuple[Region, ...] = (
    *_pair("brow_inner", "inner brow"),
    *_pair("brow_outer", "outer brow"),
    Region("glabella", "glabella", None, "glabella (between the brows)"),
    *_pair("upper_lid", "upper eyelid"),
    *_pair("lower_lid", "lower eyelid"),
    *_pair("cheek", "cheek"),
    *_pair("nose_wing", "nasal wing"),
    Region("upper_lip", "upper_lip", None, "upper lip"),
    *_pair("lip_corner", "lip corner"),
    Region("chin", "chin", None, "chin and lower lip"),
)
REGION_NAMES: tuple[str, ...] = tuple(r.name for r in REGIONS)
REGION_INDEX: dict[str, int] = {n: i for i, n in enumerate(REGION_NAMES)}
MIDLINE_BASES = {"glabella", "upper_lip", "chin"}


@dataclass(frozen=True)
class AUMotion:
    """Motion an AU produces in one region base: unit direction (subject-left) and weight."""

    base: str
    dx: float
    dy: float
    weight: float = 1.0


@dataclass(frozen=True)
class AUInfo:
    number: int
    name: str
    muscle: str
    motions: tuple[AUMotion, ...]
    phrase: str  # plain-language motion, for descriptions

    @property
    def local(self) -> bool:
        """True when the AU is a facial muscle action visible as local skin motion."""
        return len(self.motions) > 0


def _rm(base: str, dx: float, dy: float, weight: float = 1.0) -> AUMotion:
    n = math.hypot(dx, dy) or 1.0
    return AUMotion(base, dx / n, dy / n, weight)


AUS: dict[int, AUInfo] = {
    a.number: a
    for a in (
        AUInfo(1, "inner brow raiser", "frontalis, pars medialis",
               (_rm("brow_inner", 0, -1),), "inner brow raised"),
        AUInfo(2, "outer brow raiser", "frontalis, pars lateralis",
               (_rm("brow_outer", 0, -1),), "outer brow raised"),
        AUInfo(4, "brow lowerer", "corrugator supercilii, depressor supercilii, procerus",
               (_rm("brow_inner", -0.5, 1), _rm("glabella", 0, 1, 0.6)), "brow lowered and drawn together"),
        AUInfo(5, "upper lid raiser", "levator palpebrae superioris",
               (_rm("upper_lid", 0, -1),), "upper eyelid raised"),
        AUInfo(6, "cheek raiser", "orbicularis oculi, pars orbitalis",
               (_rm("cheek", 0.25, -1), _rm("lower_lid", 0, -1, 0.6)), "cheek raised"),
        AUInfo(7, "lid tightener", "orbicularis oculi, pars palpebralis",
               (_rm("lower_lid", 0, -1),), "eyelids tightened"),
        AUInfo(9, "nose wrinkler", "levator labii superioris alaeque nasi",
               (_rm("nose_wing", 0, -1), _rm("glabella", 0, 1, 0.5)), "nose wrinkled"),
        AUInfo(10, "upper lip raiser", "levator labii superioris",
               (_rm("upper_lip", 0, -1), _rm("nose_wing", 0, -1, 0.4)), "upper lip raised"),
        AUInfo(11, "nasolabial deepener", "zygomaticus minor",
               (_rm("nose_wing", 0.3, -1, 0.5),), "nasolabial furrow deepened"),
        AUInfo(12, "lip corner puller", "zygomaticus major",
               (_rm("lip_corner", 1, -1), _rm("cheek", 0.3, -1, 0.4)), "lip corner pulled up and outward"),
        AUInfo(13, "sharp lip puller", "levator anguli oris",
               (_rm("lip_corner", 0.4, -1),), "lip corner pulled up sharply"),
        AUInfo(14, "dimpler", "buccinator",
               (_rm("lip_corner", 1, 0),), "lip corner tightened outward (dimple)"),
        AUInfo(15, "lip corner depressor", "depressor anguli oris",
               (_rm("lip_corner", 0.2, 1),), "lip corner pulled down"),
        AUInfo(16, "lower lip depressor", "depressor labii inferioris",
               (_rm("chin", 0, 1),), "lower lip pulled down"),
        AUInfo(17, "chin raiser", "mentalis",
               (_rm("chin", 0, -1),), "chin pushed up"),
        AUInfo(18, "lip pucker", "incisivii labii",
               (_rm("lip_corner", -1, 0),), "lips puckered"),
        AUInfo(20, "lip stretcher", "risorius",
               (_rm("lip_corner", 1, 0.2),), "lip corner stretched outward"),
        AUInfo(23, "lip tightener", "orbicularis oris",
               (_rm("lip_corner", -1, 0, 0.7),), "lips tightened"),
        AUInfo(24, "lip pressor", "orbicularis oris",
               (_rm("upper_lip", 0, 1, 0.6), _rm("chin", 0, -1, 0.6)), "lips pressed together"),
        AUInfo(25, "lips part", "depressor labii / relaxed mentalis",
               (_rm("chin", 0, 1, 0.7),), "lips parted"),
        AUInfo(26, "jaw drop", "masseter relaxed",
               (_rm("chin", 0, 1),), "jaw dropped"),
        AUInfo(28, "lip suck", "orbicularis oris", (_rm("chin", 0, -1, 0.5),), "lips sucked in"),
        AUInfo(38, "nostril dilator", "nasalis, pars alaris",
               (_rm("nose_wing", 1, 0),), "nostril widened"),
        AUInfo(39, "nostril compressor", "nasalis, pars transversa",
               (_rm("nose_wing", -1, 0),), "nostril narrowed"),
        AUInfo(41, "lid droop", "levator palpebrae relaxed", (_rm("upper_lid", 0, 1),), "upper eyelid drooped"),
        AUInfo(42, "slit", "orbicularis oculi", (_rm("upper_lid", 0, 1),), "eyes narrowed to a slit"),
        AUInfo(43, "eyes closed", "levator palpebrae relaxed", (_rm("upper_lid", 0, 1),), "eyes closed"),
        AUInfo(45, "blink", "orbicularis oculi", (_rm("upper_lid", 0, 1),), "blink"),
        AUInfo(31, "jaw clencher", "masseter", (), "jaw clenched"),
        AUInfo(32, "lip bite", "", (), "lip bitten"),
        # Head and eye position codes appear in CASME II / SAMM / CAS(ME)^3 annotations; they
        # are not local skin motion and have no region.
        *(AUInfo(n, nm, "", (), nm) for n, nm in (
            (51, "head turn left"), (52, "head turn right"), (53, "head up"), (54, "head down"),
            (55, "head tilt left"), (56, "head tilt right"), (57, "head forward"), (58, "head back"),
            (61, "eyes turn left"), (62, "eyes turn right"), (63, "eyes up"), (64, "eyes down"))),
    )
}

#: The AUs the model's auxiliary AU head predicts, in a fixed order.
MODEL_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26)


def expected_motions(au: ActionUnit) -> list[tuple[str, float, float, float]]:
    """Regions an annotated AU should move, as (region name, dx, dy, weight) in image coords.

    A unilateral AU moves only its side's regions; a bilateral/unspecified AU moves both.
    Directions for the subject's right side are mirrored in x.
    """
    info = AUS.get(au.number)
    if info is None:
        return []
    out: list[tuple[str, float, float, float]] = []
    for m in info.motions:
        if m.base in MIDLINE_BASES:
            out.append((m.base, m.dx, m.dy, m.weight))
            continue
        sides = (au.side,) if au.side in ("L", "R") else ("L", "R")
        for s in sides:
            dx = m.dx if s == "L" else -m.dx
            out.append((f"{m.base}_{s}", dx, m.dy, m.weight))
    return out


# --- Emotion rules ---------------------------------------------------------------------------

#: EMFACS-style prototypes (Ekman & Friesen), each emotion a list of AU sets, most typical first.
EMFACS_PROTOTYPES: dict[str, tuple[frozenset[int], ...]] = {
    "happiness": (frozenset({6, 12}), frozenset({12})),
    "sadness": (frozenset({1, 4, 15}), frozenset({1, 4}), frozenset({6, 15}), frozenset({15, 17})),
    "surprise": (frozenset({1, 2, 5, 26}), frozenset({1, 2, 5}), frozenset({1, 2}), frozenset({5, 26})),
    "fear": (frozenset({1, 2, 4, 5, 7, 20, 26}), frozenset({1, 2, 4}), frozenset({1, 2, 4, 5}), frozenset({20})),
    "anger": (frozenset({4, 5, 7, 23}), frozenset({4, 7}), frozenset({4, 5}), frozenset({23})),
    "disgust": (frozenset({9, 15, 16}), frozenset({9}), frozenset({10}), frozenset({9, 17})),
    "contempt": (frozenset({12, 14}),),  # unilateral
}

#: CASME II objective classes (Davison et al., 2018), by AU combination; VII = others.
CASME2_OBJECTIVE_CLASSES: dict[str, tuple[frozenset[int], ...]] = {
    "I": tuple(map(frozenset, ({6}, {12}, {6, 12}, {6, 7, 12}, {7, 12}))),
    "II": tuple(map(frozenset, ({1, 2}, {5}, {25}, {1, 2, 25}, {25, 26}, {5, 24}))),
    "III": tuple(map(frozenset, ({23}, {4}, {4, 7}, {4, 5}, {4, 5, 7}, {17, 24}, {4, 6, 7}, {4, 38}))),
    "IV": tuple(map(frozenset, ({10}, {9}, {4, 9}, {4, 40}, {4, 5, 40}, {4, 7, 9}, {4, 9, 17}, {4, 7, 10},
                                {4, 5, 7, 9}, {7, 10}))),
    "V": tuple(map(frozenset, ({1}, {15}, {1, 4}, {6, 15}, {15, 17}))),
    "VI": tuple(map(frozenset, ({1, 2, 4}, {20}))),
}
OBJECTIVE_CLASS_EMOTION: dict[str, str] = {
    "I": "happiness", "II": "surprise", "III": "anger", "IV": "disgust", "V": "sadness", "VI": "fear",
    "VII": "others",
}


def objective_class(aus: Iterable[ActionUnit]) -> str:
    """CASME II objective class of an AU combination (exact set match, else VII)."""
    s = frozenset(a.number for a in aus if AUS.get(a.number) is not None and AUS[a.number].local)
    for cls, combos in CASME2_OBJECTIVE_CLASSES.items():
        if s in combos:
            return cls
    return "VII"


def emfacs_emotion(aus: Iterable[ActionUnit]) -> str | None:
    """Best EMFACS prototype covered by the AUs (largest prototype fully present), or None."""
    s = frozenset(a.number for a in aus)
    best: tuple[int, str] | None = None
    for emo, protos in EMFACS_PROTOTYPES.items():
        for p in protos:
            if p <= s and (best is None or len(p) > best[0]):
                best = (len(p), emo)
    return best[1] if best else None
