"""Fixtures of the CLI tests: a folder nobody may write to, even when the tests run as root."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest


def _chattr(path: Path, flag: str) -> bool:
    tool = shutil.which("chattr")
    return tool is not None and subprocess.run([tool, "-R", flag, str(path)], capture_output=True).returncode == 0


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """``path`` and everything below it cannot be written: mode bits for a normal user; for root
    (which ignores them, as in CI) the immutable attribute, which binds root too."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in (path, *path.rglob("*"))}
        for p, mode in modes.items():
            p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    if not _chattr(path, "+i"):
        pytest.skip("running as root without the immutable attribute (chattr +i): cannot make a read-only folder")
    try:
        yield
    finally:
        _chattr(path, "-i")


@pytest.fixture()
def read_only() -> Callable[[Path], AbstractContextManager[None]]:
    """``with read_only(folder): ...`` makes ``folder`` unwritable for the block."""
    return _read_only
