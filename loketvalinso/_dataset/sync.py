"""One sync: load, write the partitions that change under ``_staging/``, then commit.

* :func:`sync_incremental` (vends): streams the load from the stored cursor minus the lookback
  into per-partition files (bounded memory), then settles each touched partition on its own:
  a partition with no earlier data keeps the streamed file as it is; one with earlier data is
  merged (the load is the truth inside its window: rows that came back replace theirs, rows
  that did not are removed) and written again only when something changed.
* :func:`sync_full` (Loket resources, Valinso's small lists): loads each partition whole (one
  employer at a time), compares it by key with what is stored, and writes it only when
  something changed.

:class:`Transaction` moves the new files into place and replaces the manifest; see
:mod:`~loketvalinso._dataset.manifest` for why a killed sync leaves the previous state exact.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from loketvalinso._dataset.diff import Counts, align, compare
from loketvalinso._dataset.manifest import (
    CHANGES_DIR,
    STAGING_DIR,
    FileEntry,
    Manifest,
    ResourceState,
    schema_to_text,
    write_manifest,
)
from loketvalinso._dataset.resources import SyncSpec
from loketvalinso._parquet import FrameWriter, write_frame

__all__ = ["Transaction", "partition_dir", "read_files", "sync_full", "sync_incremental"]

Partition = tuple[tuple[str, Any], ...]


def partition_dir(resource: str, partition: Partition) -> str:
    """``vends/year=2026/month=9``: the hive folder of one partition."""
    return "/".join([resource, *(f"{name}={value}" for name, value in partition)])


def _part(entry: FileEntry) -> Partition:
    return tuple(entry.partition.items())


def read_files(folder: Path, entries: Iterable[FileEntry], schema: pl.Schema) -> pl.DataFrame:
    """The rows of ``entries`` with every column of ``schema`` (partition values from the
    entries, columns a file lacks as nulls)."""
    frames = []
    for entry in entries:
        frame = pl.read_parquet(folder / entry.path)
        values = [pl.lit(v, schema.get(k)).alias(k) for k, v in entry.partition.items()]
        frames.append(frame.with_columns(v for v in values if v.meta.output_name() in schema))
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(align(frames, schema), how="diagonal_relaxed")


def _union(schema: pl.Schema, other: pl.Schema) -> pl.Schema:
    return pl.Schema({**schema, **{k: v for k, v in other.items() if k not in schema}})


@dataclass
class Transaction:
    """The files one sync writes, and its commit."""

    folder: Path
    manifest: Manifest
    number: int
    toolkit_version: str
    moves: list[tuple[Path, str]] = field(default_factory=list)
    superseded: set[str] = field(default_factory=set)

    @property
    def staging(self) -> Path:
        return self.folder / STAGING_DIR / f"{self.number:06d}"

    def file_name(self, index: int = 0) -> str:
        return (
            f"part-{self.number:06d}.parquet"
            if index == 0
            else (f"part-{self.number:06d}-{index}.parquet")
        )

    def stage(self, relative: str) -> Path:
        """Where to write the file that will be ``relative`` in the folder."""
        staged = self.staging / "final" / relative
        staged.parent.mkdir(parents=True, exist_ok=True)
        self.moves.append((staged, relative))
        return staged

    def scratch(self, relative: str) -> Path:
        """A file of this sync's own (not moved into the folder)."""
        path = self.staging / "scratch" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def commit(self) -> None:
        """New files into place, then the manifest, then the old files out."""
        for staged, relative in self.moves:
            target = self.folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        write_manifest(self.folder, self.manifest, toolkit_version=self.toolkit_version)
        for relative in sorted(self.superseded - self.manifest.listed()):
            path = self.folder / relative
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            with contextlib.suppress(OSError):  # not empty: other files live there
                path.parent.rmdir()
        shutil.rmtree(self.staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.folder / STAGING_DIR).rmdir()


@dataclass
class Outcome:
    """What a sync did to one resource."""

    counts: Counts = field(default_factory=Counts)
    rows_loaded: int = 0
    partitions_written: list[str] = field(default_factory=list)
    changes: list[pl.DataFrame] = field(default_factory=list)
    added_files: list[str] = field(default_factory=list)


# -- settling a partition -----------------------------------------------------------------------


@dataclass
class _Settle:
    tx: Transaction
    spec: SyncSpec
    state: ResourceState
    provenance: dict[str, Any]
    outcome: Outcome

    def write(self, partition: Partition, frame: pl.DataFrame) -> FileEntry:
        """Write ``frame`` as the partition's new file (partition columns left to the path)."""
        relative = f"{partition_dir(self.spec.name, partition)}/{self.tx.file_name()}"
        stored = frame.drop([k for k, _ in partition if k in frame.columns])
        provenance = {**self.provenance, "partition": dict(partition), "rows": frame.height}
        write_frame(self.tx.stage(relative), stored, provenance)
        self.outcome.partitions_written.append(partition_dir(self.spec.name, partition))
        return FileEntry(relative, dict(partition), frame.height, *_range(frame, self.spec))

    def replace(
        self, partition: Partition, old: list[FileEntry], new: pl.DataFrame, old_rows: pl.DataFrame
    ) -> list[FileEntry]:
        """Compare the partition's stored rows with ``new``; write it again if they differ."""
        if not old:
            self.outcome.counts.added += new.height
            if not new.height:
                return []
            entry = self.write(partition, new)
            self.outcome.added_files.append(entry.path)
            return [entry]
        changes, counts = compare(old_rows, new, self.spec.key)
        if not counts.any:
            return old
        self.outcome.counts += counts
        self.outcome.changes.append(changes)
        self.tx.superseded.update(entry.path for entry in old)
        if not new.height:
            return []
        return [self.write(partition, new)]


def _range(frame: pl.DataFrame, spec: SyncSpec) -> tuple[int | None, int | None]:
    if spec.cursor_column is None or not frame.height:
        return None, None
    column = frame.get_column(spec.cursor_column).dt.epoch("us")
    return int(column.min()), int(column.max())  # type: ignore[arg-type]


# -- full syncs ---------------------------------------------------------------------------------


def sync_full(
    tx: Transaction,
    spec: SyncSpec,
    state: ResourceState,
    loads: Iterable[tuple[Partition, Callable[[], pl.DataFrame]]],
    provenance: dict[str, Any],
) -> Outcome:
    """Load each partition whole and keep what changed (the state's files updated in place)."""
    outcome = Outcome()
    settle = _Settle(tx, spec, state, provenance, outcome)
    for partition, load in loads:
        new = load()
        outcome.rows_loaded += new.height
        schema = _union(state.frame_schema, new.schema)
        state.schema = schema_to_text(schema)
        old = [f for f in state.files if _part(f) == partition]
        old_rows = read_files(tx.folder, old, schema)
        (new,) = align([new], schema)
        kept = settle.replace(partition, old, new, old_rows)
        state.files = [f for f in state.files if _part(f) != partition] + kept
    return outcome


# -- incremental syncs --------------------------------------------------------------------------


class _PartitionStream:
    """The streamed rows of one partition: one file per schema seen, written as they come."""

    def __init__(self, tx: Transaction, spec: SyncSpec, partition: Partition, provenance: Any):
        self.tx, self.spec, self.partition, self.provenance = tx, spec, partition, provenance
        self.writers: list[FrameWriter] = []

    def write(self, frame: pl.DataFrame) -> None:
        writer = self.writers[-1] if self.writers else None
        if writer is None or writer.schema != frame.schema:
            name = self.tx.file_name(len(self.writers))
            path = self.tx.scratch(f"{partition_dir(self.spec.name, self.partition)}/{name}")
            provenance = {**self.provenance, "partition": dict(self.partition)}
            writer = FrameWriter(path, frame.schema, provenance)
            self.writers.append(writer)
        writer.write(frame)

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def sync_incremental(
    tx: Transaction,
    spec: SyncSpec,
    state: ResourceState,
    batches: Iterable[pl.DataFrame],
    since_us: int | None,
    provenance: dict[str, Any],
) -> Outcome:
    """Stream ``batches`` (the load from ``since_us`` on) into partitions, then settle each."""
    assert spec.cursor_column is not None
    outcome = Outcome()
    cursor = spec.cursor_column
    streams: dict[Partition, _PartitionStream] = {}
    try:
        for batch in batches:
            outcome.rows_loaded += batch.height
            state.schema = schema_to_text(_union(state.frame_schema, batch.schema))
            if not batch.height:
                continue
            keyed = batch.with_columns(
                year=pl.col(cursor).dt.year().cast(pl.Int32()),
                month=pl.col(cursor).dt.month().cast(pl.Int32()),
            )
            for values, part in keyed.partition_by("year", "month", as_dict=True).items():
                year, month = values
                partition: Partition = (("year", int(year)), ("month", int(month)))
                stream = streams.get(partition)
                if stream is None:
                    stream = streams[partition] = _PartitionStream(tx, spec, partition, provenance)
                stream.write(part.drop("year", "month"))
    finally:
        for stream in streams.values():
            stream.close()
    touched = set(streams)
    for entry in state.files:
        if since_us is None or (entry.high is not None and entry.high >= since_us):
            touched.add(_part(entry))
    settle = _Settle(tx, spec, state, provenance, outcome)
    for settled in sorted(touched):
        old = [f for f in state.files if _part(f) == settled]
        stream = streams.get(settled)
        kept = _settle_window(settle, settled, old, stream, since_us)
        state.files = [f for f in state.files if _part(f) != settled] + kept
    highs = [f.high for f in state.files if f.high is not None]
    state.cursor = max(highs) if highs else state.cursor
    return outcome


def _settle_window(
    settle: _Settle,
    partition: Partition,
    old: list[FileEntry],
    stream: _PartitionStream | None,
    since_us: int | None,
) -> list[FileEntry]:
    tx, spec = settle.tx, settle.spec
    schema = settle.state.frame_schema
    paths = [w.path for w in stream.writers] if stream else []
    key, cursor = list(spec.key), spec.cursor_column
    assert cursor is not None
    if not old and len(paths) == 1:
        checked = _checked(paths[0], key, cursor)
        if checked["unique"] == checked["rows"]:
            # a partition new to the dataset, as streamed: moved into place unread
            relative = f"{partition_dir(spec.name, partition)}/{tx.file_name()}"
            os.replace(paths[0], tx.stage(relative))
            entry = FileEntry(
                relative, dict(partition), checked["rows"], checked["low"], checked["high"]
            )
            settle.outcome.counts.added += entry.rows
            settle.outcome.added_files.append(relative)
            settle.outcome.partitions_written.append(partition_dir(spec.name, partition))
            return [entry]
    streamed = [pl.read_parquet(path) for path in paths]
    new = (
        pl.concat(align(streamed, schema), how="diagonal_relaxed")
        if streamed
        else pl.DataFrame(schema=schema)
    )
    new = new.unique(key, keep="last", maintain_order=True)
    old_rows = read_files(tx.folder, old, schema)
    if since_us is not None:
        in_window = pl.col(cursor).dt.epoch("us") >= since_us
        reloaded = in_window | pl.struct(key).is_in(
            new.select(pl.struct(key)).to_series().implode()
        )
        old_kept, old_rows = old_rows.filter(~reloaded), old_rows.filter(reloaded)
    else:
        old_kept = old_rows.clear()
    merged = pl.concat([old_kept, new], how="vertical").sort(cursor, *key)
    everything = pl.concat([old_kept, old_rows]).sort(cursor, *key)
    return settle.replace(partition, old, merged, everything)


def _checked(path: Path, key: list[str], cursor: str) -> dict[str, Any]:
    return (
        pl.scan_parquet(path)
        .select(
            unique=pl.struct(key).n_unique() if len(key) > 1 else pl.col(key[0]).n_unique(),
            rows=pl.len(),
            low=pl.col(cursor).min().dt.epoch("us"),
            high=pl.col(cursor).max().dt.epoch("us"),
        )
        .collect()
        .row(0, named=True)
    )


def changes_path(resource: str, number: int) -> str:
    return f"{CHANGES_DIR}/{resource}/sync-{number:06d}.parquet"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def partition_of(values: Mapping[str, Any]) -> Partition:
    return tuple(values.items())
