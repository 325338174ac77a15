"""Parquet files that carry their provenance in the Arrow schema metadata.

The provenance (a JSON object under :data:`PROVENANCE_KEY`) is written as metadata of the Arrow
schema, which Parquet stores in the file's key-value metadata as well, so every reader sees it:
``pyarrow.parquet.read_table(f).schema.metadata``, ``pq.read_metadata(f).metadata``,
``pl.read_parquet_metadata(f)`` and DuckDB's ``parquet_kv_metadata(f)``; pandas (2.1 and later)
puts it in ``pd.read_parquet(f).attrs``, read from the ``PANDAS_ATTRS`` key written beside it.
Snapshots and datasets write through here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["PROVENANCE_KEY", "FrameWriter", "fsync_file", "read_provenance", "write_frame"]

#: Parquet / Arrow schema metadata key holding the provenance JSON.
PROVENANCE_KEY = "loketvalinso.provenance"
#: Snappy: what Spark writes by default and every reader reads; writing it costs a third of
#: zstd's time (the encoding, not the compression, is most of what is left), files are ~40 %
#: larger.
_COMPRESSION = "snappy"


#: the schema metadata key pandas restores ``DataFrame.attrs`` from
_PANDAS_ATTRS = "PANDAS_ATTRS"


def _schema_with(table_schema: pa.Schema, provenance: Mapping[str, Any]) -> pa.Schema:
    record = json.loads(json.dumps(dict(provenance), default=str))
    return table_schema.with_metadata(
        {
            PROVENANCE_KEY: json.dumps(record, sort_keys=True),
            _PANDAS_ATTRS: json.dumps({PROVENANCE_KEY: record}, sort_keys=True),
        }
    )


def _to_arrow(frame: pl.DataFrame) -> pa.Table:
    # Plain strings (not string views): every Parquet reader's Arrow reads them back. One chunk
    # per column: Polars 1.36 exports a struct column sliced out of a larger one (a changed
    # row's `before`) with child arrays of the wrong length, which pyarrow refuses.
    return frame.rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())


def _with_statistics(schema: pl.Schema) -> list[str]:
    """The columns whose row-group min/max is written: the numbers, dates and flags that
    filters skip row groups by. String statistics cost more to write than all the rest and
    skip little."""
    return [
        name
        for name, dtype in schema.items()
        if dtype.is_numeric() or dtype.is_temporal() or dtype == pl.Boolean
    ]


def write_frame(
    path: str | Path, frame: pl.DataFrame, provenance: Mapping[str, Any], *, sync: bool = True
) -> None:
    """Write ``frame`` to ``path`` with ``provenance`` in its Arrow schema metadata (``sync``:
    on disk before returning)."""
    writer = FrameWriter(path, frame.schema, provenance)
    writer.write(frame)
    writer.close(sync=sync)


class FrameWriter:
    """One Parquet file written a frame at a time (each frame one or more row groups).

    Every frame written must have the schema given at the start. ``close()`` syncs the file to
    disk, so a file that exists under its final name is whole.
    """

    def __init__(
        self,
        path: str | Path,
        schema: pl.Schema | Mapping[str, pl.DataType],
        provenance: Mapping[str, Any],
    ) -> None:
        self.path = Path(path)
        self.schema = pl.Schema(schema)
        arrow_schema = _to_arrow(pl.DataFrame(schema=self.schema)).schema
        self._writer = pq.ParquetWriter(
            self.path,
            _schema_with(arrow_schema, provenance),
            compression=_COMPRESSION,
            write_statistics=_with_statistics(self.schema),
        )
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        """Append ``frame`` (its schema must be :attr:`schema`)."""
        if frame.height:
            self.write_table(_to_arrow(frame))

    def write_table(self, table: pa.Table) -> None:
        self._writer.write_table(table)
        self.rows += table.num_rows
        # Arrow's allocator keeps what encoding a row group freed; a long stream of writes would
        # hold it all (peak memory is what a sync promises to bound): hand it back.
        pa.default_memory_pool().release_unused()

    def close(self, *, sync: bool = True) -> None:
        """Finish the file; ``sync``: on disk before returning (a scratch file need not be)."""
        self._writer.close()
        if sync:
            fsync_file(self.path)


def fsync_file(path: str | Path) -> None:
    """Make what was written to ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance stored in one file (empty when it has none)."""
    raw = pl.read_parquet_metadata(path).get(PROVENANCE_KEY)
    return json.loads(raw) if raw else {}
