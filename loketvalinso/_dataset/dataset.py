"""``lv.Dataset``: a folder of hive-partitioned Parquet that a sync keeps current."""

from __future__ import annotations

import functools
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from loketvalinso._dataset.diff import all_added, empty_changes
from loketvalinso._dataset.drift import (
    DRIFT_SCHEMA,
    RECORD_KEYS,
    SyncDrift,
    describe,
    refuse_lossy,
    undeclared_columns,
)
from loketvalinso._dataset.manifest import (
    Manifest,
    ResourceState,
    exclusive,
    read_manifest,
    recover,
    schema_to_text,
)
from loketvalinso._dataset.resources import PER_EMPLOYER, WHOLE, SyncSpec, spec_for
from loketvalinso._dataset.sync import (
    Outcome,
    Partition,
    Transaction,
    changes_path,
    now_iso,
    sync_full,
    sync_incremental,
)
from loketvalinso._frames.spec import valinso_spec
from loketvalinso._load.report import LoadReport
from loketvalinso._loket import Loket
from loketvalinso._parquet import write_frame
from loketvalinso._valinso import Valinso
from loketvalinso._version import __version__
from loketvalinso.errors import (
    ConfigurationError,
    PaginationError,
    PaginationWarning,
    SchemaDriftError,
    SchemaDriftWarning,
    redact_url,
)

__all__ = ["DEFAULT_LOOKBACK", "Dataset", "SyncSummary", "parse_lookback"]

#: How far before the stored cursor an incremental sync loads again, for vends that arrive late.
DEFAULT_LOOKBACK = timedelta(hours=6)
_US = 1_000_000
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

_HISTORY_SCHEMA = {
    "sync": pl.Int64(),
    "resource": pl.String(),
    "mode": pl.String(),
    "started_at": pl.String(),
    "seconds": pl.Float64(),
    "since": pl.String(),
    "cursor": pl.String(),
    "rows_loaded": pl.Int64(),
    "added": pl.Int64(),
    "changed": pl.Int64(),
    "removed": pl.Int64(),
    "rows": pl.Int64(),
    "partitions_written": pl.List(pl.String()),
    "employer_ids": pl.List(pl.String()),
    "source_urls": pl.List(pl.String()),
    "resource_versions": pl.List(pl.String()),
    "requests": pl.Int64(),
    "toolkit_version": pl.String(),
    "drift": pl.String(),
}


def parse_lookback(value: timedelta | str | None) -> timedelta:
    """``timedelta``, or text such as ``"6h"``, ``"90m"``, ``"2d"``; None = the default."""
    if value is None:
        return DEFAULT_LOOKBACK
    if isinstance(value, timedelta):
        lookback = value
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        lookback = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    else:
        msg = (
            f"lookback must be a timedelta or text like '6h', '90m' or '2d', not {value!r} "
            "(a bare number would not say its unit)"
        )
        raise ConfigurationError(msg)
    if lookback < timedelta(0):
        msg = f"lookback must not be negative, got {lookback}"
        raise ConfigurationError(msg)
    return lookback


def _iso(us: int | None) -> str | None:
    if us is None:
        return None
    return (
        pl.Series([us], dtype=pl.Int64())
        .cast(pl.Datetime("us", "UTC"))
        .dt.to_string("%Y-%m-%dT%H:%M:%S%z")[0]
    )


@dataclass(frozen=True)
class SyncSummary:
    """What one sync did (also a row of :meth:`Dataset.history`)."""

    resource: str
    sync: int
    mode: str
    rows_loaded: int
    added: int
    changed: int
    removed: int
    rows: int
    seconds: float
    since: str | None = None
    cursor: str | None = None
    partitions_written: list[str] = field(default_factory=list)
    #: what arrived off the schema, in a line: stored typed, stored as null, not stored (None:
    #: nothing); :meth:`Dataset.drift` has it per column
    drift: str | None = None


class Dataset:
    """A local dataset: hive-partitioned Parquet in ``folder`` that syncs keep current.

    Vends are partitioned by ``year=``/``month=`` of their timestamp, Loket resources by
    ``employer_id=``; a manifest (``_manifest.json``) records every file and every sync. Any
    Parquet reader can read the folder (``pl.scan_parquet("folder/vends/**/*.parquet",
    hive_partitioning=True)``, DuckDB, Spark); each file carries its provenance in its Arrow
    schema metadata.

    Parameters
    ----------
    folder
        Created by the first sync.

    Examples
    --------
    >>> ds = lv.Dataset("data/store")
    >>> ds.sync(valinso, "vends")                  # first run: everything; later: what is new
    >>> ds.sync(loket, "leave_requests")           # every employer the user may see
    >>> ds.changes("leave_requests")               # added / changed / removed by that sync
    >>> ds.scan("vends").filter(pl.col("year") == 2026).group_by("device_id").len().collect()
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).expanduser()
        if self.folder.exists() and not self.folder.is_dir():
            msg = f"{self.folder} is a file; a dataset needs a folder (a new or an existing one)"
            raise ConfigurationError(msg)

    def __repr__(self) -> str:
        return f"Dataset({str(self.folder)!r}, resources={self.resources()})"

    # -- reading ----------------------------------------------------------------------------

    def _manifest(self) -> Manifest:
        return read_manifest(self.folder)

    def resources(self) -> list[str]:
        """The resources synced so far."""
        return sorted(self._manifest().resources)

    def _state(self, resource: str) -> ResourceState:
        manifest = self._manifest()
        state = manifest.resources.get(resource)
        if state is None:
            have = ", ".join(sorted(manifest.resources)) or "none yet"
            msg = (
                f"the dataset in {self.folder} has no {resource!r} (it has: {have}); run "
                f"ds.sync(client, {resource!r}) first"
            )
            raise ConfigurationError(msg)
        return state

    def files(self, resource: str) -> list[Path]:
        """The Parquet files that hold ``resource`` now (for readers that take a file list)."""
        return [self.folder / entry.path for entry in self._state(resource).files]

    def scan(self, resource: str) -> pl.LazyFrame:
        """``resource`` as a LazyFrame over exactly the files of the last completed sync.

        Partition columns (``year``, ``month`` for vends; ``employer_id``) prune whole files
        when filtered on; other filters skip row groups by their statistics.
        """
        state = self._state(resource)
        schema = state.frame_schema
        partition_by = list(state.partition_by)
        hive = {name: schema.get(name, pl.Int32()) for name in partition_by}
        columns = [*schema, *(name for name in partition_by if name not in schema)]
        if not state.files:
            return pl.LazyFrame(schema={**schema, **hive}).select(columns)
        frame = pl.scan_parquet(
            [self.folder / entry.path for entry in state.files],
            hive_partitioning=bool(partition_by),
            hive_schema=hive or None,
            schema={k: v for k, v in schema.items() if k not in hive},
            missing_columns="insert",
            extra_columns="ignore",
        )
        return frame.select(columns)

    def read(self, resource: str) -> pl.DataFrame:
        """``resource`` as a DataFrame with the loader's columns, ordered by its key."""
        state = self._state(resource)
        return self.scan(resource).select(list(state.frame_schema)).sort(state.key).collect()

    def changes(self, resource: str) -> pl.DataFrame:
        """What the last sync of ``resource`` added, changed and removed, one row per row.

        Columns: ``change`` (``"added"``, ``"changed"`` or ``"removed"``), ``changed_columns``
        (for ``"changed"``), the row as it is now (as it was, for ``"removed"``), and
        ``before``: the row as it was (a struct; null for ``"added"``).
        """
        state = self._state(resource)
        schema = state.frame_schema
        parts = []
        if state.changes.get("path"):
            parts.append(pl.read_parquet(self.folder / state.changes["path"]))
        added = state.changes.get("added_files") or []
        if added:
            entries = [e for e in state.files if e.path in set(added)]
            rows = (
                pl.scan_parquet(
                    [self.folder / e.path for e in entries],
                    hive_partitioning=bool(state.partition_by),
                    hive_schema={n: schema.get(n, pl.Int32()) for n in state.partition_by} or None,
                    schema={k: v for k, v in schema.items() if k not in state.partition_by},
                    missing_columns="insert",
                )
                .select(list(schema))
                .collect()
            )
            parts.append(all_added(rows))
        if not parts:
            return empty_changes(schema)
        return pl.concat(parts, how="vertical_relaxed").sort("change", *state.key)

    def history(self) -> pl.DataFrame:
        """One row per completed sync, oldest first: what, when, the cursor, rows added /
        changed / removed, the source URLs, resource versions, toolkit version, and ``drift``:
        what arrived off the schema, in a line (what was stored typed, stored as null, not
        stored; null when nothing did; :meth:`drift` has it per column)."""
        rows = [
            {**{k: r.get(k) for k in _HISTORY_SCHEMA}, "drift": describe(r.get("drift"))}
            for r in self._manifest().syncs
        ]
        return pl.DataFrame(rows, schema=_HISTORY_SCHEMA, orient="row")

    def drift(self, resource: str | None = None) -> pl.DataFrame:
        """What arrived off the schema in each sync (of ``resource``, or all), one row per sync,
        column and kind; no rows when every sync was clean.

        Columns: ``sync``, ``resource``, ``column``, ``field`` (the API's name), ``kind``
        (``values``: coerced or nulled; ``missing``: a declared or assumed field that never
        arrived; ``undeclared``: a field the schema does not declare), ``declared``,
        ``arrived``, ``values``, ``coerced``, ``nulled`` and ``stored``: ``"typed"``,
        ``"null"``, ``"typed and null"`` or ``"not stored"`` (undeclared fields: a dataset
        keeps one schema per resource).
        """
        rows = [
            {
                "sync": entry.get("sync"),
                "resource": entry.get("resource"),
                **{key: record.get(key) for key in RECORD_KEYS},
            }
            for entry in self._manifest().syncs
            if resource is None or entry.get("resource") == resource
            for record in entry.get("drift") or ()
        ]
        return pl.DataFrame(rows, schema=DRIFT_SCHEMA, orient="row")

    # -- syncing ----------------------------------------------------------------------------

    def sync(
        self,
        client: Loket | Valinso,
        resource: str,
        /,
        *,
        employer_id: str | Sequence[str] | None = None,
        lookback: timedelta | str | None = None,
        batch_rows: int = 10_000,
        strict: bool = False,
    ) -> SyncSummary:
        """Bring ``resource`` up to date from ``client`` and record the sync.

        Vends are incremental: the first sync loads everything; later ones load from the stored
        cursor (the newest timestamp held) minus ``lookback``, replace what that window holds
        and rewrite only the partitions that changed. Every other resource is loaded whole
        (Loket has no modified-since filter), compared by key, and written only where
        something changed. Either way the folder changes atomically: a sync that fails or is
        killed leaves the previous state, exact.

        Data off the schema does not stop a sync: a dataset keeps one schema per resource and
        stores what landed typed (values coerced with their meaning kept), nulls for values
        that could not be (``price: "abc"``) and for a declared field that never arrived, and
        leaves out fields the schema does not declare. Every row is stored; the sync's entry
        in :meth:`history` and :meth:`drift` records what drifted, and one
        :class:`~loketvalinso.errors.SchemaDriftWarning` says what was stored and left out.
        A paging disagreement always stops the sync (a partial result is never stored).

        Parameters
        ----------
        client
            A :class:`~loketvalinso.Valinso` (``"vends"``, ``"devices"``, ``"products"``,
            ``"locations"``) or a :class:`~loketvalinso.Loket` (its named loaders:
            ``"leave_requests"``, ``"employees"``, ``"employments"``, ``"absences"``, …).
        resource
            The resource's name.
        employer_id
            Loket: the employer, or several; None = every employer the user may see. Other
            employers' partitions are left as they are.
        lookback
            Vends: how far before the cursor to load again, for vends that arrive late
            (``timedelta`` or ``"6h"``; default 6 hours).
        batch_rows
            Vends: rows per streamed batch (memory holds a few batches, never the whole load).
        strict
            Refuse data off the schema that the dataset cannot keep exactly (a field undeclared
            or missing, values nulled) with :class:`~loketvalinso.errors.SchemaDriftError`,
            leaving the dataset unchanged; values coerced with their meaning kept still pass.
            A client made with ``strict=True`` refuses any drift itself, as its loads do.

        Returns
        -------
        SyncSummary
            Rows loaded, added, changed and removed, and the rows held afterwards.
        """
        spec = spec_for(resource, _source_of(client))
        if lookback is not None and spec.cursor_column is None:
            msg = f"lookback= is for incremental resources (vends), not {resource!r}"
            raise ConfigurationError(msg)
        if employer_id is not None and not spec.per_employer:
            msg = f"{resource!r} is not loaded per employer: leave out employer_id="
            raise ConfigurationError(msg)
        window = parse_lookback(lookback)
        with exclusive(self.folder):
            manifest = self._manifest()
            recover(self.folder, manifest)
            tx = Transaction(self.folder, manifest, manifest.next_sync, __version__)
            try:
                return self._sync(tx, spec, client, employer_id, window, batch_rows, strict)
            finally:
                tx.discard()

    def _sync(
        self,
        tx: Transaction,
        spec: SyncSpec,
        client: Loket | Valinso,
        employer_id: str | Sequence[str] | None,
        lookback: timedelta,
        batch_rows: int,
        strict: bool,
    ) -> SyncSummary:
        started, clock = now_iso(), time.perf_counter()
        first = spec.name not in tx.manifest.resources
        state = tx.manifest.resources.get(spec.name) or ResourceState(
            source=spec.source,
            key=list(spec.key),
            partition_by=list(spec.partition_by),
            schema=schema_to_text(pl.Schema()),
            cursor_column=spec.cursor_column,
        )
        cursor_before = state.cursor
        provenance: dict[str, Any] = {
            "dataset": str(self.folder.name),
            "resource": spec.name,
            "sync": tx.number,
            "synced_at": started,
            "toolkit_version": __version__,
        }
        reports: list[LoadReport] = []
        drift = SyncDrift(strict=strict)
        employers: list[str] = []
        since_us: int | None = None
        if isinstance(client, Valinso) and spec.cursor_column is not None:
            if state.cursor is not None:
                since_us = (state.cursor - int(lookback.total_seconds() * _US)) // _US * _US
            provenance["source_url"] = redact_url(client.base_url + "/vends")
            batches = _in_schema(
                client,
                client.iter_vends(
                    since=None if since_us is None else since_us // _US,
                    batch_rows=batch_rows,
                    strict=True,  # a disagreement must stop the sync, not arrive after the rows
                ),
                [name for name, _ in valinso_spec(spec.name).outputs],
                drift=drift,
            )
            outcome = sync_incremental(tx, spec, state, batches, since_us, provenance)
            if client.last_load is not None:
                reports.append(client.last_load)
        else:
            loads = self._loads(client, spec, employer_id, provenance, reports, employers, drift)
            outcome = sync_full(tx, spec, state, loads, provenance)
        self._keep_changes(tx, spec, state, outcome)
        tx.manifest.resources[spec.name] = state
        mode = "first" if first else "incremental" if spec.cursor_column else "full"
        summary = SyncSummary(
            resource=spec.name,
            sync=tx.number,
            mode=mode,
            rows_loaded=outcome.rows_loaded,
            added=outcome.counts.added,
            changed=outcome.counts.changed,
            removed=outcome.counts.removed,
            rows=sum(entry.rows for entry in state.files),
            seconds=round(time.perf_counter() - clock, 3),
            since=_iso(since_us),
            cursor=_iso(state.cursor),
            partitions_written=sorted(outcome.partitions_written),
            drift=describe(records := drift.records()),
        )
        drift.warn(spec.name, records)  # before the commit: a warning made an error stops it
        tx.manifest.syncs.append(
            {
                **summary.__dict__,
                "drift": records,  # the records, not the line: history() writes the line
                "started_at": started,
                "cursor_before": _iso(cursor_before),
                "employer_ids": employers,
                "source_urls": list(dict.fromkeys(redact_url(r.url) for r in reports if r.url)),
                "resource_versions": sorted({v for r in reports for v in r.versions}),
                "requests": sum(r.requests for r in reports),
                "toolkit_version": __version__,
            }
        )
        tx.manifest.next_sync = tx.number + 1
        tx.commit()
        return summary

    def _loads(
        self,
        client: Loket | Valinso,
        spec: SyncSpec,
        employer_id: str | Sequence[str] | None,
        provenance: dict[str, Any],
        reports: list[LoadReport],
        employers: list[str],
        drift: SyncDrift,
    ) -> Iterator[tuple[Partition, Callable[[], pl.DataFrame]]]:
        """Each partition's load, as the full sync asks for them."""

        def load(call: Callable[[], pl.DataFrame]) -> Callable[[], pl.DataFrame]:
            def run() -> pl.DataFrame:
                frame = _in_schema_whole(client, call, drift)
                report = client.last_load
                if report is not None:
                    reports.append(report)
                    provenance["source_url"] = redact_url(report.url)
                    provenance["resource_versions"] = sorted(report.versions)
                return frame

            return run

        if not spec.per_employer:
            whole = WHOLE[spec.name]
            yield (), load(lambda: whole(client))
            return
        assert isinstance(client, Loket)
        loader = PER_EMPLOYER[spec.name]
        if employer_id is None:
            ids = client.employers()["id"].to_list()
        else:
            ids = [employer_id] if isinstance(employer_id, str) else list(employer_id)
        for one in dict.fromkeys(ids):
            employers.append(one)
            yield (("employer_id", one),), load(functools.partial(loader, client, one))

    def _keep_changes(
        self, tx: Transaction, spec: SyncSpec, state: ResourceState, outcome: Outcome
    ) -> None:
        """Record the sync's changes: compared rows in a file, whole new files by name."""
        if "path" in state.changes:
            tx.superseded.add(state.changes["path"])
        changes: dict[str, Any] = {"sync": tx.number, "added_files": outcome.added_files}
        if outcome.changes:
            relative = changes_path(spec.name, tx.number)
            frame = pl.concat(outcome.changes, how="diagonal_relaxed")
            provenance = {"resource": spec.name, "sync": tx.number}
            write_frame(tx.stage(relative), frame, provenance, sync=False)
            changes["path"] = relative
        state.changes = changes


def _source_of(client: object) -> str:
    if isinstance(client, Valinso):
        return "valinso"
    if isinstance(client, Loket):
        return "loket"
    msg = f"sync needs an lv.Loket or lv.Valinso client, not {type(client).__name__}"
    raise ConfigurationError(msg)


def _in_schema_whole(
    client: Loket | Valinso, call: Callable[[], pl.DataFrame], drift: SyncDrift
) -> pl.DataFrame:
    """``call()``, raising instead of returning when its paging disagreed (a warning would let
    a partial result into the dataset); data off the schema is added to the sync's drift and
    its undeclared columns left out (:mod:`~loketvalinso._dataset.drift`), or, with
    ``strict``, refused when the dataset cannot keep it exactly. Other warnings pass on; the
    load's drift warning gives way to the sync's one."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = call()
    problems = [w for w in caught if issubclass(w.category, PaginationWarning)]
    if problems:
        msg = f"{problems[0].message}; the dataset was not changed (run the sync again)"
        raise PaginationError(msg)
    report = client.last_load
    drifted = report is not None and any(issubclass(w.category, SchemaDriftWarning) for w in caught)
    if report is not None and drifted:
        if drift.strict:
            refuse_lossy(report)
        drift.add(report)
        frame = frame.drop([c for c in undeclared_columns(report.drift) if c in frame.columns])
    for w in caught:
        if not (drifted and issubclass(w.category, SchemaDriftWarning)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return frame


def _in_schema(
    client: Valinso,
    batches: Iterator[pl.DataFrame],
    declared: Sequence[str],
    *,
    drift: SyncDrift,
) -> Iterator[pl.DataFrame]:
    """The frames of a stream made strict, with the ``declared`` columns only (undeclared
    fields are not stored). The stream's drift verdict comes after its last frame, as a
    :class:`~loketvalinso.errors.SchemaDriftError`: it is added to the sync's drift, or, with
    ``strict``, refused when the dataset cannot keep it exactly; before the manifest is
    written either way."""
    keep = set(declared)
    try:
        for batch in batches:
            extra = [name for name in batch.columns if name not in keep]
            yield batch.drop(extra) if extra else batch
    except SchemaDriftError as exc:
        report = client.last_load
        if report is None or client.strict:
            raise  # a client made strict refuses any drift, as its own loads do
        if drift.strict:
            refuse_lossy(report, cause=exc)
        drift.add(report)
