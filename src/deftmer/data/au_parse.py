"""Parse the Action Unit strings of MER annotation files into `ActionUnit` records.

Each dataset writes AUs its own way: CASME II ``4+L10``, SAMM ``R12 + R15``, ``R14A``,
``12 or 14``, ``4/7``, CAS(ME)^3 ``L2+L1``, ``T28+14``. One grammar covers them:

    token   := [prefix] ["AU"] number [intensity]
    prefix  := L | R (subject's side) | A | U | T | B (no side: asymmetric/unilateral/top/bottom)
    intensity := A-E (FACS letter)

Tokens are joined by ``+``, ``,``, ``;`` or whitespace; ``or`` and ``/`` join alternatives
(each kept with ``alternative=True``), except between two intensity letters: SAMM's ``4A/B``
is AU4 at intensity A or B (``intensity="A/B"``), one certain AU. A part the grammar cannot read is returned in
``unparsed`` so the loader can report it as a `Problem` instead of crashing or guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deftmer.data.annotation import cell_text
from deftmer.data.sample import ActionUnit

_TOKEN = re.compile(r"^(?P<prefix>[LRAUTB])?(?:AU)?(?P<number>\d{1,2})(?P<intensity>[A-E](?:~[A-E])*)?$",
                    re.IGNORECASE)
#: ``4A/B``: a slash between intensity letters is not an alternative AU (kept as ``~`` while splitting).
_INTENSITY_CHOICE = re.compile(r"(?<=\d)([A-E](?:~[A-E])*)\s*/\s*(?=[A-E](?![0-9A-Za-z]))", re.IGNORECASE)
_ALTERNATIVE = re.compile(r"\s+or\s+|/", re.IGNORECASE)
_JOIN = re.compile(r"[+,;&]|\s+")
_EMPTY = {"", "/", "-", "none", "nan", "n/a", "na"}


@dataclass(frozen=True)
class ParsedAUs:
    """AUs read from one annotation string plus the parts that could not be read."""

    aus: tuple[ActionUnit, ...]
    unparsed: tuple[str, ...]
    text: str


def _parse_token(token: str, alternative: bool) -> ActionUnit | None:
    m = _TOKEN.match(token.strip())
    if m is None:
        return None
    prefix = (m.group("prefix") or "").upper()
    side = prefix if prefix in ("L", "R") else None
    intensity = m.group("intensity")
    return ActionUnit(
        number=int(m.group("number")),
        side=side,  # type: ignore[arg-type]
        intensity=intensity.upper().replace("~", "/") if intensity else None,
        alternative=alternative,
    )


def parse_aus(value: object) -> ParsedAUs:
    """Parse one AU cell (``"4+L10"``, ``"R12 or R14"``, ``12.0``, ``None``) into records.

    Duplicates (same number, side and intensity) are kept once, in first-seen order.
    """
    text = cell_text(value)
    if text.lower() in _EMPTY:
        return ParsedAUs((), (), text)
    aus: list[ActionUnit] = []
    unparsed: list[str] = []
    text_split, previous = text, None
    while text_split != previous:            # "12A/B/C": one more letter per pass
        previous, text_split = text_split, _INTENSITY_CHOICE.sub(lambda m: m.group(1) + "~", text_split)
    # Split on "+" first: "12 or 14" and "4/7" bind tighter than "+" in every dataset.
    for group in re.split(r"\+", text_split):
        group = group.strip()
        if not group:
            continue
        options = [o.strip() for o in _ALTERNATIVE.split(group) if o.strip()]
        alternative = len(options) > 1
        for option in options:
            # "R12 R15" or "4,7" inside one "+" group: more than one token.
            parts = [p for p in _JOIN.split(option) if p]
            parsed = [_parse_token(p, alternative) for p in parts]
            if parts and all(a is not None for a in parsed):
                aus.extend(a for a in parsed if a is not None)
            else:
                # Try the option as one token with inner spaces removed ("R 12", "AU 4").
                joined = _parse_token(option.replace(" ", ""), alternative)
                if joined is not None:
                    aus.append(joined)
                else:
                    unparsed.append(option.replace("~", "/"))
    seen: set[ActionUnit] = set()
    unique = []
    for a in aus:
        if a not in seen:
            seen.add(a)
            unique.append(a)
    return ParsedAUs(tuple(unique), tuple(unparsed), text)

