"""Atomic writes: write to a temp file in the same folder, fsync, then rename.

A crash, a full disk or Ctrl-C in the middle of a write leaves either the old file or no
file, never a half-written one; caches and checkpoints rely on this to resume safely.
Files get the mode the user's umask gives a new file (``mkstemp`` alone would make every
cache, model and report 0600, unreadable to colleagues on a shared machine).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from deftmer.errors import UserError

#: Suffix of the temp files `atomic_path` writes (``.<name>.<random>.tmp``); see `remove_stale_tmp`.
TMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (``/proc/self/status``)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)   # elsewhere: set and restore (a brief window, only without /proc)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file: 0666 minus the umask."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it onto ``path``, else delete it.

    An OS error (permission, full disk) names ``path`` itself, not the hidden temp file.
    """
    path = Path(path)
    tmp_path: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, new_file_mode())
        os.replace(tmp_path, path)
    except BaseException as e:
        if tmp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()
        if isinstance(e, OSError) and tmp_path is not None and e.filename == str(tmp_path):
            raise type(e)(e.errno, e.strerror, str(path)) from None
        raise


def remove_stale_tmp(folder: str | Path, recursive: bool = True) -> int:
    """Delete the temp files an interrupted `atomic_path` left in ``folder`` (and below it).

    Call it while holding the lock of what ``folder`` holds, so that no live writer's temp file
    is taken. Returns how many were removed.
    """
    folder = Path(folder)
    pattern = f".*{TMP_SUFFIX}"
    removed = 0
    for p in folder.rglob(pattern) if recursive else folder.glob(pattern):
        with contextlib.suppress(FileNotFoundError):
            if p.is_file():
                p.unlink()
                removed += 1
    return removed


#: errno values that are the user's environment (permissions, full disk), not a bug.
ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR,
                      errno.EISDIR}


def is_environment_error(e: BaseException) -> bool:
    """True for an OS error the user can fix (permission denied, read-only or full disk...)."""
    return isinstance(e, OSError) and e.errno in ENVIRONMENT_ERRNOS


def os_error_message(e: OSError) -> str:
    """One line for an OS error: which file, what the system said, what to do."""
    where = e.filename or "a file"
    what = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        todo = "free some space or write to another disk (--out / --cache)"
    elif e.errno in (errno.ENOTDIR, errno.EISDIR):
        todo = "a file stands where a folder is expected (or the reverse); choose another path"
    else:
        todo = "check its permissions or choose a writable location (--out / --cache)"
    return f"cannot use {where}: {what}; {todo}"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def settings_yaml(settings: Any) -> str:
    """A pydantic settings object (a config, or one section of it) as the YAML saved beside outputs."""
    return yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False)


def save_settings(settings: Any, path: str | Path) -> None:
    """Write `settings_yaml` atomically (the ``config.yaml`` beside every output)."""
    atomic_write_text(path, settings_yaml(settings))


def write_text_if_changed(path: str | Path, text: str) -> bool:
    """Write ``text`` atomically unless ``path`` already holds exactly it (a read-only folder
    that is up to date is then never written). Returns whether it wrote."""
    path = Path(path)
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if path.read_text(encoding="utf-8") == text:
            return False
    atomic_write_text(path, text)
    return True


def atomic_write_json(path: str | Path, obj: Any, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | Path, fix: str) -> Any:
    """A JSON file deftmer wrote; empty, cut short, binary or unreadable -> one `UserError`
    naming the file and ``fix`` (how to rebuild it)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; {fix}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not text (binary or corrupt); {fix}") from None
    if not text.strip():
        raise UserError(f"{path} is empty; {fix}")
    try:
        return json.loads(text)
    except ValueError as e:
        raise UserError(f"{path} is not valid JSON (cut short or edited: {e}); {fix}") from None


def atomic_save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Save arrays compressed to ``path`` atomically (np.savez would append .npz to a temp name)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Let ``writer`` fill a temp path (e.g. a library's save function), then rename it."""
    with atomic_path(path) as tmp:
        writer(tmp)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
