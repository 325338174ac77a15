"""The mock Loket API's writes, over raw HTTP (no client): If-Match and ETags, the status
transitions of the description, refused bodies, the request log, and what the world becomes."""

from __future__ import annotations

import itertools

import httpx
import orjson
import polars as pl
import pytest

import loketvalinso as lv
from loketvalinso.mock import WorldSizes
from loketvalinso.mock.world import leave_balances_at
from tests.conftest import password_token

V2018 = "application/json;version=2018-01-01"
SIZES = WorldSizes(employers=2, employees=60, vends=500, devices=2, locations=1, products=2)
REQUEST = "/v2/providers/employers/employees/employments/leaverequests/{}"
STATUS = "/v2/providers/employers/employees/employments/leaverequests"
SUBMITTED, ACCEPTED, REJECTED = 1, 2, 3


@pytest.fixture(scope="module")
def mock():
    with lv.mock.serve(seed=3, sizes=SIZES) as m:
        yield m


@pytest.fixture(scope="module")
def api(mock) -> httpx.Client:
    token = password_token(mock)
    headers = {"Authorization": f"Bearer {token}", "Accept": V2018}
    with httpx.Client(base_url=mock.url, headers=headers, timeout=30) as client:
        yield client


_taken: set[str] = set()


def take(mock, status: int | None, n: int = 1, *, accessible: bool = True) -> list[str]:
    """Leave requests of ``status`` (None: any) no earlier test used."""
    employers = set(mock.world.employers.filter(pl.col("accessible") == accessible)["id"])
    rows = mock.world.leave_requests.filter(pl.col("employer_id").is_in(employers))
    if status is not None:
        rows = rows.filter(pl.col("leave_request_status_key") == status)
    free = [i for i in rows["id"] if i not in _taken][:n]
    assert len(free) == n
    _taken.update(free)
    return free


def body_of(api: httpx.Client, request_id: str) -> tuple[dict, str]:
    got = api.get(REQUEST.format(request_id))
    assert got.status_code == 200
    content = got.json()["content"]
    put = {k: content[k] for k in ("startDate", "endDate", "numberOfUnits", "isAccrual")}
    put["leaveType"] = {"key": content["leaveType"]["key"]}
    put["commentHandler"] = content["commentHandler"]
    return put, got.headers["etag"]


def test_if_match_and_etags(mock, api) -> None:
    (request_id,) = take(mock, SUBMITTED)
    body, etag = body_of(api, request_id)
    put = api.put(REQUEST.format(request_id), json=body, headers={"If-Match": etag})
    assert put.status_code == 200
    new_etag = put.headers["etag"]
    assert new_etag != etag and api.get(REQUEST.format(request_id)).headers["etag"] == new_etag
    stale = api.put(REQUEST.format(request_id), json=body, headers={"If-Match": etag})
    assert stale.status_code == 409
    (message,) = stale.json()["messages"]
    assert message["type"] == "ConcurrencyViolation" and message["id"] == request_id
    assert stale.json()["content"] == {}
    assert (
        api.put(REQUEST.format(request_id), json=body, headers={"If-Match": "*"}).status_code == 200
    )
    assert api.put(REQUEST.format(request_id), json=body).status_code == 200  # no If-Match: blind
    # a conditional GET with the old tag is not answered 304 any more
    assert api.get(REQUEST.format(request_id), headers={"If-None-Match": etag}).status_code == 200


TRANSITIONS = {
    (SUBMITTED, "accept"): ACCEPTED,
    (SUBMITTED, "reject"): REJECTED,
    (REJECTED, "reopen"): SUBMITTED,
}


@pytest.mark.parametrize(
    ("status", "action"),
    list(itertools.product((SUBMITTED, ACCEPTED, REJECTED), ("accept", "reject", "reopen"))),
)
def test_status_transitions_follow_the_description(mock, api, status, action) -> None:
    (request_id,) = take(mock, status)
    answer = api.patch(STATUS, json=[{"id": request_id, "action": action}])
    now = mock.world.leave_requests.filter(pl.col("id") == request_id).row(0, named=True)
    allowed = TRANSITIONS.get((status, action))
    if allowed is None:
        assert answer.status_code == 400
        (message,) = answer.json()["messages"]
        assert message["id"] == request_id and message["type"] == "BrokenBusinessRule"
        assert now["leave_request_status_key"] == status
    else:
        assert answer.status_code == 200 and answer.json()["messages"] == []
        assert now["leave_request_status_key"] == allowed
        assert (now["handled_time"] is None) is (allowed == SUBMITTED)


def test_an_accepted_request_is_booked_and_the_balance_follows(mock, api) -> None:
    (request_id,) = take(mock, SUBMITTED)
    request = mock.world.leave_requests.filter(pl.col("id") == request_id).row(0, named=True)
    key = (request["employment_id"], request["start_date"].year, request["leave_type_key"])

    def balance() -> float:
        b = mock.world.leave_balances.filter(
            (pl.col("employment_id") == key[0]) & (pl.col("year") == key[1])
            & (pl.col("leave_type_key") == key[2])
        )  # fmt: skip
        return b["usage_total"][0] if b.height else 0.0

    before = balance()
    assert api.patch(STATUS, json=[{"id": request_id, "action": "accept"}]).status_code == 200
    booked = mock.world.leave.filter(pl.col("related_leave_request_id") == request_id)
    assert booked["number_of_units"].to_list() == [request["number_of_units"]]
    assert balance() == pytest.approx(before + request["number_of_units"])
    world = mock.world  # the balances are those of the ledger, recomputed
    assert world.leave_balances.equals(leave_balances_at(world, world.reference_date))


def test_a_malformed_multi_patch_is_refused_whole(mock, api) -> None:
    (request_id,) = take(mock, SUBMITTED)
    for body in (
        {"id": request_id, "action": "accept"},  # not a list
        [{"id": request_id, "action": "accept"}, {"id": request_id, "action": "approve"}],
        [{"action": "accept"}],
    ):
        answer = api.patch(STATUS, json=body)
        assert answer.status_code == 400
        assert all(m["id"] is None for m in answer.json()["messages"])
    status = mock.world.leave_requests.filter(pl.col("id") == request_id)[
        "leave_request_status_key"
    ]
    assert status.to_list() == [SUBMITTED]


def test_ids_that_are_not_the_users_are_not_found(mock, api) -> None:
    (hidden,) = take(mock, None, accessible=False)
    missing = "00000000-0000-4000-8000-00000000abcd"
    answer = api.patch(
        STATUS, json=[{"id": hidden, "action": "accept"}, {"id": missing, "action": "accept"}]
    )
    assert answer.status_code == 400
    assert [(m["id"], m["type"]) for m in answer.json()["messages"]] == [
        (hidden, "NotFound"),
        (missing, "NotFound"),
    ]
    body = {"startDate": "2026-11-02", "endDate": "2026-11-02", "numberOfUnits": 8,
            "isAccrual": False, "leaveType": {"key": 15}}  # fmt: skip
    assert api.put(REQUEST.format(hidden), json=body).status_code == 403
    assert api.put(REQUEST.format(missing), json=body).status_code == 404


def test_broken_rules_are_reported_together_and_change_nothing(mock, api) -> None:
    (request_id,) = take(mock, SUBMITTED)
    before = mock.world
    bad = {"startDate": "2026-11-10", "endDate": "2026-11-02", "numberOfUnits": -3,
           "isAccrual": False, "leaveType": {"key": 99}}  # fmt: skip
    answer = api.put(REQUEST.format(request_id), json=bad)
    assert answer.status_code == 400
    messages = answer.json()["messages"]
    assert {tuple(m["properties"]) for m in messages} == {
        ("startDate", "endDate"),
        ("numberOfUnits",),
        ("leaveType.key",),
    }
    assert all(m["type"] == "BrokenBusinessRule" and m["id"] == request_id for m in messages)
    assert mock.world is before


def test_the_request_log_keeps_method_and_body_but_no_secret(mock, api) -> None:
    (request_id,) = take(mock, SUBMITTED)
    since = len(mock.app.requests)
    api.patch(STATUS, json=[{"id": request_id, "action": "reject"}])
    (record,) = mock.app.requests[since:]
    assert record.method == "PATCH" and record.status == 200
    assert record.json() == [{"id": request_id, "action": "reject"}]
    token_posts = [r for r in mock.app.requests if r.path == "/token"]
    assert token_posts and all(r.body == b"" for r in token_posts)  # secrets never logged


def test_refreshed_renders_equal_a_fresh_mock_of_the_changed_world(mock, api) -> None:
    """Writes re-render only the rows they touched: after several, every page and detail is
    what a mock started on the new world serves."""
    employee_id = mock.world.employees["id"][2]
    latest = {"Accept": "application/json;version=2030-01-01"}
    got = api.get(f"/v2/providers/employers/employees/{employee_id}", headers=latest)
    content = got.json()["content"]
    content["personalDetails"]["lastName"] = "Veranderd"
    put = api.put(f"/v2/providers/employers/employees/{employee_id}", json=content,
                  headers={"Accept": "application/json;version=2021-03-29"})  # fmt: skip
    assert put.status_code == 200, put.text
    (request_id,) = take(mock, SUBMITTED)
    api.patch(STATUS, json=[{"id": request_id, "action": "accept"}])
    fresh_app = lv.mock.MockApp(mock.world)
    fresh = httpx.Client(
        transport=lv.mock.server.InProcessTransport(fresh_app), base_url="http://mock.local"
    )
    token = password_token(lv.mock.MockServer("http://mock.local", fresh_app, fresh._transport),
                           transport=fresh._transport)  # fmt: skip
    employer_id = mock.world.employers.filter(pl.col("accessible"))["id"][0]
    employment_id = mock.world.leave_requests.filter(pl.col("id") == request_id)["employment_id"][0]
    for path in (
        f"/v2/providers/employers/{employer_id}/employees",
        f"/v2/providers/employers/{employer_id}/employees/employments",
        f"/v2/providers/employers/{employer_id}/employees/employments/leaverequests",
        f"/v2/providers/employers/employees/employments/{employment_id}/leave",
        f"/v2/providers/employers/employees/employments/{employment_id}/leavebalances",
        REQUEST.format(request_id),
    ):
        mine = api.get(
            path,
            params={"pageSize": 1000},
            headers={"Accept": "application/json;version=2030-01-01"},
        )
        theirs = fresh.get(path, params={"pageSize": 1000}, headers={
            "Accept": "application/json;version=2030-01-01", "Authorization": f"Bearer {token}"})  # fmt: skip
        assert mine.status_code == theirs.status_code == 200, path
        assert orjson.loads(mine.content) == orjson.loads(theirs.content), path
    # the change reached the items that embed the employee (its employments' summary)
    employments = api.get(
        f"/v2/providers/employers/{employer_id}/employees/employments",
        params={"pageSize": 1000},
        headers=latest,
    ).json()["_embedded"]
    mine = [e for e in employments if e["employee"]["id"] == employee_id]
    assert mine and all(e["employee"]["lastName"] == "Veranderd" for e in mine)


def test_concurrent_puts_with_one_etag_one_wins(mock, api) -> None:
    """If-Match is checked and the write applied under one lock: of many PUTs sent at once with
    the same ETag, exactly one goes through and the others get 409."""
    from concurrent.futures import ThreadPoolExecutor

    (request_id,) = take(mock, SUBMITTED)
    body, etag = body_of(api, request_id)
    token = api.headers["authorization"]

    def put(n: int) -> int:
        with httpx.Client(base_url=mock.url, timeout=30) as own:
            sent = {**body, "commentHandler": f"poging {n}"}
            headers = {"Authorization": token, "Accept": V2018, "If-Match": etag}
            return own.put(REQUEST.format(request_id), json=sent, headers=headers).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(put, range(6)))
    assert statuses == [200, 409, 409, 409, 409, 409]
    comment = mock.world.leave_requests.filter(pl.col("id") == request_id)["comment_handler"][0]
    assert comment.startswith("poging ")
