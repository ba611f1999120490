"""One writer per cache and per run folder: an OS file lock (`filelock`) plus a note of who holds it.

Two `deftmer prepare` on one cache would otherwise compute everything twice, and two
`deftmer loso` on one ``--out`` could interleave their writes. The lock is the kernel's
(``flock``), so it is released when its process ends, even by SIGKILL; nothing stale is left
to clean up. Beside it, the holder writes who it is (pid, host, command), so a second process
can say whom it waits for.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from deftmer.utils.console import logger
from deftmer.utils.io import atomic_write_json

LOCK_NAME = ".deftmer.lock"
OWNER_SUFFIX = ".owner.json"


def _owner_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + OWNER_SUFFIX)


def describe_holder(lock_path: Path) -> str:
    """Who holds ``lock_path``, as its holder wrote it (or that it did not say)."""
    try:
        o = json.loads(_owner_path(lock_path).read_text())
        return f"process {o['pid']} on {o['host']} (`{o['command']}`, since {o['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _command() -> str:
    """This process's command line as a user would recognise it (``deftmer prepare ...``)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    name = "deftmer" if "deftmer" in program.parts else program.name
    return " ".join([name, *sys.argv[1:]])[:300]


def _say_who(lock_path: Path) -> None:
    atomic_write_json(_owner_path(lock_path), {"pid": os.getpid(), "host": socket.gethostname(),
                                               "command": _command(), "since": time.strftime("%Y-%m-%d %H:%M:%S")})


def try_lock(lock_path: str | Path) -> FileLock | None:
    """The lock at ``lock_path`` if no other process holds it now, else None (never waits)."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    _say_who(lock_path)
    return lock


def release(lock: FileLock) -> None:
    """Release a lock from `try_lock`/`wait_lock` and remove the note of its holder."""
    _owner_path(Path(lock.lock_file)).unlink(missing_ok=True)
    lock.release()


def wait_lock(lock_path: str | Path, what: str) -> FileLock:
    """The lock at ``lock_path``; when another process holds it, say which one and wait for it."""
    lock = try_lock(lock_path)
    if lock is not None:
        return lock
    lock_path = Path(lock_path)
    logger.warning(f"{what} is in use by {describe_holder(lock_path)}; waiting until it finishes "
                   "(Ctrl-C stops waiting)")
    lock = FileLock(str(lock_path))
    lock.acquire()
    _say_who(lock_path)
    return lock


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str) -> Iterator[None]:
    """Hold ``folder``'s lock for the block (waiting, with a message, while another process holds it)."""
    lock = wait_lock(Path(folder) / LOCK_NAME, what)
    try:
        yield
    finally:
        release(lock)
