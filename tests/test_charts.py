"""Charts: specs (encodings, brush params, linking filters), data values against independent
computations from the input frames, row-count bounds, SVG rendering, empty frames, bad input.

The data is the mock's world (a small one); edge cases use hand-made frames with the world's
schemas (``loketvalinso.mock.schema``).
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

pytest.importorskip("altair")
vl_convert = pytest.importorskip("vl_convert")

from loketvalinso import charts  # noqa: E402
from loketvalinso.mock.schema import LOKET_SCHEMAS, VALINSO_SCHEMAS  # noqa: E402

AMS = ZoneInfo("Europe/Amsterdam")


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def _frame(name: str, columns: dict[str, Any], n: int) -> pl.DataFrame:
    """A frame with exactly the world's schema for ``name``; absent columns are null."""
    schema = {**LOKET_SCHEMAS, **VALINSO_SCHEMAS}[name]
    return pl.DataFrame(
        {
            c: pl.Series(c, columns.get(c, [None] * n)).cast(t, strict=False)
            for c, t in schema.items()
        },
        schema=schema,
    )


SMALL = dict(employers=1, employees=60, vends=20_000, devices=8, locations=3, products=10)


@pytest.fixture(scope="module")
def world():
    """A small mock world: one employer, 60 employees, 20k vends."""
    from loketvalinso.mock.world import WorldSizes, cached_world

    return cached_world(7, WorldSizes(**SMALL))


@pytest.fixture(scope="module")
def big_vends() -> pl.DataFrame:
    """A year of 200k vends over 50 devices, 15 locations and 40 products."""
    from loketvalinso.mock.world import WorldSizes, cached_world

    sizes = WorldSizes(
        employers=1, employees=20, vends=200_000, devices=50, locations=15, products=40
    )
    return cached_world(11, sizes).vends


# --------------------------------------------------------------------------------------------
# spec helpers
# --------------------------------------------------------------------------------------------


def spec_of(chart) -> dict:
    return chart.to_dict()


def datasets(spec: dict) -> dict[str, list[dict]]:
    return spec.get("datasets", {})


def walk(spec: Any):
    """Every dict in the spec, depth first."""
    if isinstance(spec, dict):
        yield spec
        for v in spec.values():
            yield from walk(v)
    elif isinstance(spec, list):
        for v in spec:
            yield from walk(v)


def views(spec: dict) -> list[dict]:
    """Every unit view (a dict with a mark)."""
    return [d for d in walk(spec) if "mark" in d]


def _view_data(node: Any, inherited: str | None, out: dict[int, str | None]) -> None:
    if isinstance(node, dict):
        name = (
            node.get("data", {}).get("name", inherited)
            if isinstance(node.get("data"), dict)
            else inherited
        )
        if "mark" in node:
            out[id(node)] = name
        for key in ("layer", "vconcat", "hconcat", "concat"):
            for child in node.get(key, []):
                _view_data(child, name, out)
        if "spec" in node:
            _view_data(node["spec"], name, out)


def rows_of(spec: dict, view: dict) -> list[dict]:
    """The inline rows a unit view draws (its own data or the nearest ancestor's)."""
    found: dict[int, str | None] = {}
    _view_data(spec, None, found)
    return datasets(spec)[found[id(view)]]


def dataset_with(spec: dict, *fields: str) -> list[dict]:
    """The one dataset whose rows carry all ``fields``."""
    found = [rows for rows in datasets(spec).values() if rows and all(f in rows[0] for f in fields)]
    assert found, f"no dataset with {fields}"
    return found[0]


def day_key(d: date) -> str:
    return f"{d.isoformat()}T00:00:00"


def brush_params(spec: dict) -> list[dict]:
    return [p for d in walk(spec) for p in d.get("params", []) if p.get("name") == "brush"]


def brush_owner(spec: dict) -> dict:
    """The unit view the brush is defined on (Altair lifts params of concatenated views to the
    top level, naming the view in ``views``)."""
    (param,) = brush_params(spec)
    names = param.get("views")
    owners = [
        v
        for v in views(spec)
        if (names and v.get("name") in names)
        or any(p.get("name") == "brush" for p in v.get("params", []))
    ]
    assert len(owners) == 1, owners
    return owners[0]


def brush_filtered_views(spec: dict) -> list[dict]:
    return [v for v in views(spec) if {"filter": {"param": "brush"}} in v.get("transform", [])]


def render(chart) -> str:
    svg = vl_convert.vegalite_to_svg(chart.to_json())
    assert svg.lstrip().startswith("<svg")
    return svg


def assert_marks(svg: str) -> None:
    assert "<path" in svg or "<rect" in svg or "<text" in svg
    assert 'class="mark-' in svg


def ok_vends(vends: pl.DataFrame) -> pl.DataFrame:
    return vends.filter(pl.col("status") == "success")


def local_day(ts: datetime) -> date:
    return ts.astimezone(AMS).date()


# --------------------------------------------------------------------------------------------
# vends
# --------------------------------------------------------------------------------------------


def test_vends_daily_values_match_independent_computation(world):
    chart = charts.vends_daily(world.vends)
    spec = spec_of(chart)
    rows = dataset_with(spec, "date", "revenue", "vends", "revenue_mean")
    # Independent: pure Python over the input rows, Decimal arithmetic, Amsterdam days.
    revenue: dict[date, Decimal] = defaultdict(Decimal)
    count: dict[date, int] = defaultdict(int)
    for r in world.vends.iter_rows(named=True):
        if r["status"] == "success":
            d = local_day(r["timestamp"])
            revenue[d] += r["price"] * r["quantity"]
            count[d] += 1
    by_day = {row["date"]: row for row in rows}
    assert len(rows) == (max(revenue) - min(revenue)).days + 1  # zero-filled, one row per day
    for d in sorted(revenue)[::37]:
        assert by_day[day_key(d)]["revenue"] == pytest.approx(float(revenue[d]), abs=0.005)
        assert by_day[day_key(d)]["vends"] == count[d]
    # The 7-day mean of one day is the mean of that day and the six before.
    days = sorted(revenue)
    d = days[20]
    window = [float(revenue.get(d - timedelta(days=k), 0)) for k in range(7)]
    assert by_day[day_key(d)]["revenue_mean"] == pytest.approx(sum(window) / 7, abs=0.01)
    assert by_day[day_key(days[0])]["revenue_mean"] is None


def test_vends_daily_encodings(world):
    spec = spec_of(charts.vends_daily(world.vends))
    encs = [v["encoding"] for v in views(spec)]
    ys = {e["y"]["field"] for e in encs}
    assert ys == {"revenue", "revenue_mean", "vends", "vends_mean"}
    assert all(e["x"] == {**e["x"], "field": "date", "type": "temporal"} for e in encs)
    titles = {e["y"].get("title") for e in encs}
    assert "revenue (EUR)" in titles
    assert all("tooltip" in e for e in encs)
    assert {v["mark"]["type"] for v in views(spec)} == {"bar", "line"}


def test_vends_heatmap_local_time(world):
    spec = spec_of(charts.vends_heatmap(world.vends))
    (view,) = views(spec)
    enc = view["encoding"]
    assert (enc["x"]["field"], enc["x"]["type"]) == ("hour", "ordinal")
    assert (enc["y"]["field"], enc["y"]["type"]) == ("weekday", "ordinal")
    assert enc["y"]["sort"] == charts.WEEKDAYS
    assert (enc["color"]["field"], enc["color"]["type"]) == ("vends", "quantitative")
    rows = rows_of(spec, spec)
    assert len(rows) == 7 * 24
    cells: dict[tuple[str, int], int] = defaultdict(int)
    for ts in ok_vends(world.vends).get_column("timestamp"):
        local = ts.astimezone(AMS)
        cells[(charts.WEEKDAYS[local.weekday()], local.hour)] += 1
    for row in rows:
        assert row["vends"] == cells[(row["weekday"], row["hour"])]


def test_top_products_names_and_values(world):
    spec = spec_of(charts.top_products(world.vends, world.products, n=5))
    rows = rows_of(spec, spec)
    assert len(rows) == 5
    expected = (
        ok_vends(world.vends)
        .group_by("product_id")
        .agg(revenue=(pl.col("price") * pl.col("quantity")).sum())
        .sort("revenue", descending=True)
        .head(5)
    )
    names = dict(world.products.select("id", "name").iter_rows())
    for (pid, rev), row in zip(expected.iter_rows(), rows, strict=True):
        assert row["product"] == names[pid]
        assert row["revenue"] == pytest.approx(float(rev), abs=0.005)
    enc = spec["encoding"]
    assert enc["y"]["field"] == "product" and enc["y"]["sort"] == "-x"
    assert enc["x"] == {
        **enc["x"],
        "field": "revenue",
        "type": "quantitative",
        "title": "revenue (EUR)",
    }
    assert {t["field"] for t in enc["tooltip"]} >= {"product", "revenue", "vends"}


def test_top_products_without_catalogue_uses_ids(world):
    rows = rows_of(*(2 * [spec_of(charts.top_products(world.vends, n=3))]))
    assert all(r["product"].startswith("product ") for r in rows)


@pytest.mark.parametrize("by", ["device", "location"])
def test_device_comparison(world, by):
    chart = charts.device_comparison(world.vends, world.devices, world.locations, by=by)
    spec = spec_of(chart)
    rows = rows_of(spec, spec)
    key = f"{by}_id"
    frame = world.devices if by == "device" else world.locations
    assert len(rows) == world.vends.get_column(key).n_unique()
    pick = rows[0]
    ident = pick[key]
    sub = world.vends.filter(pl.col(key) == ident)
    ok = ok_vends(sub)
    assert pick["revenue"] == pytest.approx(float((ok["price"] * ok["quantity"]).sum()), abs=0.005)
    assert pick["attempts"] == sub.height
    assert pick["failed_share"] == pytest.approx(1 - ok.height / sub.height, abs=1e-4)
    assert pick[by] == frame.filter(pl.col("id") == ident)["name"][0]
    assert spec["encoding"]["y"]["field"] == by
    with pytest.raises(ValueError, match="by="):
        charts.device_comparison(world.vends, by="product")  # type: ignore[arg-type]


def test_payment_mix(world):
    spec = spec_of(charts.payment_mix(world.vends))
    rows = dataset_with(spec, "payment_type", "revenue", "share")
    ok = ok_vends(world.vends)
    assert {r["payment_type"] for r in rows} == set(ok["payment_type"].unique())
    cash = ok.filter(pl.col("payment_type") == "cash")
    (row,) = [r for r in rows if r["payment_type"] == "cash"]
    assert row["revenue"] == pytest.approx(
        float((cash["price"] * cash["quantity"]).sum()), abs=0.005
    )
    assert row["vends"] == cash.height
    assert sum(r["share"] for r in rows) == pytest.approx(1, abs=1e-3)


def test_vends_overview_brush_links_breakdowns(world):
    spec = spec_of(
        charts.vends_overview(world.vends, world.products, world.devices, world.locations)
    )
    (brush,) = brush_params(spec)
    assert brush["select"] == {"type": "interval", "encodings": ["x"]}
    # The view carrying the brush encodes x as the daily date.
    owner = brush_owner(spec)
    assert owner["encoding"]["x"]["field"] == "date"
    linked = brush_filtered_views(spec)
    assert {v["encoding"]["y"]["field"] for v in linked} == {"payment_type", "product", "location"}
    for v in linked:
        assert v["encoding"]["x"]["aggregate"] == "sum" and v["encoding"]["x"]["field"] == "revenue"
        rows = rows_of(spec, v)
        assert "date" in rows[0]  # filterable by the brush on date
        assert len(rows) < 5000
    # Day × payment rows re-aggregate to the right totals: one day, one payment type.
    pay_view = next(v for v in linked if v["encoding"]["y"]["field"] == "payment_type")
    rows = rows_of(spec, pay_view)
    d = local_day(world.vends["timestamp"][len(world.vends) // 2])
    ok = ok_vends(world.vends).with_columns(
        day=pl.col("timestamp").dt.convert_time_zone("Europe/Amsterdam").dt.date()
    )
    sub = ok.filter((pl.col("day") == d) & (pl.col("payment_type") == "card"))
    (row,) = [r for r in rows if r["date"] == day_key(d) and r["payment_type"] == "card"]
    assert row["revenue"] == pytest.approx(float((sub["price"] * sub["quantity"]).sum()), abs=0.005)
    # Product and location names.
    prod_rows = rows_of(spec, next(v for v in linked if v["encoding"]["y"]["field"] == "product"))
    assert {r["product"] for r in prod_rows} <= set(world.products["name"])
    loc_rows = rows_of(spec, next(v for v in linked if v["encoding"]["y"]["field"] == "location"))
    assert {r["location"] for r in loc_rows} <= set(world.locations["name"]) | {"other"}


def test_overview_rows_stay_small_for_200k_vends(big_vends):
    chart = charts.vends_overview(big_vends)
    spec = spec_of(chart)
    sizes = [len(rows) for rows in datasets(spec).values()]
    assert len(sizes) >= 4
    assert max(sizes) < 5000
    for fn in (charts.vends_daily, charts.vends_heatmap, charts.top_products, charts.payment_mix):
        assert max(len(r) for r in datasets(spec_of(fn(big_vends))).values()) < 5000


def test_overview_without_optional_columns(world):
    slim = world.vends.select("timestamp", "price", "quantity")
    spec = spec_of(charts.vends_overview(slim))
    assert brush_params(spec)
    assert not brush_filtered_views(spec)


# --------------------------------------------------------------------------------------------
# leave
# --------------------------------------------------------------------------------------------


def _requests(rows: list[dict]) -> pl.DataFrame:
    n = len(rows)
    cols = {k: [r.get(k) for r in rows] for k in rows[0]}
    cols.setdefault("id", [f"x{i}" for i in range(n)])
    return _frame("leave_requests", cols, n)


def test_leave_hours_pro_rata_across_months():
    # 30 Jan – 2 Feb: 4 calendar days, 32 hours → 16 in January, 16 in February.
    # 25 Feb – 6 Mar 2024 (leap year): 11 days, 44 hours → 5 days Feb (20h), 6 days Mar (24h).
    frame = _requests(
        [
            {
                "start_date": date(2024, 1, 30),
                "end_date": date(2024, 2, 2),
                "number_of_units": 32.0,
                "leave_type": "Verlof",
                "leave_type_key": 16,
                "leave_request_status": "toegekend",
                "leave_request_status_key": 2,
            },
            {
                "start_date": date(2024, 2, 25),
                "end_date": date(2024, 3, 6),
                "number_of_units": 44.0,
                "leave_type": "Verlof",
                "leave_type_key": 16,
                "leave_request_status": "toegekend",
                "leave_request_status_key": 2,
            },
            {
                "start_date": date(2024, 2, 10),
                "end_date": date(2024, 2, 10),
                "number_of_units": 8.0,
                "leave_type": "Wettelijk verlof",
                "leave_type_key": 15,
                "leave_request_status": "afgewezen",
                "leave_request_status_key": 3,
            },
        ]
    )
    spec = spec_of(charts.leave_hours_by_month(frame))
    rows = {(r["month"], r["leave_type"]): r["hours"] for r in rows_of(spec, spec)}
    assert rows[(day_key(date(2024, 1, 1)), "Verlof")] == pytest.approx(16.0)
    assert rows[(day_key(date(2024, 2, 1)), "Verlof")] == pytest.approx(16.0 + 20.0)
    assert rows[(day_key(date(2024, 3, 1)), "Verlof")] == pytest.approx(24.0)
    assert rows[(day_key(date(2024, 2, 1)), "Wettelijk verlof")] == pytest.approx(8.0)
    only_granted = spec_of(charts.leave_hours_by_month(frame, statuses=["toegekend"]))
    assert {r["leave_type"] for r in rows_of(only_granted, only_granted)} == {"Verlof"}
    by_key = spec_of(charts.leave_hours_by_month(frame, statuses=[3]))
    assert {r["leave_type"] for r in rows_of(by_key, by_key)} == {"Wettelijk verlof"}
    enc = spec["encoding"]
    assert (enc["x"]["field"], enc["x"]["type"]) == ("month", "temporal")
    assert (enc["y"]["field"], enc["color"]["field"]) == ("hours", "leave_type")


def test_leave_hours_total_is_preserved(world):
    lr = world.leave_requests
    spec = spec_of(charts.leave_hours_by_month(lr))
    rows = rows_of(spec, spec)
    assert sum(r["hours"] for r in rows) == pytest.approx(lr["number_of_units"].sum(), rel=1e-6)
    # One month × type against a day-by-day Python spread.
    month = date(2023, 7, 1)
    ltype = lr["leave_type"][0]
    expected = 0.0
    for r in lr.filter(pl.col("leave_type") == ltype).iter_rows(named=True):
        days = (r["end_date"] - r["start_date"]).days + 1
        for k in range(days):
            d = r["start_date"] + timedelta(days=k)
            if (d.year, d.month) == (month.year, month.month):
                expected += r["number_of_units"] / days
    got = next(
        (r["hours"] for r in rows if r["month"] == day_key(month) and r["leave_type"] == ltype), 0.0
    )
    assert got == pytest.approx(expected, abs=0.05)


def test_leave_requests_by_status(world):
    lr = world.leave_requests
    spec = spec_of(charts.leave_requests_by_status(lr))
    rows = rows_of(spec, spec)
    assert sum(r["requests"] for r in rows) == lr.height
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in lr.iter_rows(named=True):
        local = r["submitted_on"].astimezone(AMS)
        counts[(day_key(date(local.year, local.month, 1)), r["leave_request_status"])] += 1
    for row in rows:
        assert row["requests"] == counts[(row["month"], row["leave_request_status"])]
    enc = spec["encoding"]
    assert enc["color"]["field"] == "leave_request_status"
    assert enc["y"]["title"] == "leave requests"


def test_leave_requests_accept_submitted_by_id():
    frame = (
        _requests(
            [
                {
                    "start_date": date(2024, 3, 4),
                    "end_date": date(2024, 3, 4),
                    "number_of_units": 8.0,
                    "leave_type": "Verlof",
                    "leave_request_status": "ingediend",
                    "submitted_on": datetime(2024, 2, 29, 23, 30, tzinfo=UTC),
                }
            ]
        )
        .drop("employee_id")
        .with_columns(submitted_by_id=pl.lit("p1"))
    )
    spec = spec_of(charts.leave_requests_by_status(frame))
    # 23:30 UTC on 29 Feb is 00:30 on 1 March in Amsterdam.
    assert rows_of(spec, spec)[0]["month"] == day_key(date(2024, 3, 1))
    assert charts.leave_trends(frame).to_dict()


def test_sick_leave_rate_values():
    employments = _frame(
        "employments",
        {
            "id": ["m1", "m2"],
            "employee_id": ["p1", "p2"],
            "department_id": ["d1", "d2"],
            "start_date": [date(2020, 1, 1), date(2024, 4, 16)],
            "end_date": [None, None],
        },
        2,
    )
    departments = _frame("departments", {"id": ["d1", "d2"], "description": ["Sales", "Ops"]}, 2)
    absences = _frame(
        "absences",
        {
            "id": ["a1", "a2"],
            "employee_id": ["p1", "p2"],
            "start_date": [date(2024, 3, 29), date(2024, 4, 10)],  # p2 sick before hired: clipped
            "end_date": [date(2024, 4, 2), date(2024, 4, 20)],
        },
        2,
    )
    spec = spec_of(charts.sick_leave_rate(absences, employments, departments))
    monthly = {
        r["month"]: r
        for r in dataset_with(spec, "month", "rate", "sick_days", "employed_days")
        if "department" not in r
    }
    march, april = monthly[day_key(date(2024, 3, 1))], monthly[day_key(date(2024, 4, 1))]
    assert (march["sick_days"], march["employed_days"]) == (3, 31)
    assert (april["sick_days"], april["employed_days"]) == (2 + 5, 30 + 15)
    assert april["rate"] == pytest.approx(7 / 45, abs=1e-4)
    per_dep = dataset_with(spec, "month", "department", "sick_days")
    ops = [r for r in per_dep if r["department"] == "Ops"]
    assert [(r["month"], r["sick_days"], r["employed_days"]) for r in ops] == [
        (day_key(date(2024, 4, 1)), 5, 15)
    ]
    (brush,) = brush_params(spec)
    assert brush["select"]["encodings"] == ["x"]
    (linked,) = brush_filtered_views(spec)
    assert linked["encoding"]["y"]["field"] == "department"
    assert {"calculate": "datum.sick_days / datum.employed_days", "as": "rate"} in linked[
        "transform"
    ]


def test_sick_leave_rate_world(world):
    spec = spec_of(charts.sick_leave_rate(world.absences, world.employments, world.departments))
    rows = dataset_with(spec, "month", "department", "sick_days", "employed_days")
    assert all(0 <= r["sick_days"] <= r["employed_days"] for r in rows)
    assert {r["department"] for r in rows} <= set(world.departments["description"])
    render(charts.sick_leave_rate(world.absences, world.employments))


def test_leave_balance_distribution(world):
    lb = world.leave_balances
    spec = spec_of(charts.leave_balance_distribution(lb))
    year = lb["year"].max()
    assert str(year) in json.dumps(spec["title"])
    box = dataset_with(spec, "leave_type", "median", "q1", "q3")
    hist = dataset_with(spec, "leave_type", "bin_start", "bin_end", "employments")
    this_year = lb.filter(pl.col("year") == year)
    for row in box:
        values = this_year.filter(pl.col("leave_type") == row["leave_type"])["balance"].to_list()
        assert row["n"] == len(values)
        assert row["median"] == pytest.approx(statistics.median(values), abs=0.01)
        assert row["q1"] == pytest.approx(
            statistics.quantiles(values, n=4, method="inclusive")[0], abs=0.01
        )
    assert sum(r["employments"] for r in hist) == this_year.height
    older = spec_of(charts.leave_balance_distribution(lb, year=int(lb["year"].min())))
    assert (
        sum(r["employments"] for r in dataset_with(older, "bin_start"))
        == lb.filter(pl.col("year") == lb["year"].min()).height
    )


def test_leave_trends_links(world):
    spec = spec_of(
        charts.leave_trends(
            world.leave_requests, world.absences, world.employments, world.departments
        )
    )
    (brush,) = brush_params(spec)
    assert brush["select"] == {"type": "interval", "encodings": ["x"]}
    owner = brush_owner(spec)
    assert owner["encoding"]["x"]["field"] == "month"
    assert owner["encoding"]["y"] == {
        **owner["encoding"]["y"],
        "field": "hours",
        "aggregate": "sum",
    }
    linked = brush_filtered_views(spec)
    assert {v["encoding"]["y"]["field"] for v in linked} == {
        "leave_type",
        "leave_request_status",
        "department",
    }
    for v in linked:
        assert "month" in rows_of(spec, v)[0]
    # The month × type × status rows sum to the per-month-by-type chart.
    rows = rows_of(spec, owner)
    alone = spec_of(charts.leave_hours_by_month(world.leave_requests))
    per_type: dict[tuple, float] = defaultdict(float)
    for r in rows:
        per_type[(r["month"], r["leave_type"])] += r["hours"]
    for r in rows_of(alone, alone):
        assert per_type[(r["month"], r["leave_type"])] == pytest.approx(r["hours"], abs=0.05)
    # Without absences: two rows only.
    spec2 = spec_of(charts.leave_trends(world.leave_requests))
    assert len(brush_filtered_views(spec2)) == 2


# --------------------------------------------------------------------------------------------
# rendering, empty frames, bad input
# --------------------------------------------------------------------------------------------


def _all_charts(w) -> dict[str, Any]:
    return {
        "vends_daily": lambda: charts.vends_daily(w.vends),
        "vends_heatmap": lambda: charts.vends_heatmap(w.vends),
        "top_products": lambda: charts.top_products(w.vends, w.products),
        "device_comparison": lambda: charts.device_comparison(w.vends, w.devices, w.locations),
        "payment_mix": lambda: charts.payment_mix(w.vends),
        "vends_overview": lambda: charts.vends_overview(
            w.vends, w.products, w.devices, w.locations
        ),
        "leave_hours_by_month": lambda: charts.leave_hours_by_month(w.leave_requests),
        "leave_requests_by_status": lambda: charts.leave_requests_by_status(w.leave_requests),
        "sick_leave_rate": lambda: charts.sick_leave_rate(w.absences, w.employments, w.departments),
        "leave_balance_distribution": lambda: charts.leave_balance_distribution(w.leave_balances),
        "leave_trends": lambda: charts.leave_trends(
            w.leave_requests, w.absences, w.employments, w.departments
        ),
    }


CHART_NAMES = list(_all_charts(SimpleNamespace()).keys())


@pytest.mark.parametrize("name", CHART_NAMES)
def test_renders_to_svg_with_tooltips(world, name):
    chart = _all_charts(world)[name]()
    spec = spec_of(chart)
    assert "no data" not in json.dumps(spec.get("title", ""))
    for v in views(spec):
        assert "tooltip" in v["encoding"], (name, v["mark"])
    assert all(len(rows) < 5000 for rows in datasets(spec).values())
    svg = render(chart)
    assert_marks(svg)
    assert "http" not in re.sub(r"https?://www\.w3\.org/[\w/.-]*", "", svg)  # no external refs


@pytest.fixture(scope="module")
def empty_world(world):
    names = [
        "vends",
        "products",
        "devices",
        "locations",
        "leave_requests",
        "absences",
        "employments",
        "departments",
        "leave_balances",
    ]
    return SimpleNamespace(**{n: getattr(world, n).clear() for n in names})


@pytest.mark.parametrize("name", CHART_NAMES)
def test_empty_frames_give_a_no_data_chart(empty_world, name):
    chart = _all_charts(empty_world)[name]()
    spec = spec_of(chart)
    assert "no data" in json.dumps(spec["title"])
    assert_marks(render(chart))


def test_all_failed_vends_is_no_data(world):
    failed = world.vends.head(50).with_columns(status=pl.lit("failed"))
    assert "no data" in json.dumps(spec_of(charts.vends_overview(failed))["title"])
    # device comparison still shows the attempts.
    rows = rows_of(*(2 * [spec_of(charts.device_comparison(failed))]))
    assert all(r["revenue"] == 0 and r["failed_share"] == 1 for r in rows)


@pytest.mark.parametrize(
    ("call", "missing"),
    [
        (lambda w: charts.vends_overview(w.vends.drop("price")), "price"),
        (lambda w: charts.vends_daily(w.vends.drop("timestamp")), "timestamp"),
        (lambda w: charts.vends_heatmap(w.vends.drop("quantity")), "quantity"),
        (lambda w: charts.top_products(w.vends.drop("product_id")), "product_id"),
        (lambda w: charts.top_products(w.vends, w.products.drop("name")), "name"),
        (lambda w: charts.payment_mix(w.vends.drop("payment_type")), "payment_type"),
        (
            lambda w: charts.device_comparison(w.vends.drop("location_id"), by="location"),
            "location_id",
        ),
        (
            lambda w: charts.leave_hours_by_month(w.leave_requests.drop("number_of_units")),
            "number_of_units",
        ),
        (
            lambda w: charts.leave_hours_by_month(
                w.leave_requests.drop("leave_type", "leave_type_key")
            ),
            "leave_type",
        ),
        (
            lambda w: charts.leave_requests_by_status(w.leave_requests.drop("submitted_on")),
            "submitted_on",
        ),
        (
            lambda w: charts.sick_leave_rate(w.absences.drop("start_date"), w.employments),
            "start_date",
        ),
        (
            lambda w: charts.sick_leave_rate(w.absences, w.employments.drop("employee_id")),
            "employee_id",
        ),
        (lambda w: charts.leave_balance_distribution(w.leave_balances.drop("balance")), "balance"),
        (lambda w: charts.leave_trends(w.leave_requests.drop("end_date")), "end_date"),
    ],
)
def test_missing_column_is_named(world, call, missing):
    with pytest.raises(ValueError, match=rf"missing {missing}\b") as info:
        call(world)
    assert "pass the frame from" in str(info.value)


def test_missing_altair_hint(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "altair":
            raise ImportError("no altair")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match=r"loketvalinso\[charts\]"):
        charts.payment_mix(pl.DataFrame())


def test_sick_leave_rate_names_departments_from_the_employments_column() -> None:
    """``Loket.employments(with_department=True)`` carries ``department``: no lookup needed."""
    import json
    from datetime import date

    absences = pl.DataFrame(
        {"employee_id": ["e1"], "start_date": [date(2024, 1, 3)], "end_date": [date(2024, 1, 10)]}
    )
    employments = pl.DataFrame(
        {
            "id": ["m1"],
            "employee_id": ["e1"],
            "start_date": [date(2023, 1, 1)],
            "end_date": [None],
            "department_id": ["7"],
            "department": ["Sales"],
        },
        schema_overrides={"end_date": pl.Date},
    )
    spec = json.dumps(charts.sick_leave_rate(absences, employments).to_dict())
    assert "Sales" in spec and "no department" not in spec
