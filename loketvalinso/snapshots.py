"""Parquet snapshots of loaded frames, with their provenance, for reports re-run offline.

>>> lv.snapshots.save({"vends": vends}, "data/demo", provenance={"vends": valinso.last_load})
>>> snap = lv.snapshots.load("data/demo")          # no server needed
>>> snap["vends"], snap.provenance["vends"]["source_url"]
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from loketvalinso._parquet import PROVENANCE_KEY, read_provenance, write_frame
from loketvalinso.errors import ConfigurationError, redact_url

__all__ = ["PROVENANCE_KEY", "Snapshot", "load", "provenance_of", "save"]


def _from_reports(reports: Sequence[Any]) -> dict[str, Any]:
    """Provenance of a frame made of several loads (one per employer, say): every source URL,
    every version served, the first load's start, the pages of all."""
    urls = [str(r.url) for r in reports if getattr(r, "url", None)]
    versions = {str(v) for r in reports for v in (getattr(r, "versions", None) or ())}
    starts = [r.started_at for r in reports if isinstance(getattr(r, "started_at", None), datetime)]
    pages = [r.pages for r in reports if isinstance(getattr(r, "pages", None), int)]
    return {
        "source_url": urls[0] if urls else None,
        "source_urls": list(dict.fromkeys(urls)),
        "resource_versions": sorted(versions),
        "loaded_at": min(starts).isoformat() if starts else None,
        "pages": sum(pages) if pages else None,
    }


def _provenance_record(name: str, frame: pl.DataFrame, source: Any) -> dict[str, Any]:
    """Provenance from LoadReport-like objects or a mapping (never a secret: URLs redacted)."""
    record: dict[str, Any] = {"name": name, "rows": frame.height, "columns": frame.width}
    if source is None:
        pass
    elif isinstance(source, Mapping):
        record.update({k: v for k, v in source.items() if k not in {"name", "rows"}})
    else:
        many = isinstance(source, Sequence) and not isinstance(source, str)
        reports = list(source) if many else [source]
        record.update(_from_reports(reports))
    if record.get("source_url"):
        record["source_url"] = redact_url(record["source_url"])
    urls = record.get("source_urls") or ([record["source_url"]] if record.get("source_url") else [])
    record["source_urls"] = [redact_url(url) for url in urls]
    record.setdefault("loaded_at", None)
    record["saved_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    record["rows"] = frame.height
    return record


def save(
    frames: Mapping[str, pl.DataFrame],
    directory: str | Path,
    *,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write each frame to ``<directory>/<name>.parquet`` with its provenance in the metadata.

    Parameters
    ----------
    frames
        Name → DataFrame.
    directory
        Created if needed.
    provenance
        Name → a :class:`~loketvalinso._load.report.LoadReport` (``client.last_load``), a list
        of them for a frame made of several loads (every URL is kept, in ``source_urls``), or a
        mapping with ``source_url``, ``resource_versions``, ``loaded_at``.

    The provenance is JSON in the Arrow schema metadata under :data:`PROVENANCE_KEY`, so
    ``pyarrow.parquet.read_table(f).schema.metadata``, pandas and DuckDB see it too.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, frame in frames.items():
        if not name.replace("_", "").isalnum():
            msg = f"snapshot names must be letters, digits and '_', not {name!r}"
            raise ConfigurationError(msg)
        record = _provenance_record(name, frame, (provenance or {}).get(name))
        path = out / f"{name}.parquet"
        write_frame(path, frame, record)
        written[name] = path
    return written


def provenance_of(path: str | Path) -> dict[str, Any]:
    """The provenance stored in one snapshot file (empty when it has none)."""
    return read_provenance(path)


def _when(value: Any) -> datetime | None:
    """An ISO timestamp of the provenance as an aware datetime (UTC), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(repr=False)
class Snapshot(Mapping[str, pl.DataFrame]):
    """Frames read back from a snapshot folder, with ``provenance`` per frame.

    It prints as one line per frame (name, shape, when it was loaded); :meth:`describe` gives
    the same as a DataFrame, with real datetimes.
    """

    directory: Path
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> pl.DataFrame:
        try:
            return self.frames[name]
        except KeyError:
            have = ", ".join(sorted(self.frames)) or "none"
            msg = f"no snapshot {name!r} in {self.directory} (it has: {have})"
            raise KeyError(msg) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def _lines(self) -> list[tuple[str, str, str]]:
        out = []
        for name, frame in self.frames.items():
            loaded = _when(self.provenance.get(name, {}).get("loaded_at"))
            when = loaded.strftime("%Y-%m-%d %H:%M UTC") if loaded else "load time unknown"
            out.append((name, f"{frame.height:,} × {frame.width}", when))
        return out

    def __repr__(self) -> str:
        lines = [f"Snapshot({str(self.directory)!r}: {len(self.frames)} frame(s))"]
        lines += [f"  {name:<24} {shape:>16}  {when}" for name, shape, when in self._lines()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{shape}</td><td>{html.escape(when)}</td></tr>"
            for name, shape, when in self._lines()
        )
        return (
            f"<table><caption style='text-align:left'><b>Snapshot</b> "
            f"{html.escape(str(self.directory))}</caption>"
            "<tr><th>frame</th><th>rows × columns</th><th>loaded</th></tr>"
            f"{rows}</table>"
        )

    def describe(self) -> pl.DataFrame:
        """One row per frame: where and when it was loaded (``loaded_at``, ``saved_at`` as
        ``Datetime("us", "UTC")``), its resource versions and its size."""
        rows = [
            {
                "name": name,
                "rows": rec.get("rows"),
                "columns": rec.get("columns"),
                "source_url": ", ".join(rec.get("source_urls") or []) or rec.get("source_url"),
                "resource_versions": ", ".join(rec.get("resource_versions") or []),
                "loaded_at": _when(rec.get("loaded_at")),
                "saved_at": _when(rec.get("saved_at")),
            }
            for name, rec in sorted(self.provenance.items())
        ]
        schema: dict[str, pl.DataType | type[pl.DataType]] = {
            "name": pl.String,
            "rows": pl.Int64,
            "columns": pl.Int64,
            "source_url": pl.String,
            "resource_versions": pl.String,
            "loaded_at": pl.Datetime("us", "UTC"),
            "saved_at": pl.Datetime("us", "UTC"),
        }
        return pl.DataFrame(rows, schema=schema)


def load(directory: str | Path) -> Snapshot:
    """Read every ``*.parquet`` snapshot in ``directory`` (no server, no network)."""
    folder = Path(directory)
    if not folder.is_dir():
        msg = (
            f"snapshot folder {folder} does not exist; run `loketvalinso demo --out {folder}` first"
        )
        raise ConfigurationError(msg)
    snapshot = Snapshot(directory=folder)
    for path in sorted(folder.glob("*.parquet")):
        snapshot.frames[path.stem] = pl.read_parquet(path)
        snapshot.provenance[path.stem] = provenance_of(path)
    if not snapshot.frames:
        msg = f"no .parquet snapshots in {folder}"
        raise ConfigurationError(msg)
    return snapshot
