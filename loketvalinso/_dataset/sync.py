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

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future
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
    remove_files,
    schema_to_text,
    write_commit_note,
    write_manifest,
)
from loketvalinso._dataset.resources import SyncSpec
from loketvalinso._load.pools import page_pool
from loketvalinso._parquet import FrameWriter, fsync_file, write_frame

__all__ = ["Transaction", "partition_dir", "read_files", "sync_full", "sync_incremental"]

Partition = tuple[tuple[str, Any], ...]
#: An incremental sync adds a file of new rows to a partition until it has this many; the next
#: rewrites the partition as one file.
MAX_FILES = 8
#: Streamed rows kept in memory (all partitions together) before the largest buffer goes to a
#: file: a day of vends stays in memory, a first sync of millions streams through files.
BUFFER_ROWS = 10_000


def partition_dir(resource: str, partition: Partition) -> str:
    """``vends/year=2026/month=9``: the hive folder of one partition."""
    return "/".join([resource, *(f"{name}={value}" for name, value in partition)])


def _part(entry: FileEntry) -> Partition:
    return tuple(entry.partition.items())


def scan_files(folder: Path, entries: Iterable[FileEntry], schema: pl.Schema) -> pl.LazyFrame:
    """The rows of ``entries`` with exactly the columns of ``schema`` (partition values from
    the entries, columns a file lacks as nulls), lazily: filters reach the files."""
    frames = []
    for entry in entries:
        values = {k: v for k, v in entry.partition.items() if k in schema}
        frame = pl.scan_parquet(
            folder / entry.path,
            schema={k: v for k, v in schema.items() if k not in values},
            missing_columns="insert",
            extra_columns="ignore",
        )
        if values:
            frame = frame.with_columns(pl.lit(v, schema[k]).alias(k) for k, v in values.items())
        frames.append(frame.select(list(schema)))
    if not frames:
        return pl.LazyFrame(schema=schema)
    return pl.concat(frames, how="vertical")


def read_files(folder: Path, entries: Iterable[FileEntry], schema: pl.Schema) -> pl.DataFrame:
    """:func:`scan_files`, read."""
    return scan_files(folder, entries, schema).collect()


def _widen(state: ResourceState, other: pl.Schema) -> pl.Schema:
    """The state's schema with the columns of ``other`` it lacks added at the end."""
    schema = state.frame_schema
    extra = {k: v for k, v in other.items() if k not in schema}
    if extra:
        schema = pl.Schema({**schema, **extra})
        state.schema = schema_to_text(schema)
    return schema


@dataclass
class Transaction:
    """The files one sync writes, and its commit."""

    folder: Path
    manifest: Manifest
    number: int
    toolkit_version: str
    moves: list[tuple[Path, str]] = field(default_factory=list)
    superseded: set[str] = field(default_factory=set)
    staged: int = 0
    #: files written and being synced to disk in the background
    syncing: dict[Path, Future[None]] = field(default_factory=dict)

    @property
    def staging(self) -> Path:
        return self.folder / STAGING_DIR

    def file_name(self) -> str:
        """The name of the file this sync writes in a partition (one per partition at most)."""
        return f"part-{self.number:06d}.parquet"

    def written(self, path: Path) -> None:
        """``path`` is written: sync it to disk in the background, on the load's threads."""
        pool, own = page_pool(1)
        self.syncing[path] = pool.submit(fsync_file, path)
        if own:
            pool.shutdown(wait=False)

    def stage(self, relative: str) -> Path:
        """Where to write the file that will be ``relative`` in the folder (staged files are
        named by number, in one flat folder: cheap to create and to remove)."""
        staged = self._staged_path()
        self.moves.append((staged, relative))
        return staged

    def scratch(self) -> Path:
        """A file of this sync's own (not moved into the folder)."""
        return self._staged_path()

    def _staged_path(self) -> Path:
        self.staging.mkdir(parents=True, exist_ok=True)
        self.staged += 1
        return self.staging / f"{self.number:06d}-{self.staged}.parquet"

    def commit(self) -> None:
        """New files on disk, a note of what moves, the files into place, the manifest, the old
        files out, the note away (:func:`~loketvalinso._dataset.manifest.recover` reads it)."""
        for staged, _ in self.moves:
            if staged not in self.syncing:
                self.written(staged)
        for future in self.syncing.values():
            future.result()
        gone = sorted(self.superseded - self.manifest.listed())
        note = write_commit_note(self.folder, self.number, [r for _, r in self.moves], gone)
        for staged, relative in self.moves:
            target = self.folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        write_manifest(
            self.folder, self.manifest, toolkit_version=self.toolkit_version, durable=bool(gone)
        )
        remove_files(self.folder, gone)
        note.unlink()
        self.discard()

    def discard(self) -> None:
        """Delete what this sync staged and did not move (the staging folder stays)."""
        for path in self.staging.glob(f"{self.number:06d}-*.parquet"):
            path.unlink(missing_ok=True)


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
        staged = self.tx.stage(relative)
        write_frame(staged, stored, provenance, sync=False)
        self.tx.written(staged)
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
        schema = _widen(state, new.schema)
        old = [f for f in state.files if _part(f) == partition]
        old_rows = read_files(tx.folder, old, schema)
        (new,) = align([new], schema)
        kept = settle.replace(partition, old, new, old_rows)
        state.files = [f for f in state.files if _part(f) != partition] + kept
    return outcome


# -- incremental syncs --------------------------------------------------------------------------


class _Streams:
    """The streamed rows of each partition: kept in memory up to :data:`BUFFER_ROWS` in all;
    beyond that the largest buffer goes on to a scratch file of its partition (a new file when
    the schema changes), so memory stays bounded whatever the load's size and order."""

    def __init__(self, tx: Transaction, provenance: dict[str, Any]) -> None:
        self.tx, self.provenance = tx, provenance
        self.buffers: dict[Partition, list[pl.DataFrame]] = {}
        self.buffered = 0
        self.writers: dict[Partition, list[FrameWriter]] = {}

    def add(self, partition: Partition, frame: pl.DataFrame) -> None:
        self.buffers.setdefault(partition, []).append(frame)
        self.buffered += frame.height
        while self.buffered > BUFFER_ROWS:
            self._spill(max(self.buffers, key=lambda p: sum(f.height for f in self.buffers[p])))

    def _spill(self, partition: Partition) -> None:
        frames = self.buffers.pop(partition, [])
        writers = self.writers.setdefault(partition, [])
        for frame in frames:
            self.buffered -= frame.height
            if not writers or writers[-1].schema != frame.schema:
                provenance = {**self.provenance, "partition": dict(partition)}
                writers.append(FrameWriter(self.tx.scratch(), frame.schema, provenance))
            writers[-1].write(frame)

    def close(self) -> None:
        """Partitions that went to files put the rest there too; every file is closed."""
        try:
            for partition in list(self.writers):
                self._spill(partition)
        finally:
            for writers in self.writers.values():
                for writer in writers:
                    writer.close(sync=False)

    def partitions(self) -> set[Partition]:
        return set(self.buffers) | set(self.writers)

    def files(self, partition: Partition) -> list[Path]:
        return [writer.path for writer in self.writers.get(partition, [])]

    def frames(self, partition: Partition) -> list[pl.DataFrame]:
        return self.buffers.get(partition, [])


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
    streams = _Streams(tx, provenance)
    # While the load is on the wire, read what the partitions it will touch hold in its window.
    ahead = _Ahead(tx.folder, state, spec, since_us)
    try:
        for batch in batches:
            outcome.rows_loaded += batch.height
            _widen(state, batch.schema)
            if not batch.height:
                continue
            month = (pl.col(cursor).dt.year() * 100 + pl.col(cursor).dt.month()).cast(pl.Int32)
            keyed = batch.with_columns(month.alias("\x00month"))
            first, last = keyed.select(
                pl.col("\x00month").min().alias("a"), pl.col("\x00month").max().alias("b")
            ).row(0)
            if first == last:  # the usual case: the load comes in time order
                streams.add(_month_partition(first), batch)
                continue
            for (value,), part in keyed.partition_by("\x00month", as_dict=True).items():
                streams.add(_month_partition(int(value)), part.drop("\x00month"))
    finally:
        streams.close()
        prefetched = ahead.result()
    touched = streams.partitions()
    for entry in state.files:
        if since_us is None or (entry.high is not None and entry.high >= since_us):
            touched.add(_part(entry))
    settle = _Settle(tx, spec, state, provenance, outcome)
    for settled in sorted(touched):
        old = [f for f in state.files if _part(f) == settled]
        kept = _settle_window(settle, settled, old, streams, since_us, prefetched.get(settled))
        state.files = [f for f in state.files if _part(f) != settled] + kept
    highs = [f.high for f in state.files if f.high is not None]
    state.cursor = max(highs) if highs else state.cursor
    return outcome


def _settle_window(
    settle: _Settle,
    partition: Partition,
    old: list[FileEntry],
    streams: _Streams,
    since_us: int | None,
    prefetched: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> list[FileEntry]:
    """Settle one partition the incremental load touched: the load is the truth for the rows
    in its window (from ``since_us`` on) and for the keys it brought; the rest stays."""
    tx, spec = settle.tx, settle.spec
    schema = settle.state.frame_schema
    paths = streams.files(partition)
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
    streamed = [pl.read_parquet(path) for path in paths] + streams.frames(partition)
    new = (
        pl.concat(align(streamed, schema), how="diagonal_relaxed")
        if streamed
        else pl.DataFrame(schema=schema)
    ).unique(key, keep="last", maintain_order=True)
    if not old:
        settle.outcome.counts.added += new.height
        entry = settle.write(partition, new.sort(cursor, *key))
        settle.outcome.added_files.append(entry.path)
        return [entry]
    stored = scan_files(tx.folder, old, schema)
    if since_us is None:
        reloaded = pl.lit(True)
    else:
        keys = new.get_column(key[0]) if len(key) == 1 else new.select(pl.struct(key)).to_series()
        mine = pl.col(key[0]) if len(key) == 1 else pl.struct(key)
        reloaded = (pl.col(cursor).dt.epoch("us") >= since_us) | mine.is_in(keys.implode())
    if prefetched is None:
        previous = stored.filter(reloaded).collect()
    else:
        # the window's rows, read ahead, and any row from before it whose key came back
        in_window, earlier_keys = prefetched
        came_back = earlier_keys.join(new.select(key), on=key, how="semi")
        previous = in_window
        if came_back.height:
            back = stored.filter(~_in_window(cursor, since_us)).join(came_back.lazy(), on=key)
            previous = pl.concat([in_window, back.collect()])
    added = _only_added(previous, new, key)
    if added is not None and len(old) < MAX_FILES:
        # only new rows: a file of them beside the partition's others, which stay as they are;
        # that file is the sync's changes here
        if not added.height:
            return old
        settle.outcome.counts.added += added.height
        entry = settle.write(partition, added.sort(cursor, *key))
        settle.outcome.added_files.append(entry.path)
        return [*old, entry]
    changes, counts = compare(previous, new, key)
    if not counts.any:
        return old
    settle.outcome.counts += counts
    settle.outcome.changes.append(changes)
    settle.tx.superseded.update(entry.path for entry in old)
    merged = pl.concat([stored.filter(~reloaded).collect(), new]).sort(cursor, *key)
    return [settle.write(partition, merged)] if merged.height else []


def _month_partition(yyyymm: int) -> Partition:
    return (("year", yyyymm // 100), ("month", yyyymm % 100))


def _only_added(previous: pl.DataFrame, new: pl.DataFrame, key: list[str]) -> pl.DataFrame | None:
    """The rows of ``new`` whose key ``previous`` lacks, when every row of ``previous`` came
    back unchanged (the common case of an incremental sync: a quick check, no full compare);
    None otherwise."""
    again = new.join(previous.select(key), on=key, how="semi")
    if again.height != previous.height or again.columns != previous.columns:
        return None
    if not again.sort(key).equals(previous.sort(key)):
        return None
    return new.join(previous.select(key), on=key, how="anti")


def _in_window(cursor: str, since_us: int | None) -> pl.Expr:
    return pl.lit(True) if since_us is None else pl.col(cursor).dt.epoch("us") >= since_us


class _Ahead:
    """Reads, in a thread of its own, the stored rows in the window of each partition whose
    newest row is in it, and the keys of their rows before it."""

    def __init__(
        self, folder: Path, state: ResourceState, spec: SyncSpec, since_us: int | None
    ) -> None:
        assert spec.cursor_column is not None
        cursor, key = spec.cursor_column, list(spec.key)
        likely: dict[Partition, list[FileEntry]] = {}
        if since_us is not None:
            for entry in state.files:
                if entry.high is not None and entry.high >= since_us:
                    likely.setdefault(_part(entry), [])
            for entry in state.files:
                if _part(entry) in likely:
                    likely[_part(entry)].append(entry)
        schema = state.frame_schema
        window = _in_window(cursor, since_us)

        def read() -> dict[Partition, tuple[pl.DataFrame, pl.DataFrame]]:
            out = {}
            for partition, entries in likely.items():
                stored = scan_files(folder, entries, schema)
                out[partition] = (
                    stored.filter(window).collect(),
                    stored.filter(~window).select(key).collect(),
                )
            return out

        self._pool, self._own = page_pool(1)  # the load's threads, started already
        self._future = self._pool.submit(read)

    def result(self) -> dict[Partition, tuple[pl.DataFrame, pl.DataFrame]]:
        try:
            return self._future.result()
        finally:
            if self._own:
                self._pool.shutdown()


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
