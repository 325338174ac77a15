"""The tolerant path and the drift records: a page off the schema keeps every row, and every
value either lands typed or is counted (coerced or nulled), whichever path decoded the page."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loketvalinso._frames import parse
from loketvalinso._frames.drift import DriftCounter, drift_frame, redact_example
from loketvalinso._frames.parse import convert_raw, parse_page
from loketvalinso._frames.spec import schema_for, valinso_spec

LEAVE = schema_for("GetLeaveRequestsForEmployer")
VENDS = valinso_spec("vends")
ENV = {"currentPage": 1, "pageSize": 250, "totalPages": 1, "totalSize": 1, "messages": []}


def loket_page(items: list[Any]) -> bytes:
    return json.dumps({**ENV, "_embedded": items}).encode()


def vends_page(items: list[Any]) -> bytes:
    paging = {"total": len(items), "offset": 0, "limit": 1000}
    return json.dumps({"code": 200, "result": items, "paging": paging}).encode()


def by_column(meta: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int]]:
    """``(column, kind)`` → ``(coerced, nulled)`` of a page's drift."""
    return {(r["column"], r["kind"]): (r["coerced"], r["nulled"]) for r in meta["drift"]}


# -- the rules, one value at a time -----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "raw", "column", "landed", "counted"),
    [
        # numbers as text, and what cannot be read as a number
        ("numberOfUnits", "406.40", "number_of_units", 406.4, "coerced"),
        ("numberOfUnits", " 12 ", "number_of_units", 12.0, "coerced"),
        ("numberOfUnits", "406,40", "number_of_units", None, "nulled"),
        ("numberOfUnits", {"value": 1}, "number_of_units", None, "nulled"),
        ("numberOfUnits", True, "number_of_units", 1.0, None),  # as the native decode
        # integers
        ("submittedBy", {"employeeNumber": "12"}, "submitted_by_employee_number", 12, "coerced"),
        ("submittedBy", {"employeeNumber": 2.0}, "submitted_by_employee_number", 2, None),
        ("submittedBy", {"employeeNumber": 1.7}, "submitted_by_employee_number", None, "nulled"),
        ("submittedBy", {"employeeNumber": "x"}, "submitted_by_employee_number", None, "nulled"),
        ("submittedBy", {"employeeNumber": [1]}, "submitted_by_employee_number", None, "nulled"),
        # booleans
        ("isAccrual", "TRUE", "is_accrual", True, "coerced"),
        ("isAccrual", 0, "is_accrual", False, "coerced"),
        ("isAccrual", "maybe", "is_accrual", None, "nulled"),
        # text
        ("commentEmployee", 12, "comment_employee", "12", None),  # lossless, not counted
        ("commentEmployee", {"a": 1}, "comment_employee", '{"a":1}', "coerced"),
        ("id", "{B14ACD0D-75D7-4FC8-8B22-4A3924585CAB}", "id", None, None),  # braces: as sent
        # dates and date-times
        ("startDate", "2024-07-01T10:00:00Z", "start_date", date(2024, 7, 1), "coerced"),
        ("startDate", "2024-02-30", "start_date", None, "nulled"),
        ("startDate", 20240701, "start_date", None, "nulled"),
        ("startDate", {"date": "2024-07-01"}, "start_date", None, "nulled"),
        (
            "submittedOn",
            "2024-06-01",
            "submitted_on",
            datetime(2024, 6, 1, tzinfo=UTC),
            "coerced",
        ),
        ("submittedOn", "yesterday", "submitted_on", None, "nulled"),
        # objects
        ("leaveType", [{"key": 3, "value": "v"}], "leave_type_key", 3, "coerced@leave_type"),
        ("leaveType", "Vakantie", "leave_type_key", None, "nulled@leave_type"),
    ],
)
def test_each_rule(field: str, raw: Any, column: str, landed: Any, counted: str | None) -> None:
    item = {"id": "A", field: raw}
    meta, frame = parse_page(loket_page([item, {"id": "B"}]), LEAVE)
    assert frame.height == 2 and frame.schema == LEAVE.schema
    value = frame[column][0]
    assert value == (raw if landed is None and counted is None else landed), value
    assert frame["id"][1] == "B"  # the other row is untouched
    counts = by_column(meta)
    if counted is None:
        assert counts == {}
    else:
        kind, _, where = counted.partition("@")
        expected = (1, 0) if kind == "coerced" else (0, 1)
        assert counts == {(where or column, "values"): expected}


def test_integers_past_their_range_widen_the_column_and_keep_every_digit() -> None:
    items = [
        {"id": 1, "quantity": 5_000_000_000},  # past Int32: the column becomes Int64
        {"id": 123456789012345678901234567890, "quantity": 5e9},  # past Int64: text
        {"id": 3, "quantity": 2},
    ]
    meta, frame = parse_page(vends_page(items), VENDS)
    assert frame.schema["quantity"] == pl.Int64 and frame.schema["id"] == pl.String
    assert frame["quantity"].to_list() == [5_000_000_000, 5_000_000_000, 2]
    assert frame["id"].to_list() == ["1", "123456789012345678901234567890", "3"]
    counts = by_column(meta)
    assert counts == {("quantity", "values"): (2, 0), ("id", "values"): (1, 0)}
    arrived = {r["column"]: r["arrived"] for r in meta["drift"]}
    assert arrived["id"] == ["integer past Int64 (column kept as text)"]
    assert arrived["quantity"] == ["integer past Int32 (column widened to Int64)"]


def test_lossy_values_on_a_natively_decoded_page_are_counted() -> None:
    """Each body decodes natively (no decode error): the checks still see what the native
    decode or the conversions would have cut or nulled without a word."""
    cases = [
        ({"id": 1, "quantity": 1.7}, "quantity", None, (0, 1)),  # was silently 1
        ({"id": 1, "quantity": 5e9}, "quantity", 5_000_000_000, (1, 0)),  # was silently null
        ({"id": 10**30}, "id", "1" + "0" * 30, (1, 0)),  # was silently null
        ({"id": 1, "price": "abc"}, "price", None, (0, 1)),  # was silently null
        ({"id": 1, "price": 1.005}, "price", Decimal("1.00"), (1, 0)),  # rounded to cents
        ({"id": 1, "timestamp": 1e20}, "timestamp", None, (0, 1)),  # no time
    ]
    for item, column, landed, counts in cases:
        meta, frame = parse_page(vends_page([item]), VENDS)
        assert frame[column].to_list() == [landed], item
        assert by_column(meta) == {(column, "values"): counts}, item


def test_items_that_are_not_objects_become_rows_of_nulls() -> None:
    meta, frame = parse_page(loket_page([{"id": "A"}, 5, None, ["x"]]), LEAVE)
    assert frame.height == 4 == meta["item_count"]
    assert frame["id"].to_list() == ["A", None, None, None]
    assert by_column(meta) == {("(item)", "values"): (0, 2)}


def test_undeclared_fields_are_columns_or_reported_inside_lists() -> None:
    spec = schema_for("GetLeaveBalancesByEmployerId", explode=())
    item = {
        "id": "EM1",
        "brandNew": 5,
        "employee": {"id": "E1", "nickname": "Bo"},
        "leaveBalance": [{"year": 2024, "carriedOver": 1.5}, {"year": 2025, "carriedOver": 2}],
    }
    meta, frame = parse_page(loket_page([item]), spec)
    assert frame["brand_new"].to_list() == [5] and frame["employee_nickname"].to_list() == ["Bo"]
    records = {r["column"]: r for r in meta["drift"]}
    assert set(records) == {"brand_new", "employee_nickname", "leave_balance.carried_over"}
    inside = records["leave_balance.carried_over"]
    assert inside["kind"] == "undeclared" and inside["values"] == 2
    assert inside["path"] == "leaveBalance.carriedOver"
    assert inside["arrived"] == [
        "integer (inside a list: not kept)",
        "number (inside a list: not kept)",
    ]


def test_not_json_is_the_only_malformed_body() -> None:
    good = loket_page([{"id": "A", "numberOfUnits": "1.5"}])
    assert parse_page(good, LEAVE)[1]["number_of_units"].to_list() == [1.5]
    with pytest.raises(parse.ResponseFormatError, match="malformed or truncated JSON"):
        parse_page(good[:-3], LEAVE)
    # an integer past 64 bits is JSON: orjson would read it as a float, so it is read exactly
    meta, frame = parse_page(b'{"_embedded": [{"id": "A", "leaveType": {"key": 1e2}}]}', LEAVE)
    assert frame["leave_type_key"].to_list() == [100] and meta["drift"] == []


def test_examples_are_redacted_and_few() -> None:
    secret = "s3cr3t-token-value"
    items = [
        {"id": "A", "commentEmployee": {"access_token": secret, "note": "x"}},
        {"id": "B", "commentEmployee": {"password": secret}},
        {"id": "C", "commentEmployee": "https://x.test/a?api_key=" + secret},
        {"id": "D", "commentEmployee": {"n": 1}},
        {"id": "E", "commentEmployee": {"n": 2}},
        {"id": "F", "zzApiKey": secret},
    ]
    meta, _ = parse_page(loket_page(items), LEAVE)
    text = repr(meta["drift"]) + repr(drift_frame([("r", r) for r in meta["drift"]]).to_dicts())
    assert secret not in text
    record = {r["column"]: r for r in meta["drift"]}["comment_employee"]
    assert record["coerced"] == 4 and len(record["examples"]) == 3  # the URL is text: as sent
    assert record["examples"][0] == '{"access_token":"***","note":"x"}'
    assert redact_example(("zzApiKey",), secret) == "***"
    assert (
        redact_example(("url",), "https://x.test/?code=abc&x=1") == "https://x.test/?code=***&x=1"
    )
    assert len(redact_example(("n",), "y" * 500)) == 60
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    assert redact_example(("n",), deep).startswith("[[[")


def test_drift_of_converted_pages_lands_on_the_right_page() -> None:
    bodies = [
        vends_page([{"id": 1, "price": 1.5}]),
        vends_page([{"id": 2, "price": "abc"}, {"id": 3, "price": "x"}]),
        vends_page([{"id": 4, "quantity": 1.5}]),
        vends_page([{"id": 5}]),
    ]
    raws = [parse_page(b, VENDS, convert=False)[1] for b in bodies]
    frames = convert_raw(raws, VENDS)
    assert [f["id"].to_list() for f in frames] == [[1], [2, 3], [4], [5]]
    assert [by_column({"drift": r.drift}) for r in raws] == [
        {},
        {("price", "values"): (0, 2)},
        {("quantity", "values"): (0, 1)},
        {},
    ]


def test_counter_adds_up_and_the_frame_shows_it() -> None:
    counter = DriftCounter()
    for raw in ("a", "b", "c", "d"):
        counter.note(
            column="c", path=("c",), kind="values", declared="Int32", arrived="string", raw=raw,
            nulled=True,
        )  # fmt: skip
    (record,) = counter.records()
    assert (record["values"], record["nulled"], record["examples"]) == (4, 4, ["a", "b", "c"])
    frame = drift_frame([("vends", record), ("vends", record)])
    assert frame.height == 1 and frame["nulled"].to_list() == [8]
    assert frame.columns == [
        "resource", "column", "field", "kind", "declared", "arrived", "values", "coerced",
        "nulled", "examples",
    ]  # fmt: skip


# -- properties ------------------------------------------------------------------------------

#: The raw values a field may arrive with: its own type and the others, off-type on purpose.
any_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "12", " 7 ", "406.40", "1e3", "true", "FALSE", "0", "abc", "12,5"]),
    st.sampled_from(["2024-07-01", "2024-07-01T10:20:30Z", "2024-02-30", "2024-06-01T08:30:00"]),
    st.text(max_size=6),
    st.just({"nested": 1}),
    st.just([1, 2]),
)
meta_value = st.one_of(
    any_scalar,
    st.fixed_dictionaries({}, optional={"key": any_scalar, "value": any_scalar}),
    st.lists(st.fixed_dictionaries({}, optional={"key": any_scalar}), min_size=1, max_size=1),
)
#: API field → (output column, meta object or scalar)
LEAVE_FIELDS = {
    "id": "id",
    "startDate": "start_date",
    "submittedOn": "submitted_on",
    "numberOfUnits": "number_of_units",
    "isAccrual": "is_accrual",
    "commentEmployee": "comment_employee",
}
leave_item = st.one_of(
    st.fixed_dictionaries(
        {}, optional={**dict.fromkeys(LEAVE_FIELDS, any_scalar), "leaveType": meta_value}
    ),
    any_scalar,  # an item that is not an object
)
vend_item = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(["id", "quantity", "price", "timestamp", "selection"], any_scalar),
)
PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: A value the native decode takes as it is, so the drift report leaves it out (see tolerant.py)
_SAME_TO_NATIVE = re.compile(r"")


def _landed_or_counted(
    items: list[Any], meta: dict[str, Any], frame: pl.DataFrame, fields: dict[str, str]
) -> None:
    """Per field: every non-null raw value whose cell is null is counted as nulled (on the
    field, or on its object for a field of an object sent as a scalar); nothing else is."""
    records = {r["path"]: r for r in meta["drift"] if r["kind"] == "values"}
    for field, column in fields.items():
        lost = sum(
            1
            for row, it in enumerate(items)
            if isinstance(it, dict) and it.get(field) is not None and frame[column][row] is None
        )
        assert records.get(field, {"nulled": 0})["nulled"] == lost, (field, lost, records)


@PROPS
@given(st.lists(leave_item, max_size=6))
def test_tolerant_leave_pages_keep_every_row_and_count_every_loss(items: list[Any]) -> None:
    body = loket_page(items)
    meta, frame = parse_page(body, LEAVE)
    assert frame.height == len(items) == meta["item_count"]  # rows in = rows out
    _landed_or_counted(items, meta, frame, LEAVE_FIELDS)
    objects = [it.get("leaveType") for it in items if isinstance(it, dict)]
    # an object arrives whole or as a list of one object; anything else is nulled and counted
    unfit = [
        v
        for v in objects
        if v is not None
        and not isinstance(v, dict)
        and not (isinstance(v, list) and len(v) == 1 and isinstance(v[0], dict))
    ]
    nulled = {r["column"]: r["nulled"] for r in meta["drift"] if r["kind"] == "values"}
    assert nulled.get("leave_type", 0) == len(unfit)
    # the tolerant path alone gives the same frame and the same counts as whichever path ran
    again_meta, again = parse._tolerant_page(body, LEAVE, path_ids=None, url=None, page=1)
    assert again.equals(frame)
    assert by_column(again_meta) == by_column(meta)


@PROPS
@given(st.lists(vend_item, max_size=6))
def test_tolerant_vend_pages_keep_every_row_and_count_every_loss(items: list[Any]) -> None:
    body = vends_page(items)
    meta, frame = parse_page(body, VENDS)
    assert frame.height == len(items) == meta["item_count"]
    _landed_or_counted(items, meta, frame, {c: c for c in ("id", "quantity", "price", "selection")})
    again_meta, again = parse._tolerant_page(body, VENDS, path_ids=None, url=None, page=1)
    assert again.equals(frame)
    assert by_column(again_meta) == by_column(meta)


def test_clean_bodies_report_nothing() -> None:
    body = orjson.dumps(
        {
            **ENV,
            "_embedded": [
                {
                    "id": "A",
                    "startDate": "2024-07-01",
                    "submittedOn": "2024-06-01T08:30:00+02:00",
                    "handledTime": "2024-06-02T10:00:00.5Z",
                    "numberOfUnits": 8,
                    "leaveType": {"key": 1, "value": "Verlof"},
                    "isAccrual": False,
                }
            ],
        }
    )
    assert parse_page(body, LEAVE)[0]["drift"] == []
