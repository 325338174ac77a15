"""Frame builder: exact round-trips for key resources, Valinso, and hypothesis properties."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from decimal import Decimal

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loketvalinso._frames.fields import UTC_DATETIME
from loketvalinso._frames.parse import (
    concat_pages,
    convert_raw,
    is_raw,
    parse_page,
    parse_untyped_page,
)
from loketvalinso._frames.spec import empty_frame, schema_for, valinso_spec
from loketvalinso.errors import ResponseFormatError
from loketvalinso.mock.schema import VALINSO_SCHEMAS
from tests.json_pages import parse_pages

UTC = UTC
ENV = {
    "currentPage": 1,
    "pageSize": 250,
    "totalPages": 1,
    "totalSize": 1,
    "version": {"resourceVersion": "2018-01-01", "obsoleteDate": None},
    "messages": [],
}


def page(items: object, **extra: object) -> bytes:
    return orjson.dumps({**ENV, "_embedded": items, **extra})


def test_leave_requests_round_trip() -> None:
    spec = schema_for("GetLeaveRequestsByEmploymentId")
    item = {
        "id": "A1",
        "startDate": "2024-07-01",
        "endDate": "2024-07-05",
        "numberOfUnits": 32.5,
        "unitType": {"key": 1, "value": "Uren"},
        "isAccrual": False,
        "leaveType": {"key": 1, "value": "Verlof"},
        "leaveRequestStatus": {"key": 9, "value": "Geaccepteerd"},
        "currentlyAvailableUnits": -3.25,
        "commentEmployee": None,
        "submittedBy": {"id": "E1", "employeeNumber": 12, "dateOfBirth": "1990-01-31"},
        "submittedOn": "2024-06-01T08:30:00+02:00",
        "handledTime": "2024-06-02T10:00:00.5Z",
        "handledBy": None,
    }
    meta, df = parse_page(page([item]), spec, path_ids={"employmentId": "EM1"})
    assert meta["item_count"] == 1 and meta["version"]["resourceVersion"] == "2018-01-01"
    row = df.row(0, named=True)
    assert df.columns[0] == "employment_id" and row["employment_id"] == "EM1"
    assert row["start_date"] == date(2024, 7, 1) and row["end_date"] == date(2024, 7, 5)
    assert row["number_of_units"] == 32.5 and row["currently_available_units"] == -3.25
    assert row["unit_type_key"] == 1 and row["unit_type"] == "Uren"
    assert row["leave_request_status_key"] == 9 and row["leave_request_status"] == "Geaccepteerd"
    assert row["submitted_by_id"] == "E1" and row["submitted_by_date_of_birth"] == date(1990, 1, 31)
    assert row["submitted_on"] == datetime(2024, 6, 1, 6, 30, tzinfo=UTC)
    assert row["handled_time"] == datetime(2024, 6, 2, 10, 0, 0, 500000, tzinfo=UTC)
    assert row["handled_by_id"] is None and row["is_accrual"] is False
    assert df.schema["submitted_on"] == UTC_DATETIME and df.schema["leave_type_key"] == pl.Int32
    raw = schema_for("GetLeaveRequestsByEmploymentId", raw_names=True)
    _, rdf = parse_page(page([item]), raw, path_ids={"employmentId": "EM1"})
    assert rdf["leaveType.key"].to_list() == [1] and rdf["employmentId"].to_list() == ["EM1"]


def test_employees_versions_change_columns() -> None:
    old = schema_for("GetEmployeesByEmployerId", "2018-12-31")
    new = schema_for("GetEmployeesByEmployerId")
    added = set(new.columns) - set(old.columns)
    assert added == {
        "contact_information_business_email_address",
        "contact_information_business_mobile_phone_number",
        "contact_information_business_phone_number",
    }
    item = {
        "id": "E",
        "personalDetails": {
            "firstName": "Susan",
            "gender": {"key": 2, "value": "Vrouw"},
            "dateOfBirth": "1980-05-06",
        },
        "address": {"city": "Utrecht", "country": {"key": 1, "value": "NL", "isoCode": "NL"}},
        "contactInformation": {"businessEmailAddress": "s@x.nl"},
    }
    _, df = parse_page(page([item]), new, path_ids={"employerId": "ER"})
    r = df.row(0, named=True)
    assert r["personal_details_first_name"] == "Susan" and r["personal_details_gender_key"] == 2
    assert r["personal_details_gender"] == "Vrouw" and r["address_country_iso_code"] == "NL"
    assert r["contact_information_business_email_address"] == "s@x.nl" and r["employer_id"] == "ER"
    assert r["personal_details_date_of_birth"] == date(1980, 5, 6)


def test_leave_balances_explode() -> None:
    spec = schema_for("GetLeaveBalancesByEmployerId")
    lt = {"key": 15, "value": "Wettelijk", "balanceExceedsYear": False}
    items = [
        {
            "id": "EM1",
            "employee": {"id": "E1"},
            "leaveBalance": [
                {
                    "year": 2024,
                    "leaveType": lt,
                    "accrual": 160.0,
                    "usageTotal": 40.0,
                    "balance": 120.0,
                },
                {"year": 2025, "leaveType": {**lt, "key": 1}, "balance": 8.0},
            ],
        },
        {"id": "EM2", "employee": {"id": "E2"}, "leaveBalance": []},
    ]
    _, df = parse_page(page(items), spec, path_ids={"employerId": "ER"})
    assert df.height == 3
    assert df["id"].to_list() == ["EM1", "EM1", "EM2"]
    assert df["employee_id"].to_list() == ["E1", "E1", "E2"]
    assert df["year"].to_list() == [2024, 2025, None]
    assert df["leave_type_key"].to_list() == [15, 1, None]
    assert df["balance"].to_list() == [120.0, 8.0, None]
    assert df["leave_type_balance_exceeds_year"].to_list() == [False, False, None]
    _, flat = parse_page(page(items), schema_for("GetLeaveBalancesByEmployerId", explode=()))
    assert flat.height == 2 and isinstance(flat.schema["leave_balance"], pl.List)


def test_absence_progress_dates() -> None:
    spec = schema_for("/providers/employers/employees/x/absences")
    assert spec.version == "2020-03-16"
    item = {
        "id": "AB",
        "causeOfAbsence": {"key": 1, "value": "Ziekte"},
        "progress": {
            "startDate": "2024-01-08",
            "currentIncapacityPercentage": 100,
            "endOfAbsence": {"date": "2024-01-19", "reason": {"key": 1, "value": "Hersteld"}},
        },
    }
    _, df = parse_page(page([item]), spec, path_ids={"employeeId": "E9"})
    r = df.row(0, named=True)
    assert r["employee_id"] == "E9" and r["progress_start_date"] == date(2024, 1, 8)
    assert r["progress_end_of_absence_date"] == date(2024, 1, 19)
    assert r["progress_end_of_absence_reason_key"] == 1
    assert r["progress_current_incapacity_percentage"] == 100


def test_empty_page_has_full_schema_and_unknowns_kept() -> None:
    spec = schema_for("GetLeaveRequestsForEmployer")
    _, df = parse_page(page([]), spec, path_ids={"employerId": "E"})
    assert df.height == 0 and df.schema == spec.schema == empty_frame(spec).schema
    _, df = parse_page(
        page(
            [
                {
                    "id": "X",
                    "brandNew": 5,
                    "startDate": "2024-01-01",
                    "leaveType": {"key": 1, "value": "v", "extraThing": "q"},
                }
            ]
        ),
        spec,
    )
    assert df["brand_new"].to_list() == [5] and df["leave_type_extra_thing"].to_list() == ["q"]
    out = concat_pages([df, parse_page(page([{"id": "Y"}]), spec)[1]])
    assert out["brand_new"].to_list() == [5, None]


def test_content_detail_and_object_list_tolerance() -> None:
    spec = schema_for("GetEmployerByEmployerId")
    body = orjson.dumps({"content": {"id": "ER", "companyName": "ACME"}, "version": ENV["version"]})
    meta, df = parse_page(body, spec)
    assert df["company_name"].to_list() == ["ACME"] and meta["current_page"] is None
    _, df = parse_page(orjson.dumps({"content": [{"id": "A"}, {"id": "B"}]}), spec)
    assert df["id"].to_list() == ["A", "B"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "has no _embedded"),
        (b"{", "has no _embedded"),
        (b'{"_embedded": [{"id": 1', "malformed or truncated JSON"),
        (b'{"_embedded": [{"id": "A"}]} trailing', "malformed or truncated JSON"),
        (b"null", "has no _embedded"),
        (b"[1,2]", "has no _embedded"),
        (b'{"other": 1}', "has no _embedded"),
        (b'{"_embedded": "text"}', "_embedded holds a JSON string, not items"),
        (b'["_embedded"]', "a JSON array, not an object"),
    ],
)
def test_bad_bodies_raise_an_honest_response_format_error(body: bytes, says: str) -> None:
    """Only bytes that are not JSON are called malformed; the others name what is missing."""
    with pytest.raises(ResponseFormatError, match=r"page: 3") as caught:
        parse_page(
            body, schema_for("GetLeaveRequestsForEmployer"), url="http://x/y?access_token=s", page=3
        )
    assert says in str(caught.value) and "access_token=s" not in str(caught.value)
    if "malformed" not in says:
        assert "malformed" not in str(caught.value)


# -- Valinso -----------------------------------------------------------------------------------
def vends_body(items: list[dict], **paging: int) -> bytes:
    return orjson.dumps(
        {"code": 200, "result": items, "paging": {"total": 2, "offset": 0, "limit": 1000, **paging}}
    )


def test_valinso_vends_round_trip() -> None:
    spec = valinso_spec("vends")
    items = [
        {
            "id": 1,
            "device_id": 7,
            "product_id": 3,
            "location_id": 2,
            "selection": "A1",
            "quantity": 2,
            "price": 1.8,
            "currency": "EUR",
            "payment_type": "card",
            "status": "success",
            "timestamp": 1700000000,
        },
        {"id": 2, "device_id": 7, "timestamp": 1700000060, "price": None, "coin_tube": 3},
    ]
    meta, df = parse_page(vends_body(items), spec)
    assert meta["total"] == 2 and meta["limit"] == 1000 and meta["item_count"] == 2
    assert dict(df.schema) | {} == {**VALINSO_SCHEMAS["vends"], "coin_tube": pl.Int64}
    assert df["price"].to_list() == [Decimal("1.80"), None]
    assert df["timestamp"].to_list() == [
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        datetime(2023, 11, 14, 22, 14, 20, tzinfo=UTC),
    ]
    assert df["coin_tube"].to_list() == [None, 3]
    # money as a string and float timestamps are accepted too
    _, df2 = parse_page(vends_body([{"id": 3, "price": "2.35", "timestamp": 1700000000.5}]), spec)
    assert df2["price"].to_list() == [Decimal("2.35")]
    assert df2["timestamp"].dt.epoch("us").to_list() == [1700000000500000]
    metas, all_ = parse_pages([vends_body(items), vends_body([])], spec)
    assert all_.height == 2 and [m["item_count"] for m in metas] == [2, 0]


def test_valinso_empty_has_schema() -> None:
    _, df = parse_page(vends_body([]), valinso_spec("vends"))
    assert df.schema == pl.Schema(VALINSO_SCHEMAS["vends"])


# -- properties ------------------------------------------------------------------------------
LEAVE = schema_for("GetLeaveRequestsForEmployer")
BAL = schema_for("GetLeaveBalancesByEmployerId")

meta_st = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "key": st.integers(-(2**31), 2**31 - 1),
            "value": st.none() | st.text(max_size=5),
        },
    ),
)
date_st = st.none() | st.dates().map(lambda d: d.isoformat())
item_st = st.fixed_dictionaries(
    {},
    optional={
        "id": st.none() | st.uuids().map(str),
        "startDate": date_st,
        "endDate": date_st,
        "numberOfUnits": st.none() | st.floats(allow_nan=False, allow_infinity=False, width=32),
        "unitType": meta_st,
        "isAccrual": st.none() | st.booleans(),
        "leaveType": meta_st,
        "submittedOn": st.none()
        | st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
        "submittedBy": st.none()
        | st.fixed_dictionaries({}, optional={"id": st.text(max_size=4), "dateOfBirth": date_st}),
    },
)
bal_st = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=3),
        "leaveBalance": st.none()
        | st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "year": st.none() | st.integers(1900, 2100),
                    "leaveType": meta_st,
                    "balance": st.none() | st.floats(-1e6, 1e6),
                },
            ),
            max_size=3,
        ),
    },
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(item_st, max_size=6))
def test_any_valid_leave_request_list_has_declared_dtypes(items: list[dict]) -> None:
    meta, df = parse_page(page(items), LEAVE, path_ids={"employerId": "E"})
    assert df.schema == LEAVE.schema and df.height == len(items) == meta["item_count"]


@SETTINGS
@given(st.lists(bal_st, max_size=5))
def test_any_valid_balance_list_explodes(items: list[dict]) -> None:
    _, df = parse_page(page(items), BAL)
    assert df.schema == BAL.schema
    assert df.height == sum(max(len(i.get("leaveBalance") or []), 1) for i in items)


json_st = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["id", "_embedded", "startDate", "leaveType", "key", "x", "content", "result"]
            ),
            c,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(json_st)
def test_arbitrary_json_only_raises_response_format_error(value: object) -> None:
    try:
        body = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return
    for spec in (LEAVE, BAL, valinso_spec("vends")):
        with contextlib.suppress(ResponseFormatError):
            parse_page(body, spec)


def test_deep_nesting_and_huge_numbers() -> None:
    deep = b'{"_embedded": [{"id": ' + b"[" * 3000 + b"]" * 3000 + b"}]}"
    with pytest.raises(ResponseFormatError):
        parse_page(deep, LEAVE)
    meta, df = parse_page(b'{"_embedded": [{"numberOfUnits": 1e400}]}', LEAVE)
    assert df.schema == LEAVE.schema and df["number_of_units"].to_list() == [None]
    assert [(r["column"], r["nulled"]) for r in meta["drift"]] == [("number_of_units", 1)]
    # an integer past Int64: its column is kept as text (every digit), and said so
    meta, df = parse_page(b'{"_embedded": [{"leaveType": {"key": 99999999999999999999}}]}', LEAVE)
    assert df["leave_type_key"].to_list() == ["99999999999999999999"]
    assert {**dict(df.schema), "leave_type_key": pl.Int32} == dict(LEAVE.schema)
    (record,) = meta["drift"]
    assert record["column"] == "leave_type_key" and record["coerced"] == 1
    assert record["arrived"] == ["integer past Int64 (column kept as text)"]


def test_loaders_need_no_pyarrow_nor_numpy() -> None:
    """The loaders import neither pyarrow (core, for provenance in snapshots and datasets) nor
    numpy (no dependency): nested and exploded resources load, through the cache too."""
    import subprocess
    import sys

    code = """
import sys
import tempfile
sys.modules["pyarrow"] = None  # as if it were not installed
sys.modules["numpy"] = None
import loketvalinso as lv
m = lv.mock.in_process(sizes=lv.mock.sizes_for(vends=1200, leave_requests=400))
cache = tempfile.mkdtemp()
loket = lv.Loket.from_mock(m, flow="password", cache=cache, progress=False, page_size=40)
employer = loket.employers()["id"][0]
leave = loket.leave_requests(employer)
assert loket.leave_requests(employer, cache_ttl=60).equals(leave)
balances = loket.leave_balances(employer)
vends = lv.Valinso.from_mock(m, cache=False, progress=False, limit=300).vends()
loaded = {k for k, v in sys.modules.items() if v is not None}
assert "pyarrow" not in loaded and "numpy" not in loaded
assert balances.height > 0
print(leave.height, vends.height)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    leave_rows, vend_rows = map(int, done.stdout.split())
    assert leave_rows > 40 and vend_rows == 1200  # several pages of each


def test_specs_are_built_once_per_resource_version_and_options() -> None:
    a = schema_for("GetLeaveRequestsForEmployer")
    assert schema_for("GetLeaveRequestsForEmployer") is a  # reused by every load
    raw = schema_for("GetLeaveRequestsForEmployer", raw_names=True)
    assert raw is not a and raw.columns != a.columns
    assert schema_for("GetLeaveRequestsForEmployer", explode=()) is not a
    oldest = schema_for("GetLeaveRequestsForEmployer", "2018-01-01")
    assert oldest.version == "2018-01-01"


@pytest.mark.parametrize("api", ["loket", "valinso"])
def test_unconverted_pages_convert_together_like_one_at_a_time(api: str) -> None:
    """Null items inside the list, empty pages and differing pages: the pager's path (decode
    each page unconverted, convert the batch on one chunk) gives row for row what parsing each
    page on its own gives."""
    if api == "loket":
        spec = schema_for("GetLeaveRequestsForEmployer")
        bodies = [
            page([{"id": "A", "startDate": "2024-01-02"}, None, {"id": "B"}]),
            page([]),
            page([None]),
            page([{"id": "C", "leaveType": {"key": 3, "value": "Vakantie"}}]),
        ]
        ids = ["A", None, "B", None, "C"]
    else:
        spec = valinso_spec("vends")
        bodies = [
            vends_body([{"id": 1, "price": 1.5}, None, {"id": 2}]),
            vends_body([]),
            vends_body([None]),
            vends_body([{"id": 3, "timestamp": 1700000000}]),
        ]
        ids = [1, None, 2, None, 3]
    one_by_one = [parse_page(b, spec, convert=True)[1] for b in bodies]
    raw = [parse_page(b, spec, convert=False)[1] for b in bodies]
    assert all(is_raw(p) for p in raw)
    together = convert_raw(raw, spec)
    assert [f.height for f in together] == [3, 0, 1, 1] == [f.height for f in one_by_one]
    for a, b in zip(together, one_by_one, strict=True):
        assert a.equals(b)
    assert pl.concat(together)["id"].to_list() == ids


def test_undeclared_fields_spelled_in_two_styles_get_two_columns() -> None:
    from loketvalinso._frames.extras import _extra_name

    assert _extra_name("newField", "loket") == "new_field"
    assert _extra_name("new_field", "loket") == "new__field"
    assert _extra_name("new_field", "valinso") == "new_field"
    assert _extra_name("newField", "valinso") == "newField"
    spec = schema_for("GetEmployersByUserId")
    body = page([{"id": "a", "newField": 1}, {"id": "b", "new_field": 2}])
    _, frame = parse_page(body, spec, url="u", page=1)
    assert frame.select("id", "new_field", "new__field").rows() == [("a", 1, None), ("b", None, 2)]


def test_a_repeated_key_keeps_its_first_value_on_the_fast_and_slow_paths() -> None:
    spec = schema_for("GetEmployersByUserId")
    body = b'{"_embedded":[{"id":"first","id":"second","zzz":1,"zzz":2}]}'
    _, frame = parse_page(body, spec, url="u", page=1)  # typed + extras (slow) path
    assert frame.select("id", "zzz").rows() == [("first", 1)]
    _, untyped = parse_untyped_page(b'{"result":[{"id":1,"id":2,"o":{"a":1,"a":2}}]}')
    assert untyped.rows() == [(1, '{"a":1}')]


def test_an_undeclared_field_is_found_with_a_space_before_each_colon() -> None:
    """Pretty-printers may write ``"key" : value``: the key count must still see ``qty``."""
    body = (
        b'{"result" : [{"id" : 1, "quantity" : 2, "qty" : 5}, {"id" : 2, "quantity" : 3}],'
        b' "paging" : {"offset" : 0, "limit" : 100, "total" : 2}}'
    )
    _meta, frame = parse_page(body, valinso_spec("vends"))
    assert frame["qty"].to_list() == [5, None]
    assert frame["quantity"].to_list() == [2, 3]
