"""Charts of Valinso vends: revenue per day, heatmap, products, devices, payments, overview."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from loketvalinso.charts._shared import (
    _DEVICES,
    _LOCATIONS,
    _PRODUCTS,
    _VENDS,
    ACCENT,
    COLOR,
    HEIGHT,
    PANEL_WIDTH,
    SCHEME,
    WEEKDAYS,
    WIDTH,
    _alt,
    _bar_end,
    _brush,
    _bucket,
    _currency,
    _empty_chart,
    _money,
    _names,
    _require,
    _revenue_expr,
    _successful_vends,
    _tip_money,
)

if TYPE_CHECKING:  # pragma: no cover
    import altair as alt


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
