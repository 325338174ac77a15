"""The dataset's manifest and the rules that keep the folder exact when a sync is killed.

The folder::

    _manifest.json                       what the dataset is: files, cursors, schemas, syncs
    vends/year=2026/month=9/part-000004.parquet
    leave_requests/employer_id=…/part-000002.parquet
    _changes/leave_requests/sync-000005.parquet    the last sync's changes of a resource
    _staging/000006/…                    a sync's files while it runs
    _lock                                held by the one sync running

**The manifest is the commit point.** A sync writes its files under ``_staging/`` and syncs them
to disk, notes in ``_staging/<sync>.commit`` what it will move and delete, moves the files to
their places (new names: a sync never overwrites a file the manifest lists), then replaces the
manifest in one ``os.replace``, and only then deletes the files the new manifest no longer
lists. Readers read only what the manifest lists, so a process killed at any moment leaves the
previous state readable and exact; the next sync first undoes what the note names and the
manifest does not list (:func:`recover`) and then runs as usual. Names starting with ``_`` or ``.`` are skipped by
Spark, Hive and DuckDB's hive partitioning, so outside readers see only the data.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from loketvalinso.errors import ConfigurationError

__all__ = [
    "CHANGES_DIR",
    "MANIFEST",
    "STAGING_DIR",
    "FileEntry",
    "Manifest",
    "ResourceState",
    "exclusive",
    "read_manifest",
    "recover",
    "schema_from_text",
    "schema_to_text",
    "write_manifest",
]

MANIFEST = "_manifest.json"
STAGING_DIR = "_staging"
CHANGES_DIR = "_changes"
_LOCK = "_lock"
_FORMAT = 1


@dataclass
class FileEntry:
    """One data file: its path in the folder, partition values, rows and cursor range."""

    path: str
    partition: dict[str, Any]
    rows: int
    #: the cursor column's smallest and largest value in the file (microseconds), if any
    low: int | None = None
    high: int | None = None


@dataclass
class ResourceState:
    """What the dataset holds of one resource."""

    source: str
    key: list[str]
    partition_by: list[str]
    schema: str
    files: list[FileEntry] = field(default_factory=list)
    cursor_column: str | None = None
    #: the largest cursor value held (microseconds since the epoch, UTC)
    cursor: int | None = None
    #: the last sync's changes: {"sync": n, "path": ...} or {"sync": n, "all_added": True}
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def frame_schema(self) -> pl.Schema:
        return schema_from_text(self.schema)


@dataclass
class Manifest:
    """The whole state of a dataset folder."""

    resources: dict[str, ResourceState] = field(default_factory=dict)
    syncs: list[dict[str, Any]] = field(default_factory=list)
    next_sync: int = 1

    def listed(self) -> set[str]:
        """Every file path the manifest refers to."""
        paths = {f.path for state in self.resources.values() for f in state.files}
        paths |= {s.changes["path"] for s in self.resources.values() if "path" in s.changes}
        return paths


def schema_to_text(schema: pl.Schema) -> str:
    """A Polars schema as text (the Arrow IPC of an empty frame, base64): exact for any dtype."""
    buffer = io.BytesIO()
    pl.DataFrame(schema=schema).write_ipc(buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@functools.lru_cache(maxsize=64)
def schema_from_text(text: str) -> pl.Schema:
    return pl.read_ipc(io.BytesIO(base64.b64decode(text))).schema


def read_manifest(folder: Path) -> Manifest:
    """The folder's manifest; an empty one when the folder has none yet."""
    path = folder / MANIFEST
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return Manifest()
    except (OSError, orjson.JSONDecodeError) as exc:
        msg = f"{path} cannot be read ({exc}); restore it or start a new dataset folder"
        raise ConfigurationError(msg) from exc
    if raw.get("format") != _FORMAT:
        msg = f"{path} has format {raw.get('format')!r}; this version reads format {_FORMAT}"
        raise ConfigurationError(msg)
    resources = {
        name: ResourceState(
            **{k: v for k, v in state.items() if k != "files"},
            files=[FileEntry(**f) for f in state["files"]],
        )
        for name, state in raw["resources"].items()
    }
    return Manifest(resources=resources, syncs=raw["syncs"], next_sync=raw["next_sync"])


def _state_dict(state: ResourceState) -> dict[str, Any]:
    return {**vars(state), "files": [vars(entry) for entry in state.files]}


def write_manifest(
    folder: Path, manifest: Manifest, *, toolkit_version: str, durable: bool = True
) -> None:
    """Replace the manifest in one step (a temporary file, synced, then ``os.replace``).

    ``durable``: the replacement itself is on disk before returning (a sync that deletes files
    next needs it; one that only adds files does not: if the old manifest came back after a
    power cut, it would still name only files that exist)."""
    body = {
        "format": _FORMAT,
        "toolkit_version": toolkit_version,
        "next_sync": manifest.next_sync,
        "resources": {name: _state_dict(state) for name, state in manifest.resources.items()},
        "syncs": manifest.syncs,
    }
    target = folder / MANIFEST
    temporary = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(orjson.dumps(body, default=str, option=orjson.OPT_INDENT_2))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    if durable:
        _sync_dir(folder)


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold the folder's sync lock (the operating system drops it when the process dies)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            _lock(fd)
        except OSError:
            msg = (
                f"another sync is running on {folder}; wait for it to finish (one sync at a time "
                "per dataset folder)"
            )
            raise ConfigurationError(msg) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def write_commit_note(folder: Path, number: int, moving: list[str], going: list[str]) -> Path:
    """Note, before a commit moves anything, which files it moves into place and which it
    deletes after the manifest: all that a commit cut short can leave behind."""
    note = folder / STAGING_DIR / f"{number:06d}.commit"
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text(json.dumps({"moving": moving, "going": going}))
    return note


def remove_files(folder: Path, relatives: list[str]) -> None:
    """Delete these files of the folder (those already gone are fine) and the partition
    folders they leave empty."""
    for relative in relatives:
        path = folder / relative
        path.unlink(missing_ok=True)
        parent = path.parent
        while parent != folder:
            try:
                parent.rmdir()  # only when empty
            except OSError:
                break
            parent = parent.parent


def recover(folder: Path, manifest: Manifest) -> int:
    """Undo what a killed sync left (under the lock): its staged files, and the files a commit
    cut short had moved into place or was deleting that the manifest does not list (from the
    commit's note). Returns how many files of the dataset went."""
    staging = folder / STAGING_DIR
    if not staging.is_dir():
        return 0
    listed = manifest.listed()
    removed = 0
    for note in sorted(staging.glob("*.commit")):
        try:
            planned = json.loads(note.read_text())
            named = [*planned["moving"], *planned["going"]]
        except (OSError, ValueError, KeyError, TypeError):
            named = []  # cut short while being written: nothing had moved yet
        stale = [relative for relative in named if relative not in listed]
        removed += sum((folder / relative).exists() for relative in stale)
        remove_files(folder, stale)
        note.unlink()
    for staged in staging.iterdir():
        if staged.is_dir():
            shutil.rmtree(staged, ignore_errors=True)
        else:
            staged.unlink(missing_ok=True)
    return removed
