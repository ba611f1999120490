"""Fixtures of the model tests; data builders live in model_toys.py, importable by name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deftmer.preprocess.records import ClipInputs

sys.path.insert(0, str(Path(__file__).parent))
from model_toys import make_clips  # noqa: E402


@pytest.fixture(scope="session")
def clips() -> list[ClipInputs]:
    return make_clips()
