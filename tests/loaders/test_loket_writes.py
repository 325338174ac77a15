"""Loket writes against the mock over real HTTP, checked against its ground truth (``m.world``)
and its request log (what was sent, and how often)."""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import orjson
import polars as pl
import pytest

import loketvalinso as lv
from loketvalinso._writes import DryRun
from loketvalinso.mock import WorldSizes

LEAVE_REQUEST = "/providers/employers/employees/employments/leaverequests/{leaveRequestId}"
EMPLOYEE = "/providers/employers/employees/{employeeId}"
LEAVE = "/providers/employers/employees/employments/{employmentId}/leave"
LEAVE_ENTRY = "/providers/employers/employees/employments/leave/{leaveId}"
SIZES = WorldSizes(employers=2, employees=80, vends=1000, devices=4, locations=2, products=5)
SUBMITTED, ACCEPTED, REJECTED = 1, 2, 3


@pytest.fixture(scope="module")
def server():
    with lv.mock.serve(seed=11, sizes=SIZES) as m:
        yield m


@pytest.fixture
def loket(server):
    client = lv.Loket.from_mock(server, flow="password", cache=False, progress=False)
    yield client
    client.close()


class Pool:
    """Hands each test leave requests of a status no other test has used."""

    def __init__(self, world) -> None:
        accessible = set(world.employers.filter(pl.col("accessible"))["id"])
        rows = world.leave_requests.filter(pl.col("employer_id").is_in(accessible))
        self.free = {
            status: rows.filter(pl.col("leave_request_status_key") == status)["id"].to_list()
            for status in (SUBMITTED, ACCEPTED, REJECTED)
        }

    def take(self, status: int, n: int = 1) -> list[str]:
        taken, self.free[status] = self.free[status][:n], self.free[status][n:]
        assert len(taken) == n, f"the world has too few requests of status {status}"
        return taken


@pytest.fixture(scope="module")
def pool(server) -> Pool:
    return Pool(server.world)


def request_row(server, request_id: str) -> dict[str, Any]:
    return server.world.leave_requests.filter(pl.col("id") == request_id).row(0, named=True)


def writes_logged(server, since: int) -> list:
    return [r for r in server.app.requests[since:] if r.method != "GET"]


# -- get → edit → put -------------------------------------------------------------------------


def test_get_edit_put_changes_exactly_the_edited_field(server, loket, pool) -> None:
    (request_id,) = pool.take(SUBMITTED)
    before = server.world.leave_requests
    row = loket.get(LEAVE_REQUEST, leave_request_id=request_id)
    etag = loket.last_load.etag
    assert etag and loket.etag(LEAVE_REQUEST, leave_request_id=request_id) == etag
    since = len(server.app.requests)
    written = loket.put(
        LEAVE_REQUEST,
        row.with_columns(comment_handler=pl.lit("Fijne vakantie!")),
        leave_request_id=request_id,
    )
    (sent,) = writes_logged(server, since)
    assert sent.method == "PUT" and sent.status == 200
    # the body is the API's nesting of the row, read-only fields left out
    body = sent.json()
    assert body["commentHandler"] == "Fijne vakantie!"
    assert body["leaveType"] == {"key": row["leave_type_key"][0]}
    assert "leaveRequestStatus" not in body and "submittedBy" not in body
    after = server.world.leave_requests
    changed = after.join(before, on=after.columns, how="anti", nulls_equal=True)
    assert changed["id"].to_list() == [request_id]  # one row changed ...
    old, new = request_row_of(before, request_id), request_row_of(after, request_id)
    assert {k for k in new if new[k] != old[k]} == {"comment_handler"}  # ... in one field
    assert written["comment_handler"].to_list() == ["Fijne vakantie!"]
    # the answer's ETag is remembered: the next put builds on it
    assert loket.etag(LEAVE_REQUEST, leave_request_id=request_id) not in (None, etag)


def request_row_of(frame: pl.DataFrame, request_id: str) -> dict[str, Any]:
    return frame.filter(pl.col("id") == request_id).row(0, named=True)


def test_every_write_changes_the_etag(server, loket, pool) -> None:
    (request_id,) = pool.take(SUBMITTED)
    row = loket.get(LEAVE_REQUEST, leave_request_id=request_id)
    tags = [loket.last_load.etag]
    for _ in range(2):  # the same body twice: no value changes, the ETag does
        loket.put(LEAVE_REQUEST, row, leave_request_id=request_id)
        loket.get(LEAVE_REQUEST, leave_request_id=request_id)
        tags.append(loket.last_load.etag)
    assert len(set(tags)) == 3


def test_two_clients_editing_one_request_the_second_gets_a_conflict(server, loket, pool) -> None:
    (request_id,) = pool.take(SUBMITTED)
    other = lv.Loket.from_mock(server, flow="password", cache=False, progress=False)
    mine = loket.get(LEAVE_REQUEST, leave_request_id=request_id)
    theirs = other.get(LEAVE_REQUEST, leave_request_id=request_id)
    loket.put(LEAVE_REQUEST, mine.with_columns(comment_handler=pl.lit("eerst")),
              leave_request_id=request_id)  # fmt: skip
    since = len(server.app.requests)
    edited = theirs.with_columns(number_of_units=pl.lit(4.0), comment_handler=pl.lit("tweede"))
    with pytest.raises(lv.ConflictError) as info:
        other.put(LEAVE_REQUEST, edited, leave_request_id=request_id)
    error = info.value
    # sent once (a 409 is never retried), then the state read once
    assert [(r.method, r.status) for r in server.app.requests[since:]] == [
        ("PUT", 409),
        ("GET", 200),
    ]
    assert request_row(server, request_id)["comment_handler"] == "eerst"  # nothing overwritten
    assert error.current["comment_handler"].to_list() == ["eerst"]
    diff = {r["column"]: (r["sent"], r["current"]) for r in error.diff.iter_rows(named=True)}
    truth = request_row(server, request_id)
    assert diff == {
        "number_of_units": ("4.0", orjson.dumps(truth["number_of_units"]).decode()),
        "comment_handler": ('"tweede"', '"eerst"'),
    }
    assert error.etag == other.etag(LEAVE_REQUEST, leave_request_id=request_id)
    assert error.entity_id == request_id and "ConcurrencyViolation" in str(error.messages)
    # resolved: put again on the state just read
    other.put(LEAVE_REQUEST, edited, leave_request_id=request_id)
    assert request_row(server, request_id)["comment_handler"] == "tweede"
    other.close()


def test_put_of_a_resource_never_read_says_read_it_first(server, loket, pool) -> None:
    (request_id,) = pool.take(SUBMITTED)
    since = len(server.app.requests)
    with pytest.raises(lv.ConfigurationError, match=r"read it first.*if_match=False"):
        loket.put(LEAVE_REQUEST, {"comment_handler": "x"}, leave_request_id=request_id)
    assert writes_logged(server, since) == []
    # blindly, on purpose: no If-Match, and the whole body must be given
    full = {"start_date": "2026-11-02", "end_date": "2026-11-02", "number_of_units": 8,
            "leave_type_key": 15, "comment_handler": "blind"}  # fmt: skip
    loket.put(LEAVE_REQUEST, full, leave_request_id=request_id, if_match=False)
    truth = request_row(server, request_id)
    assert (truth["comment_handler"], truth["number_of_units"]) == ("blind", 8.0)


def test_read_only_and_unknown_columns_are_refused_before_sending(server, loket, pool) -> None:
    (request_id,) = pool.take(SUBMITTED)
    row = loket.get(LEAVE_REQUEST, leave_request_id=request_id)
    since = len(server.app.requests)
    with pytest.raises(lv.ConfigurationError, match=r"read-only.*set_leave_request_status"):
        loket.put(LEAVE_REQUEST, row.with_columns(leave_request_status_key=pl.lit(2)),
                  leave_request_id=request_id)  # fmt: skip
    with pytest.raises(lv.ConfigurationError, match="did you mean comment_handler"):
        loket.put(LEAVE_REQUEST, {"coment_handler": "x"}, leave_request_id=request_id)
    with pytest.raises(lv.ConfigurationError, match="no POST"):
        loket.post(LEAVE_REQUEST, {}, leave_request_id=request_id)
    assert writes_logged(server, since) == []


def test_broken_business_rule_is_a_validation_error_naming_the_fields(server, loket, pool) -> None:
    (request_id,) = pool.take(ACCEPTED)
    loket.get(LEAVE_REQUEST, leave_request_id=request_id)
    before = request_row(server, request_id)
    with pytest.raises(lv.ValidationError) as info:
        loket.update_leave_request(request_id, hours=1)  # handled: only the comment may change
    error = info.value
    assert error.status == 400 and error.code == 1110 and error.entity_id == request_id
    assert error.errors.select("field").to_series().to_list() == ["numberOfUnits"]
    assert request_row(server, request_id) == before
    loket.update_leave_request(request_id, comment="verwerkt")  # the comment may
    assert request_row(server, request_id)["comment_handler"] == "verwerkt"


# -- the multi-patch ----------------------------------------------------------------------------


def test_status_change_of_ten_of_which_three_not_allowed(server, loket, pool) -> None:
    allowed = pool.take(SUBMITTED, 7)
    refused = pool.take(ACCEPTED, 2) + pool.take(REJECTED, 1)
    ids = allowed[:4] + refused + allowed[4:]
    booked = server.world.leave.filter(pl.col("related_leave_request_id").is_in(ids)).height
    since = len(server.app.requests)
    with pytest.warns(lv.PartialWriteWarning, match="3 of 10"):
        outcome = loket.set_leave_request_status(pl.DataFrame({"id": ids}), "accept")
    (sent,) = writes_logged(server, since)
    assert sent.method == "PATCH" and sent.json() == [{"id": i, "action": "accept"} for i in ids]
    assert sent.status == 400  # as the description says; the client handles 200 the same
    assert outcome.columns == ["id", "action", "outcome", "message_type", "message", "code"]
    assert outcome["id"].to_list() == ids
    world = server.world.leave_requests
    statuses = dict(
        world.filter(pl.col("id").is_in(ids)).select("id", "leave_request_status_key").iter_rows()
    )
    for row in outcome.iter_rows(named=True):
        if row["id"] in allowed:
            assert row["outcome"] == "changed" and statuses[row["id"]] == ACCEPTED
        else:
            assert row["outcome"] == "failed" and row["message_type"] == "BrokenBusinessRule"
            assert "accept is not possible" in row["message"] and row["code"] == 1122
    # accepted leave is booked in the ledger (the balances follow it)
    now = server.world.leave.filter(pl.col("related_leave_request_id").is_in(ids)).height
    assert now - booked == 7


def test_the_seeds_200_answer_gives_the_same_outcomes(server, pool) -> None:
    # The API guide answers 200 when one action succeeds: turn the mock's 400 into that.
    class Seed(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.method == "PATCH" and response.status_code == 400:
                response.read()
                return httpx.Response(200, headers=response.headers, content=response.content)
            return response

    client = lv.Loket.from_mock(
        server, flow="password", cache=False, progress=False, transport=Seed()
    )
    ok, bad = pool.take(SUBMITTED, 2), pool.take(ACCEPTED, 1)
    with pytest.warns(lv.PartialWriteWarning):
        outcome = client.set_leave_request_status([*ok, *bad], "reject")
    assert outcome["outcome"].to_list() == ["changed", "changed", "failed"]
    assert [request_row(server, i)["leave_request_status_key"] for i in ok] == [REJECTED] * 2
    client.close()


def test_when_every_action_fails_it_raises_with_the_outcomes(server, loket, pool) -> None:
    ids = [*pool.take(ACCEPTED, 1), "00000000-0000-4000-8000-000000000000"]
    with pytest.raises(lv.ApiError) as info:
        loket.set_leave_request_status(ids, "reopen")
    outcomes = info.value.outcomes
    assert outcomes is not None and outcomes["outcome"].to_list() == ["failed", "failed"]
    assert outcomes["message_type"].to_list() == ["BrokenBusinessRule", "NotFound"]
    assert "every one of the 2 actions" in str(info.value)


def test_reopen_a_rejected_request_then_accept_it(server, loket, pool) -> None:
    (request_id,) = pool.take(REJECTED)
    assert loket.set_leave_request_status([request_id], "reopen")["outcome"][0] == "changed"
    assert request_row(server, request_id)["leave_request_status_key"] == SUBMITTED
    assert (
        loket.set_leave_request_status(pl.Series([request_id]), "accept")["outcome"][0] == "changed"
    )
    assert request_row(server, request_id)["leave_request_status_key"] == ACCEPTED


def test_bad_status_input_is_refused_before_sending(server, loket) -> None:
    since = len(server.app.requests)
    with pytest.raises(lv.ConfigurationError, match="accept, reject, reopen"):
        loket.set_leave_request_status(["a"], "approve")
    with pytest.raises(lv.ConfigurationError, match="uuid strings"):
        loket.set_leave_request_status([1, 2], "accept")
    with pytest.raises(lv.ConfigurationError, match="an id column"):
        loket.set_leave_request_status(pl.DataFrame({"x": ["a"]}), "accept")
    assert loket.set_leave_request_status([], "accept").height == 0  # nothing to do
    assert writes_logged(server, since) == []


# -- named flows, messages ----------------------------------------------------------------------


def test_create_then_update_a_leave_request(server, loket) -> None:
    world = server.world
    employment = world.employments.filter(pl.col("end_date").is_null()).row(0, named=True)
    with pytest.warns(lv.LoketWarning, match="available"):  # more than the balance: a Warning
        created = loket.create_leave_request(
            employment["id"], start="2026-12-28", end="2026-12-31", hours=900, leave_type=16,
            comment="sabbatical",
        )  # fmt: skip
    new_id = created["id"][0]
    truth = request_row(server, new_id)
    assert truth["employment_id"] == employment["id"] and truth["leave_request_status_key"] == 1
    assert (truth["number_of_units"], truth["comment_handler"]) == (900.0, "sabbatical")
    loket.update_leave_request(new_id, hours=24, end="2026-12-30")
    truth = request_row(server, new_id)
    assert (truth["number_of_units"], str(truth["end_date"])) == (24.0, "2026-12-30")
    listed = loket.leave_requests(employment_id=employment["id"])
    assert new_id in listed["id"].to_list()
    with pytest.raises(lv.ConfigurationError, match="after end"):
        loket.create_leave_request(employment["id"], start="2026-12-31", end="2026-12-01",
                                   hours=8, leave_type=16)  # fmt: skip


def test_generic_post_put_delete_of_the_ledger(server, loket) -> None:
    employment = server.world.employments.filter(pl.col("end_date").is_null()).row(1, named=True)
    created = loket.post(
        LEAVE,
        {"start_date": "2026-10-05", "end_date": "2026-10-05", "number_of_units": 8,
         "is_accrual": True, "leave_type_key": 16, "comment": "compensatie"},
        employment_id=employment["id"],
    )  # fmt: skip
    leave_id = created["id"][0]
    assert server.world.leave.filter(pl.col("id") == leave_id)["comment"].to_list() == [
        "compensatie"
    ]
    balance = server.world.leave_balances.filter(
        (pl.col("employment_id") == employment["id"]) & (pl.col("year") == 2026)
        & (pl.col("leave_type_key") == 16)
    )  # fmt: skip
    entry = loket.get(LEAVE_ENTRY, leave_id=leave_id)
    loket.put(LEAVE_ENTRY, entry.with_columns(number_of_units=pl.lit(6.0)), leave_id=leave_id)
    assert server.world.leave.filter(pl.col("id") == leave_id)["number_of_units"].to_list() == [6.0]
    after = server.world.leave_balances.filter(
        (pl.col("employment_id") == employment["id"]) & (pl.col("year") == 2026)
        & (pl.col("leave_type_key") == 16)
    )  # fmt: skip
    assert after["accrual"][0] == pytest.approx(balance["accrual"][0] - 2)  # balances follow
    assert loket.delete(LEAVE_ENTRY, leave_id=leave_id) is None
    assert server.world.leave.filter(pl.col("id") == leave_id).height == 0
    assert loket.etag(LEAVE_ENTRY, leave_id=leave_id) is None  # forgotten with it


def test_put_employee_round_trip_in_each_version(server, loket) -> None:
    employee_id = server.world.employees.filter(pl.col("email_address").is_not_null())["id"][3]
    for version, street in (("2021-03-29", "Keizersgracht"), ("2018-12-31", "Herengracht")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lv.ObsoleteVersionWarning)
            row = loket.get(EMPLOYEE, employee_id=employee_id, version=version)
        before = server.world.employees.filter(pl.col("id") == employee_id).row(0, named=True)
        loket.put(
            EMPLOYEE, row.with_columns(address_street=pl.lit(street)), employee_id=employee_id
        )
        after = server.world.employees.filter(pl.col("id") == employee_id).row(0, named=True)
        assert {k for k in after if after[k] != before[k]} == {"address_street"}, version


# -- dry runs, retries, the cache ---------------------------------------------------------------


def test_dry_runs_send_nothing_and_show_the_exact_request(server, loket, pool) -> None:
    (request_id,) = pool.take(SUBMITTED)
    row = loket.get(LEAVE_REQUEST, leave_request_id=request_id)
    token = loket.oauth.access_token  # the secret that must not show
    since = len(server.app.requests)
    put = loket.put(LEAVE_REQUEST, row.with_columns(comment_handler=pl.lit("x")),
                    leave_request_id=request_id, dry_run=True)  # fmt: skip
    patch = loket.set_leave_request_status([request_id], "accept", dry_run=True)
    employment_id = request_row(server, request_id)["employment_id"]
    post = loket.create_leave_request(
        employment_id, start="2026-12-01", end="2026-12-01", hours=8, leave_type=16, dry_run=True
    )
    assert server.app.requests[since:] == []  # nothing at all was sent
    assert isinstance(put, DryRun) and put.method == "PUT"
    assert put.url == f"{server.loket_url}{LEAVE_REQUEST.format(leaveRequestId=request_id)}"
    headers = {k.lower(): v for k, v in put.headers.items()}
    assert headers["if-match"] == loket.etag(LEAVE_REQUEST, leave_request_id=request_id)
    assert headers["accept"] == headers["content-type"] == "application/json;version=2018-01-01"
    assert headers["authorization"] == "Bearer ***"
    assert put.json["commentHandler"] == "x"
    assert patch.json == [{"id": request_id, "action": "accept"}]
    assert post.method == "POST" and post.json["leaveType"] == {"key": 16}
    for run in (put, patch, post):
        assert token not in str(run) and token not in run._repr_html_()
    assert request_row(server, request_id)["leave_request_status_key"] == SUBMITTED


def test_no_post_or_patch_is_repeated_under_5xx() -> None:
    with lv.mock.serve(seed=11, sizes=SIZES, error_rate=0.6) as m:
        client = lv.Loket.from_mock(m, flow="password", cache=False, progress=False)
        submitted = Pool(m.world).take(SUBMITTED, 6)
        employment = m.world.employments.filter(pl.col("end_date").is_null())["id"][0]
        day = {"start": "2026-12-14", "end": "2026-12-14", "hours": 8, "leave_type": 16}
        calls = 0
        for request_id in submitted:
            for write, args, options in (
                (client.set_leave_request_status, ([request_id], "reject"), {}),
                (client.create_leave_request, (employment,), day),
            ):
                calls += 1
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        write(*args, **options)
                    except lv.ServerError as exc:
                        assert "may have been applied" in str(exc)
        writes = [
            r for r in m.app.requests if r.method in ("POST", "PATCH") and r.path.startswith("/v2")
        ]
        assert len(writes) == calls  # each one sent once, whatever the answer
        assert any(r.status >= 500 for r in writes)
        client.close()


def test_a_write_whose_connection_failed_is_sent_once_it_connects(server, pool) -> None:
    class Refusing(httpx.HTTPTransport):
        refused = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PATCH" and Refusing.refused < 2:
                Refusing.refused += 1
                raise httpx.ConnectError("connection refused")
            return super().handle_request(request)

    client = lv.Loket.from_mock(
        server, flow="password", cache=False, progress=False, transport=Refusing(),
        retry=lv.RetryPolicy(backoff_base=0.001),
    )  # fmt: skip
    (request_id,) = pool.take(SUBMITTED)
    since = len(server.app.requests)
    client.set_leave_request_status([request_id], "accept")
    assert [r.method for r in writes_logged(server, since)] == ["PATCH"]
    assert Refusing.refused == 2
    client.close()


def test_the_read_after_a_write_is_fresh(tmp_path, pool) -> None:
    # list pages announce an hour of freshness: without the write's drop, the read would be stale
    with lv.mock.serve(seed=11, sizes=SIZES, expires=3600) as m:
        client = lv.Loket.from_mock(m, flow="password", cache=tmp_path / "c", progress=False)
        employer_id = m.world.employers.filter(pl.col("accessible"))["id"][0]
        first = client.leave_requests(employer_id)
        again = client.leave_requests(employer_id)
        assert client.last_load.cache_hits >= 1 and again.equals(first)  # served from the cache
        pending = first.filter(pl.col("leave_request_status_key") == SUBMITTED)["id"].head(3)
        client.set_leave_request_status(pending, "accept")
        fresh = client.leave_requests(employer_id)
        assert client.last_load.misses >= 1 and client.last_load.cache_hits == 0
        statuses = fresh.filter(pl.col("id").is_in(pending.to_list()))["leave_request_status_key"]
        assert statuses.to_list() == [ACCEPTED] * 3
        client.close()


def test_a_put_in_another_version_than_the_read_is_refused(server, loket) -> None:
    employee_id = server.world.employees["id"][5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.ObsoleteVersionWarning)
        row = loket.get(EMPLOYEE, employee_id=employee_id, version="2018-12-31")
    since = len(server.app.requests)
    with pytest.raises(lv.ConfigurationError, match="read in version 2018-12-31"):
        loket.put(EMPLOYEE, row, employee_id=employee_id, version="2021-03-29")
    assert writes_logged(server, since) == []
    # without version= the put is made in the version read, with its fields
    dry = loket.put(EMPLOYEE, row, employee_id=employee_id, dry_run=True)
    assert dry.headers["content-type"] == "application/json;version=2018-12-31"
    assert "businessEmailAddress" not in dry.json["contactInformation"]
