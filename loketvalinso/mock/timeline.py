"""The world moves on: :func:`advance_world` adds days of vends and leave, deterministically.

Each new day is drawn from its own random stream, named by the seed and the day, so advancing
twice by one day gives the same world as advancing once by two, in any process. What a day
brings:

* **Vends** of that day (UTC), with the world's daily and weekly rhythm: about
  ``sizes.vends / 365`` of them, plus a few *late* ones (one in 25, at least two) dated
  in the :data:`LATE_VENDS_WINDOW` before the day began, as a device that was offline reports
  them. New vends are numbered after the largest id, in timestamp order, so a late vend has a
  larger id than vends dated after it.
* **Leave**: requests submitted that day (start 1 to 12 weeks ahead, within the world's last
  leave year, never overlapping the employment's other requests), and status changes: every
  pending request that starts within :data:`HANDLE_BEFORE_DAYS` days is handled, others with a
  chance of one in ten; nine in ten are accepted (a taken-leave row joins the ledger). Balances
  and every request's ``currently_available_units`` are computed again as of the new reference
  date.

The reference date moves with the days, and so does the end of the vend period. Nothing already
served changes except what a real server would change: request statuses, their handling and
the available units.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import polars as pl

from loketvalinso.mock.schema import LOKET_SCHEMAS
from loketvalinso.mock.state import Changes
from loketvalinso.mock.world import (
    _EMPLOYEE_COMMENTS,
    _REJECT_COMMENTS,
    _US,
    CREATION_REQUEST,
    LEAVE_TYPE_NAMES,
    STATUS_ACCEPTED,
    STATUS_REJECTED,
    STATUS_SUBMITTED,
    UNIT_TYPE,
    World,
    _balances,
    _day_us,
    _frame,
    _poisson,
    _rng,
    _uuid,
    is_day_off,
    vend_model,
    with_available_units,
)
from loketvalinso.mock.world_edits import BALANCE_KEY

__all__ = ["HANDLE_BEFORE_DAYS", "LATE_VENDS_WINDOW", "advance_with_changes", "advance_world"]

#: Late vends are dated at most this long before the day they are reported on.
LATE_VENDS_WINDOW = timedelta(hours=2)
#: Pending requests starting within this many days are handled on the day.
HANDLE_BEFORE_DAYS = 3


def advance_world(world: World, days: int = 1) -> World:
    """``world`` ``days`` days later (a new :class:`World`; ``world`` itself is not changed).

    Raises
    ------
    ValueError
        ``days`` is not a whole number ≥ 1.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        msg = f"days must be a whole number ≥ 1, not {days!r}"
        raise ValueError(msg)
    for _ in range(days):
        world = _next_day(world)
    return world


def advance_with_changes(world: World, days: int = 1) -> tuple[World, Changes]:
    """:func:`advance_world`, and per frame the keys of the rows that were added or changed
    (what :meth:`~loketvalinso.mock.state.WorldState.apply` tells the APIs to render again)."""
    new = advance_world(world, days)
    changes: dict[str, frozenset[Hashable]] = {}
    for name, key in (
        ("vends", ["id"]),
        ("leave_requests", ["id"]),
        ("leave", ["id"]),
        ("leave_balances", list(BALANCE_KEY)),
    ):
        keys = _changed_keys(getattr(world, name), getattr(new, name), key)
        if keys:
            changes[name] = keys
    if new.reference_date.year != world.reference_date.year:  # "the current year" moved
        changes["national_holidays"] = frozenset(new.national_holidays["id"])
    return new, changes


def _changed_keys(old: pl.DataFrame, new: pl.DataFrame, key: list[str]) -> frozenset[Hashable]:
    if new is old:
        return frozenset()
    if new.height >= old.height and new.head(old.height).equals(old):  # only grown (vends)
        differ = new.slice(old.height).select(key)
    else:
        differ = new.join(old, on=new.columns, how="anti", nulls_equal=True).select(key)
    rows = differ.rows() if len(key) > 1 else differ.get_column(key[0]).to_list()
    return frozenset(rows)


def _next_day(world: World) -> World:
    day = world.reference_date + timedelta(days=1)
    rng = _rng(world.seed, f"advance {day.isoformat()}")
    vends = _day_vends(world, rng)
    requests, leave = _leave_day(world, rng, day)
    balances = _balances(leave, world.employments, world.leave_years, day)
    return replace(
        world,
        reference_date=day,
        vends=vends,
        vends_end=world.vends_end + timedelta(days=1),
        leave_requests=with_available_units(requests, balances),
        leave=leave,
        leave_balances=balances,
    )


# -- vends --------------------------------------------------------------------------------------


def _day_vends(world: World, rng: random.Random) -> pl.DataFrame:
    per_day = round(world.sizes.vends / 365)
    if per_day == 0 or world.devices.height == 0:
        return world.vends
    model = vend_model(world.seed, world.sizes)
    start, end = world.vends_end, world.vends_end + timedelta(days=1)
    today = model.vends(rng, per_day, start=start, end=end)
    # Late vends: drawn like yesterday's, then dated within the window before today.
    late_n = max(2, per_day // 25)
    late = model.vends(rng, late_n, start=start - timedelta(days=1), end=start)
    window_s = int(LATE_VENDS_WINDOW.total_seconds())
    offsets = pl.Series([rng.randint(1, window_s) for _ in range(late_n)], dtype=pl.Int64())
    late = late.with_columns(
        timestamp=((int(start.timestamp()) - offsets) * _US).cast(pl.Datetime("us", "UTC"))
    )
    first_id = int(world.vends["id"].max() or 0) + 1  # type: ignore[arg-type]
    new = (
        pl.concat([today, late])
        .sort("timestamp", "device_id", "selection", maintain_order=True)
        .with_columns(id=pl.int_range(first_id, first_id + per_day + late_n, dtype=pl.Int64()))
    )
    return pl.concat([world.vends, new.select(world.vends.columns)])


# -- leave --------------------------------------------------------------------------------------


def _leave_day(world: World, rng: random.Random, day: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The leave requests and the ledger after ``day``: some handled, some new."""
    requests = world.leave_requests
    managers = _managers(world)
    handled, taken = _handle_pending(requests, rng, day, managers)
    new = _new_requests(world, rng, day)
    requests = pl.concat([handled, new]) if new.height else handled
    leave = pl.concat([world.leave, taken]) if taken.height else world.leave
    return requests, leave


def _managers(world: World) -> dict[str, list[str]]:
    """Who handles requests, per employer: those who handled them so far (else the staff)."""
    out: dict[str, list[str]] = {}
    seen = world.leave_requests.filter(pl.col("handled_by_id").is_not_null())
    for employer_id, group in seen.group_by("employer_id", maintain_order=True):
        out[str(employer_id[0])] = sorted(set(group["handled_by_id"].to_list()))
    for employer_id, group in world.employees.group_by("employer_id", maintain_order=True):
        out.setdefault(str(employer_id[0]), sorted(group["id"].to_list()))
    return out


def _handle_pending(
    requests: pl.DataFrame, rng: random.Random, day: date, managers: dict[str, list[str]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pending requests handled on ``day``, and the ledger rows of the accepted ones."""
    pending = requests.with_row_index("_row").filter(
        pl.col("leave_request_status_key") == STATUS_SUBMITTED[0]
    )
    changes: dict[int, tuple[tuple[int, str], int, str, str | None]] = {}
    taken: dict[str, list[Any]] = {}
    soon = day + timedelta(days=HANDLE_BEFORE_DAYS)
    for row in pending.iter_rows(named=True):
        if row["start_date"] > soon and rng.random() >= 0.1:
            continue
        status = STATUS_ACCEPTED if rng.random() < 0.9 else STATUS_REJECTED
        handled_us = _day_us(day, rng.randint(8 * 3600, 18 * 3600))
        handled_by = rng.choice(managers.get(row["employer_id"]) or [row["employee_id"]])
        comment = rng.choice(_REJECT_COMMENTS) if status == STATUS_REJECTED else None
        changes[row["_row"]] = (status, handled_us, handled_by, comment)
        if status == STATUS_ACCEPTED:
            _add_taken(taken, rng, row)
    if not changes:
        return requests, _frame("leave", {})
    rows = pl.Series(list(changes), dtype=pl.UInt32())
    values = list(changes.values())
    update = pl.DataFrame(
        {
            "_row": rows,
            "leave_request_status_key": pl.Series([v[0][0] for v in values], dtype=pl.Int32()),
            "leave_request_status": [v[0][1] for v in values],
            "handled_time": pl.Series([v[1] for v in values], dtype=pl.Int64()).cast(
                pl.Datetime("us", "UTC")
            ),
            "handled_by_id": pl.Series([v[2] for v in values], dtype=pl.String()),
            "comment_handler": pl.Series([v[3] for v in values], dtype=pl.String()),
        }
    )
    out = requests.with_row_index("_row").update(update, on="_row").drop("_row")
    return out.select(requests.columns), _frame("leave", taken)


def _add_taken(taken: dict[str, list[Any]], rng: random.Random, row: dict[str, Any]) -> None:
    values = {
        "id": _uuid(rng),
        "employer_id": row["employer_id"],
        "employment_id": row["employment_id"],
        "start_date": row["start_date"],
        "end_date": row["end_date"],
        "number_of_units": row["number_of_units"],
        "unit_type_key": UNIT_TYPE[0],
        "unit_type": UNIT_TYPE[1],
        "is_accrual": False,
        "leave_type_key": row["leave_type_key"],
        "leave_type": row["leave_type"],
        "comment": None,
        "related_leave_request_id": row["id"],
        "means_of_creation_key": CREATION_REQUEST[0],
        "means_of_creation": CREATION_REQUEST[1],
    }
    for key, value in values.items():
        taken.setdefault(key, []).append(value)


def _new_requests(world: World, rng: random.Random, day: date) -> pl.DataFrame:
    """Requests submitted on ``day`` by employees with an employment then and there."""
    sizes = world.sizes
    last_day = date(max(world.leave_years, default=day.year), 12, 31)
    active = world.employments.filter(
        (pl.col("start_date") <= day) & (pl.col("end_date").is_null() | (pl.col("end_date") > day))
    )
    if active.height == 0:
        return _frame("leave_requests", {})
    lam = sizes.employees * sizes.leave_requests_per_employee_year / 365
    taken_spans: dict[str, list[tuple[date, date]]] = {}
    for row in world.leave_requests.filter(
        pl.col("leave_request_status_key") != STATUS_REJECTED[0]
    ).iter_rows(named=True):
        taken_spans.setdefault(row["employment_id"], []).append(
            (row["start_date"], row["end_date"])
        )
    cols: dict[str, list[Any]] = {}
    for _ in range(_poisson(rng, lam)):
        emp = active.row(rng.randrange(active.height), named=True)
        start = day + timedelta(days=rng.randint(7, 84))
        while is_day_off(start):
            start += timedelta(days=1)
        working, end = 1, start
        for _step in range(rng.choice((0, 0, 1, 2, 4, 9))):
            nxt = end + timedelta(days=1)
            while is_day_off(nxt):
                nxt += timedelta(days=1)
            end, working = nxt, working + 1
        spans = taken_spans.setdefault(emp["id"], [])
        if end > last_day or end.year != start.year or (emp["end_date"] and end > emp["end_date"]):
            continue
        if any(not (end < a or start > b) for a, b in spans):
            continue
        spans.append((start, end))
        leave_type_key = rng.choices((15, 1, 16), (60, 25, 15))[0]
        values = {
            "id": _uuid(rng),
            "employer_id": emp["employer_id"],
            "employment_id": emp["id"],
            "employee_id": emp["employee_id"],
            "start_date": start,
            "end_date": end,
            "number_of_units": round(working * emp["hours_per_week"] / 5, 2),
            "unit_type_key": UNIT_TYPE[0],
            "unit_type": UNIT_TYPE[1],
            "is_accrual": False,
            "leave_type_key": leave_type_key,
            "leave_type": LEAVE_TYPE_NAMES[leave_type_key],
            "leave_request_status_key": STATUS_SUBMITTED[0],
            "leave_request_status": STATUS_SUBMITTED[1],
            "submitted_on": _day_us(day, rng.randint(7 * 3600, 22 * 3600)),
            "handled_time": None,
            "handled_by_id": None,
            "comment_employee": rng.choice(_EMPLOYEE_COMMENTS),
            "comment_handler": None,
            "currently_available_units": None,
        }
        for key, value in values.items():
            cols.setdefault(key, []).append(value)
    return _frame("leave_requests", cols).select(list(LOKET_SCHEMAS["leave_requests"]))
