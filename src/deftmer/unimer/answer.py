"""The answer format the model learns and evaluation parses: class, evidence, reasoning.

::

    Emotion: positive
    Evidence: LAU12 — left lip corner moves up and outward (strong); AU6 — both cheeks move up (moderate)
    Reasoning: The lip corners and cheeks rise, which is AU6 and AU12; together they form the ...

Training targets are written by `format_answer`; `parse_answer` reads a model's free
generation back tolerantly (any case, markdown, typos in the class name), and `claim_support`
applies the dual constraint to the model's own words: what share of the motion it claims does
the clip's optical flow actually show?
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from deftmer.data.labels import ClassSet, normalise_emotion
from deftmer.data.sample import ActionUnit
from deftmer.facs import MIDLINE_BASES
from deftmer.unimer.config import UnimerConfig
from deftmer.unimer.constraints import au_verdict
from deftmer.unimer.describe import BASE_NOUNS, EvidenceItem
from deftmer.unimer.motion import angle_between, direction_vector
from deftmer.unimer.records import RegionMotionStats

EMOTION_KEY = "Emotion"
EVIDENCE_KEY = "Evidence"
REASONING_KEY = "Reasoning"
NO_EVIDENCE = "no Action Unit is supported by the measured motion"
INFERRED_PREFIX = "motion consistent with "

_AU_RE = re.compile(r"(?<![A-Za-z0-9])([LR]?)\s*-?\s*AU\s*-?\s*(\d{1,2})(?!\d)", re.IGNORECASE)
_SECTION_RE = re.compile(
    r"^[\s>*#_-]*(emotion|class|label|answer|evidence|action units|aus|motion|reasoning|reason|explanation)"
    r"[\s*_]*[:：]\s*(.*)$", re.IGNORECASE)
_SECTION_ALIASES = {"emotion": "emotion", "class": "emotion", "label": "emotion", "answer": "emotion",
                    "evidence": "evidence", "action units": "evidence", "aus": "evidence", "motion": "evidence",
                    "reasoning": "reasoning", "reason": "reasoning", "explanation": "reasoning"}


@dataclass
class ParsedAnswer:
    """What evaluation reads from a generated answer. ``label`` is None without a valid class."""

    label: str | None
    aus: list[str] = field(default_factory=list)
    evidence: str = ""
    reasoning: str = ""


def format_evidence(evidence: Sequence[EvidenceItem]) -> str:
    """'LAU12 — left lip corner moves up ...; AU6 — ...' (or the no-motion sentence)."""
    if not evidence:
        return NO_EVIDENCE
    parts = []
    for e in evidence:
        head = f"{INFERRED_PREFIX}{e.au}" if e.inferred else e.au
        parts.append(f"{head} — {e.description}")
    return "; ".join(parts)


def format_answer(label: str | None, evidence: Sequence[EvidenceItem], reasoning: str) -> str:
    """The full three-part answer (class, evidence, reasoning); parts left empty are omitted,
    except the class, which reads 'unknown' when there is none."""
    lines = [f"{EMOTION_KEY}: {label if label else 'unknown'}", f"{EVIDENCE_KEY}: {format_evidence(evidence)}"]
    if reasoning:
        lines.append(f"{REASONING_KEY}: {reasoning.strip()}")
    return "\n".join(lines)


def normalise_au(side: str, number: str | int) -> str:
    return f"{side.upper()}AU{int(number)}"


def find_aus(text: str) -> list[str]:
    """AU tokens in order of first mention, normalised ('l au 12' -> 'LAU12'), no duplicates."""
    out: list[str] = []
    for m in _AU_RE.finditer(text):
        tok = normalise_au(m.group(1), m.group(2))
        if tok not in out:
            out.append(tok)
    return out


def _sections(text: str) -> dict[str, str]:
    """Split 'Key: value' sections; lines without a key continue the previous section."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        m = _SECTION_RE.match(line)
        if m:
            current = _SECTION_ALIASES[m.group(1).lower()]
            found.setdefault(current, []).append(m.group(2).strip(" *_"))
        elif current is not None and line.strip():
            found[current].append(line.strip())
    return {k: " ".join(v).strip() for k, v in found.items()}


def _class_vocabulary(class_set: ClassSet) -> dict[str, str]:
    """Every word that names a class: the class names and the raw emotions mapped to them."""
    vocab = {normalise_emotion(c): c for c in class_set.classes}
    for raw, target in class_set.table.items():
        if target is not None:
            vocab.setdefault(normalise_emotion(raw), target)
    return vocab


def match_label(text: str, class_set: ClassSet) -> str | None:
    """The class a phrase names: exact word match first, then a close spelling; else None."""
    vocab = _class_vocabulary(class_set)
    norm = normalise_emotion(re.sub(r"[^A-Za-z ]+", " ", text))
    if not norm:
        return None
    if norm in vocab:
        return vocab[norm]
    words = norm.split()
    for w in words:  # first class word in the phrase ("positive (happiness)")
        if w in vocab:
            return vocab[w]
    for w in words:
        close = difflib.get_close_matches(w, list(vocab), n=1, cutoff=0.8)
        if close:
            return vocab[close[0]]
    return None


def _last_label_mention(text: str, class_set: ClassSet) -> str | None:
    """The class named last in free text ('... so the emotion is surprise.')."""
    vocab = _class_vocabulary(class_set)
    best: tuple[int, str] | None = None
    low = text.lower()
    for word, target in vocab.items():
        for m in re.finditer(rf"(?<![a-z]){re.escape(word)}(?![a-z])", low):
            if best is None or m.start() > best[0]:
                best = (m.start(), target)
    return best[1] if best else None


def parse_answer(text: str, class_set: ClassSet) -> ParsedAnswer:
    """Read class, AUs, evidence and reasoning from a (possibly free-form) generated answer.

    The class comes from the 'Emotion:' line when there is one (tolerating case, markdown and
    misspellings); otherwise from the last class word in the reasoning or the whole text.
    """
    sec = _sections(text)
    label = match_label(sec["emotion"], class_set) if sec.get("emotion") else None
    reasoning = sec.get("reasoning", "")
    if label is None:
        label = _last_label_mention(reasoning or text, class_set)
    evidence = sec.get("evidence", "")
    aus = find_aus(evidence if evidence else text)
    return ParsedAnswer(label=label, aus=aus, evidence=evidence, reasoning=reasoning)


# --- the dual constraint on generated text ----------------------------------------------------

_SIDE_WORDS = {"left": ("L",), "right": ("R",), "both": ("L", "R"), "": ("L", "R")}
_REGION_RE = re.compile(
    r"\b(?:(left|right|both)\s+)?(" + "|".join(sorted((re.escape(n) for n in BASE_NOUNS.values()), key=len, reverse=True))
    + r")(?:e?s)?\b", re.IGNORECASE)
_NOUN_BASE = {v: k for k, v in BASE_NOUNS.items()}
_STILL_RE = re.compile(r"\b(does not move|do not move|still|no motion|static)\b", re.IGNORECASE)


def _direction_in(span: str) -> str | None:
    """A compass name from loose wording: 'upward and outwards' -> 'up-outward'."""
    s = span.lower()
    up = re.search(r"\b(up|upward|upwards|raised?|raising|rises?|lifted|elevated)\b", s)
    down = re.search(r"\b(down|downward|downwards|lowered|lowers|drops?|dropped|depressed)\b", s)
    out = re.search(r"\b(out|outward|outwards|lateral|laterally|sideways|stretched)\b", s)
    inward = re.search(r"\b(inward|inwards|midline|medial|medially|together|toward the centre|toward the center)\b", s)
    left = re.search(r"subject'?s left", s)
    right = re.search(r"subject'?s right", s)
    vert = "up" if up and not down else "down" if down and not up else None
    horiz = ("outward" if out and not inward else "inward" if inward and not out else
             "left" if left else "right" if right else None)
    if vert and horiz:
        return f"{vert}-{horiz}"
    return vert or horiz


def _region_claims(clause: str) -> list[tuple[str, str]]:
    """(region name, direction name or 'still') for each region the clause says moved."""
    mentions = list(_REGION_RE.finditer(clause))
    claims: list[tuple[str, str]] = []
    for i, m in enumerate(mentions):
        end = mentions[i + 1].start() if i + 1 < len(mentions) else len(clause)
        span = clause[m.end():end]
        base = _NOUN_BASE[m.group(2).lower()]
        direction = "still" if _STILL_RE.search(span) else _direction_in(span)
        if direction is None:
            continue
        if base in MIDLINE_BASES:
            claims.append((base, direction))
            continue
        for side in _SIDE_WORDS[(m.group(1) or "").lower()]:
            claims.append((f"{base}_{side}", direction))
    return claims


def claim_support(text: str, stats: list[RegionMotionStats], cfg: UnimerConfig) -> float | None:
    """Share of the motion claims in ``text`` that the clip's flow supports; None if it makes none.

    Claims are (a) every AU it names that has local motion, held when the dual constraint
    calls that AU "supported" on this clip, and (b) every "<region> moves <direction>" phrase,
    held when that region moves above ``weak_snr`` within the direction tolerance (or, for
    "does not move", stays below ``support_snr``).
    """

    sec = _sections(text)
    body = sec.get("evidence") or text
    by_region = {s.region: s for s in stats}
    held: list[bool] = []
    for tok in find_aus(body):
        side = tok[0] if tok[0] in "LR" else None
        v = au_verdict(ActionUnit(int(tok.lstrip("LR")[2:]), side), stats, cfg)  # type: ignore[arg-type]
        if v is not None:
            held.append(v.verdict == "supported")
    for clause in re.split(r"[;\n.]", body):
        for region, direction in _region_claims(_AU_RE.sub(" ", clause)):
            s = by_region.get(region)
            if s is None:
                continue
            if direction == "still":
                held.append(s.snr < cfg.support_snr)
                continue
            side = region[-1] if region.endswith(("_L", "_R")) else None
            dx, dy = direction_vector(direction, side)
            held.append(s.snr >= cfg.weak_snr
                        and angle_between(s.mean_u, s.mean_v, dx, dy) <= cfg.direction_tolerance_deg)
    if not held:
        return None
    return sum(held) / len(held)
