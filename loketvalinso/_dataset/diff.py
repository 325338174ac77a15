"""What changed between two versions of a table, compared by key.

:func:`compare` gives the changes frame of a sync: one row per key added, changed or removed,
with ``change``, ``changed_columns`` (the columns whose value differs, for ``"changed"``), the
row as it is now (as it was, for ``"removed"``) and ``before``, a struct of the row as it was
(null for ``"added"``). All of it in Polars joins, no Python per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

__all__ = ["CHANGE_COLUMNS", "Counts", "align", "all_added", "compare", "empty_changes"]

#: the columns a changes frame puts before the row's own
CHANGE_COLUMNS = ("change", "changed_columns")
_OLD = "\x00old:"
_IN_NEW, _IN_OLD = "\x00in new", "\x00in old"


@dataclass
class Counts:
    added: int = 0
    changed: int = 0
    removed: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.added += other.added
        self.changed += other.changed
        self.removed += other.removed
        return self

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def align(frames: Sequence[pl.DataFrame], schema: pl.Schema) -> list[pl.DataFrame]:
    """``frames`` with every column of ``schema`` (missing ones null), in its order and dtypes;
    columns only some frames have are kept at the end."""
    out = []
    for frame in frames:
        missing = [pl.lit(None, dtype).alias(n) for n, dtype in schema.items() if n not in frame]
        frame = frame.with_columns(missing) if missing else frame
        extra = [c for c in frame.columns if c not in schema]
        out.append(frame.select(*[pl.col(n).cast(d) for n, d in schema.items()], *extra))
    return out


def _before_dtype(schema: pl.Schema) -> pl.Struct:
    return pl.Struct([pl.Field(name, dtype) for name, dtype in schema.items()])


def empty_changes(schema: pl.Schema) -> pl.DataFrame:
    """A changes frame with no rows, for a table of ``schema``."""
    return pl.DataFrame(
        schema={
            "change": pl.String(),
            "changed_columns": pl.List(pl.String()),
            **schema,
            "before": _before_dtype(schema),
        }
    )


def all_added(frame: pl.DataFrame) -> pl.DataFrame:
    """The changes frame of a sync into an empty table: every row added."""
    return frame.select(
        pl.lit("added").alias("change"),
        pl.lit([], pl.List(pl.String())).alias("changed_columns"),
        pl.all(),
        pl.lit(None, _before_dtype(frame.schema)).alias("before"),
    )


def compare(
    old: pl.DataFrame, new: pl.DataFrame, key: Sequence[str]
) -> tuple[pl.DataFrame, Counts]:
    """The changes from ``old`` to ``new`` (both with the same columns), by ``key``.

    A key present twice keeps its last row (the newer answer wins).
    """
    key = list(key)
    columns = new.columns
    values = [c for c in columns if c not in key]
    old = old.unique(key, keep="last", maintain_order=True)
    new = new.unique(key, keep="last", maintain_order=True)
    joined = new.with_columns(pl.lit(True).alias(_IN_NEW)).join(
        old.rename({c: _OLD + c for c in values}).with_columns(pl.lit(True).alias(_IN_OLD)),
        on=key,
        how="full",
        coalesce=True,
        nulls_equal=True,
    )
    in_new = pl.col(_IN_NEW).is_not_null()
    in_old = pl.col(_IN_OLD).is_not_null()
    differs = {c: pl.col(c).ne_missing(pl.col(_OLD + c)) for c in values}
    no_columns = pl.lit([], pl.List(pl.String()))
    changed_columns = (
        pl.concat_list([pl.when(d).then(pl.lit(c)) for c, d in differs.items()]).list.drop_nulls()
        if differs
        else no_columns
    )
    change = (
        pl.when(in_new & ~in_old)
        .then(pl.lit("added"))
        .when(~in_new & in_old)
        .then(pl.lit("removed"))
        .when(pl.any_horizontal(list(differs.values())) if differs else pl.lit(False))
        .then(pl.lit("changed"))
        .otherwise(None)
    )
    now = [
        pl.col(c) if c in key else pl.when(in_new).then(pl.col(c)).otherwise(pl.col(_OLD + c))
        for c in columns
    ]
    before = pl.when(in_old).then(
        pl.struct([pl.col(c) if c in key else pl.col(_OLD + c).alias(c) for c in columns])
    )
    result = (
        joined.with_columns(change.alias("change"))
        .filter(pl.col("change").is_not_null())
        .select(
            pl.col("change"),
            pl.when(pl.col("change") == "changed")
            .then(changed_columns)
            .otherwise(no_columns)
            .cast(pl.List(pl.String()))
            .alias("changed_columns"),
            *[expr.alias(c) for expr, c in zip(now, columns, strict=True)],
            before.cast(_before_dtype(new.schema)).alias("before"),
        )
    )
    tally = dict(result.get_column("change").value_counts().iter_rows())
    counts = Counts(**{str(k): int(v) for k, v in tally.items()})
    return result, counts
