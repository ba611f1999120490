"""Atomic writes keep the user's umask and name the real file in errors; locks say who holds them."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from deftmer.errors import UserError
from deftmer.utils import io
from deftmer.utils.locks import LOCK_NAME, describe_holder, folder_lock, release, try_lock


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_get_the_mode_a_plain_open_would(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        assert io.current_umask() == umask
        io.atomic_write_text(tmp_path / "a.txt", "x")
        io.atomic_save_npz(tmp_path / "b.npz", x=__import__("numpy").zeros(3))
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    for name in ("a.txt", "b.npz", "plain.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_an_os_error_names_the_target_not_the_temp_file(tmp_path, monkeypatch):
    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError) as info:
        io.atomic_write_bytes(tmp_path / "out.bin", b"x")
    assert info.value.filename == str(tmp_path / "out.bin") and info.value.errno == errno.ENOSPC
    assert io.is_environment_error(info.value)
    assert io.os_error_message(info.value) == (f"cannot use {tmp_path / 'out.bin'}: No space left on device; free "
                                               "some space or write to another disk (--out / --cache)")
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_files_are_removed(tmp_path):
    (tmp_path / "sub").mkdir()
    for p in (tmp_path / ".a.npz.x1.tmp", tmp_path / "sub" / ".b.json.y2.tmp"):
        p.write_text("half")
    (tmp_path / "keep.npz").write_text("whole")
    assert io.remove_stale_tmp(tmp_path, recursive=False) == 1
    assert io.remove_stale_tmp(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["keep.npz"]


@pytest.mark.parametrize("content, says", [(b"", "is empty"), (b"\xff\xfe\x00", "is not text"),
                                           (b'{"a": 1', "is not valid JSON")])
def test_read_json_says_what_is_wrong_and_how_to_fix_it(tmp_path, content, says):
    (tmp_path / "x.json").write_bytes(content)
    with pytest.raises(UserError, match=f"x.json {says}.*; rebuild it"):
        io.read_json(tmp_path / "x.json", "rebuild it")


def test_a_held_lock_is_refused_and_names_its_holder(tmp_path):
    first = try_lock(tmp_path / LOCK_NAME)
    assert first is not None
    assert try_lock(tmp_path / LOCK_NAME) is None                        # held: not taken twice
    assert describe_holder(tmp_path / LOCK_NAME).startswith(f"process {os.getpid()} on ")
    assert "(`" in describe_holder(tmp_path / LOCK_NAME)                   # and the command it runs
    release(first)
    assert describe_holder(tmp_path / LOCK_NAME) == "another process"    # the note goes with the lock
    with folder_lock(tmp_path, "test"):
        assert try_lock(tmp_path / LOCK_NAME) is None
    again = try_lock(tmp_path / LOCK_NAME)
    assert again is not None
    release(again)
