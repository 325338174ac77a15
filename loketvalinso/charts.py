"""Altair charts of vends (Valinso) and leave (Loket): a DataFrame in, an Altair chart out.

Every function takes the Polars frames the loaders return (or the mock's world frames, which have
the same columns), aggregates them **in Polars first**, and hands Altair only the small aggregated
frame, so no chart carries more than a few thousand rows however many vends or requests go in.
Charts never call the network. They need the ``charts`` extra::

    pip install "loketvalinso[charts]"

Conventions shared by all charts
--------------------------------
* **Revenue** is ``price × quantity`` (``price`` is the unit price) summed over vends with
  ``status == "success"`` only; failed and refunded vends earn nothing. A frame without a
  ``status`` column is taken to hold successful vends only. Vend counts count successful vends.
* **Local time**: vend timestamps (UTC) are converted to ``Europe/Amsterdam`` before they are
  cut into days, hours and weekdays; naive timestamps are taken to be UTC. Leave requests'
  ``submitted_on`` is treated the same way.
* **Months** are calendar months, shown by their first day (``month``). Leave hours of a request
  are spread pro rata over its calendar days (see :func:`leave_hours_by_month`).
* Leave-request charts do not use the employee column, so frames naming it ``employee_id`` (the
  world) or ``submitted_by_id`` (the loader) both work.
* Every mark has a tooltip; the overview charts (:func:`vends_overview`, :func:`leave_trends`,
  :func:`sick_leave_rate`) carry an interval selection named ``brush`` on the time axis that
  filters the linked breakdowns (drag on the time series; double-click clears it). The
  breakdowns' data is aggregated per day (or month) × category in Polars and re-aggregated by
  Vega-Lite under the brush filter.
* An empty input (or nothing left after filtering) gives a valid chart whose title says
  "no data"; a missing column raises :class:`ValueError` naming it.

Charts are plain (unconfigured) Altair charts, so they can be concatenated, themed, saved or
rendered (``vl_convert.vegalite_to_svg(chart.to_json())``) freely.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

if TYPE_CHECKING:  # pragma: no cover
    import altair as alt

__all__ = [
    "LOCAL_TZ",
    "device_comparison",
    "enable_offline_rendering",
    "leave_balance_distribution",
    "leave_hours_by_month",
    "leave_requests_by_status",
    "leave_trends",
    "payment_mix",
    "sick_leave_rate",
    "top_products",
    "vends_daily",
    "vends_heatmap",
    "vends_overview",
]

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


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# vends
# --------------------------------------------------------------------------------------------


def _daily_frame(ok: pl.DataFrame, *, window: int) -> pl.DataFrame:
    """Revenue, vends and items per local day, zero-filled, with trailing ``window``-day means."""
    daily = ok.group_by("day").agg(
        revenue=pl.col("revenue").sum(),
        vends=pl.len().cast(pl.Int64),
        items=pl.col("quantity").cast(pl.Int64).sum(),
    )
    first: date = daily.get_column("day").min()  # type: ignore[assignment]
    last: date = daily.get_column("day").max()  # type: ignore[assignment]
    days = pl.DataFrame({"date": pl.date_range(first, last, "1d", eager=True)})
    return (
        days.join(daily.rename({"day": "date"}), on="date", how="left")
        .with_columns(
            _money(pl.col("revenue")).fill_null(0.0),
            pl.col("vends").fill_null(0),
            pl.col("items").fill_null(0),
        )
        .sort("date")
        .with_columns(
            revenue_mean=pl.col("revenue").rolling_mean(window).round(2),
            vends_mean=pl.col("vends").cast(pl.Float64).rolling_mean(window).round(1),
            date_end=_bar_end("date"),
        )
    )


def vends_daily(vends: pl.DataFrame, *, window: int = 7) -> alt.VConcatChart | alt.Chart:
    """Revenue and number of vends per day, with a trailing rolling mean.

    Parameters
    ----------
    vends
        Vends as returned by ``Valinso.vends()``; needs ``timestamp``, ``price`` and ``quantity``
        (``status`` is used when present: only successful vends count).
    window
        Days in the trailing rolling mean (default 7); the first ``window - 1`` days have none.

    Returns
    -------
    altair.VConcatChart
        Two panels sharing the time axis: revenue per day (bars) with its rolling mean (line),
        and vends per day with its rolling mean. Days are Europe/Amsterdam calendar days; days
        without vends show as zero. The data holds one row per day (``date``, ``revenue``,
        ``vends``, ``items``, ``revenue_mean``, ``vends_mean``).
    """
    alt = _alt()
    title = "Vends per day"
    ok = _successful_vends(vends, chart="vends_daily")
    if window < 1:
        msg = f"vends_daily needs window >= 1; got {window}"
        raise ValueError(msg)
    if ok.is_empty():
        return _empty_chart(title)
    cur = _currency(vends)
    daily = _daily_frame(ok, window=window)
    x = alt.X("date:T", title="day", axis=alt.Axis(format="%d %b %Y"))
    tooltip = [
        alt.Tooltip("date:T", title="day", format="%a %d %b %Y"),
        _tip_money("revenue:Q", cur),
        alt.Tooltip("vends:Q", title="vends", format=","),
        alt.Tooltip("items:Q", title="items", format=","),
        _tip_money("revenue_mean:Q", cur, f"{window}-day mean revenue"),
        alt.Tooltip("vends_mean:Q", title=f"{window}-day mean vends", format=",.1f"),
    ]
    base = alt.Chart().encode(x=x, tooltip=tooltip)
    revenue = alt.layer(
        base.mark_bar(color=COLOR, opacity=0.5).encode(
            x2="date_end:T", y=alt.Y("revenue:Q", title=f"revenue ({cur})"), y2=alt.datum(0)
        ),
        base.mark_line(color=ACCENT, strokeWidth=2).encode(
            x=x, y=alt.Y("revenue_mean:Q", title=f"revenue ({cur})")
        ),
    ).properties(width=WIDTH, height=HEIGHT, title=f"Revenue per day and {window}-day mean")
    count = alt.layer(
        base.mark_bar(color=COLOR, opacity=0.5).encode(
            x2="date_end:T", y=alt.Y("vends:Q", title="vends"), y2=alt.datum(0)
        ),
        base.mark_line(color=ACCENT, strokeWidth=2).encode(
            x=x, y=alt.Y("vends_mean:Q", title="vends")
        ),
    ).properties(width=WIDTH, height=HEIGHT, title=f"Vends per day and {window}-day mean")
    return alt.vconcat(revenue, count, data=daily, title=title).resolve_scale(x="shared")


def vends_heatmap(vends: pl.DataFrame) -> alt.Chart:
    """Vends by hour of day × weekday, in Europe/Amsterdam local time.

    Parameters
    ----------
    vends
        Vends from ``Valinso.vends()``; needs ``timestamp``, ``price`` and ``quantity``.

    Returns
    -------
    altair.Chart
        A 7 × 24 heat map (``weekday`` Mon…Sun × ``hour`` 0…23, local time, so summer-time
        shifts are accounted for); colour is the number of successful vends, the tooltip adds
        revenue and the mean vends per such weekday-hour.
    """
    alt = _alt()
    title = "Vends by hour and weekday (Europe/Amsterdam)"
    ok = _successful_vends(vends, chart="vends_heatmap")
    if ok.is_empty():
        return _empty_chart(title)
    cur = _currency(vends)
    n_weeks = ok.select(pl.col("day").n_unique()).item() / 7
    cells = ok.group_by(
        weekday_number=pl.col("local").dt.weekday().cast(pl.Int8),
        hour=pl.col("local").dt.hour().cast(pl.Int8),
    ).agg(vends=pl.len().cast(pl.Int64), revenue=pl.col("revenue").sum())
    grid = pl.DataFrame(
        {"weekday_number": list(range(1, 8))}, schema={"weekday_number": pl.Int8}
    ).join(pl.DataFrame({"hour": list(range(24))}, schema={"hour": pl.Int8}), how="cross")
    data = (
        grid.join(cells, on=["weekday_number", "hour"], how="left")
        .with_columns(
            pl.col("vends").fill_null(0),
            _money(pl.col("revenue")).fill_null(0.0),
            weekday=pl.col("weekday_number").replace_strict(
                list(range(1, 8)), WEEKDAYS, return_dtype=pl.String
            ),
        )
        .with_columns(vends_per_week=(pl.col("vends") / max(n_weeks, 1.0)).round(1))
    )
    return (
        alt.Chart(data, title=title)
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title="hour of day"),
            y=alt.Y("weekday:O", title="weekday", sort=WEEKDAYS),
            color=alt.Color("vends:Q", title="vends", scale=alt.Scale(scheme="blues")),
            tooltip=[
                alt.Tooltip("weekday:O", title="weekday"),
                alt.Tooltip("hour:O", title="hour"),
                alt.Tooltip("vends:Q", title="vends", format=","),
                _tip_money("revenue:Q", cur),
                alt.Tooltip("vends_per_week:Q", title="vends per week (mean)", format=",.1f"),
            ],
        )
        .properties(width=WIDTH, height=HEIGHT)
    )


def _product_totals(ok: pl.DataFrame) -> pl.DataFrame:
    return ok.group_by("product_id").agg(
        revenue=pl.col("revenue").sum(),
        vends=pl.len().cast(pl.Int64),
        items=pl.col("quantity").cast(pl.Int64).sum(),
    )


def _product_labels(
    ids: pl.DataFrame, products: pl.DataFrame | None, *, chart: str
) -> pl.DataFrame:
    out = _names(
        ids,
        "product_id",
        products,
        prefix="product",
        chart=chart,
        source=_PRODUCTS,
        what="products",
    ).rename({"label": "product"})
    if products is not None and "category" in products.columns:
        cats = products.select(
            pl.col("id").cast(ids.schema["product_id"], strict=False).alias("product_id"),
            pl.col("category").cast(pl.String),
        ).unique("product_id", keep="first")
        out = out.join(cats, on="product_id", how="left")
    else:
        out = out.with_columns(category=pl.lit(None, pl.String))
    # Two products with one name must stay two bars.
    dup = pl.col("product").is_duplicated()
    return out.with_columns(
        pl.when(dup)
        .then(pl.col("product") + " (#" + pl.col("product_id").cast(pl.String) + ")")
        .otherwise(pl.col("product"))
        .alias("product"),
        pl.col("category").fill_null("unknown"),
    )


def top_products(
    vends: pl.DataFrame, products: pl.DataFrame | None = None, *, n: int = 10
) -> alt.Chart:
    """The ``n`` products with the most revenue.

    Parameters
    ----------
    vends
        Vends from ``Valinso.vends()``; needs ``timestamp``, ``price``, ``quantity`` and
        ``product_id``.
    products
        Optional catalogue from ``Valinso.products()`` (``id``, ``name``, optional
        ``category``): bars are named (and coloured by category); without it they read
        ``product <id>``.
    n
        How many products to show (default 10).

    Returns
    -------
    altair.Chart
        Horizontal bars of revenue per product, best first; one row per product
        (``product_id``, ``product``, ``category``, ``revenue``, ``vends``, ``items``,
        ``share``).
    """
    alt = _alt()
    if n < 1:
        msg = f"top_products needs n >= 1; got {n}"
        raise ValueError(msg)
    title = f"Top {n} products by revenue"
    ok = _successful_vends(vends, chart="top_products", extra=["product_id"])
    if ok.is_empty():
        return _empty_chart(title)
    cur = _currency(vends)
    totals = _product_totals(ok)
    total_revenue = totals.get_column("revenue").sum()
    top = (
        totals.sort(["revenue", "product_id"], descending=[True, False])
        .head(n)
        .with_columns(
            share=(pl.col("revenue").cast(pl.Float64) / float(total_revenue or 1)).round(4),
            revenue=_money(pl.col("revenue")),
        )
    )
    data = _product_labels(top, products, chart="top_products")
    color = (
        alt.Color("category:N", title="category", scale=alt.Scale(scheme=SCHEME))
        if products is not None and "category" in products.columns
        else alt.value(COLOR)
    )
    return (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(
            x=alt.X("revenue:Q", title=f"revenue ({cur})"),
            y=alt.Y("product:N", title="product", sort="-x"),
            color=color,
            tooltip=[
                alt.Tooltip("product:N", title="product"),
                alt.Tooltip("category:N", title="category"),
                _tip_money("revenue:Q", cur),
                alt.Tooltip("share:Q", title="share of revenue", format=".1%"),
                alt.Tooltip("vends:Q", title="vends", format=","),
                alt.Tooltip("items:Q", title="items", format=","),
            ],
        )
        .properties(width=WIDTH - 160, height=alt.Step(18))
    )


def device_comparison(
    vends: pl.DataFrame,
    devices: pl.DataFrame | None = None,
    locations: pl.DataFrame | None = None,
    *,
    by: Literal["device", "location"] = "device",
) -> alt.Chart:
    """Revenue, vends and failure share per device or per location.

    Parameters
    ----------
    vends
        Vends from ``Valinso.vends()``; needs ``timestamp``, ``price``, ``quantity`` and
        ``device_id`` (``by="device"``) or ``location_id`` (``by="location"``).
    devices
        Optional ``Valinso.devices()`` (``id``, ``name``): names the devices.
    locations
        Optional ``Valinso.locations()`` (``id``, ``name``): names the locations.
    by
        ``"device"`` (default) or ``"location"``.

    Returns
    -------
    altair.Chart
        Horizontal bars of revenue per device/location, best first, coloured by the share of
        vend attempts that did not succeed (``failed_share``, over all statuses); one row per
        device/location.
    """
    alt = _alt()
    if by not in ("device", "location"):
        msg = f'device_comparison needs by="device" or by="location"; got {by!r}'
        raise ValueError(msg)
    key = f"{by}_id"
    title = f"Revenue per {by}"
    _require(
        vends,
        ["timestamp", "price", "quantity", key],
        chart="device_comparison",
        source=_VENDS,
        what="vends",
    )
    if vends.is_empty():
        return _empty_chart(title)
    cur = _currency(vends)
    status_ok = (pl.col("status") == "success") if "status" in vends.columns else pl.lit(True)
    revenue = _revenue_expr(vends)
    per = vends.group_by(key).agg(
        revenue=_money(revenue.filter(status_ok).sum()),
        vends=status_ok.sum().cast(pl.Int64),
        attempts=pl.len().cast(pl.Int64),
    )
    per = per.with_columns(
        failed_share=(1 - pl.col("vends") / pl.col("attempts")).round(4),
        revenue=pl.col("revenue").fill_null(0.0),
    )
    if by == "device":
        data = _names(
            per,
            key,
            devices,
            prefix="device",
            chart="device_comparison",
            source=_DEVICES,
            what="devices",
        )
        if devices is not None and locations is not None and "location_id" in devices.columns:
            _require(
                locations,
                ["id", "name"],
                chart="device_comparison",
                source=_LOCATIONS,
                what="locations",
            )
            where = devices.select(
                pl.col("id").cast(per.schema[key], strict=False).alias(key),
                pl.col("location_id").cast(pl.Int64, strict=False),
            ).join(
                locations.select(
                    pl.col("id").cast(pl.Int64, strict=False).alias("location_id"),
                    pl.col("name").alias("location"),
                ),
                on="location_id",
                how="left",
            )
            data = data.join(where.select(key, "location").unique(key), on=key, how="left")
        else:
            data = data.with_columns(location=pl.lit(None, pl.String))
    else:
        data = _names(
            per,
            key,
            locations,
            prefix="location",
            chart="device_comparison",
            source=_LOCATIONS,
            what="locations",
        ).with_columns(location=pl.col("label"))
    data = data.rename({"label": by}) if by == "device" else data.drop("label")
    data = data.with_columns(pl.col(by).fill_null("?")).sort("revenue", descending=True)
    tooltip = [
        alt.Tooltip(f"{by}:N", title=by),
        _tip_money("revenue:Q", cur),
        alt.Tooltip("vends:Q", title="successful vends", format=","),
        alt.Tooltip("attempts:Q", title="vend attempts", format=","),
        alt.Tooltip("failed_share:Q", title="not successful", format=".1%"),
    ]
    if by == "device" and devices is not None and locations is not None:
        tooltip.insert(1, alt.Tooltip("location:N", title="location"))
    return (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(
            x=alt.X("revenue:Q", title=f"revenue ({cur})"),
            y=alt.Y(f"{by}:N", title=by, sort="-x"),
            color=alt.Color(
                "failed_share:Q",
                title="not successful",
                scale=alt.Scale(scheme="orangered"),
                legend=alt.Legend(format=".0%"),
            ),
            tooltip=tooltip,
        )
        .properties(width=WIDTH - 160, height=alt.Step(16))
    )


def payment_mix(vends: pl.DataFrame) -> alt.Chart:
    """Revenue and vends per payment type.

    Parameters
    ----------
    vends
        Vends from ``Valinso.vends()``; needs ``timestamp``, ``price``, ``quantity`` and
        ``payment_type``.

    Returns
    -------
    altair.Chart
        Horizontal bars of revenue per payment type labelled with its share of revenue; one
        row per payment type (``payment_type``, ``revenue``, ``vends``, ``share``,
        ``share_vends``).
    """
    alt = _alt()
    title = "Payment mix"
    ok = _successful_vends(vends, chart="payment_mix", extra=["payment_type"])
    if ok.is_empty():
        return _empty_chart(title)
    cur = _currency(vends)
    data = (
        ok.group_by(pl.col("payment_type").fill_null("unknown"))
        .agg(revenue=pl.col("revenue").sum(), vends=pl.len().cast(pl.Int64))
        .with_columns(revenue=_money(pl.col("revenue")))
        .with_columns(
            share=(pl.col("revenue") / pl.col("revenue").sum()).round(4),
            share_vends=(pl.col("vends") / pl.col("vends").sum()).round(4),
        )
        .sort("revenue", descending=True)
    )
    tooltip = [
        alt.Tooltip("payment_type:N", title="payment type"),
        _tip_money("revenue:Q", cur),
        alt.Tooltip("share:Q", title="share of revenue", format=".1%"),
        alt.Tooltip("vends:Q", title="vends", format=","),
        alt.Tooltip("share_vends:Q", title="share of vends", format=".1%"),
    ]
    base = alt.Chart().encode(
        y=alt.Y("payment_type:N", title="payment type", sort="-x"),
        x=alt.X("revenue:Q", title=f"revenue ({cur})"),
        tooltip=tooltip,
    )
    bars = base.mark_bar().encode(
        color=alt.Color(
            "payment_type:N", title="payment type", scale=alt.Scale(scheme=SCHEME), legend=None
        )
    )
    labels = base.mark_text(align="left", dx=4).encode(text=alt.Text("share:Q", format=".1%"))
    return alt.layer(bars, labels, data=data, title=title).properties(
        width=WIDTH - 200, height=alt.Step(28)
    )


def _per_bucket(ok: pl.DataFrame, category: str, *, bucket: str) -> pl.DataFrame:
    """Revenue and vends per date bucket × ``category`` (the rows the brush re-aggregates)."""
    date_expr = pl.col("day") if bucket == "1d" else pl.col("day").dt.truncate(bucket)
    return (
        ok.group_by(date_expr.alias("date"), category)
        .agg(revenue=pl.col("revenue").sum(), vends=pl.len().cast(pl.Int64))
        .with_columns(revenue=_money(pl.col("revenue")))
        .sort("date", category)
    )


def vends_overview(
    vends: pl.DataFrame,
    products: pl.DataFrame | None = None,
    devices: pl.DataFrame | None = None,
    locations: pl.DataFrame | None = None,
    *,
    n: int = 10,
    window: int = 7,
) -> alt.VConcatChart | alt.Chart:
    """The daily revenue series with a brush, linked to payment mix, top products and locations.

    Parameters
    ----------
    vends
        Vends from ``Valinso.vends()``; needs ``timestamp``, ``price`` and ``quantity``; the
        breakdowns use ``payment_type``, ``product_id`` and ``location_id`` (or ``device_id``
        with ``devices``) when present.
    products
        Optional ``Valinso.products()`` to name the products.
    devices
        Optional ``Valinso.devices()``; used to find a vend's location when the vends lack
        ``location_id``.
    locations
        Optional ``Valinso.locations()`` to name the locations.
    n
        Products in the top-products panel (default 10): the ``n`` best sellers over the whole
        period, re-ranked by their revenue under the brush.
    window
        Days in the rolling mean of the time series (default 7).

    Returns
    -------
    altair.VConcatChart
        Top: revenue per day (bars) and its rolling mean, carrying the interval selection
        ``brush`` on ``date``. Below: revenue per payment type, per product and per location,
        each ``transform_filter``-ed by ``brush`` and re-aggregated (``sum``) by Vega-Lite from
        per day × category rows. Locations beyond the eight largest are grouped as "other".
        When days × categories would exceed a few thousand rows, a breakdown is kept per week
        (or month) instead, and a bucket counts as selected when its first day is brushed.
    """
    alt = _alt()
    title = "Vends overview — drag on the daily revenue to filter the breakdowns"
    ok = _successful_vends(vends, chart="vends_overview")
    if ok.is_empty():
        return _empty_chart("Vends overview")
    cur = _currency(vends)
    daily = _daily_frame(ok, window=window)
    n_days = daily.height
    brush = _brush()

    x = alt.X("date:T", title="day", axis=alt.Axis(format="%b %Y"))
    series_tip = [
        alt.Tooltip("date:T", title="day", format="%a %d %b %Y"),
        _tip_money("revenue:Q", cur),
        alt.Tooltip("vends:Q", title="vends", format=","),
        _tip_money("revenue_mean:Q", cur, f"{window}-day mean revenue"),
    ]
    base = alt.Chart().encode(x=x, tooltip=series_tip)
    series = alt.layer(
        base.mark_bar()
        .encode(
            x2="date_end:T",
            y=alt.Y("revenue:Q", title=f"revenue ({cur})"),
            y2=alt.datum(0),
            color=alt.when(brush).then(alt.value(COLOR)).otherwise(alt.value("#c9d6e3")),
        )
        .add_params(brush),
        base.mark_line(color=ACCENT, strokeWidth=2).encode(
            x=x, y=alt.Y("revenue_mean:Q", title=f"revenue ({cur})")
        ),
        data=daily,
    ).properties(width=WIDTH + 180, height=HEIGHT, title=f"Revenue per day and {window}-day mean")

    def panel(
        data: pl.DataFrame, field: str, label: str, panel_title: str, *, colored: bool
    ) -> Any:
        enc: dict[str, Any] = {
            "x": alt.X("sum(revenue):Q", title=f"revenue ({cur})"),
            "y": alt.Y(f"{field}:N", title=label, sort="-x"),
            "tooltip": [
                alt.Tooltip(f"{field}:N", title=label),
                alt.Tooltip("sum(revenue):Q", title=f"revenue ({cur})", format=",.2f"),
                alt.Tooltip("sum(vends):Q", title="vends", format=","),
            ],
        }
        enc["color"] = (
            alt.Color(f"{field}:N", title=label, scale=alt.Scale(scheme=SCHEME), legend=None)
            if colored
            else alt.value(COLOR)
        )
        return (
            alt.Chart(data, title=panel_title)
            .transform_filter(brush)
            .mark_bar()
            .encode(**enc)
            .properties(width=PANEL_WIDTH, height=alt.Step(16))
        )

    panels = []
    if "payment_type" in ok.columns:
        pay = ok.with_columns(pl.col("payment_type").fill_null("unknown"))
        n_cat = pay.get_column("payment_type").n_unique()
        data = _per_bucket(pay, "payment_type", bucket=_bucket(n_days, n_cat))
        panels.append(
            panel(data, "payment_type", "payment type", "Payment mix (brushed)", colored=True)
        )
    if "product_id" in ok.columns:
        best = (
            _product_totals(ok)
            .sort(["revenue", "product_id"], descending=[True, False])
            .head(n)
            .select("product_id")
        )
        named = _product_labels(best, products, chart="vends_overview").select(
            "product_id", "product"
        )
        sub = ok.join(named, on="product_id", how="inner")
        data = _per_bucket(sub, "product", bucket=_bucket(n_days, named.height))
        panels.append(
            panel(data, "product", "product", f"Top {n} products (brushed)", colored=False)
        )
    loc = ok
    if "location_id" not in loc.columns and devices is not None and "device_id" in loc.columns:
        _require(
            devices, ["id", "location_id"], chart="vends_overview", source=_DEVICES, what="devices"
        )
        loc = loc.join(
            devices.select(
                pl.col("id").cast(loc.schema["device_id"], strict=False).alias("device_id"),
                "location_id",
            ).unique("device_id"),
            on="device_id",
            how="left",
        )
    if "location_id" in loc.columns:
        by_loc = (
            loc.group_by("location_id")
            .agg(revenue=pl.col("revenue").sum())
            .sort(["revenue", "location_id"], descending=[True, False])
        )
        keep = 8 if by_loc.height > 9 else by_loc.height
        named = _names(
            by_loc.head(keep).select("location_id"),
            "location_id",
            locations,
            prefix="location",
            chart="vends_overview",
            source=_LOCATIONS,
            what="locations",
        ).rename({"label": "location"})
        sub = loc.join(named, on="location_id", how="left").with_columns(
            pl.col("location").fill_null("other")
        )
        n_cat = named.height + (1 if by_loc.height > keep else 0)
        data = _per_bucket(sub, "location", bucket=_bucket(n_days, n_cat))
        panels.append(panel(data, "location", "location", "Locations (brushed)", colored=False))
    if not panels:
        return alt.vconcat(series, title=title)
    return alt.vconcat(series, alt.hconcat(*panels), title=title)


# --------------------------------------------------------------------------------------------
# leave
# --------------------------------------------------------------------------------------------


def _status_filter(df: pl.DataFrame, statuses: Iterable[str | int] | None) -> pl.DataFrame:
    if statuses is None:
        return df
    wanted = list(statuses)
    names = [s for s in wanted if isinstance(s, str)]
    keys = [s for s in wanted if isinstance(s, int) and not isinstance(s, bool)]
    cond = pl.lit(False)
    if names:
        if "leave_request_status" not in df.columns:
            msg = "statuses given by name need the column leave_request_status; pass the frame from Loket.leave_requests(employer_id)"
            raise ValueError(msg)
        cond = cond | pl.col("leave_request_status").is_in(names)
    if keys:
        if "leave_request_status_key" not in df.columns:
            msg = "statuses given by key need the column leave_request_status_key; pass the frame from Loket.leave_requests(employer_id)"
            raise ValueError(msg)
        cond = cond | pl.col("leave_request_status_key").is_in(keys)
    return df.filter(cond)


def _leave_type_expr(df: pl.DataFrame) -> pl.Expr:
    if "leave_type" in df.columns:
        expr = pl.col("leave_type").cast(pl.String)
        if "leave_type_key" in df.columns:
            expr = expr.fill_null(pl.lit("type ") + pl.col("leave_type_key").cast(pl.String))
        return expr.fill_null("unknown")
    return (pl.lit("type ") + pl.col("leave_type_key").cast(pl.String)).fill_null("unknown")


def _status_expr(df: pl.DataFrame) -> pl.Expr:
    if "leave_request_status" in df.columns:
        return pl.col("leave_request_status").cast(pl.String).fill_null("unknown")
    if "leave_request_status_key" in df.columns:
        return (pl.lit("status ") + pl.col("leave_request_status_key").cast(pl.String)).fill_null(
            "unknown"
        )
    return pl.lit("all")


def _require_leave_type(df: pl.DataFrame, *, chart: str, source: str, what: str) -> None:
    if "leave_type" not in df.columns and "leave_type_key" not in df.columns:
        _require(df, ["leave_type"], chart=chart, source=source, what=what)


def _spread_over_months(
    df: pl.DataFrame, start: str, end: str, *, clip: tuple[date, date] | None = None
) -> pl.DataFrame:
    """One row per interval × calendar month it overlaps: ``month``, ``days`` (overlap) and ``span`` (all days).

    ``end`` null means a one-day interval for ``clip=None``, else open until ``clip[1]``.
    """
    s = pl.col(start)
    e = pl.col(end)
    e = e.fill_null(s) if clip is None else e.fill_null(pl.lit(clip[1]))
    out = df.with_columns(_s=s, _e=pl.max_horizontal(s, e))
    out = out.with_columns(span=((pl.col("_e") - pl.col("_s")).dt.total_days() + 1).cast(pl.Int64))
    if clip is not None:
        out = out.with_columns(
            _s=pl.max_horizontal(pl.col("_s"), pl.lit(clip[0])),
            _e=pl.min_horizontal(pl.col("_e"), pl.lit(clip[1])),
        ).filter(pl.col("_e") >= pl.col("_s"))
    out = out.with_columns(
        month=pl.date_ranges(pl.col("_s").dt.month_start(), pl.col("_e"), "1mo")
    ).explode("month")
    return out.with_columns(
        days=(
            (
                pl.min_horizontal(pl.col("_e"), pl.col("month").dt.month_end())
                - pl.max_horizontal(pl.col("_s"), pl.col("month"))
            ).dt.total_days()
            + 1
        ).cast(pl.Int64)
    ).drop("_s", "_e")


def _leave_month_frame(
    leave_requests: pl.DataFrame, *, chart: str, statuses: Iterable[str | int] | None
) -> pl.DataFrame:
    """Hours per month × leave type × status, spread pro rata per calendar day."""
    _require(
        leave_requests,
        ["start_date", "end_date", "number_of_units"],
        chart=chart,
        source=_LEAVE_REQUESTS,
        what="leave requests",
    )
    _require_leave_type(leave_requests, chart=chart, source=_LEAVE_REQUESTS, what="leave requests")
    lr = _status_filter(leave_requests, statuses)
    lr = lr.with_columns(
        start_date=_as_date(lr, "start_date"),
        end_date=_as_date(lr, "end_date"),
        leave_type=_leave_type_expr(lr),
        leave_request_status=_status_expr(lr),
        _hours=pl.col("number_of_units").cast(pl.Float64),
        _row=pl.int_range(pl.len(), dtype=pl.Int64),
    ).filter(pl.col("start_date").is_not_null())
    if lr.is_empty():
        return pl.DataFrame(
            schema={
                "month": pl.Date,
                "leave_type": pl.String,
                "leave_request_status": pl.String,
                "hours": pl.Float64,
                "requests": pl.Int64,
            }
        )
    spread = _spread_over_months(
        lr.select("_row", "start_date", "end_date", "leave_type", "leave_request_status", "_hours"),
        "start_date",
        "end_date",
    )
    return (
        spread.with_columns(hours=pl.col("_hours") * pl.col("days") / pl.col("span"))
        .group_by("month", "leave_type", "leave_request_status")
        .agg(
            hours=pl.col("hours").sum().round(2), requests=pl.col("_row").n_unique().cast(pl.Int64)
        )
        .sort("month", "leave_type", "leave_request_status")
    )


def _month_bars(data: pl.DataFrame) -> pl.DataFrame:
    return data.with_columns(month_end=_bar_end("month", days=31, gap_days=2))


def _month_x(alt: Any) -> Any:
    return alt.X("month:T", title="month", axis=alt.Axis(format="%b %Y"))


def _month_bar_chart(alt: Any, data: pl.DataFrame, title: str, **encoding: Any) -> Any:
    """Bars spanning each month of ``data`` (``month`` to ``month_end``, see :func:`_month_bars`)."""
    return (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(x=_month_x(alt), x2="month_end:T", **encoding)
    )


def _leave_hours_encoding(alt: Any) -> dict[str, Any]:
    """Leave hours stacked by leave type, for :func:`_month_bar_chart` (rows: month × type)."""
    return {
        # sum over unique month × type rows: an aggregate makes Vega-Lite stack the x/x2-ranged
        # bars vertically.
        "y": alt.Y("sum(hours):Q", title="leave hours", stack="zero"),
        "color": alt.Color("leave_type:N", title="leave type", scale=alt.Scale(scheme=SCHEME)),
        "tooltip": [
            alt.Tooltip("month:T", title="month", format="%B %Y"),
            alt.Tooltip("leave_type:N", title="leave type"),
            alt.Tooltip("sum(hours):Q", title="leave hours", format=",.1f"),
            alt.Tooltip("sum(requests):Q", title="requests", format=","),
        ],
    }


def leave_hours_by_month(
    leave_requests: pl.DataFrame, *, statuses: Iterable[str | int] | None = None
) -> alt.Chart:
    """Leave hours per calendar month, stacked by leave type.

    A request's hours (``number_of_units``) are spread over the calendar days from
    ``start_date`` to ``end_date`` (inclusive, weekends included) and summed per month, so a
    request from 30 January to 2 February puts half its hours in January and half in February.

    Parameters
    ----------
    leave_requests
        ``Loket.leave_requests(employer_id)``; needs ``start_date``, ``end_date``,
        ``number_of_units`` (hours) and ``leave_type`` (or ``leave_type_key``).
    statuses
        Only requests with these statuses: names (``leave_request_status``, e.g.
        ``["toegekend"]``) and/or keys (``leave_request_status_key``). Default: every request.

    Returns
    -------
    altair.Chart
        Stacked bars per month (``month`` = first day) of ``hours`` by ``leave_type``; one row
        per month × leave type (``hours``, ``requests`` touching that month).
    """
    alt = _alt()
    title = "Leave hours per month by leave type"
    if statuses is not None:
        title += f" ({', '.join(str(s) for s in statuses)})"
    months = _leave_month_frame(leave_requests, chart="leave_hours_by_month", statuses=statuses)
    if months.is_empty():
        return _empty_chart(title)
    data = _month_bars(
        months.group_by("month", "leave_type")
        .agg(hours=pl.col("hours").sum().round(2), requests=pl.col("requests").sum())
        .sort("month", "leave_type")
    )
    chart = _month_bar_chart(alt, data, title, **_leave_hours_encoding(alt))
    return chart.properties(width=WIDTH, height=HEIGHT)


def leave_requests_by_status(leave_requests: pl.DataFrame) -> alt.Chart:
    """Leave requests per month of submission, stacked by status.

    Parameters
    ----------
    leave_requests
        ``Loket.leave_requests(employer_id)``; needs ``submitted_on`` and
        ``leave_request_status`` (or ``leave_request_status_key``). The month is the
        Europe/Amsterdam calendar month of ``submitted_on``.

    Returns
    -------
    altair.Chart
        Stacked bars of requests per month by ``leave_request_status``; one row per month ×
        status (``requests``, and ``hours`` requested when ``number_of_units`` is present).
    """
    alt = _alt()
    title = "Leave requests per month of submission by status"
    chart = "leave_requests_by_status"
    _require(
        leave_requests, ["submitted_on"], chart=chart, source=_LEAVE_REQUESTS, what="leave requests"
    )
    if (
        "leave_request_status" not in leave_requests.columns
        and "leave_request_status_key" not in leave_requests.columns
    ):
        _require(
            leave_requests,
            ["submitted_on", "leave_request_status"],
            chart=chart,
            source=_LEAVE_REQUESTS,
            what="leave requests",
        )
    lr = leave_requests.with_columns(
        month=_month_expr(_as_date(leave_requests, "submitted_on")),
        leave_request_status=_status_expr(leave_requests),
        _hours=(
            pl.col("number_of_units").cast(pl.Float64)
            if "number_of_units" in leave_requests.columns
            else pl.lit(None, pl.Float64)
        ),
    ).filter(pl.col("month").is_not_null())
    if lr.is_empty():
        return _empty_chart(title)
    order = (
        lr.group_by("leave_request_status")
        .agg(
            k=pl.col("leave_request_status_key").min()
            if "leave_request_status_key" in lr.columns
            else pl.lit(0)
        )
        .sort("k", "leave_request_status")
        .get_column("leave_request_status")
        .to_list()
    )
    data = _month_bars(
        lr.group_by("month", "leave_request_status")
        .agg(requests=pl.len().cast(pl.Int64), hours=pl.col("_hours").sum().round(2))
        .sort("month", "leave_request_status")
    )
    return _month_bar_chart(
        alt,
        data,
        title,
        y=alt.Y("sum(requests):Q", title="leave requests", stack="zero"),
        color=alt.Color(
            "leave_request_status:N", title="status", sort=order, scale=alt.Scale(scheme="set2")
        ),
        tooltip=[
            alt.Tooltip("month:T", title="month submitted", format="%B %Y"),
            alt.Tooltip("leave_request_status:N", title="status"),
            alt.Tooltip("sum(requests):Q", title="requests", format=","),
            alt.Tooltip("sum(hours):Q", title="hours requested", format=",.1f"),
        ],
    ).properties(width=WIDTH, height=HEIGHT)


def _sick_frames(
    absences: pl.DataFrame,
    employments: pl.DataFrame,
    departments: pl.DataFrame | None,
    *,
    chart: str,
    start: date | None,
    until: date | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per month, per month × department) sick days, employed days and rate."""
    _require(
        absences,
        ["employee_id", "start_date", "end_date"],
        chart=chart,
        source=_ABSENCES,
        what="absences",
    )
    _require(
        employments,
        ["id", "employee_id", "start_date", "end_date"],
        chart=chart,
        source=_EMPLOYMENTS,
        what="employments",
    )
    empty = (
        pl.DataFrame(
            schema={
                "month": pl.Date,
                "sick_days": pl.Int64,
                "employed_days": pl.Int64,
                "rate": pl.Float64,
            }
        ),
        pl.DataFrame(
            schema={
                "month": pl.Date,
                "department": pl.String,
                "sick_days": pl.Int64,
                "employed_days": pl.Int64,
                "rate": pl.Float64,
            }
        ),
    )
    ab = absences.select(
        pl.col("employee_id").cast(pl.String),
        *(
            [pl.col("employment_id").cast(pl.String).alias("_abs_employment")]
            if "employment_id" in absences.columns
            else []
        ),
        _a_start=_as_date(absences, "start_date"),
        _a_end=_as_date(absences, "end_date"),
    ).filter(pl.col("_a_start").is_not_null())
    em = employments.select(
        pl.col("id").cast(pl.String).alias("employment_id"),
        pl.col("employee_id").cast(pl.String),
        (
            pl.col("department_id").cast(pl.String)
            if "department_id" in employments.columns
            else pl.lit(None, pl.String)
        ).alias("department_id"),
        (
            pl.col("department").cast(pl.String)
            if "department" in employments.columns
            else pl.lit(None, pl.String)
        ).alias("_dep_own"),
        _e_start=_as_date(employments, "start_date"),
        _e_end=_as_date(employments, "end_date"),
    ).filter(pl.col("_e_start").is_not_null())
    if ab.is_empty() or em.is_empty():
        return empty
    if until is None:
        latest: date = ab.select(
            pl.max_horizontal(pl.col("_a_start").max(), pl.col("_a_end").max())
        ).item()
        # the end of the last month an absence starts or ends in
        until = (latest.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    if start is None:
        first: date = ab.get_column("_a_start").min()  # type: ignore[assignment]
        start = first.replace(day=1)
    if until < start:
        return empty
    window = (start, until)
    # Department names.
    if departments is not None:
        _require(
            departments, ["id", "description"], chart=chart, source=_DEPARTMENTS, what="departments"
        )
        em = em.join(
            departments.select(
                pl.col("id").cast(pl.String).alias("department_id"),
                pl.col("description").alias("_dep"),
            ).unique("department_id"),
            on="department_id",
            how="left",
        )
    else:
        em = em.with_columns(_dep=pl.lit(None, pl.String))
    em = em.with_columns(
        department=pl.coalesce(
            "_dep",
            "_dep_own",
            pl.lit("department ") + pl.col("department_id"),
            pl.lit("no department"),
        )
    ).drop("_dep", "_dep_own")
    # Employed days per month × department (open employments run to the window's end).
    employed = _spread_over_months(em, "_e_start", "_e_end", clip=window)
    employed = employed.group_by("month", "department").agg(employed_days=pl.col("days").sum())
    # Sick days: each absence clipped to the employment(s) of that employee it overlaps.
    pairs = ab.join(em, on="employee_id", how="inner")
    if "_abs_employment" in pairs.columns:
        pairs = pairs.filter(
            pl.col("_abs_employment").is_null()
            | (pl.col("_abs_employment") == pl.col("employment_id"))
        )
    pairs = pairs.with_columns(
        _s=pl.max_horizontal("_a_start", "_e_start"),
        _e=pl.min_horizontal(pl.col("_a_end").fill_null(until), pl.col("_e_end").fill_null(until)),
    ).filter(pl.col("_e") >= pl.col("_s"))
    sick = _spread_over_months(pairs.select("department", "_s", "_e"), "_s", "_e", clip=window)
    sick = sick.group_by("month", "department").agg(sick_days=pl.col("days").sum())
    per_dep = (
        employed.join(sick, on=["month", "department"], how="left")
        .with_columns(
            pl.col("sick_days").fill_null(0).cast(pl.Int64), pl.col("employed_days").cast(pl.Int64)
        )
        .filter(pl.col("employed_days") > 0)
        .with_columns(rate=(pl.col("sick_days") / pl.col("employed_days")).round(5))
        .sort("month", "department")
    )
    per_month = (
        per_dep.group_by("month")
        .agg(pl.col("sick_days").sum(), pl.col("employed_days").sum())
        .with_columns(rate=(pl.col("sick_days") / pl.col("employed_days")).round(5))
        .sort("month")
    )
    return per_month, per_dep


def _sick_charts(
    per_month: pl.DataFrame, per_dep: pl.DataFrame, brush: Any, *, width: int
) -> tuple[Any, Any]:
    alt = _alt()
    line = (
        alt.Chart(_month_bars(per_month), title="Sick-leave rate per month")
        .mark_line(point=True, color=ACCENT)
        .encode(
            x=_month_x(alt),
            y=alt.Y("rate:Q", title="sick-leave rate", axis=alt.Axis(format=".1%")),
            tooltip=[
                alt.Tooltip("month:T", title="month", format="%B %Y"),
                alt.Tooltip("rate:Q", title="sick-leave rate", format=".2%"),
                alt.Tooltip("sick_days:Q", title="sick person-days", format=","),
                alt.Tooltip("employed_days:Q", title="employed person-days", format=","),
            ],
        )
        .properties(width=width, height=HEIGHT - 60)
    )
    bars = (
        alt.Chart(per_dep, title="Sick-leave rate per department (brushed)")
        .transform_filter(brush)
        .transform_aggregate(
            sick_days="sum(sick_days)", employed_days="sum(employed_days)", groupby=["department"]
        )
        .transform_calculate(rate="datum.sick_days / datum.employed_days")
        .mark_bar(color=ACCENT)
        .encode(
            x=alt.X("rate:Q", title="sick-leave rate", axis=alt.Axis(format=".1%")),
            y=alt.Y("department:N", title="department", sort="-x"),
            tooltip=[
                alt.Tooltip("department:N", title="department"),
                alt.Tooltip("rate:Q", title="sick-leave rate", format=".2%"),
                alt.Tooltip("sick_days:Q", title="sick person-days", format=","),
                alt.Tooltip("employed_days:Q", title="employed person-days", format=","),
            ],
        )
        .properties(width=PANEL_WIDTH + 40, height=alt.Step(16))
    )
    return line, bars


def sick_leave_rate(
    absences: pl.DataFrame,
    employments: pl.DataFrame,
    departments: pl.DataFrame | None = None,
    *,
    start: date | None = None,
    until: date | None = None,
) -> alt.HConcatChart | alt.Chart:
    """The sick-leave (absence) rate per month, and per department under a brush.

    The rate of a month is sick person-days / employed person-days in that month (calendar
    days; an absence counts only on days its employee has an employment, with that
    employment's department; an ongoing absence, ``end_date`` null, runs to ``until``). The
    incapacity percentage is not weighed in.

    Parameters
    ----------
    absences
        ``Loket.absences(employer_id)``; needs ``employee_id``, ``start_date``, ``end_date``
        (``employment_id`` is used when present).
    employments
        ``Loket.employments(employer_id)``; needs ``id``, ``employee_id``, ``start_date``,
        ``end_date``, and ``department_id`` for the department breakdown
        (``Loket.employments(employer_id, with_department=True)``; its ``department`` column
        names them when ``departments`` is not given).
    departments
        Optional ``Loket.departments(employer_id)`` (``id``, ``description``) to name them.
    start, until
        The period to chart; default from the first month with an absence to the end of the
        last month an absence starts or ends in.

    Returns
    -------
    altair.HConcatChart
        Left: the monthly rate (line) with the interval selection ``brush`` on ``month``. Right:
        the rate per department over the brushed months, re-aggregated by Vega-Lite from the
        per month × department ``sick_days`` and ``employed_days``.
    """
    alt = _alt()
    title = "Sick-leave rate"
    per_month, per_dep = _sick_frames(
        absences, employments, departments, chart="sick_leave_rate", start=start, until=until
    )
    if per_month.is_empty():
        return _empty_chart(title)
    brush = _brush()
    line, bars = _sick_charts(per_month, per_dep, brush, width=WIDTH - 200)
    line = line.add_params(brush)
    return alt.hconcat(line, bars, title=f"{title} — drag on the months to filter the departments")


def leave_balance_distribution(
    leave_balances: pl.DataFrame, *, year: int | None = None, bins: int = 20
) -> alt.HConcatChart | alt.Chart:
    """The distribution of leave balances (hours) per leave type, for one year.

    Parameters
    ----------
    leave_balances
        ``Loket.leave_balances(employer_id)``; needs ``balance`` and ``leave_type`` (or
        ``leave_type_key``); ``year`` when present.
    year
        The year to show; default the latest year in the frame.
    bins
        About how many histogram bins (default 20; the width is rounded to 1, 2 or 5 × 10^k).

    Returns
    -------
    altair.HConcatChart
        Left: a box plot per leave type computed in Polars (whiskers min–max, box q1–q3, tick
        at the median; one row per type with ``n``, ``min``, ``q1``, ``median``, ``q3``, ``max``,
        ``mean``). Right: a histogram of balances stacked by leave type (one row per type ×
        bin: ``bin_start``, ``bin_end``, ``employments``).
    """
    alt = _alt()
    chart = "leave_balance_distribution"
    _require(leave_balances, ["balance"], chart=chart, source=_BALANCES, what="leave balances")
    _require_leave_type(leave_balances, chart=chart, source=_BALANCES, what="leave balances")
    df = leave_balances
    if "year" in df.columns and df.height:
        if year is None:
            year = int(df.get_column("year").max())  # type: ignore[arg-type]
        df = df.filter(pl.col("year") == year)
    elif year is not None and "year" not in df.columns:
        _require(df, ["balance", "year"], chart=chart, source=_BALANCES, what="leave balances")
    title = "Leave balances per leave type" + (f" ({year})" if year is not None else "")
    df = df.select(
        leave_type=_leave_type_expr(df), balance=pl.col("balance").cast(pl.Float64)
    ).drop_nulls("balance")
    if df.is_empty():
        return _empty_chart(title)
    q = pl.col("balance")
    box = (
        df.group_by("leave_type")
        .agg(
            n=pl.len().cast(pl.Int64),
            min=q.min(),
            q1=q.quantile(0.25, "linear"),
            median=q.median(),
            q3=q.quantile(0.75, "linear"),
            max=q.max(),
            mean=q.mean(),
        )
        .with_columns(pl.col("min", "q1", "median", "q3", "max", "mean").round(2))
        .sort("leave_type")
    )
    lo = float(df.get_column("balance").min())  # type: ignore[arg-type]
    hi = float(df.get_column("balance").max())  # type: ignore[arg-type]
    width = _nice_step((hi - lo) / max(bins, 1)) if hi > lo else 1.0
    hist = (
        df.group_by("leave_type", bin_start=(q / width).floor() * width)
        .agg(employments=pl.len().cast(pl.Int64))
        .with_columns(
            bin_start=pl.col("bin_start").round(6), bin_end=(pl.col("bin_start") + width).round(6)
        )
        .sort("leave_type", "bin_start")
    )
    color = alt.Color("leave_type:N", title="leave type", scale=alt.Scale(scheme=SCHEME))
    box_tip = [
        alt.Tooltip("leave_type:N", title="leave type"),
        alt.Tooltip("n:Q", title="balances", format=","),
        alt.Tooltip("min:Q", title="min (hours)", format=",.1f"),
        alt.Tooltip("q1:Q", title="25% (hours)", format=",.1f"),
        alt.Tooltip("median:Q", title="median (hours)", format=",.1f"),
        alt.Tooltip("q3:Q", title="75% (hours)", format=",.1f"),
        alt.Tooltip("max:Q", title="max (hours)", format=",.1f"),
        alt.Tooltip("mean:Q", title="mean (hours)", format=",.1f"),
    ]
    base = alt.Chart().encode(y=alt.Y("leave_type:N", title="leave type"), tooltip=box_tip)
    boxplot = alt.layer(
        base.mark_rule().encode(x=alt.X("min:Q", title="balance (hours)"), x2="max:Q"),
        base.mark_bar(size=14).encode(x="q1:Q", x2="q3:Q", color=color),
        base.mark_tick(color="white", size=14, thickness=2).encode(x="median:Q"),
        data=box,
        title="Spread per leave type",
    ).properties(width=PANEL_WIDTH + 60, height=alt.Step(30))
    histogram = (
        alt.Chart(hist, title="Histogram")
        .mark_bar()
        .encode(
            x=alt.X("bin_start:Q", title="balance (hours)", bin="binned"),
            x2="bin_end:Q",
            y=alt.Y("employments:Q", title="balances", stack="zero"),
            color=color,
            tooltip=[
                alt.Tooltip("leave_type:N", title="leave type"),
                alt.Tooltip("bin_start:Q", title="from (hours)", format=",.1f"),
                alt.Tooltip("bin_end:Q", title="to (hours)", format=",.1f"),
                alt.Tooltip("employments:Q", title="balances", format=","),
            ],
        )
        .properties(width=WIDTH - 260, height=HEIGHT)
    )
    return alt.hconcat(boxplot, histogram, title=title)


def _nice_step(raw: float) -> float:
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    exp = math.floor(math.log10(raw))
    frac = raw / 10**exp
    nice = 1 if frac <= 1 else 2 if frac <= 2 else 5 if frac <= 5 else 10
    return float(nice * 10**exp)


def leave_trends(
    leave_requests: pl.DataFrame,
    absences: pl.DataFrame | None = None,
    employments: pl.DataFrame | None = None,
    departments: pl.DataFrame | None = None,
    *,
    statuses: Iterable[str | int] | None = None,
) -> alt.VConcatChart | alt.Chart:
    """Monthly leave hours with a brush, linked to breakdowns by type and status (and sick leave).

    Parameters
    ----------
    leave_requests
        ``Loket.leave_requests(employer_id)``; needs ``start_date``, ``end_date``,
        ``number_of_units`` and ``leave_type``; ``leave_request_status`` for the status panel.
        Hours are spread pro rata per calendar day, as in :func:`leave_hours_by_month`.
    absences, employments
        Optional ``Loket.absences`` and ``Loket.employments``: when both are given the
        sick-leave rate per month is added, with a per-department panel filtered by the brush
        (see :func:`sick_leave_rate`).
    departments
        Optional ``Loket.departments`` to name departments.
    statuses
        Only requests with these statuses (names or keys); default every request.

    Returns
    -------
    altair.VConcatChart
        Top: leave hours per month stacked by leave type, carrying the interval selection
        ``brush`` on ``month``. Below: hours per leave type and per status over the brushed
        months (``transform_filter`` by ``brush``, ``sum`` re-aggregated from per month × type ×
        status rows); then, with absences, the monthly sick-leave rate and the brushed rate per
        department.
    """
    alt = _alt()
    title = "Leave trends — drag on the months to filter the breakdowns"
    months = _leave_month_frame(leave_requests, chart="leave_trends", statuses=statuses)
    if months.is_empty():
        return _empty_chart("Leave trends")
    data = _month_bars(months)
    brush = _brush()
    top = (
        _month_bar_chart(
            alt,
            data,
            "Leave hours per month by leave type",
            **_leave_hours_encoding(alt),
            opacity=alt.when(brush).then(alt.value(1.0)).otherwise(alt.value(0.35)),
        )
        .add_params(brush)
        .properties(width=WIDTH + 100, height=HEIGHT)
    )

    def panel(field: str, label: str, panel_title: str, scheme: str) -> Any:
        return (
            alt.Chart(data, title=panel_title)
            .transform_filter(brush)
            .mark_bar()
            .encode(
                x=alt.X("sum(hours):Q", title="leave hours"),
                y=alt.Y(f"{field}:N", title=label, sort="-x"),
                color=alt.Color(
                    f"{field}:N", title=label, scale=alt.Scale(scheme=scheme), legend=None
                ),
                tooltip=[
                    alt.Tooltip(f"{field}:N", title=label),
                    alt.Tooltip("sum(hours):Q", title="leave hours", format=",.1f"),
                ],
            )
            .properties(width=PANEL_WIDTH + 60, height=alt.Step(20))
        )

    rows: list[Any] = [
        top,
        alt.hconcat(
            panel("leave_type", "leave type", "Hours by leave type (brushed)", SCHEME),
            panel("leave_request_status", "status", "Hours by status (brushed)", "set2"),
        ),
    ]
    if absences is not None and employments is not None:
        per_month, per_dep = _sick_frames(
            absences, employments, departments, chart="leave_trends", start=None, until=None
        )
        if not per_month.is_empty():
            line, bars = _sick_charts(per_month, per_dep, brush, width=WIDTH - 240)
            rows.append(alt.hconcat(line, bars))
    return alt.vconcat(*rows, title=title)


def enable_offline_rendering() -> str:
    """Show charts in Jupyter with no network access (no CDN): returns the renderer used.

    Altair's default notebook renderer loads the Vega JavaScript from a CDN. This switches to
    the ``jupyter`` renderer with the bundle inlined from vl-convert (interactive; needs
    ``anywidget``), or else to the static ``svg`` renderer (vl-convert, no JavaScript).
    """
    alt = _alt()
    try:
        import anywidget  # noqa: F401
    except ImportError:
        alt.renderers.enable("svg")
        return "svg"
    alt.renderers.enable("jupyter", offline=True)
    # Charts built as alt.JupyterChart(...) directly ignore the renderer's offline flag.
    jupyter_chart = getattr(alt, "JupyterChart", None)
    if jupyter_chart is not None and hasattr(jupyter_chart, "enable_offline"):
        jupyter_chart.enable_offline()
    return "jupyter"
