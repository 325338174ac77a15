"""``Loket.get`` over every JSON GET operation, against a server that follows the schemas loosely.

A loopback HTTP server answers each of the 296 operations with bodies from
:class:`tests.spec_data.Hostile`: numbers as text, integers far outside their range, objects
where scalars are declared, date-times for dates, ``"true"`` for booleans, nulls where the
schema says non-nullable, uuids in braces, undeclared and missing fields, a list of objects sent
as its one object; paged operations also get nonsense paging numbers (page 1 answered as another
page, the numbers as text, negative totals, a total far too large). The generator writes down
what it planted, by the README's rules, so each load is checked against that ground truth:

* a frame for every operation: every declared column, in its dtype (an integer column widened
  only where the drift report says so);
* rows = the items served on the pages fetched (arrays exploded as the loader explodes them);
* the drift report counts exactly the values planted as coerced and as nulled, per field, and
  every undeclared field; lossless oddities are not counted;
* one SchemaDriftWarning per load that drifted, none otherwise.
"""

from __future__ import annotations

import json
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

from loketvalinso import Loket
from loketvalinso._frames.spec import DEFAULT_EXPLODE, schema_for
from loketvalinso.errors import SchemaDriftWarning
from tests import spec_data
from tests.loopback import Loopback, Request

pytestmark = spec_data.needs_operations
PAGE_SIZE, PAGE_ITEMS = spec_data.PAGE_SIZE, spec_data.PAGE_ITEMS
OPERATIONS = spec_data.json_get_endpoints()
#: How page 1 (and the pages after it) describe the paging, per operation.
PAGING_MODES = ("consistent", "first page answers page 3", "as text", "negative", "total too big")


@pytest.fixture(scope="module")
def server() -> Iterator[Loopback]:
    with Loopback() as loopback:
        yield loopback


def _paging(mode: str, page: int, size: int) -> dict[str, Any]:
    """The paging fields a listing of 5 items in pages of ``size`` answers page ``page`` with."""
    fields: dict[str, Any] = {
        "currentPage": page,
        "pageSize": size,
        "totalPages": 2,
        "totalSize": 5,
    }
    if mode == "first page answers page 3" and page == 1:
        fields["currentPage"] = 3
    elif mode == "as text":
        fields = {k: str(v) for k, v in fields.items()}
    elif mode == "negative":
        fields.update(totalPages=-1, totalSize=-5)
    elif mode == "total too big":
        fields.update(totalSize=40)  # 14 pages announced by the size, 2 by totalPages
    return fields


def _sums(drift: pl.DataFrame, kind: str, column: str) -> Counter[str]:
    rows = drift.filter(pl.col("kind") == kind).group_by("field").agg(pl.col(column).sum())
    return Counter({f: int(n) for f, n in rows.iter_rows() if n})


@pytest.mark.parametrize(("template", "operation_id"), OPERATIONS, ids=[o for _, o in OPERATIONS])
def test_hostile_bodies_every_json_endpoint(
    template: str, operation_id: str, server: Loopback
) -> None:
    op = spec_data.spec()["paths"][template]["get"]
    stable = zlib.crc32(operation_id.encode())
    gen = spec_data.Hostile(stable % 10_000, null_rate=0.2, missing_rate=0.1, rate=0.15)
    mode = PAGING_MODES[stable % len(PAGING_MODES)]
    sent: list[Any] = []
    with Loket(base_url=server.url + "/v2", access_token="t", cache=False, progress=False) as probe:
        entry = probe._entry(operation_id)
        served = probe.resolve_version(operation_id)
    media, schema = spec_data.response_schema(op, served)

    def answer(request: Request) -> tuple[int, dict[str, str], bytes]:
        page = int(request.param("pageNumber", "1") or 1)
        size = int(request.param("pageSize", str(PAGE_SIZE)) or PAGE_SIZE)
        body = gen.body(schema, n_items=PAGE_ITEMS[page - 1] if page <= len(PAGE_ITEMS) else 0)
        if isinstance(body, dict) and "currentPage" in body:
            listed = isinstance(body.get("_embedded", body.get("content")), list)
            if listed:
                body.update(_paging(mode, page, size))
            else:  # a single object ("content" with paging fields) is one page of one item
                body.update(currentPage=page, pageSize=size, totalPages=1, totalSize=1)
        if isinstance(body, dict) and "version" in body:
            body["version"] = {"resourceVersion": served, "obsoleteDate": None}
        sent.append(body)
        # the standard library writes the integers past 64 bits the plan includes
        return 200, {"Content-Type": media}, json.dumps(body).encode()

    server.answer = answer
    path_params = {p[0]: f"id-{p[0].lower()}" for p in entry["path_params"]}
    with (
        Loket(
            base_url=server.url + "/v2",
            access_token="t",
            cache=False,
            progress=False,
            page_size=PAGE_SIZE,
        ) as loket,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        df = loket.get(template, params=spec_data.required_query(op), **path_params)
        report = loket.last_load
    assert report is not None and report.status in ("ok", "warning")
    drift = report.drift

    # every declared column, in its dtype unless the report says it was widened (a field
    # inside a list column is reported as "<column>.<field>")
    spec = schema_for(entry, served)
    widened = set(drift.filter(pl.col("arrived").str.contains("integer past"))["column"])
    for name, dtype in spec.schema.items():
        assert name in df.columns, name
        if name in widened:
            assert df.schema[name] in (pl.Int64, pl.String), name
        elif any(w.startswith(f"{name}.") for w in widened):
            assert type(df.schema[name]) is type(dtype), name
        else:
            assert df.schema[name] == dtype, (name, df.schema[name], dtype)

    # rows = the items served on the pages fetched
    items = [it for body in sent for it in spec_data.body_items(body)]
    assert df.height == sum(spec_data.exploded_rows(it, "", DEFAULT_EXPLODE) for it in items)
    assert report.rows == df.height
    for param, column in spec.path_columns:
        assert df[column].to_list() == [path_params[param]] * df.height

    # the drift report accounts for every value planted off the schema, and no other
    planted = gen.planted
    assert _sums(drift, "values", "coerced") == +planted.coerced
    assert _sums(drift, "values", "nulled") == +planted.nulled
    assert _sums(drift, "undeclared", "values") == +planted.undeclared
    drift_warnings = [w for w in caught if issubclass(w.category, SchemaDriftWarning)]
    assert len(drift_warnings) == (1 if drift.height else 0)
    if drift_warnings:
        assert operation_id in str(drift_warnings[0].message)
