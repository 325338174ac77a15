"""Undeclared fields: the one-pass read of top-level fields (``extras.top_level_fields``) gives the
same columns, dtypes, values and drift records as the walk item by item, key by key, on every
page, whether the page is converted alone (``parse_page``) or with others (``convert_raw``)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loketvalinso._frames import extras, parse
from loketvalinso._frames.drift import DriftCounter, json_kind
from loketvalinso._frames.parse import convert_raw, is_raw, parse_page
from loketvalinso._frames.spec import FrameSpec, schema_for, valinso_spec
from loketvalinso._json import dumps_text, has_long_integers

VENDS = valinso_spec("vends")
#: A flat Loket resource with a path column (``employment_id``).
WACHTGELD = schema_for("GetWachtgeldByEmploymentId")
PATH_IDS = {"employmentId": "E1"}

Pairs = list[tuple[str, Any]]


@contextmanager
def walked() -> Iterator[list[int]]:
    """Every page's undeclared fields found by the walk (the one-pass read refused); yields the
    number of pages the one-pass read was asked about."""
    asked: list[int] = []

    def refuse(body: bytes, spec: FrameSpec) -> None:
        asked.append(1)

    with mock.patch.object(parse, "top_level_fields", refuse):
        yield asked


def one_pass_calls() -> tuple[list[bool], Any]:
    """A spy on ``top_level_fields``: whether each call read the page in one pass."""
    taken: list[bool] = []
    original = extras.top_level_fields

    def spy(body: bytes, spec: FrameSpec) -> Any:
        found = original(body, spec)
        taken.append(found is not None)
        return found

    return taken, mock.patch.object(parse, "top_level_fields", spy)


def page_body(items: list[Pairs], *, envelope: str, sep: str = ":") -> bytes:
    """A page written key by key (so that an item may repeat a key, or space its colons)."""
    written = [
        "{" + ",".join(json.dumps(k) + sep + json.dumps(v) for k, v in pairs) + "}"
        for pairs in items
    ]
    rows = "[" + ",".join(written) + "]"
    if envelope == "valinso":
        paging = {"total": len(items), "offset": 0, "limit": 1000}
        return f'{{"code":200,"result":{rows},"paging":{json.dumps(paging)}}}'.encode()
    head = f'{{"currentPage":1,"pageSize":250,"totalPages":1,"totalSize":{len(items)},'
    return f'{head}"messages":[],"_embedded":{rows}}}'.encode()


def assert_same(fast: tuple[dict[str, Any], pl.DataFrame], slow: tuple[Any, Any]) -> None:
    assert_frame_equal(fast[1], slow[1], check_exact=True)
    assert fast[1].columns == slow[1].columns
    assert fast[0]["drift"] == slow[0]["drift"]


def both_ways(body: bytes, spec: FrameSpec, path_ids: dict[str, str] | None = None) -> None:
    """The page alone and converted with a clean copy of itself: the same either way."""
    fast = parse_page(body, spec, path_ids=path_ids)
    with walked():
        slow = parse_page(body, spec, path_ids=path_ids)
    assert_same(fast, slow)

    def together() -> list[tuple[pl.DataFrame, list[Any]]]:
        raws = [parse_page(b, spec, convert=False)[1] for b in (body, body)]
        if not all(is_raw(r) for r in raws):  # converted at once (tolerant, free-form)
            return []
        frames = convert_raw(raws, spec, path_ids)
        return [(f, r.drift) for f, r in zip(frames, raws, strict=True)]

    fast_pages = together()
    with walked():
        slow_pages = together()
    assert len(fast_pages) == len(slow_pages)
    for (f_frame, f_drift), (s_frame, s_drift) in zip(fast_pages, slow_pages, strict=True):
        assert_frame_equal(f_frame, s_frame, check_exact=True)
        assert f_drift == s_drift
    if fast_pages:  # the page converted with others equals the page converted alone
        assert_frame_equal(fast_pages[0][0], fast[1], check_exact=True)


# -- generated pages --------------------------------------------------------------------------

extra_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, -0.0, 1.0, 2.5, 1e300, 2.0**63, -(2.0**63), 9007199254740993.0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "12", "1.5", "true", "abc", "https://x.test/a?api_key=s3cr3t&x=1"]),
    st.text(max_size=70),
    st.just({"nested": 1, "password": "s3cr3t"}),
    st.just([1, {"a": None}]),
)
#: What a field new to the API sends: mostly one kind of value (or null), sometimes anything.
field_values = st.sampled_from(
    [
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False)),
        st.one_of(st.none(), st.integers(-(2**60), 2**60), st.sampled_from([0.5, -0.0, 2.0**53])),
        st.one_of(st.none(), st.text(max_size=70), st.sampled_from(["12", "true", "x?token=a"])),
        st.one_of(st.none(), st.booleans()),
        st.one_of(st.none(), st.booleans(), st.integers(0, 1)),
        st.none(),
        extra_value,
    ]
)
#: Undeclared names: new in either spelling, odd, empty, declared elsewhere, the secrets'.
VALINSO_EXTRAS = ["qty", "note", "newField", "a b", "", "*", "qty_2", "api_key", "id"]
LOKET_EXTRAS = ["newField", "new_field", "employmentId", "accessToken", "value", "x.y"]
VALINSO_DECLARED: dict[str, st.SearchStrategy[Any]] = {
    "id": st.integers(1, 10**6),
    "quantity": st.integers(0, 9),
    "price": st.one_of(st.sampled_from([0.9, 1.5, "2.50"]), st.none()),
    "selection": st.sampled_from(["A1", "B:2"]),
    "timestamp": st.integers(1_600_000_000, 1_800_000_000),
}
LOKET_DECLARED: dict[str, st.SearchStrategy[Any]] = {
    "id": st.sampled_from(["W1", "W2"]),
    "startDate": st.sampled_from(["2024-01-01", "2024-02-30"]),
    "value": st.one_of(st.floats(-1e6, 1e6), st.none()),
}


@st.composite
def pages(
    draw: st.DrawFn, declared: dict[str, st.SearchStrategy[Any]], names: list[str], size: int
) -> list[Pairs]:
    """Items with up to three undeclared fields (each with its own kind of values), in any key
    order; now and then an item repeats a key with another value."""
    chosen = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    extra = {name: draw(field_values) for name in chosen}
    items = draw(st.lists(st.fixed_dictionaries({}, optional={**declared, **extra}), max_size=size))
    out = [draw(st.permutations(list(item.items()))) for item in items]
    if out and out[0] and draw(st.integers(0, 4)) == 0:
        out[0] = [*out[0], (out[0][0][0], draw(extra_value))]
    return out


PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEPARATORS = st.sampled_from([":", ":", ": ", " : "])


@PROPS
@given(pages(VALINSO_DECLARED, VALINSO_EXTRAS, 8), SEPARATORS)
def test_vends_pages_give_the_same_frame_and_drift_either_way(items: list[Pairs], sep: str) -> None:
    both_ways(page_body(items, envelope="valinso", sep=sep), VENDS)


@PROPS
@given(pages(LOKET_DECLARED, LOKET_EXTRAS, 6), SEPARATORS)
def test_flat_loket_pages_give_the_same_frame_and_drift_either_way(
    items: list[Pairs], sep: str
) -> None:
    both_ways(page_body(items, envelope="loket", sep=sep), WACHTGELD, PATH_IDS)


# -- the usual case goes the quick way --------------------------------------------------------


def _vend(i: int) -> Pairs:
    return [
        ("id", i),
        ("device_id", 3),
        ("selection", "A1"),
        ("price", 1.5),
        ("timestamp", 1_700_000_000 + i),
        ("qty", i % 3),
    ]


def test_a_renamed_field_is_read_in_one_pass_with_its_drift() -> None:
    body = page_body([_vend(i) for i in range(50)], envelope="valinso")
    taken, spy = one_pass_calls()
    with spy:
        meta, frame = parse_page(body, VENDS)
    assert taken == [True]
    assert frame.schema["qty"] == pl.Int64 and frame["qty"].to_list() == [i % 3 for i in range(50)]
    assert frame["quantity"].null_count() == 50  # the declared field never arrived
    (record,) = meta["drift"]
    assert record == {
        "column": "qty",
        "path": "qty",
        "kind": "undeclared",
        "declared": None,
        "arrived": ["integer"],
        "values": 50,
        "coerced": 0,
        "nulled": 0,
        "examples": ["0", "1", "2"],
    }
    both_ways(body, VENDS)


def test_pages_converted_together_read_their_undeclared_fields_without_a_second_decode() -> None:
    bodies = [
        page_body([_vend(i + 10 * k) for i in range(10)], envelope="valinso") for k in range(4)
    ]
    bodies[2] = page_body([[*_vend(i), ("note", "hi")] for i in range(20, 30)], envelope="valinso")
    raws = [parse_page(b, VENDS, convert=False)[1] for b in bodies]
    taken, spy = one_pass_calls()
    with spy, mock.patch.object(parse, "parse_page", side_effect=AssertionError("decoded again")):
        frames = convert_raw(raws, VENDS)
    assert taken == [True, True, True, True]  # every page has "qty"; none is decoded again
    assert [f.height for f in frames] == [10, 10, 10, 10]
    assert frames[2]["note"].to_list() == ["hi"] * 10 and "note" not in frames[1].columns
    assert [r["column"] for r in raws[2].drift] == ["qty", "note"]
    assert pl.concat(frames, how="diagonal")["qty"].to_list() == [i % 3 for i in range(40)]


@pytest.mark.parametrize(
    ("why", "items", "sep"),
    [
        ("a key repeated: the walk keeps its first value", [[*_vend(1), ("qty", 9)]], ":"),
        ("an integer past 64 bits", [[*_vend(1), ("big", 2**70)]], ":"),
        ("a repeated key, spaced", [[*_vend(1), ("note", None), ("note", "x")]], ": "),
        (
            "a long number inside an object",
            [[*_vend(1), ("deep", {"n": 2**65})]],
            ":",
        ),
    ],
)
def test_pages_the_one_pass_read_cannot_match_go_the_walk(
    why: str, items: list[Pairs], sep: str
) -> None:
    body = page_body(items, envelope="valinso", sep=sep)
    taken, spy = one_pass_calls()
    with spy:
        parse_page(body, VENDS)
    # never read in one pass (older Polars do not decode such a page natively at all: it goes
    # the tolerant way without asking)
    assert taken in ([False], []), why
    both_ways(body, VENDS)


def test_nested_undeclared_fields_keep_the_walk() -> None:
    spec = schema_for("GetLeaveBalancesByEmployerId", explode=())
    assert extras.top_level_fields(b'{"_embedded":[{"id":"E","brandNew":1}]}', spec) is None
    assert extras.top_level_fields(page_body([_vend(1)], envelope="valinso"), VENDS) is not None


# -- the column rules, against the rules as written value by value ------------------------------


def _loose_one_by_one(name: str, values: list[Any]) -> pl.Series:
    """The column rule of an undeclared field, value by value (as the walk applied it before
    columns were typed in one pass)."""
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {bool} and kinds:
        return pl.Series(name, values, dtype=pl.Boolean)
    if kinds <= {int} and kinds and all(-(2**63) <= v < 2**63 for v in values if v is not None):
        return pl.Series(name, values, dtype=pl.Int64)
    if (
        kinds <= {int, float}
        and kinds
        and all(isinstance(v, float) or abs(v) < 2**53 for v in values if v is not None)
    ):
        floats = [None if v is None else float(v) for v in values]
        if all(v is None or math.isfinite(v) for v in floats):
            return pl.Series(name, floats, dtype=pl.Float64)
    if kinds <= {str}:
        return pl.Series(name, values, dtype=pl.String)
    texts = [None if v is None else v if isinstance(v, str) else dumps_text(v) for v in values]
    return pl.Series(name, texts, dtype=pl.String)


column_values = field_values.flatmap(lambda values: st.lists(values, max_size=12))


@PROPS
@given(column_values)
def test_a_column_is_typed_as_its_values_one_by_one_say(values: list[Any]) -> None:
    assert_frame_equal(
        extras.loose_series("x", values).to_frame(),
        _loose_one_by_one("x", values).to_frame(),
        check_exact=True,
    )


def test_objects_and_arrays_are_kept_as_compact_json_text() -> None:
    values = [{"nested": 1, "password": "s"}, [1, {"a": None}], None, "text", 2**70, 1.5, True]
    assert extras.loose_series("x", values).to_list() == [
        '{"nested":1,"password":"s"}',
        '[1,{"a":null}]',
        None,
        "text",
        str(2**70),
        "1.5",
        "true",
    ]


@PROPS
@given(column_values, st.sampled_from([("qty",), ("apiKey",), ("url",)]))
def test_a_column_is_counted_as_its_values_one_by_one(
    values: list[Any], path: tuple[str, ...]
) -> None:
    at_once, one_by_one = DriftCounter(), DriftCounter()
    at_once.note_undeclared(column="c", path=path, values=values)
    for v in values:
        if v is not None:
            one_by_one.note(
                column="c",
                path=path,
                kind="undeclared",
                declared=None,
                arrived=json_kind(v),
                raw=v,
            )
    assert at_once.records() == one_by_one.records()


@given(st.binary(max_size=80), st.integers(15, 22))
def test_long_integers_are_found_by_their_run_of_digits(head: bytes, digits: int) -> None:
    body = head + b"7" * digits + head
    assert has_long_integers(body) == (re.search(rb"[0-9]{19}", body) is not None)
    assert has_long_integers(head) == (re.search(rb"[0-9]{19}", head) is not None)
