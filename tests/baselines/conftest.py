"""Shared fixtures of the baseline tests (data builders live in baseline_toy_data.py)."""

from __future__ import annotations

import pytest
from baseline_toy_data import make_clips

from deftmer.preprocess.records import ClipInputs


@pytest.fixture(scope="session")
def toy_clips() -> list[ClipInputs]:
    return make_clips()
