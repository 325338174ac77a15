"""What a sync stores of data off the schema, and the record of it in the manifest.

A dataset keeps one schema per resource. A load's drift report (``LoadReport.drift``) says what
arrived off the schema; by default a sync stores what landed typed and records the rest:

=====================================  ==========================================================
drift (``kind``)                       what the dataset stores (``stored``)
=====================================  ==========================================================
``values``, coerced with their         the schema's type (``"typed"``)
meaning kept (``"406.40"``)
``values`` that had to be nulled       null (``"null"``; ``"typed and null"`` when some were
(``price: "abc"``)                     coerced too)
``missing``: a declared or assumed     a null column: the stored schema does not change
field that never arrived               (``"null"``)
``undeclared``: a field the schema     nothing (``"not stored"``): a second schema would follow
does not declare                       from one server's whim
=====================================  ==========================================================

Rows are never dropped. Each sync's manifest entry keeps its drift records (:data:`RECORD_KEYS`;
examples stay in ``client.last_load.drift``, the manifest keeps no raw values) and the sync
ends with one :class:`~loketvalinso.errors.SchemaDriftWarning` saying what was stored and what
was left out. With ``strict=True`` any drift but lossless coercion refuses the sync instead
(:func:`refuse_lossy`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from loketvalinso._frames.drift import DRIFT_SCHEMA as LOAD_DRIFT_SCHEMA
from loketvalinso._load.report import LoadReport, external_stacklevel
from loketvalinso.errors import SchemaDriftError, SchemaDriftWarning

__all__ = [
    "DRIFT_SCHEMA",
    "RECORD_KEYS",
    "SyncDrift",
    "describe",
    "refuse_lossy",
    "undeclared_columns",
]

#: The keys of one drift record in a sync's manifest entry (one per column and kind).
RECORD_KEYS = (
    "column",
    "field",
    "kind",
    "declared",
    "arrived",
    "values",
    "coerced",
    "nulled",
    "stored",
)
#: The columns of :meth:`Dataset.drift <loketvalinso.Dataset.drift>`: the load report's drift
#: columns but the examples, with the sync and what the dataset stored.
DRIFT_SCHEMA = pl.Schema(
    {
        "sync": pl.Int64(),
        **{name: dtype for name, dtype in LOAD_DRIFT_SCHEMA.items() if name != "examples"},
        "stored": pl.String(),
    }
)
#: Columns named in one summary before "and N more".
_SHOWN = 6


def _stored(kind: str, coerced: int, nulled: int) -> str:
    if kind == "undeclared":
        return "not stored"
    if kind == "missing":
        return "null"
    if nulled:
        return "typed and null" if coerced else "null"
    return "typed"


def _lossy(drift: pl.DataFrame) -> pl.DataFrame:
    """The drift rows that change what the dataset holds: any field undeclared or missing,
    any value nulled."""
    return drift.filter((pl.col("kind") != "values") | (pl.col("nulled") > 0))


def undeclared_columns(drift: pl.DataFrame) -> list[str]:
    """The columns a load added for undeclared fields (those inside a list have none)."""
    return (
        drift.filter(pl.col("kind") == "undeclared")["column"].unique(maintain_order=True).to_list()
    )


def refuse_lossy(report: LoadReport, *, cause: BaseException | None = None) -> None:
    """Raise :class:`~loketvalinso.errors.SchemaDriftError` (``strict=True``) when the load's
    drift would change what the dataset stores: a field undeclared or missing, or values nulled.
    Values coerced with their meaning kept are stored as the schema's type and pass."""
    lossy = _lossy(report.drift)
    if lossy.is_empty():
        return
    columns = ", ".join(
        dict.fromkeys(f"{c} ({k})" for c, k in lossy.select("column", "kind").rows())
    )
    msg = (
        f"{report.label or 'load'}: data off the schema that the dataset cannot keep exactly "
        f"— {columns}; the dataset was not changed (strict=True). client.last_load.drift has "
        "the details; without strict=True the sync stores what landed typed (nulls for the "
        "rest) and records the drift in ds.history()"
    )
    raise SchemaDriftError(msg, url=report.url) from cause


class SyncDrift:
    """The drift of one sync's loads, added up per column and kind; ``strict``: the sync
    refuses what the dataset cannot keep exactly (:func:`refuse_lossy`)."""

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self._frames: list[pl.DataFrame] = []

    def add(self, report: LoadReport) -> None:
        drift = report.drift
        if not drift.is_empty():
            self._frames.append(drift)

    def records(self) -> list[dict[str, Any]]:
        """One record per column and kind (:data:`RECORD_KEYS`), for the manifest."""
        if not self._frames:
            return []
        merged = (
            pl.concat(self._frames)
            .group_by("column", "kind", maintain_order=True)
            .agg(
                pl.col("field").first(),
                pl.col("declared").first(),
                pl.col("arrived").unique(maintain_order=True).str.join(", "),
                pl.col("values", "coerced", "nulled").sum(),
            )
        )
        return [
            {
                **{key: row[key] for key in RECORD_KEYS if key != "stored"},
                "stored": _stored(row["kind"], row["coerced"], row["nulled"]),
            }
            for row in merged.iter_rows(named=True)
        ]

    def warn(self, resource: str, records: Sequence[Mapping[str, Any]]) -> None:
        """The sync's one :class:`~loketvalinso.errors.SchemaDriftWarning`, saying what the
        dataset stored and what it left out."""
        if not records:
            return
        lossy = any(r["stored"] != "typed" for r in records)
        text = (
            f"{resource}: data off the schema, synced — {describe(records)}. Every row was "
            "stored; a dataset keeps one schema per resource. ds.history() records the drift, "
            "ds.drift() per column, client.last_load.drift has examples"
            + ("; ds.sync(..., strict=True) refuses such data instead" if lossy else "")
        )
        warnings.warn(SchemaDriftWarning(text), stacklevel=external_stacklevel())


def describe(records: Iterable[Mapping[str, Any]] | None, *, limit: int = _SHOWN) -> str | None:
    """A sync's drift in a line (None when nothing drifted): what was stored typed, stored as
    null, and left out. ``ds.history()`` shows it; old manifests have no drift (None)."""
    groups: dict[str, list[str]] = {"stored typed": [], "stored as null": [], "not stored": []}
    for r in records or ():
        kind, column = r.get("kind"), r.get("column")
        if kind == "undeclared":
            groups["not stored"].append(f"{column} (undeclared)")
        elif kind == "missing":
            groups["stored as null"].append(f"{column} (never arrived, {r['values']:,} rows)")
        else:
            arrived = r.get("arrived") or "?"
            if r.get("coerced"):
                groups["stored typed"].append(f"{column} ({r['coerced']:,} coerced from {arrived})")
            if r.get("nulled"):
                groups["stored as null"].append(f"{column} ({r['nulled']:,} nulled: {arrived})")
    parts = []
    for name, items in groups.items():
        if items:
            shown = items[:limit] + (
                [f"and {len(items) - limit} more"] if len(items) > limit else []
            )
            parts.append(f"{name}: {', '.join(shown)}")
    return "; ".join(parts) or None
