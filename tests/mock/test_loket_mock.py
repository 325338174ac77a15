"""The mock Loket API over real HTTP: versions, envelopes, paging, filter/orderBy, ETag, Expires,
access rules and every endpoint's rows against the world (the ground truth)."""

from __future__ import annotations

from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import polars as pl
import pytest

import loketvalinso as lv
from loketvalinso.mock.loket import FORBIDDEN, MAX_PAGE_SIZE
from loketvalinso.mock.world import leave_balances_at
from tests.conftest import password_token

V2018 = "application/json;version=2018-01-01"
LATEST = "application/json;version=2030-01-01"  # the newest version of every resource


@pytest.fixture(scope="module")
def api(served_mock) -> httpx.Client:
    token = password_token(served_mock)
    with httpx.Client(
        base_url=served_mock.loket_url + "/",
        headers={"Authorization": f"Bearer {token}", "Accept": LATEST},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def employer_id(world) -> str:
    return world.employers.filter(pl.col("accessible"))["id"][0]


@pytest.fixture(scope="module")
def hidden_employer_id(world) -> str:
    return world.employers.filter(~pl.col("accessible"))["id"][0]


def walk(
    api: httpx.Client, path: str, params: dict[str, Any] | None = None, **kw: Any
) -> list[dict]:
    """All items of a listing, page by page, checking the paging fields on the way."""
    items: list[dict] = []
    page = 1
    size = int((params or {}).get("pageSize", 250))
    while True:
        response = api.get(path, params={**(params or {}), "pageNumber": page}, **kw)
        assert response.status_code == 200, response.text[:300]
        body = response.json()
        assert body["currentPage"] == page
        assert body["pageSize"] == size
        assert body["messages"] == []
        items += body["_embedded"]
        if page >= body["totalPages"]:
            assert len(items) == body["totalSize"]
            return items
        assert len(body["_embedded"]) == size
        page += 1


def _http_time(response: httpx.Response, name: str) -> datetime:
    return parsedate_to_datetime(response.headers[name])


# -- versions ---------------------------------------------------------------------------------


def test_employee_versions_on_or_before(api: httpx.Client, world, employer_id: str) -> None:
    path = f"providers/employers/{employer_id}/employees"
    rows = world.employees.filter(pl.col("employer_id") == employer_id)
    by_id = {r["id"]: r for r in rows.iter_rows(named=True)}
    cases = [
        ("2018-12-31", "2018-12-31", "2021-09-29"),
        ("2020-06-01", "2018-12-31", "2021-09-29"),
        ("2021-03-29", "2021-03-29", None),
        ("2099-01-01", "2021-03-29", None),
    ]
    for asked, served, obsolete in cases:
        response = api.get(
            path, params={"pageSize": 5}, headers={"Accept": f"application/json;version={asked}"}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == f"application/json;version={served}"
        body = response.json()
        assert body["version"] == {"resourceVersion": served, "obsoleteDate": obsolete}
        for item in body["_embedded"]:
            contact = item["contactInformation"]
            truth = by_id[item["id"]]
            assert contact["emailAddress"] == truth["email_address"]
            if served == "2021-03-29":
                assert contact["businessEmailAddress"] == truth["business_email_address"]
                assert contact["businessPhoneNumber"] == truth["business_phone_number"]
                assert contact["businessMobilePhoneNumber"] == truth["business_mobile_phone_number"]
            else:
                assert not any(k.startswith("business") for k in contact)


def test_other_resources_serve_their_documented_version(
    api: httpx.Client, world, employer_id
) -> None:
    latest = {"Accept": "application/json;version=2030-01-01"}
    employment = api.get(f"providers/employers/{employer_id}/employees/employments", headers=latest)
    assert employment.headers["content-type"] == "application/json;version=2019-12-16"
    employee_id = world.absences.filter(pl.col("employer_id") == employer_id)["employee_id"][0]
    absences = api.get(f"providers/employers/employees/{employee_id}/absences", headers=latest)
    assert absences.json()["version"] == {"resourceVersion": "2020-03-16", "obsoleteDate": None}
    # The spec's misleading example date (2018-01-01) predates these resources.
    too_early = api.get(
        f"providers/employers/employees/{employee_id}/absences", headers={"Accept": V2018}
    )
    assert too_early.status_code == 400
    assert "2020-03-16" in too_early.json()["messages"][0]["description"]


@pytest.mark.parametrize(
    ("accept", "fragment"),
    [
        (None, "mandatory"),
        ("*/*", "names no resource version"),
        ("application/json", "names no resource version"),
        ("application/json;version=2021-02-30", "not a date"),
        ("application/json;version=latest", "not a date"),
        ("application/json;version=2017-12-31", "first is 2018-01-01"),
    ],
)
def test_bad_accept_is_400(served_mock, api: httpx.Client, accept, fragment, employer_id) -> None:
    headers = {"Authorization": api.headers["Authorization"]}
    if accept is not None:
        headers["Accept"] = accept
    with httpx.Client(base_url=served_mock.loket_url + "/") as raw:
        # httpx adds "Accept: */*" by default; drop it to send no Accept at all.
        request = raw.build_request(
            "GET", f"providers/employers/{employer_id}/departments", headers=headers
        )
        if accept is None:
            del request.headers["Accept"]
        response = raw.send(request)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    (message,) = response.json()["messages"]
    assert message["type"] == "Exception"
    assert fragment in message["description"]
    assert response.json()["_embedded"] == []


# -- paging -----------------------------------------------------------------------------------


def test_walk_all_leave_requests_equals_world(api: httpx.Client, world, employer_id) -> None:
    truth = world.leave_requests.filter(pl.col("employer_id") == employer_id)
    items = walk(
        api,
        f"providers/employers/{employer_id}/employees/employments/leaverequests",
        {"pageSize": 700},
    )
    assert [i["id"] for i in items] == truth["id"].to_list()  # default order: the world's, stable
    assert [i["startDate"] for i in items] == [d.isoformat() for d in truth["start_date"]]
    assert [i["numberOfUnits"] for i in items] == pytest.approx(
        truth["number_of_units"].round(2).to_list()
    )
    assert [i["leaveRequestStatus"]["key"] for i in items] == truth[
        "leave_request_status_key"
    ].to_list()
    assert [i["submittedBy"]["id"] for i in items] == truth["employee_id"].to_list()


def test_paging_totals_defaults_and_past_the_end(api: httpx.Client, world, employer_id) -> None:
    path = f"providers/employers/{employer_id}/employees/employments/leaverequests"
    total = world.leave_requests.filter(pl.col("employer_id") == employer_id).height
    first = api.get(path).json()
    assert (first["currentPage"], first["pageSize"], first["totalSize"]) == (1, 250, total)
    assert first["totalPages"] == -(-total // 250)
    assert len(first["_embedded"]) == 250
    past = api.get(path, params={"pageNumber": first["totalPages"] + 3}).json()
    assert past["_embedded"] == []
    assert (past["totalSize"], past["totalPages"]) == (total, first["totalPages"])
    last = api.get(path, params={"pageNumber": first["totalPages"]}).json()
    assert len(last["_embedded"]) == total - 250 * (first["totalPages"] - 1)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"pageSize": MAX_PAGE_SIZE + 1}, f"{MAX_PAGE_SIZE} (the maximum)"),
        ({"pageSize": 0}, "pageSize"),
        ({"pageNumber": 0}, "pageNumber"),
        ({"pageNumber": "two"}, "whole number"),
    ],
)
def test_bad_paging_is_400(api: httpx.Client, employer_id, params, fragment) -> None:
    response = api.get(f"providers/employers/{employer_id}/departments", params=params)
    assert response.status_code == 400
    assert fragment in response.json()["messages"][0]["description"]


# -- filter and orderBy -------------------------------------------------------------------------


def test_filter_and_order_match_world(api: httpx.Client, world, employer_id) -> None:
    path = f"providers/employers/{employer_id}/employees/employments/leaverequests"
    params = {
        "filter": "startDate ge '2026-01-01' and LEAVETYPE.key eq 16",
        "orderBy": "-startDate,submittedBy.employeeNumber",
        "pageSize": 1000,
    }
    items = walk(api, path, params)
    truth = (
        world.leave_requests.with_row_index("pos")
        .filter(
            (pl.col("employer_id") == employer_id)
            & (pl.col("start_date") >= date(2026, 1, 1))
            & (pl.col("leave_type_key") == 16)
        )
        .join(
            world.employees.select(pl.col("id").alias("employee_id"), "employee_number"),
            on="employee_id",
        )
        .sort(["start_date", "employee_number", "pos"], descending=[True, False, False])
    )
    assert truth.height > 0
    assert [i["id"] for i in items] == truth["id"].to_list()


def test_filter_null_or_and_like(api: httpx.Client, world, employer_id) -> None:
    employments = world.employments.filter(pl.col("employer_id") == employer_id)
    open_ended = walk(
        api,
        f"providers/employers/{employer_id}/employees/employments",
        {"filter": "enddate eq null"},
    )
    assert [i["id"] for i in open_ended] == employments.filter(pl.col("end_date").is_null())[
        "id"
    ].to_list()
    ended = walk(
        api,
        f"providers/employers/{employer_id}/employees/employments",
        {"filter": "endDate ne null"},
    )
    assert len(ended) + len(open_ended) == employments.height
    either = walk(
        api,
        f"providers/employers/{employer_id}/employees/employments",
        {"filter": "endDate le '2025-06-30' or startDate gt '2026-03-01'"},
    )
    expected = employments.filter(
        (pl.col("end_date") <= date(2025, 6, 30)) | (pl.col("start_date") > date(2026, 3, 1))
    )
    assert [i["id"] for i in either] == expected["id"].to_list()
    employees = world.employees.filter(pl.col("employer_id") == employer_id)
    needle = employees["last_name"][0][:3]
    like = walk(
        api,
        f"providers/employers/{employer_id}/employees",
        {"filter": f"personalDetails.lastName lk '{needle.upper()}'"},
    )
    truth = employees.filter(
        pl.col("last_name").str.to_lowercase().str.contains(needle.lower(), literal=True)
    )
    assert [i["id"] for i in like] == truth["id"].to_list()


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"filter": "nosuchfield eq 1"}, "unknown field 'nosuchfield'"),
        ({"filter": "startDate between '2025-01-01'"}, "unknown operator"),
        ({"filter": "startDate ge"}, "ends too early"),
        ({"filter": "numberOfUnits gt 'lots'"}, "is a number"),
        ({"filter": "startDate ge 'soon'"}, "'YYYY-MM-DD'"),
        ({"orderBy": "-nosuchfield"}, "unknown field"),
    ],
)
def test_bad_filter_is_400(api: httpx.Client, employer_id, params, fragment) -> None:
    response = api.get(
        f"providers/employers/{employer_id}/employees/employments/leaverequests", params=params
    )
    assert response.status_code == 400
    (message,) = response.json()["messages"]
    assert message["type"] == "Exception"
    assert fragment in message["description"]


# -- ETag, Expires ------------------------------------------------------------------------------


def test_detail_etag_and_304(api: httpx.Client, world, employer_id) -> None:
    path = f"providers/employers/{employer_id}"
    first = api.get(path)
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"content", "version", "messages"}
    assert body["content"]["id"] == employer_id
    etag = first.headers["etag"]
    again = api.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert api.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    employee_id = world.employees.filter(pl.col("employer_id") == employer_id)["id"][0]
    old = api.get(
        f"providers/employers/employees/{employee_id}",
        headers={"Accept": "application/json;version=2019-01-01"},
    )
    new = api.get(
        f"providers/employers/employees/{employee_id}",
        headers={"Accept": "application/json;version=2022-01-01"},
    )
    assert old.headers["etag"] != new.headers["etag"]  # different representation, different tag


def test_expires_policy(api: httpx.Client, world, employer_id) -> None:
    def lifetime(response: httpx.Response) -> float:
        assert response.status_code == 200
        return (_http_time(response, "expires") - _http_time(response, "date")).total_seconds()

    assert lifetime(api.get(f"providers/employers/{employer_id}/departments")) < 0
    assert lifetime(api.get(f"providers/employers/{employer_id}")) < 0
    assert lifetime(api.get(f"providers/employers/{employer_id}/leavetypes")) > 3600
    assert lifetime(api.get(f"providers/employers/{employer_id}/nationalholidays")) > 3600
    employee_id = world.employees.filter(pl.col("employer_id") == employer_id)["id"][0]
    for path in (
        f"providers/employers/employees/{employee_id}/photo",
        f"providers/employers/{employer_id}/logo",
    ):
        image = api.get(path, headers={"Accept": "image/png"})
        assert image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert lifetime(image) > 3600
    # Errors carry Expires too.
    assert "expires" in api.get("providers/nothing-here").headers


# -- access -------------------------------------------------------------------------------------


def test_inaccessible_employer_is_403_everywhere(
    api: httpx.Client, world, hidden_employer_id
) -> None:
    employee_id = world.employees.filter(pl.col("employer_id") == hidden_employer_id)["id"][0]
    employment_id = world.employments.filter(pl.col("employer_id") == hidden_employer_id)["id"][0]
    paths = [
        f"providers/employers/{hidden_employer_id}",
        f"providers/employers/{hidden_employer_id}/employees",
        f"providers/employers/{hidden_employer_id}/employees/employments/leaverequests",
        f"providers/employers/{hidden_employer_id}/logo",
        f"providers/employers/employees/{employee_id}",
        f"providers/employers/employees/{employee_id}/absences",
        f"providers/employers/employees/employments/{employment_id}",
        f"providers/employers/employees/employments/{employment_id}/leave",
    ]
    requests = world.leave_requests.filter(pl.col("employer_id") == hidden_employer_id)
    if requests.height:
        paths.append(f"providers/employers/employees/employments/leaverequests/{requests['id'][0]}")
    for path in paths:
        response = api.get(path)
        assert response.status_code == 403, path
        assert response.json() == FORBIDDEN
        assert response.json()["message"].startswith("Insufficient rights")
    listed = [e["id"] for e in walk(api, "providers/employers")]
    assert hidden_employer_id not in listed


def test_not_found_and_method_not_allowed(api: httpx.Client, employer_id) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    assert api.get(f"providers/employers/{unknown}").status_code == 404
    assert api.get(f"providers/employers/employees/employments/{unknown}/leave").status_code == 404
    missing = api.get("providers/employers/whatever/this/is/not")
    assert missing.status_code == 404
    assert missing.json()["messages"][0]["type"] == "NotFound"
    post = api.post(f"providers/employers/{employer_id}/departments", json={})
    assert post.status_code == 405
    assert post.headers["allow"] == "GET"
    # Ids are case-insensitive (the spec's uuid pattern is upper-case, the world's ids lower-case).
    assert api.get(f"providers/employers/{employer_id.upper()}").status_code == 200


# -- every endpoint against the world ---------------------------------------------------------


def _ids(items: list[dict], key: str = "id") -> list[str]:
    return [i[key] for i in items]


def test_employer_level_lists_equal_world(api: httpx.Client, world, employer_id) -> None:
    employers = walk(api, "providers/employers")
    accessible = world.employers.filter(pl.col("accessible"))
    assert _ids(employers) == accessible["id"].to_list()
    assert [e["companyName"] for e in employers] == accessible["company_name"].to_list()
    assert [e["sbi"]["sbiCode"] for e in employers] == accessible["sbi_sbi_code"].to_list()

    def scoped(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("employer_id") == employer_id)

    base = f"providers/employers/{employer_id}"
    payroll = walk(api, f"{base}/payrolladministrations")
    assert _ids(payroll) == scoped(world.payroll_administrations)["id"].to_list()
    assert [p["clientNumber"] for p in payroll] == scoped(world.payroll_administrations)[
        "client_number"
    ].to_list()
    departments = walk(api, f"{base}/departments")
    truth = scoped(world.departments)
    assert _ids(departments) == truth["id"].to_list()
    assert [d["code"] for d in departments] == truth["code"].to_list()
    assert [(d["subDepartmentOf"] or {}).get("key") for d in departments] == truth[
        "sub_department_of_key"
    ].to_list()
    functions = walk(api, f"{base}/functions")
    assert _ids(functions, "key") == scoped(world.functions)["key"].to_list()
    employees = walk(api, f"{base}/employees", {"pageSize": 100})
    truth = scoped(world.employees)
    assert _ids(employees) == truth["id"].to_list()
    assert [e["personalDetails"]["dateOfBirth"] for e in employees] == [
        d.isoformat() for d in truth["date_of_birth"]
    ]
    assert [e["employeeNumber"] for e in employees] == truth["employee_number"].to_list()
    employments = walk(api, f"{base}/employees/employments")
    truth = scoped(world.employments)
    assert _ids(employments) == truth["id"].to_list()
    assert [e["employee"]["id"] for e in employments] == truth["employee_id"].to_list()
    assert [e["endDate"] for e in employments] == [d and d.isoformat() for d in truth["end_date"]]
    leave_types = walk(api, f"{base}/leavetypes")
    truth = scoped(world.leave_types)
    assert [t["leaveType"]["key"] for t in leave_types] == truth["leave_type_key"].to_list()
    holidays = walk(api, f"{base}/nationalholidays")
    truth = scoped(world.national_holidays)
    assert _ids(holidays) == truth["id"].to_list()
    assert [h["nationalHoliday"]["dateInCurrentYear"] for h in holidays] == [
        d.isoformat() for d in truth["date_in_current_year"]
    ]


def test_details_equal_world(api: httpx.Client, world, employer_id) -> None:
    employment = world.employments.filter(pl.col("employer_id") == employer_id).row(0, named=True)
    body = api.get(f"providers/employers/employees/employments/{employment['id']}").json()[
        "content"
    ]
    assert body["startDate"] == employment["start_date"].isoformat()
    assert body["payrollId"] == employment["payroll_id"]
    request = world.leave_requests.filter(pl.col("employer_id") == employer_id).row(3, named=True)
    body = api.get(
        f"providers/employers/employees/employments/leaverequests/{request['id']}"
    ).json()
    assert body["content"]["leaveType"]["key"] == request["leave_type_key"]
    assert body["content"]["submittedOn"] == request["submitted_on"].isoformat()
    employee = world.employees.filter(pl.col("employer_id") == employer_id).row(0, named=True)
    body = api.get(f"providers/employers/employees/{employee['id']}").json()["content"]
    assert body["personalDetails"]["lastName"] == employee["last_name"]


def test_per_employment_lists_equal_world(api: httpx.Client, world, employer_id) -> None:
    counts = (
        world.leave_requests.filter(pl.col("employer_id") == employer_id)
        .group_by("employment_id")
        .len()
        .sort(["len", "employment_id"], descending=True)
    )
    employment_id = counts["employment_id"][0]
    base = f"providers/employers/employees/employments/{employment_id}"
    requests = walk(api, f"{base}/leaverequests", {"pageSize": 3})
    assert (
        _ids(requests)
        == world.leave_requests.filter(pl.col("employment_id") == employment_id)["id"].to_list()
    )
    ledger = walk(api, f"{base}/leave")
    truth = world.leave.filter(pl.col("employment_id") == employment_id)
    assert _ids(ledger) == truth["id"].to_list()
    assert [(r["relatedLeaveRequest"] or {}).get("id") for r in ledger] == truth[
        "related_leave_request_id"
    ].to_list()
    balances = walk(api, f"{base}/leavebalances")
    truth = world.leave_balances.filter(pl.col("employment_id") == employment_id)
    assert [(b["year"], b["leaveType"]["key"]) for b in balances] == list(
        zip(truth["year"], truth["leave_type_key"], strict=True)
    )
    assert [b["usageThroughToday"] for b in balances] == pytest.approx(
        truth["usage_through_reference_date"].round(2).to_list()
    )
    assert [b["usageAfterToday"] for b in balances] == pytest.approx(
        truth["usage_after_reference_date"].round(2).to_list()
    )
    assert [b["balance"] for b in balances] == pytest.approx(truth["balance"].round(2).to_list())


def test_absences_equal_world(api: httpx.Client, world, employer_id) -> None:
    counts = (
        world.absences.filter(pl.col("employer_id") == employer_id)
        .group_by("employee_id")
        .len()
        .sort(["len", "employee_id"], descending=True)
    )
    employee_id = counts["employee_id"][0]
    items = walk(
        api,
        f"providers/employers/employees/{employee_id}/absences",
        headers={"Accept": "application/json;version=2021-01-01"},
    )
    truth = world.absences.filter(pl.col("employee_id") == employee_id)
    assert _ids(items) == truth["id"].to_list()
    assert [a["progress"]["startDate"] for a in items] == [
        d.isoformat() for d in truth["start_date"]
    ]
    assert [(a["progress"]["endOfAbsence"] or {}).get("date") for a in items] == [
        d and d.isoformat() for d in truth["end_date"]
    ]


def test_employer_leave_balances_equal_world(api: httpx.Client, world, employer_id) -> None:
    reference = date(2026, 3, 15)
    items = walk(
        api,
        f"providers/employers/{employer_id}/leavebalances",
        {"referenceDate": reference.isoformat(), "leaveType": "1,15", "pageSize": 1000},
    )
    truth = leave_balances_at(world, reference).filter(
        (pl.col("employer_id") == employer_id)
        & (pl.col("year") == 2026)
        & pl.col("leave_type_key").is_in([1, 15])
    )
    served = {
        (item["id"], b["leaveType"]["key"]): b for item in items for b in item["leaveBalance"]
    }
    expected = {(r["employment_id"], r["leave_type_key"]): r for r in truth.iter_rows(named=True)}
    assert served.keys() == expected.keys()
    for key, row in expected.items():
        b = served[key]
        assert b["year"] == 2026
        assert b["usageThroughReferenceDate"] == pytest.approx(
            round(row["usage_through_reference_date"], 2)
        )
        assert b["usageAfterReferenceDate"] == pytest.approx(
            round(row["usage_after_reference_date"], 2)
        )
        assert b["balance"] == pytest.approx(round(row["balance"], 2))
    # leaveType as repeated parameters == comma list; the default is 16 only.
    repeated = api.get(
        f"providers/employers/{employer_id}/leavebalances",
        params=[
            ("referenceDate", "2026-03-15"),
            ("leaveType", "1"),
            ("leaveType", "15"),
            ("pageSize", "1000"),
        ],
    ).json()["_embedded"]
    assert repeated == items
    default = api.get(
        f"providers/employers/{employer_id}/leavebalances", params={"pageSize": 1000}
    ).json()
    assert {b["leaveType"]["key"] for i in default["_embedded"] for b in i["leaveBalance"]} == {16}


def test_calendar_leave_requests(api: httpx.Client, world, employer_id) -> None:
    path = f"providers/employers/{employer_id}/employees/employments/calendar/leaverequests"
    missing = api.get(path, params={"startDate": "2026-10-01"})
    assert missing.status_code == 400
    assert "endDate" in missing.json()["messages"][0]["description"]
    items = walk(api, path, {"startDate": "2026-10-01", "endDate": "2026-12-31"})
    truth = world.leave_requests.filter(
        (pl.col("employer_id") == employer_id)
        & (pl.col("leave_request_status_key") == 1)
        & (pl.col("start_date") <= date(2026, 12, 31))
        & (pl.col("end_date") >= date(2026, 10, 1))
    )
    assert truth.height > 0
    served = sorted((i["employment"]["id"], c["startDate"]) for i in items for c in i["calendar"])
    expected = sorted(
        zip(truth["employment_id"], [d.isoformat() for d in truth["start_date"]], strict=True)
    )
    assert served == expected
    assert all(set(i) == {"employee", "employment", "department", "calendar"} for i in items)


# -- faults the handlers take part in ----------------------------------------------------------


def test_drift_and_expires_faults(world, employer_id) -> None:
    with lv.mock.serve(seed=42, world=world, drift=True, expires=120) as m:
        token = password_token(m)
        with httpx.Client(
            base_url=m.loket_url + "/",
            headers={"Authorization": f"Bearer {token}", "Accept": V2018},
        ) as api:
            path = f"providers/employers/{employer_id}/departments"
            truth = world.departments.filter(pl.col("employer_id") == employer_id).height
            first = api.get(path, params={"pageSize": 2})
            second = api.get(path, params={"pageSize": 2, "pageNumber": 2})
            assert first.json()["totalSize"] == truth
            assert second.json()["totalSize"] == truth + 1  # a row "appeared" mid-walk
            lifetime = _http_time(first, "expires") - _http_time(first, "date")
            assert 100 <= lifetime.total_seconds() <= 120


def test_in_process_transport_serves_the_same(world, employer_id) -> None:
    m = lv.mock.in_process(seed=42, world=world)
    token = password_token(m, transport=m.transport)
    with httpx.Client(
        base_url=m.loket_url + "/",
        transport=m.transport,
        headers={"Authorization": f"Bearer {token}", "Accept": V2018},
    ) as api:
        items = walk(api, f"providers/employers/{employer_id}/departments")
    assert (
        _ids(items)
        == world.departments.filter(pl.col("employer_id") == employer_id)["id"].to_list()
    )


def test_concurrent_page_walk_over_a_cold_mock(world, employer_id) -> None:
    # Eight threads hit a fresh app at once: the lazy per-resource renders must not race.
    from concurrent.futures import ThreadPoolExecutor

    truth = world.leave_requests.filter(pl.col("employer_id") == employer_id)["id"].to_list()
    pages = -(-len(truth) // 100)
    with lv.mock.serve(seed=42, world=world) as m:
        token = password_token(m)
        headers = {"Authorization": f"Bearer {token}", "Accept": V2018}
        path = (
            f"{m.loket_url}/providers/employers/{employer_id}/employees/employments/leaverequests"
        )

        def page(n: int) -> list[str]:
            with httpx.Client(headers=headers, timeout=30) as http:
                body = http.get(path, params={"pageNumber": n, "pageSize": 100}).json()
            return [item["id"] for item in body["_embedded"]]

        with ThreadPoolExecutor(8) as pool:
            walked = [i for ids in pool.map(page, range(1, pages + 1)) for i in ids]
    assert walked == truth
