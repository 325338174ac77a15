"""Flattened rows back to the API's nesting: the same names a read gives, the same nesting the
request schema has, values in the JSON the API takes. Ground truth: bodies the mock renders."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import orjson
import polars as pl
import pytest

from loketvalinso._catalog import Node, get_catalog
from loketvalinso._frames.parse import parse_page
from loketvalinso._frames.spec import schema_for
from loketvalinso._frames.unflatten import BodyShape, body_shape, json_value
from loketvalinso.errors import ConfigurationError
from loketvalinso.mock.loket_render import LoketRenderer

LEAVE_REQUEST = "/providers/employers/employees/employments/leaverequests/{leaveRequestId}"
EMPLOYEE = "/providers/employers/employees/{employeeId}"


def shape_of(method: str, path: str, version: str) -> BodyShape:
    catalog = get_catalog()
    write = catalog.find_write(method, path)
    return body_shape(write["schemas"][version], catalog.nodes, what=f"the {method} body")


def read_row(path: str, version: str, item: dict) -> pl.DataFrame:
    """``item`` as a read of ``path`` returns it (the real parse path, one row)."""
    body = orjson.dumps({"content": item, "version": {"resourceVersion": version}, "messages": []})
    _, frame = parse_page(body, schema_for(get_catalog().find(path), version))
    return frame


def writable(item: dict, shape: BodyShape) -> dict:
    """``item`` without what the request schema marks read-only, written independently of
    :class:`BodyShape`: straight from the schema's nodes (nulls the schema does not allow left
    out, objects left empty dropped)."""
    nodes = get_catalog().nodes

    def prune(value: dict, node: Node) -> dict:
        out = {}
        for child in nodes[node.extra] if isinstance(node.extra, int) else node.extra:
            if child.read_only or child.name not in value:
                continue
            kept = value[child.name]
            if child.type == "object" and isinstance(kept, dict):
                kept = prune(kept, child)
                if not kept:
                    continue
            if kept is None and not child.nullable:
                continue
            out[child.name] = kept
        return out

    return prune(item, shape.item)


@pytest.fixture(scope="module")
def renderer(world) -> LoketRenderer:
    return LoketRenderer(world)


def test_columns_are_the_names_a_read_gives() -> None:
    catalog = get_catalog()
    for method, path, version in (
        ("PUT", LEAVE_REQUEST, "2018-01-01"),
        ("PUT", EMPLOYEE, "2021-03-29"),
        ("PUT", EMPLOYEE, "2018-12-31"),
    ):
        shape = shape_of(method, path, version)
        read = schema_for(catalog.find(path), version).columns
        # every body column is a column of the read; the read adds only its path id
        assert set(shape.fields) <= set(read)
        assert set(read) - set(shape.fields) == {catalog.find(path)["path_params"][0][3]}


@pytest.mark.parametrize("status", [1, 2, 3])
def test_a_read_leave_request_goes_back_to_its_writable_json(world, renderer, status) -> None:
    row = world.leave_requests.filter(pl.col("leave_request_status_key") == status).row(
        0, named=True
    )
    item = orjson.loads(orjson.dumps(renderer.leave_request(row)))
    shape = shape_of("PUT", LEAVE_REQUEST, "2018-01-01")
    frame = read_row(LEAVE_REQUEST, "2018-01-01", item)
    columns = shape.columns(frame, ignore={"leave_request_id"})
    assert shape.body(columns) == writable(item, shape)


@pytest.mark.parametrize("version", ["2018-12-31", "2021-03-29"])
def test_a_read_employee_goes_back_to_its_nested_json(world, renderer, version) -> None:
    item = orjson.loads(
        orjson.dumps(renderer.employee(world.employees.row(3, named=True), version))
    )
    shape = shape_of("PUT", EMPLOYEE, version)
    frame = read_row(EMPLOYEE, version, item)
    body = shape.body(shape.columns(frame, ignore={"employee_id"}))
    assert body == writable(item, shape)
    # nested objects come back nested, metadata as {key}, the read-only value left out
    assert body["personalDetails"]["gender"] == {"key": item["personalDetails"]["gender"]["key"]}
    assert body["address"]["city"] == item["address"]["city"]
    assert ("businessEmailAddress" in body["contactInformation"]) is (version >= "2021-03-29")


def test_the_api_json_is_taken_as_is_and_read_only_fields_are_dropped(world, renderer) -> None:
    row = world.leave_requests.row(0, named=True)
    item = orjson.loads(orjson.dumps(renderer.leave_request(row)))
    shape = shape_of("PUT", LEAVE_REQUEST, "2018-01-01")
    assert shape.body(shape.columns(item)) == writable(item, shape)
    partial = shape.columns({"commentHandler": "ok", "leaveType": {"key": 15, "value": "x"}})
    assert partial == {"comment_handler": "ok", "leave_type_key": 15, "leave_type": "x"}
    assert shape.body(partial) == {"commentHandler": "ok", "leaveType": {"key": 15}}


def test_an_unknown_field_is_named_with_the_closest_ones() -> None:
    shape = shape_of("PUT", LEAVE_REQUEST, "2018-01-01")
    with pytest.raises(
        ConfigurationError, match=r"'coment_handler' \(did you mean comment_handler"
    ):
        shape.columns({"coment_handler": "x", "start_date": "2026-01-01"})
    with pytest.raises(ConfigurationError, match="one-row DataFrame, got 2 rows"):
        shape.columns(pl.DataFrame({"comment_handler": ["a", "b"]}))


def test_array_bodies_and_values() -> None:
    shape = shape_of(
        "PATCH", "/providers/employers/employees/employments/leaverequests", "2018-01-01"
    )
    assert shape.is_array and set(shape.fields) == {"id", "action"}
    assert shape.body({"id": "A", "action": "accept"}) == {"id": "A", "action": "accept"}
    date_node = Node("d", "string", "date", 0, None)
    moment = Node("t", "string", "date-time", 1, None)
    assert json_value(date_node, date(2026, 7, 1)) == "2026-07-01"
    assert json_value(date_node, datetime(2026, 7, 1, 23, 0)) == "2026-07-01"
    assert json_value(moment, datetime(2026, 7, 1, 12, tzinfo=UTC)) == "2026-07-01T12:00:00Z"
    assert json_value(moment, datetime(2026, 7, 1, 12)) == "2026-07-01T12:00:00Z"  # naive = UTC
    assert json_value(Node("n", "number", "double", 0, None), Decimal("1.50")) == 1.5
    assert json_value(Node("i", "integer", "int32", 0, None), 3.0) == 3
    assert json_value(Node("j", "any", None, 1, None), '{"a": 1}') == {"a": 1}
