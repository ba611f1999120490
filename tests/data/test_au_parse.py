"""AU strings of every dataset parse to numbers, sides, intensities and alternatives."""

import pytest

from deftmer.data.au_parse import parse_aus
from deftmer.data.sample import ActionUnit as AU


@pytest.mark.parametrize("text, expected", [
    ("4+L10", (AU(4), AU(10, "L"))),                                  # CASME II
    ("R12 + R15", (AU(12, "R"), AU(15, "R"))),                        # SAMM, spaced
    ("R14A", (AU(14, "R", "A"),)),                                    # SAMM, intensity letter
    ("A1+A2", (AU(1), AU(2))),                                        # SAMM A prefix: no side
    ("L2+L1", (AU(2, "L"), AU(1, "L"))),                              # CAS(ME)^3
    ("T28+14", (AU(28), AU(14))),                                     # CAS(ME)^3 top-lip prefix
    ("AU12", (AU(12),)),
    (12.0, (AU(12),)),                                                # Excel number cell
    (6, (AU(6),)),
])
def test_tokens(text, expected):
    parsed = parse_aus(text)
    assert parsed.aus == expected
    assert parsed.unparsed == ()


def test_alternatives_with_or_and_slash_are_marked():
    p = parse_aus("R12 or R14 + 4/7 + 1")
    assert p.aus == (AU(12, "R", alternative=True), AU(14, "R", alternative=True),
                     AU(4, alternative=True), AU(7, alternative=True), AU(1))


@pytest.mark.parametrize("empty", [None, "", "/", float("nan"), "  "])
def test_empty_cells_give_no_aus(empty):
    assert parse_aus(empty).aus == () and parse_aus(empty).unparsed == ()


def test_unparseable_parts_are_returned_not_raised():
    p = parse_aus("4+12(?)+smile")
    assert p.aus == (AU(4),)
    assert p.unparsed == ("12(?)", "smile")


def test_duplicates_collapse_in_order():
    assert parse_aus("4+4+L10").aus == (AU(4), AU(10, "L"))
