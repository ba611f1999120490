"""Fixtures of the unimer tests; data builders live in unimer_toys.py, importable by name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from unimer_toys import make_prepared  # noqa: E402


@pytest.fixture
def prepared_factory():
    return make_prepared
