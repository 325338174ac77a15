"""The seeded world: schema contract, determinism, and the invariants tests elsewhere rely on."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from loketvalinso.mock.schema import ALL_SCHEMAS
from loketvalinso.mock.world import (
    BOVENWETTELIJK_CARRY_CAP,
    REFERENCE_DATE,
    World,
    WorldSizes,
    build_world,
    cached_world,
    dutch_national_holidays,
    easter_sunday,
    leave_balances_at,
)

TINY = WorldSizes(employers=1, employees=10, vends=500, devices=3, locations=2, products=5)
EMPTY = WorldSizes(employers=1, employees=0, vends=0, devices=0, locations=0, products=0)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def world() -> World:
    return cached_world(42, WorldSizes())


@pytest.fixture(scope="module")
def tiny() -> World:
    return build_world(7, TINY)


def _digest(w: World) -> dict[str, str]:
    out = {}
    for name, frame in w.frames().items():
        buf = io.BytesIO()
        # one chunk, plain (not view) strings: how Polars lays a frame out in memory is not the
        # world's data
        frame.rechunk().write_ipc(buf, compat_level=pl.CompatLevel.oldest())
        out[name] = hashlib.sha256(buf.getvalue()).hexdigest()
    return out


# ------------------------------------------------------------------------------ schema


@pytest.mark.parametrize("sizes", [None, TINY, EMPTY], ids=["default", "tiny", "empty"])
def test_every_frame_matches_the_schema_exactly(sizes: WorldSizes | None, world: World) -> None:
    w = world if sizes is None else build_world(3, sizes)
    frames = w.frames()
    assert list(frames) == list(ALL_SCHEMAS)
    for name, schema in ALL_SCHEMAS.items():
        assert dict(frames[name].schema) == schema, name
        assert list(frames[name].columns) == list(schema), name


def test_loket_ids_are_lower_case_uuid4(world: World) -> None:
    columns = {
        "employers": ["id"],
        "employees": ["id", "employer_id"],
        "employments": ["id", "employee_id", "department_id", "function_key"],
        "leave_requests": ["id", "employment_id", "handled_by_id"],
        "leave": ["id", "related_leave_request_id"],
        "absences": ["id"],
        "functions": ["key"],
        "national_holidays": ["id"],
    }
    for name, cols in columns.items():
        for col in cols:
            values = world.frames()[name][col].drop_nulls()
            assert values.len() > 0, (name, col)
            assert values.str.contains(UUID_RE.pattern).all(), (name, col)
    all_ids = pl.concat(
        [world.frames()[n]["id"] for n in ("employers", "employees", "employments", "leave")]
    )
    assert all_ids.n_unique() == all_ids.len()


# ------------------------------------------------------------------------------ determinism


def test_same_seed_same_bytes_and_other_seed_other_data(world: World) -> None:
    again = build_world(42)
    assert _digest(again) == _digest(world)
    assert again.credentials == world.credentials
    other = build_world(43, TINY)
    tiny42 = build_world(42, TINY)
    differing = [n for n, h in _digest(other).items() if _digest(tiny42)[n] != h]
    assert {"employees", "leave_requests", "vends", "locations"} <= set(differing)
    assert other.credentials.client_secret != tiny42.credentials.client_secret


def test_same_bytes_across_processes_with_other_hash_seed(tiny: World) -> None:
    code = (
        "import hashlib, io, sys\n"
        "import polars as pl\n"
        "from loketvalinso.mock.world import build_world, WorldSizes\n"
        f"w = build_world(7, {TINY!r})\n"
        "for name, f in w.frames().items():\n"
        "    b = io.BytesIO(); f.rechunk().write_ipc(b, compat_level=pl.CompatLevel.oldest())\n"
        "    print(name, hashlib.sha256(b.getvalue()).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    assert dict(line.split() for line in out.splitlines()) == _digest(tiny)


def test_cached_world_is_built_once() -> None:
    assert cached_world(7, TINY) is cached_world(7, TINY)


# ------------------------------------------------------------------------------ credentials


def test_credentials_are_token_safe_and_hidden_in_repr(world: World) -> None:
    cred = world.credentials
    for token in (cred.client_id, cred.client_secret, cred.password, cred.valinso_api_key):
        assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", token)
    for secret in (cred.client_secret, cred.password, cred.valinso_api_key):
        assert secret not in repr(cred)
    assert re.fullmatch(r"http://127\.0\.0\.1(:\d+)?/callback", cred.redirect_uri)
    assert "@" in cred.username


# ------------------------------------------------------------------------------ Loket structure


def test_employers_one_hidden_with_its_own_staff(world: World) -> None:
    emp = world.employers
    assert emp.height == world.sizes.employers + 1
    assert emp["accessible"].sum() == world.sizes.employers
    hidden = emp.filter(~pl.col("accessible"))["id"].item()
    staff = world.employees.group_by("employer_id").len()
    counts = dict(zip(staff["employer_id"], staff["len"], strict=True))
    assert counts.get(hidden, 0) >= 2
    assert sum(v for k, v in counts.items() if k != hidden) == world.sizes.employees
    for name in ("company_name", "address_postal_code", "chamber_of_commerce_number"):
        assert emp[name].null_count() == 0
    assert emp["address_postal_code"].str.contains(r"^\d{4} [A-Z]{2}$").all()


def test_employments_reference_entities_of_the_same_employer(world: World) -> None:
    e = world.employments
    checks = {
        "employee_id": world.employees.select("id", "employer_id"),
        "department_id": world.departments.select("id", "employer_id"),
        "function_key": world.functions.select(pl.col("key").alias("id"), "employer_id"),
        "payroll_administration_id": world.payroll_administrations.select("id", "employer_id"),
    }
    for col, ref in checks.items():
        missing = e.join(
            ref.rename({"id": col}), on=[col, "employer_id"], how="anti", nulls_equal=False
        )
        assert missing.height == 0, col
    assert (e["end_date"].is_null() | (e["end_date"] >= e["start_date"])).all()
    # Sub-departments point at a department of the same employer.
    subs = world.departments.filter(pl.col("sub_department_of_key").is_not_null())
    assert subs.height > 0
    parents = world.departments.select(pl.col("id").alias("sub_department_of_key"), "employer_id")
    assert subs.join(parents, on=["sub_department_of_key", "employer_id"], how="anti").height == 0


def test_employment_mix_rehired_ended_and_hours(world: World) -> None:
    e = world.employments
    per_employee = e.group_by("employee_id").len()
    assert per_employee.height == world.employees.height
    rehired = per_employee.filter(pl.col("len") == 2).height / per_employee.height
    assert 0.05 < rehired < 0.15
    assert per_employee["len"].max() <= 2
    ended = e.filter(pl.col("end_date").is_not_null()).height / e.height
    assert 0.15 < ended < 0.35
    # Re-hired employees have a gap between their employments, never an overlap.
    pairs = (
        e.sort("start_date")
        .group_by("employee_id", maintain_order=True)
        .agg(pl.col("start_date"), pl.col("end_date"))
        .filter(pl.col("start_date").list.len() == 2)
    )
    for starts, ends in zip(pairs["start_date"], pairs["end_date"], strict=True):
        assert ends[0] is not None and ends[0] < starts[1]
    hours = e["hours_per_week"]
    assert ((hours >= 24) & (hours <= 40)).mean() > 0.8
    assert e.filter(pl.col("start_date").dt.year() >= 2025).height > 10


def test_leave_types_per_employer(world: World) -> None:
    for employer_id in world.employers["id"]:
        lt = world.leave_types.filter(pl.col("employer_id") == employer_id)
        names = dict(zip(lt["leave_type_key"], lt["leave_type"], strict=True))
        assert names[1] == "Bovenwettelijk verlof"
        assert names[15] == "Wettelijk verlof"
        assert names[16] == "Verlof"
        assert {2, 3} <= set(names)


# ------------------------------------------------------------------------------ leave requests


def test_leave_requests_lie_within_their_employment(world: World) -> None:
    r = world.leave_requests.join(
        world.employments.select(
            pl.col("id").alias("employment_id"),
            pl.col("employer_id").alias("e_employer"),
            pl.col("employee_id").alias("e_employee"),
            pl.col("start_date").alias("e_start"),
            pl.col("end_date").alias("e_end"),
            "hours_per_week",
        ),
        on="employment_id",
        how="left",
    )
    assert r.height == world.leave_requests.height > 1000
    assert (r["employer_id"] == r["e_employer"]).all()
    assert (r["employee_id"] == r["e_employee"]).all()
    assert (r["start_date"] >= r["e_start"]).all()
    assert (r["e_end"].is_null() | (r["end_date"] <= r["e_end"])).all()
    assert (r["start_date"] <= r["end_date"]).all()
    assert (r["start_date"].dt.year() == r["end_date"].dt.year()).all()
    assert set(r["leave_type_key"].unique()) <= {1, 15, 16}
    assert (r["unit_type_key"] == 1).all()
    assert (~r["is_accrual"]).all()
    # Hours are whole working days of hours_per_week / 5, on weekdays only.
    days = r["number_of_units"] / (r["hours_per_week"] / 5)
    assert ((days - days.round(0)).abs() < 1e-6).all()
    weekdays = r.select(
        n=pl.business_day_count(pl.col("start_date"), pl.col("end_date") + timedelta(days=1))
    )["n"]
    assert ((days.round(0) >= 1) & (days.round(0) <= weekdays)).all()
    assert (r["start_date"].dt.weekday() <= 5).all() and (r["end_date"].dt.weekday() <= 5).all()


def test_leave_requests_do_not_overlap_within_an_employment(world: World) -> None:
    r = world.leave_requests.sort("employment_id", "start_date")
    prev_end = pl.col("end_date").shift(1).over("employment_id")
    assert r.filter(prev_end.is_not_null() & (pl.col("start_date") <= prev_end)).height == 0


def test_leave_request_statuses_and_times(world: World) -> None:
    r = world.leave_requests
    ref = REFERENCE_DATE
    names = dict(zip(r["leave_request_status_key"], r["leave_request_status"], strict=True))
    assert names == {1: "Ingediend", 2: "Toegekend", 3: "Afgewezen"}
    share = r["leave_request_status_key"].value_counts(normalize=True)
    accepted = share.filter(pl.col("leave_request_status_key") == 2)["proportion"].item()
    assert accepted > 0.8
    # Still pending only for leave that has not started by the reference date.
    pending = r.filter(pl.col("leave_request_status_key") == 1)
    assert pending.height > 0 and (pending["start_date"] > ref).all()
    assert pending["handled_time"].is_null().all() and pending["handled_by_id"].is_null().all()
    handled = r.filter(pl.col("leave_request_status_key") != 1)
    assert handled["handled_time"].is_not_null().all()
    assert handled["handled_by_id"].is_not_null().all()
    assert (handled["handled_time"] >= handled["submitted_on"]).all()
    ref_end = datetime(ref.year, ref.month, ref.day, tzinfo=UTC) + timedelta(days=1)
    assert (r["submitted_on"] < ref_end).all()
    assert handled.filter(pl.col("handled_time") >= ref_end).height == 0
    assert (r["submitted_on"].dt.date() < r["start_date"]).all()
    rejected = r.filter(pl.col("leave_request_status_key") == 3)
    assert rejected["comment_handler"].is_not_null().all()
    # Handlers are staff of the same employer.
    staff = world.employees.select(pl.col("id").alias("handled_by_id"), "employer_id")
    assert handled.join(staff, on=["handled_by_id", "employer_id"], how="anti").height == 0


def test_leave_seasonality(world: World) -> None:
    r = world.leave_requests

    def hours_per_day(first: date, last: date) -> float:
        hours = r.filter(pl.col("start_date").is_between(first, last))["number_of_units"].sum()
        return hours / ((last - first).days + 1)

    years = world.leave_years
    march = sum(hours_per_day(date(y, 3, 1), date(y, 3, 31)) for y in years)
    summer = sum(hours_per_day(date(y, 7, 1), date(y, 8, 31)) for y in years)
    christmas = hours_per_day(date(years[0], 12, 18), date(years[0], 12, 31))
    march_first = hours_per_day(date(years[0], 3, 1), date(years[0], 3, 31))
    assert summer > 3 * march
    assert christmas > 2 * march_first
    # Roughly the requested rate per employee-year.
    rate = r.height / (world.employees.height * len(years))
    assert 0.5 * world.sizes.leave_requests_per_employee_year < rate
    assert rate < 1.2 * world.sizes.leave_requests_per_employee_year


# ------------------------------------------------------------------------------ ledger, balances


def test_accepted_requests_have_exactly_one_taken_leave_row(world: World) -> None:
    taken = world.leave.filter(pl.col("related_leave_request_id").is_not_null())
    assert (~taken["is_accrual"]).all()
    assert taken["related_leave_request_id"].n_unique() == taken.height
    joined = world.leave_requests.join(
        taken.select(
            pl.col("related_leave_request_id").alias("id"),
            pl.col("employment_id").alias("l_employment"),
            pl.col("number_of_units").alias("l_units"),
            pl.col("leave_type_key").alias("l_type"),
            pl.col("start_date").alias("l_start"),
            pl.col("end_date").alias("l_end"),
        ),
        on="id",
        how="left",
    )
    accepted = joined.filter(pl.col("leave_request_status_key") == 2)
    assert accepted["l_units"].is_not_null().all()
    assert (accepted["l_units"] == accepted["number_of_units"]).all()
    assert (accepted["l_type"] == accepted["leave_type_key"]).all()
    assert (accepted["l_employment"] == accepted["employment_id"]).all()
    assert (accepted["l_start"] == accepted["start_date"]).all()
    assert (accepted["l_end"] == accepted["end_date"]).all()
    others = joined.filter(pl.col("leave_request_status_key") != 2)
    assert others["l_units"].is_null().all()
    assert taken.height == accepted.height


def test_ledger_accruals_pro_rata(world: World) -> None:
    led = world.leave
    assert (led["number_of_units"] > 0).all()
    acc = led.filter(pl.col("is_accrual") & (pl.col("means_of_creation_key") == 1)).join(
        world.employments.select(
            pl.col("id").alias("employment_id"), "hours_per_week", "start_date", "end_date"
        ),
        on="employment_id",
        suffix="_emp",
    )
    wettelijk = acc.filter(pl.col("leave_type_key") == 15)
    # A full year of statutory leave is four working weeks.
    full = wettelijk.filter(
        (pl.col("start_date").dt.ordinal_day() == 1)
        & (pl.col("end_date").dt.month() == 12)
        & (pl.col("end_date").dt.day() == 31)
    )
    assert full.height > 100
    assert ((full["number_of_units"] - 4 * full["hours_per_week"]).abs() < 0.01).all()
    partial = wettelijk.filter(pl.col("start_date").dt.ordinal_day() > 1)
    assert partial.height > 0
    assert (partial["number_of_units"] < 4 * partial["hours_per_week"]).all()
    # Exactly one accrual per employment × year × type 1/15/16.
    keys = acc.group_by("employment_id", pl.col("start_date").dt.year(), "leave_type_key").len()
    assert (keys["len"] == 1).all()
    assert set(keys["leave_type_key"].unique()) == {1, 15, 16}
    assert led.filter(pl.col("means_of_creation_key") == 2).height > 0


def _expected_balances(w: World, ref: date) -> dict[tuple[str, int, int], dict[str, float]]:
    """Balances recomputed in plain Python from the ledger rows (independent of world.py)."""
    sums: dict[tuple[str, int, int], dict[str, float]] = defaultdict(
        lambda: {"accrual": 0.0, "through": 0.0, "after": 0.0, "before_july": 0.0}
    )
    has_accrual = set()
    for row in w.leave.iter_rows(named=True):
        year = row["start_date"].year
        if year > ref.year:
            continue
        key = (row["employment_id"], year, row["leave_type_key"])
        s = sums[key]
        if row["is_accrual"]:
            s["accrual"] += row["number_of_units"]
            has_accrual.add(key)
        else:
            s["through" if row["start_date"] <= ref else "after"] += row["number_of_units"]
            if row["start_date"] < date(year, 7, 1):
                s["before_july"] += row["number_of_units"]
    out: dict[tuple[str, int, int], dict[str, float]] = {}
    for key in sorted(has_accrual, key=lambda k: k[1]):
        employment, year, lt = key
        s = sums[key]
        prev = out.get((employment, year - 1, lt), {}).get("balance", 0.0)
        if lt == 15:
            expires = max(0.0, prev - s["before_july"])
        elif lt == 1:
            expires = max(0.0, prev - BOVENWETTELIJK_CARRY_CAP)
        else:
            expires = 0.0
        usage = s["through"] + s["after"]
        out[key] = {
            "balance_previous_year": prev,
            "accrual": s["accrual"],
            "usage_through_reference_date": s["through"],
            "usage_after_reference_date": s["after"],
            "usage_total": usage,
            "expires": expires,
            "balance": prev + s["accrual"] - usage - expires,
        }
    return out


def _check_balances(w: World, balances: pl.DataFrame, ref: date) -> None:
    expected = _expected_balances(w, ref)
    got = {
        (r["employment_id"], r["year"], r["leave_type_key"]): r
        for r in balances.iter_rows(named=True)
    }
    assert set(got) == set(expected)
    for key, exp in expected.items():
        row = got[key]
        for name, value in exp.items():
            assert row[name] == pytest.approx(value, abs=1e-6), (key, name)
        assert row["balance"] == pytest.approx(
            row["balance_previous_year"] + row["accrual"] - row["usage_total"] - row["expires"],
            abs=1e-6,
        )
    owners = w.employments.select(
        pl.col("id").alias("employment_id"), pl.col("employer_id").alias("o1"),
        pl.col("employee_id").alias("o2"),
    )  # fmt: skip
    joined = balances.join(owners, on="employment_id", how="left")
    assert (joined["employer_id"] == joined["o1"]).all()
    assert (joined["employee_id"] == joined["o2"]).all()


def test_balances_add_up_from_the_ledger(world: World) -> None:
    assert world.leave_balances.height > 0
    _check_balances(world, world.leave_balances, world.reference_date)
    lb = world.leave_balances
    assert lb.filter(pl.col("usage_after_reference_date") > 0).height > 0
    second_year = lb.filter(pl.col("year") == world.leave_years[-1])
    assert second_year.filter(pl.col("balance_previous_year") != 0).height > 0
    assert second_year.filter(pl.col("expires") > 0).height > 0
    # Most balances stay positive: requests draw on the hours that accrue.
    assert (lb["balance"] >= 0).mean() > 0.6


def test_leave_balances_at_another_date(world: World) -> None:
    ref = date(2025, 6, 30)
    balances = leave_balances_at(world, ref)
    assert dict(balances.schema) == ALL_SCHEMAS["leave_balances"]
    assert set(balances["year"].unique()) == {2025}
    _check_balances(world, balances, ref)
    assert balances["usage_after_reference_date"].sum() > 0
    assert leave_balances_at(world, world.reference_date).equals(world.leave_balances)
    assert leave_balances_at(world, date(2020, 1, 1)).height == 0


def test_currently_available_units_is_the_years_balance(world: World) -> None:
    r = world.leave_requests.with_columns(year=pl.col("start_date").dt.year().cast(pl.Int32))
    joined = r.join(
        world.leave_balances.select("employment_id", "year", "leave_type_key", "balance"),
        on=["employment_id", "year", "leave_type_key"],
        how="left",
    )
    assert (joined["currently_available_units"] == joined["balance"]).all()


# ------------------------------------------------------------------------------ absences


def test_absences_winter_peak_and_employment(world: World) -> None:
    a = world.absences
    assert a.height > 200
    month = a["start_date"].dt.month()
    winter = month.is_in([12, 1, 2]).sum()
    summer = month.is_in([6, 7, 8]).sum()
    assert winter > 2 * summer
    joined = a.join(
        world.employments.select(
            pl.col("id").alias("employment_id"),
            pl.col("employee_id").alias("e_employee"),
            pl.col("employer_id").alias("e_employer"),
            pl.col("start_date").alias("e_start"),
            pl.col("end_date").alias("e_end"),
        ),
        on="employment_id",
        how="left",
    )
    assert (joined["employee_id"] == joined["e_employee"]).all()
    assert (joined["employer_id"] == joined["e_employer"]).all()
    assert (joined["start_date"] >= joined["e_start"]).all()
    assert (joined["start_date"] <= REFERENCE_DATE).all()
    ended = joined.filter(pl.col("end_date").is_not_null())
    assert (ended["end_date"] >= ended["start_date"]).all()
    assert (ended["e_end"].is_null() | (ended["end_date"] <= ended["e_end"])).all()
    ongoing = a.filter(pl.col("end_date").is_null())
    assert ongoing.height > 0 and ongoing["end_of_absence_reason_key"].is_null().all()
    assert ended["end_of_absence_reason_key"].is_not_null().all()
    assert set(a["current_incapacity_percentage"].unique()) == {50, 100}
    short = ended.filter((pl.col("end_date") - pl.col("start_date")).dt.total_days() >= 14)
    assert (~short["is_recovered_within_two_weeks"]).all()


# ------------------------------------------------------------------------------ holidays


def test_easter_and_dutch_holidays() -> None:
    known = {
        2000: date(2000, 4, 23), 2019: date(2019, 4, 21), 2024: date(2024, 3, 31),
        2025: date(2025, 4, 20), 2026: date(2026, 4, 5), 2027: date(2027, 3, 28),
        2038: date(2038, 4, 25),
    }  # fmt: skip
    for year, easter in known.items():
        assert easter_sunday(year) == easter
    h2026 = {name: day for _, name, day in dutch_national_holidays(2026)}
    assert h2026 == {
        "Nieuwjaarsdag": date(2026, 1, 1),
        "Goede Vrijdag": date(2026, 4, 3),
        "1e Paasdag": date(2026, 4, 5),
        "2e Paasdag": date(2026, 4, 6),
        "Koningsdag": date(2026, 4, 27),
        "Bevrijdingsdag": date(2026, 5, 5),
        "Hemelvaartsdag": date(2026, 5, 14),
        "1e Pinksterdag": date(2026, 5, 24),
        "2e Pinksterdag": date(2026, 5, 25),
        "1e Kerstdag": date(2026, 12, 25),
        "2e Kerstdag": date(2026, 12, 26),
    }
    # 27 April 2025 was a Sunday: Koningsdag moved to Saturday the 26th.
    assert {n: d for _, n, d in dutch_national_holidays(2025)}["Koningsdag"] == date(2025, 4, 26)


def test_national_holidays_frame(world: World) -> None:
    nh = world.national_holidays
    expected = dutch_national_holidays(world.reference_date.year)
    assert nh.height == world.employers.height * len(expected)
    for employer_id in world.employers["id"]:
        rows = nh.filter(pl.col("employer_id") == employer_id).sort("national_holiday_key")
        assert (
            list(
                zip(
                    rows["national_holiday_key"],
                    rows["national_holiday"],
                    rows["date_in_current_year"],
                    strict=True,
                )
            )
            == expected
        )


# ------------------------------------------------------------------------------ Valinso


def test_valinso_catalogue(world: World) -> None:
    loc, dev, prod = world.locations, world.devices, world.products
    assert (loc.height, dev.height, prod.height) == (15, 50, 40)
    assert (loc["name"].str.len_chars() <= 50).all()
    assert loc["phone"].str.contains(r"^\d{1,20}$").all()
    assert loc["email"].str.contains(r"^[^@\s]+@[^@\s]+\.[a-z]+$").all()
    assert loc["latitude"].is_between(50.7, 53.6).all()
    assert loc["longitude"].is_between(3.3, 7.3).all()
    assert dev["location_id"].is_in(loc["id"].implode()).all()
    assert set(loc["id"]) == set(dev["location_id"])
    assert (dev["installed_at"] < world.vends_start).all()
    assert (prod["price"] > 0).all() and (prod["currency"] == "EUR").all()
    assert prod["name"].n_unique() == prod.height
    assert prod["id"].n_unique() == prod.height


def test_vends_ids_period_and_references(world: World) -> None:
    v = world.vends
    assert v.height == world.sizes.vends
    assert v["id"].n_unique() == v.height
    assert v["id"].is_sorted()
    assert v["timestamp"].is_sorted()
    assert (v["timestamp"] >= world.vends_start).all() and (v["timestamp"] < world.vends_end).all()
    dev = world.devices.select(pl.col("id").alias("device_id"), pl.col("location_id").alias("l"))
    joined = v.join(dev, on="device_id", how="left")
    assert (joined["location_id"] == joined["l"]).all()
    prices = world.products.select(pl.col("id").alias("product_id"), pl.col("price").alias("p"))
    joined = v.join(prices, on="product_id", how="left")
    assert (joined["price"] == joined["p"]).all()
    assert v["selection"].str.contains(r"^[A-F][1-8]$").all()
    # One product per device slot.
    assert (
        v.group_by("device_id", "selection")
        .agg(pl.col("product_id").n_unique())["product_id"]
        .max()
        == 1
    )
    assert (v["quantity"] >= 1).all() and (v["quantity"] == 1).mean() > 0.85
    assert set(v["status"].unique()) == {"success", "failed", "refunded"}
    assert (v["status"] == "success").mean() > 0.9
    assert (v["currency"] == "EUR").all()


def test_vends_rhythm_skew_and_payment_mix(world: World) -> None:
    v = world.vends.with_columns(local=pl.col("timestamp").dt.convert_time_zone("Europe/Amsterdam"))
    hours = v.group_by(pl.col("local").dt.hour().alias("h")).len()
    by_hour = dict(zip(hours["h"], hours["len"], strict=True))
    assert by_hour[12] > 5 * by_hour.get(3, 0)
    assert by_hour[8] > 3 * by_hour.get(3, 0)
    daily = (
        v.group_by(pl.col("local").dt.date().alias("d"))
        .len()
        .with_columns(weekend=pl.col("d").dt.weekday() >= 6)
    )
    means = daily.group_by("weekend").agg(pl.col("len").mean())
    m = dict(zip(means["weekend"], means["len"], strict=True))
    assert m[False] > 1.5 * m[True]
    per_device = v.group_by("device_id").len()["len"]
    assert per_device.max() > 3 * per_device.min()
    mix = v["payment_type"].value_counts(normalize=True)
    share = dict(zip(mix["payment_type"], mix["proportion"], strict=True))
    assert set(share) == {"card", "contactless", "mobile", "cash"}
    assert share["card"] == max(share.values())
    assert share["cash"] == min(share.values()) and share["cash"] > 0.03


# ------------------------------------------------------------------------------ sizes


def test_tiny_world_keeps_the_invariants(tiny: World) -> None:
    assert tiny.vends.height == 500 and tiny.devices.height == 3 and tiny.locations.height == 2
    assert tiny.employers.height == 2
    _check_balances(tiny, tiny.leave_balances, tiny.reference_date)
    assert tiny.vends["id"].is_sorted() and tiny.vends["timestamp"].is_sorted()
    assert tiny.leave_requests["employment_id"].is_in(tiny.employments["id"].implode()).all()


def test_empty_world_has_full_schemas() -> None:
    w = build_world(1, EMPTY)
    assert w.employees.height == 0 and w.vends.height == 0 and w.leave_balances.height == 0
    assert w.employers.height == 2 and w.national_holidays.height > 0
    assert dict(w.leave_balances.schema) == ALL_SCHEMAS["leave_balances"]


@pytest.mark.parametrize(
    "sizes",
    [
        WorldSizes(employees=-1),
        WorldSizes(employers=0),
        WorldSizes(locations=0),
        WorldSizes(devices=0),
    ],
)
def test_inconsistent_sizes_are_rejected(sizes: WorldSizes) -> None:
    with pytest.raises(ValueError, match="WorldSizes"):
        build_world(1, sizes)
