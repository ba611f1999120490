"""A test-only hook: the process interrupts itself at a named point of its work.

Interrupt tests used to send SIGINT from outside once some file appeared; on a busy machine
the run had sometimes finished by then. With ``DEFTMER_TEST_INTERRUPT=<point>:<n>`` the
process sends SIGINT to itself the n-th time it passes ``<point>`` (e.g. ``loso.fold_done:1``,
``prepare.clip_done:2``), which is exactly what Ctrl-C at that moment does, on any machine.
Unset (always, outside tests), `reached` costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "DEFTMER_TEST_INTERRUPT"
_passed: Counter[str] = Counter()


def reached(point: str) -> None:
    """Mark that the work passed ``point``; interrupt this process here if the test asked for it."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    name, _, times = spec.partition(":")
    if name != point:
        return
    _passed[point] += 1
    if _passed[point] == int(times or 1):
        signal.raise_signal(signal.SIGINT)
