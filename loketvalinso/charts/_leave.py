"""Charts of Loket leave: hours per month, requests by status, sick-leave rate, balances, trends."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from loketvalinso.charts._shared import (
    _ABSENCES,
    _BALANCES,
    _DEPARTMENTS,
    _EMPLOYMENTS,
    _LEAVE_REQUESTS,
    ACCENT,
    HEIGHT,
    PANEL_WIDTH,
    SCHEME,
    WIDTH,
    _alt,
    _as_date,
    _bar_end,
    _brush,
    _empty_chart,
    _month_expr,
    _require,
)

if TYPE_CHECKING:  # pragma: no cover
    import altair as alt


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
