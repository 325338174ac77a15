"""What the vends and leave charts share: lazy Altair, column checks, the empty chart, local
time and dates, money, the brush and tooltips, and the sizes and colours of every chart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:  # pragma: no cover
    import altair as alt

LOCAL_TZ = "Europe/Amsterdam"
"""The time zone vend timestamps and submission times are shown in."""

#: Most rows one per-day × category dataset may carry before it is bucketed per week (or month).
MAX_ROWS = 4000

WIDTH = 640
HEIGHT = 220
PANEL_WIDTH = 200
COLOR = "#4c78a8"
ACCENT = "#e45756"
SCHEME = "tableau10"
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_INSTALL_HINT = 'loketvalinso.charts needs Altair: pip install "loketvalinso[charts]"'

_VENDS = "Valinso.vends()"
_PRODUCTS = "Valinso.products()"
_DEVICES = "Valinso.devices()"
_LOCATIONS = "Valinso.locations()"
_LEAVE_REQUESTS = "Loket.leave_requests(employer_id)"
_ABSENCES = "Loket.absences(employer_id)"
_EMPLOYMENTS = "Loket.employments(employer_id)"
_DEPARTMENTS = "Loket.departments(employer_id)"
_BALANCES = "Loket.leave_balances(employer_id)"


def _alt() -> Any:
    """Altair, imported lazily, or an ImportError that says how to install it."""
    try:
        import altair
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(_INSTALL_HINT) from exc
    return altair


def _require(
    df: pl.DataFrame, columns: Iterable[str], *, chart: str, source: str, what: str = "frame"
) -> None:
    """Raise ValueError naming the columns ``chart`` needs that ``df`` lacks."""
    if not isinstance(df, pl.DataFrame):
        msg = f"{chart} needs a polars DataFrame as its {what}; got {type(df).__name__}; pass the frame from {source}"
        raise TypeError(msg)
    columns = list(columns)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        msg = (
            f"{chart} needs columns {', '.join(columns)} in its {what}; missing {', '.join(missing)}"
            f" (got {', '.join(df.columns) or 'no columns'}); pass the frame from {source}"
        )
        raise ValueError(msg)


def _empty_chart(title: str, *, width: int = WIDTH, height: int = 60) -> alt.Chart:
    """A valid chart with nothing to show: a title saying "no data" and a centred note."""
    alt = _alt()
    note = pl.DataFrame({"note": ["no data"]})
    return (
        alt.Chart(note, title=alt.Title(f"{title} — no data"))
        .mark_text(fontSize=14, color="gray")
        .encode(text=alt.Text("note:N"), tooltip=[alt.Tooltip("note:N", title="note")])
        .properties(width=width, height=height)
    )


def _local_datetime(df: pl.DataFrame, column: str) -> pl.Expr:
    """``column`` as a Europe/Amsterdam datetime (UTC assumed for naive values, unix seconds for ints)."""
    dtype = df.schema[column]
    expr = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            expr = expr.dt.replace_time_zone("UTC")
        return expr.dt.convert_time_zone(LOCAL_TZ)
    if dtype.is_integer():
        return (
            pl.from_epoch(expr, time_unit="s")
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone(LOCAL_TZ)
        )
    if isinstance(dtype, pl.Date):
        return expr.cast(pl.Datetime("us")).dt.replace_time_zone(LOCAL_TZ)
    if dtype == pl.String:
        parsed = expr.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
        return parsed.dt.convert_time_zone(LOCAL_TZ)
    msg = f"column {column!r} has dtype {dtype}; expected a datetime, a date or unix seconds"
    raise ValueError(msg)


def _as_date(df: pl.DataFrame, column: str) -> pl.Expr:
    """``column`` as a Date (datetimes by their Europe/Amsterdam calendar day, strings parsed)."""
    dtype = df.schema[column]
    if isinstance(dtype, pl.Date):
        return pl.col(column)
    if dtype == pl.String:
        return pl.col(column).str.to_date(strict=False)
    return _local_datetime(df, column).dt.date()


def _revenue_expr(df: pl.DataFrame) -> pl.Expr:
    """Line revenue ``price × quantity``; exact (Decimal) when price is a Decimal."""
    price = pl.col("price")
    if isinstance(df.schema["price"], pl.Decimal):
        return price * pl.col("quantity").cast(pl.Int64)
    return price.cast(pl.Float64) * pl.col("quantity").cast(pl.Float64)


def _money(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Float64).round(2)


def _success(df: pl.DataFrame) -> pl.DataFrame:
    if "status" in df.columns:
        return df.filter(pl.col("status") == "success")
    return df


def _currency(vends: pl.DataFrame) -> str:
    if "currency" in vends.columns and vends.height:
        values = vends.get_column("currency").drop_nulls().unique()
        if values.len() == 1:
            return str(values[0])
        if values.len() > 1:
            return "mixed currencies"
    return "EUR"


def _successful_vends(
    vends: pl.DataFrame, *, chart: str, extra: Sequence[str] = ()
) -> pl.DataFrame:
    """Successful vends with ``local`` (Europe/Amsterdam datetime), ``day`` and ``revenue``."""
    _require(
        vends, ["timestamp", "price", "quantity", *extra], chart=chart, source=_VENDS, what="vends"
    )
    ok = _success(vends)
    return ok.with_columns(
        local=_local_datetime(ok, "timestamp"),
        revenue=_revenue_expr(ok),
    ).with_columns(day=pl.col("local").dt.date())


def _names(
    ids: pl.DataFrame,
    key: str,
    lookup: pl.DataFrame | None,
    *,
    prefix: str,
    chart: str,
    source: str,
    what: str,
    label: str = "label",
) -> pl.DataFrame:
    """Add a ``label`` column to ``ids``: the name from ``lookup`` (``id, name``) or ``prefix id``."""
    fallback = pl.lit(prefix + " ") + pl.col(key).cast(pl.String)
    if lookup is None:
        return ids.with_columns(fallback.fill_null(f"{prefix} ?").alias(label))
    _require(lookup, ["id", "name"], chart=chart, source=source, what=what)
    names = lookup.select(
        pl.col("id").cast(ids.schema[key], strict=False).alias(key), pl.col("name").alias("_name")
    ).unique(key, keep="first")
    out = ids.join(names, on=key, how="left")
    return out.with_columns(
        pl.coalesce("_name", fallback, pl.lit(f"{prefix} ?")).alias(label)
    ).drop("_name")


def _bucket(n_days: int, n_categories: int) -> str:
    """The date bucket (``1d`` or ``1w``) that keeps days × categories under MAX_ROWS."""
    if n_days * max(n_categories, 1) <= MAX_ROWS:
        return "1d"
    if (n_days / 7 + 1) * max(n_categories, 1) <= MAX_ROWS:
        return "1w"
    return "1mo"


def _month_expr(expr: pl.Expr) -> pl.Expr:
    return expr.dt.month_start()


def _bar_end(col: str, *, days: int = 1, gap_days: float = 0.0) -> pl.Expr:
    """The right edge of a time bar starting at ``col``."""
    if days == 1:
        return pl.col(col).cast(pl.Datetime("ms")) + pl.duration(hours=22)
    end = pl.col(col).dt.offset_by("1mo") if days >= 28 else pl.col(col) + pl.duration(days=days)
    return end.cast(pl.Datetime("ms")) - pl.duration(hours=int(gap_days * 24))


def _brush() -> Any:
    alt = _alt()
    return alt.selection_interval(encodings=["x"], name="brush")


def _tip_money(field: str, currency: str, title: str = "revenue") -> Any:
    alt = _alt()
    return alt.Tooltip(field, title=f"{title} ({currency})", format=",.2f")
