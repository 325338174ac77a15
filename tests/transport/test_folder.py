"""The cache folder: strict paths, a folder of the user's never changed, a damaged index read
and reset without writing anything else."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from loketvalinso._transport.folder import (
    MARKER,
    SUBFOLDER,
    cache_folder,
    existing_cache_folder,
    inspect_folder,
    reason,
    reset_folder,
    resolve_directory,
)
from loketvalinso._transport.store import DiskCache
from loketvalinso.errors import ConfigurationError


def test_paths_are_resolved_strictly(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("LV_PART", "p")
    monkeypatch.setenv("LV_EMPTY", "")
    monkeypatch.delenv("LV_UNSET", raising=False)
    assert resolve_directory("~/c/$LV_PART/${LV_PART}x") == tmp_path / "c" / "p" / "px"
    assert resolve_directory(tmp_path / "c") == tmp_path / "c"
    for bad, words in [
        ("", "empty path"),
        (" \t", "empty path"),
        ("$LV_UNSET/c", "$LV_UNSET, which is not set"),
        ("$HOME/$LV_EMPTY/c", "$LV_EMPTY, which is not set (or empty)"),
        ("${}/c", "$, which is not set"),
        ("~no-such-user-xyz/c", "no such user"),
        ("a\0b", "NUL"),
        (42, "must be a path"),
    ]:
        with pytest.raises(ConfigurationError) as info:
            resolve_directory(bad)  # type: ignore[arg-type]
        assert words in str(info.value), (bad, str(info.value))


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_the_toolkit_uses_its_own_folders_and_leaves_others_alone(tmp_path):
    new = cache_folder(tmp_path / "a" / "b")
    assert new == tmp_path / "a" / "b" and (new / MARKER).is_file()
    assert stat.S_IMODE(new.stat().st_mode) == 0o700
    assert cache_folder(new) == new  # its own: used again
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o750)
    theirs.chmod(0o750)
    (theirs / "data.csv").write_text("1,2")
    sub = cache_folder(theirs)
    assert sub == theirs / SUBFOLDER and (sub / MARKER).is_file()
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o750 and not (theirs / MARKER).exists()
    assert cache_folder(theirs) == sub and existing_cache_folder(theirs) == sub
    private_empty = tmp_path / "empty"
    private_empty.mkdir(mode=0o700)
    assert cache_folder(private_empty) == private_empty  # nothing of anyone's to mix with
    open_empty = tmp_path / "open"
    open_empty.mkdir()
    open_empty.chmod(0o777)
    assert cache_folder(open_empty) == open_empty / SUBFOLDER
    assert stat.S_IMODE(open_empty.stat().st_mode) == 0o777
    assert existing_cache_folder(tmp_path / "nothing") is None
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigurationError, match="not a folder"):
        cache_folder(tmp_path / "file")


def test_a_damaged_index_is_inspected_read_only_and_reset(tmp_path):
    folder = tmp_path / "c"
    with DiskCache(folder) as cache:
        cache._cache.set("k", b"v" * 100_000, tag="k")  # big: a file beside the index
        cache._cache.set("x/k/arrow", b"e", tag="k")
    assert inspect_folder(folder)["entries"] == 1 and inspect_folder(folder)["extras"] == 1
    values = list(folder.rglob("*.val"))
    assert len(values) == 1
    (folder / "notes.txt").write_text("kept")
    (folder / "cache.db").write_bytes(b"\0garbage" * 100)
    for name in ("cache.db-wal", "cache.db-shm"):
        (folder / name).unlink(missing_ok=True)
    assert inspect_folder(folder)["entries"] is None  # unreadable, and nothing written
    assert (folder / "cache.db").read_bytes() == b"\0garbage" * 100
    assert reset_folder(folder) == 1
    assert sorted(p.name for p in folder.iterdir()) == [MARKER, "notes.txt"]


def test_reasons_say_what_to_do():
    assert "loketvalinso cache clear" in reason(sqlite3.DatabaseError("file is not a database"))
    assert "free some space" in reason(OSError(28, "No space left on device"))
    assert "make it writable" in reason(PermissionError(13, "Permission denied"))
    assert "another folder" in reason(sqlite3.OperationalError("disk I/O error"))


def test_reason_tells_a_read_only_folder(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes through any mode")
    folder = Path(tmp_path / "ro")
    folder.mkdir()
    folder.chmod(0o500)
    try:
        said = reason(sqlite3.OperationalError("unable to open database file"), folder)
    finally:
        folder.chmod(0o700)
    assert "cannot be written" in said
