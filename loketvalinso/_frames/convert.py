"""Decoded items → the typed output columns, and what the conversions coerced or nulled.

:func:`build_frame` flattens, explodes and converts the ``__item`` column of decoded items with
the expressions of a :class:`~loketvalinso._frames.spec.FrameSpec`, natively. The null counts of
every checked leaf (:class:`~loketvalinso._frames.spec.Check`: dates, date-times, money, unix
seconds) before and after its conversion show what it coerced (a date-time where a date is
declared keeps its date) or nulled (text that is no date); only then are examples picked, so a
clean page pays a few null counts.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import polars as pl

from loketvalinso._frames.drift import DriftCounter, Record, redact_example
from loketvalinso._frames.spec import ROW, Check, FrameSpec, check_full, rounded_money

__all__ = ["Built", "build_frame"]


class Built(NamedTuple):
    """A typed frame and what its conversions coerced or nulled; ``trouble``: the decoded
    items cannot be converted exactly (an integer its column cannot hold, money past the
    Decimal's range), so the frame is not to be used: the page goes the tolerant way."""

    frame: pl.DataFrame
    drift: list[Record]
    trouble: bool = False


def build_frame(items: pl.DataFrame, spec: FrameSpec, *, exact: bool = False) -> Built:
    """The typed frame of decoded items (``__item``), with its drift checks; ``exact``: the
    items are the tolerant path's (exact integers, money as text), never in trouble."""
    path_cols = {c for _, c in spec.path_columns}
    if spec.item_dtype_exact is None:
        columns = [
            pl.Series(n, [None] * items.height, dtype=d)
            for n, d in spec.schema.items()
            if n not in path_cols
        ]
        return Built(pl.DataFrame(columns), [])
    if not spec.explodes:
        return _select_outputs(items, spec, (), items, exact)
    df = items.with_row_index(ROW)
    for col, expr in spec.explodes:
        df = df.with_columns(expr.alias(col)).explode(col, empty_as_null=True, keep_nulls=True)
    return _select_outputs(df, spec, (pl.col(ROW),), items, exact)


def _select_outputs(
    df: pl.DataFrame,
    spec: FrameSpec,
    lead: tuple[pl.Expr, ...],
    items: pl.DataFrame,
    exact: bool,
) -> Built:
    """The typed output columns; date/date-time columns by their one-format conversion, and
    again by the full one only when that left a non-null value unconverted.

    The checks ride along in the same select as scalars (broadcast, read and dropped): the
    integer check, and per checked leaf the non-null values before its conversion (and after
    it, for leaves inside lists) and the money with more than two decimals. Comparing them with
    the non-null values of the outputs shows what was coerced or nulled. When ``df`` is
    exploded (``items`` are the rows before), a leaf of the items is counted on ``items`` (once
    per value, not once per exploded row).
    """
    exprs = [e for _, e in spec.outputs]
    if df.height == 0:
        return Built(df.select(*lead, *exprs), [])
    for i, quick, _ in spec.fast:
        exprs[i] = quick
    exploded = df is not items
    on_df = [c for c in spec.checks if c.element or not exploded]
    stats = spec.row_stats
    try:
        out = df.select(*lead, *exprs, *stats.values())
    except pl.exceptions.ComputeError:  # a Float64 cast to money past its range
        if exact:
            raise
        return Built(df.clear(), [], True)
    value: dict[str, Any] = {}
    if stats:
        columns = out.get_columns()
        first = len(columns) - len(stats)
        value = {name: columns[first + k][0] for k, name in enumerate(stats)}
        # the outputs without the scalars (a new frame of the same Series: drop() runs a query)
        out = pl.DataFrame(columns[:first])
    if value.get("__int") and not exact:
        return Built(out, [], True)
    quick_counts = {c.output: _count(out, spec, c) for c in spec.checks if c.output is not None}
    redo = [
        spec.outputs[c.output][1]
        for k, c in enumerate(spec.checks)
        if c.fast is not None
        and c.output is not None
        and quick_counts[c.output] != value[f"__s{k}"]
    ]
    if redo:
        out = out.with_columns(df.select(redo).get_columns())
    drift = _drifted(df, spec, on_df, value, out, quick_counts)
    if exploded and spec.item_stats:
        per_item = [c for c in spec.checks if not c.element]
        item_value = items.select(*spec.item_stats.values()).row(0, named=True)
        drift += _drifted(items, spec, per_item, item_value, None, {})
    return Built(out, drift)


def _drifted(
    frame: pl.DataFrame,
    spec: FrameSpec,
    checks: list[Check],
    value: dict[str, Any],
    out: pl.DataFrame | None,
    quick_counts: dict[int, int],
) -> list[Record]:
    """The records of ``checks`` whose counts in ``value`` (and, for top-level leaves, in
    ``out``) show coerced or nulled values; examples are taken from ``frame``."""
    drifted = []
    for check in checks:
        k = spec.checks.index(check)
        n_source = value[f"__s{k}"]
        if check.output is not None and out is not None:
            n_full = _count(out, spec, check)
            n_fast = quick_counts[check.output] if check.fast is not None else n_full
        else:
            n_full = value[f"__f{k}"]
            n_fast = value.get(f"__q{k}", n_full)
        coerced = (n_full - n_fast) if check.fast is not None else value.get(f"__r{k}", 0)
        nulled = n_source - n_full
        if coerced or nulled:
            drifted.append((check, int(coerced), int(nulled)))
    return _conversion_drift(frame, spec, drifted) if drifted else []


def _count(out: pl.DataFrame, spec: FrameSpec, check: Check) -> int:
    assert check.output is not None
    column = out.get_column(spec.outputs[check.output][0])
    return column.len() - column.null_count()


#: What arrived, by check kind: (coerced, nulled).
_ARRIVED = {
    "date": ("text in another date format (its date kept)", "text that is not a date"),
    "date-time": ("text in another date-time format", "text that is not a date-time"),
    "decimal": ("more than two decimals (rounded)", "no amount of money"),
    "unix": ("", "not unix seconds"),
}


def _conversion_drift(
    df: pl.DataFrame, spec: FrameSpec, drifted: list[tuple[Check, int, int]]
) -> list[Record]:
    """Records of the checked leaves whose conversion coerced or nulled values, with examples
    (only computed for those)."""
    samples = []
    for k, (check, _, _) in enumerate(drifted):
        full, source = check_full(check, spec), check.source
        if check.kind == "decimal":
            coerced_mask = rounded_money(check)
        elif check.fast is not None:
            coerced_mask = check.fast.is_null() & full.is_not_null()
        else:
            coerced_mask = pl.lit(False)
        for tag, mask in (("c", coerced_mask), ("n", source.is_not_null() & full.is_null())):
            picked = source.filter(mask).head(3).cast(pl.String).implode()
            samples.append(picked.alias(f"{tag}{k}"))
    examples = df.select(samples).row(0)
    drift = DriftCounter()
    for k, (check, coerced, nulled) in enumerate(drifted):
        for tag, n, arrived, is_nulled in (
            ("c", coerced, _ARRIVED[check.kind][0], False),
            ("n", nulled, _ARRIVED[check.kind][1], True),
        ):
            if not n:
                continue
            drift.extend(
                [
                    {
                        "column": check.column,
                        "path": ".".join(check.path),
                        "kind": "values",
                        "declared": check.declared,
                        "arrived": [arrived],
                        "values": n,
                        "coerced": 0 if is_nulled else n,
                        "nulled": n if is_nulled else 0,
                        "examples": [
                            redact_example(check.path, v)
                            for v in examples[2 * k + (tag == "n")] or []
                        ],
                    }
                ]
            )
    return drift.records()
