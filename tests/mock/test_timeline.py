"""The mock's world moves in time: ``advance_world`` and ``MockServer.advance``."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import loketvalinso as lv
from loketvalinso.mock.timeline import HANDLE_BEFORE_DAYS, LATE_VENDS_WINDOW, advance_world
from loketvalinso.mock.world import build_world, leave_balances_at, with_available_units

pytestmark = pytest.mark.timeout(120)

SIZES = lv.mock.WorldSizes(employers=3, employees=80, vends=36_500, devices=6, locations=3)


@pytest.fixture(scope="module")
def worlds():
    start = build_world(9, SIZES)
    return start, advance_world(start, 1), advance_world(start, 3)


def test_the_same_seed_gives_the_same_days_however_they_are_taken(worlds) -> None:
    start, one, three = worlds
    stepwise = advance_world(one, 2)
    for name in ("vends", "leave_requests", "leave", "leave_balances"):
        assert_frame_equal(getattr(stepwise, name), getattr(three, name))
    assert three.reference_date == start.reference_date + timedelta(days=3)
    assert three.vends_end == start.vends_end + timedelta(days=3)
    assert build_world(9, SIZES).vends.equals(start.vends), "the start is not changed"
    with pytest.raises(ValueError, match="whole number"):
        advance_world(start, 0)


def test_a_day_of_vends_and_a_few_late_ones(worlds) -> None:
    start, one, _ = worlds
    assert one.vends.head(start.vends.height).equals(start.vends), "old vends stay as they were"
    new = one.vends.slice(start.vends.height)
    assert new["id"].to_list() == list(range(start.vends.height + 1, one.vends.height + 1))
    per_day = round(SIZES.vends / 365)
    on_the_day = new.filter(pl.col("timestamp") >= start.vends_end)
    late = new.filter(pl.col("timestamp") < start.vends_end)
    assert on_the_day.height == per_day and (on_the_day["timestamp"] < one.vends_end).all()
    assert late.height == max(2, per_day // 25)
    assert (late["timestamp"] >= start.vends_end - LATE_VENDS_WINDOW).all()
    assert new.select(pl.col("timestamp").is_sorted()).item()
    assert new.schema == start.vends.schema


def test_leave_requests_are_handled_and_submitted(worlds) -> None:
    start, one, _ = worlds
    day = one.reference_date
    old, new = start.leave_requests, one.leave_requests
    assert new.head(old.height)["id"].equals(old["id"]), "requests keep their place"
    moved = new.head(old.height).filter(
        pl.col("leave_request_status_key") != old["leave_request_status_key"]
    )
    was = old.filter(pl.col("id").is_in(moved["id"].implode()))
    assert moved.height and (was["leave_request_status_key"] == 1).all()
    assert moved["leave_request_status_key"].is_in([2, 3]).all()
    assert (moved["handled_time"].dt.date() == day).all() and moved[
        "handled_by_id"
    ].is_not_null().all()
    due = old.filter(
        (pl.col("leave_request_status_key") == 1)
        & (pl.col("start_date") <= day + timedelta(days=HANDLE_BEFORE_DAYS))
    )
    assert set(due["id"]) <= set(moved["id"]), "requests starting soon are all handled"
    assert new.height == old.height  # none were submitted on this first day (a small world)
    # requests submitted over three days: on those days, for later
    later = worlds[2].leave_requests
    submitted = later.slice(old.height)
    assert submitted.height >= 2
    assert submitted["submitted_on"].dt.date().is_between(day, day + timedelta(days=2)).all()
    assert (submitted["start_date"] > submitted["submitted_on"].dt.date()).all()
    assert set(submitted["employer_id"]) <= set(start.employers["id"])
    # one employment's requests (not rejected) never overlap
    spans = later.filter(pl.col("leave_request_status_key") != 3).sort(
        "employment_id", "start_date"
    )
    overlap = spans.filter(
        (pl.col("employment_id") == pl.col("employment_id").shift(1))
        & (pl.col("start_date") <= pl.col("end_date").shift(1))
    )
    assert overlap.height == 0
    # accepted ones are taken leave in the ledger, and the balances add up again
    accepted = moved.filter(pl.col("leave_request_status_key") == 2)["id"]
    taken = one.leave.slice(start.leave.height)
    assert set(taken["related_leave_request_id"]) == set(accepted)
    assert_frame_equal(one.leave_balances, leave_balances_at(one, day))
    assert_frame_equal(one.leave_requests, with_available_units(new, one.leave_balances))


def test_the_server_serves_the_moved_world(tmp_path) -> None:
    m = lv.mock.in_process(seed=9, sizes=SIZES)
    with (
        lv.Valinso.from_mock(m, cache=False, progress=False) as valinso,
        lv.Loket.from_mock(m, cache=False, progress=False) as loket,
    ):
        posted = valinso.post_vends(
            [
                {
                    "device_id": 1,
                    "product_id": 1,
                    "quantity": 1,
                    "price": 1.5,
                    "timestamp": 1_790_000_000,
                }
            ]
        )
        employer = loket.employers()["id"][0]
        before = loket.leave_requests(employer)
        assert valinso.vends().height == SIZES.vends + 1
        world = m.advance(days=1)
        assert m.world is world and m.app.world is world
        assert_frame_equal(valinso.vends(), world.vends)
        after = loket.leave_requests(employer)
        truth = world.leave_requests.filter(pl.col("employer_id") == employer)
        assert after.height == truth.height > before.height - 1
        assert dict(after.select("id", "leave_request_status_key").iter_rows()) == dict(
            truth.select("id", "leave_request_status_key").iter_rows()
        )
        assert posted["id"][0] in world.vends["id"], "what was written before stays written"
