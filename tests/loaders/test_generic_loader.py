"""``Loket.get`` over every JSON GET operation of the real API, against random spec-valid bodies.

The list of operations comes from ``../shared/specs/loket-operations.csv`` (the ``_embedded`` /
``content`` envelope rows: 296), the bodies from ``spec_data`` (built from the OpenAPI description
itself, not from the package's catalogue). A paged endpoint answers two consistent pages (3 + 2
items); the expected row count is computed here from the bodies, exploding the arrays the
loaders explode by default.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import orjson
import polars as pl
import pytest

from loketvalinso import Loket
from loketvalinso._frames.spec import DEFAULT_EXPLODE, schema_for
from loketvalinso.errors import LoketValinsoWarning
from tests import spec_data

pytestmark = spec_data.needs_operations
PAGE_SIZE, PAGE_ITEMS = spec_data.PAGE_SIZE, spec_data.PAGE_ITEMS
OPERATIONS = spec_data.json_get_endpoints()


def test_operation_count() -> None:
    assert len(OPERATIONS) == 296


@pytest.mark.parametrize(("template", "operation_id"), OPERATIONS, ids=[o for _, o in OPERATIONS])
def test_get_every_json_endpoint(template: str, operation_id: str) -> None:
    op = spec_data.spec()["paths"][template]["get"]
    probe = Loket(
        base_url="http://mock.local/v2",
        access_token="t",
        cache=False,
        progress=False,
        allow_insecure=True,
    )
    entry = probe._entry(operation_id)
    served = probe.resolve_version(operation_id)
    media, schema = spec_data.response_schema(op, served)
    gen = spec_data.Gen(hash(operation_id) % 10_000, null_rate=0.2, missing_rate=0.1)
    sent: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"] == f"application/json;version={served}"
        page = int(request.url.params.get("pageNumber", "1"))
        body = gen.body(schema, n_items=PAGE_ITEMS[page - 1] if page <= 2 else 0)
        if isinstance(body, dict) and "currentPage" in body:
            # A single object ("content" with paging fields) is one page of one item.
            listed = isinstance(body.get("_embedded", body.get("content")), list)
            body.update(
                currentPage=page,
                pageSize=int(request.url.params.get("pageSize", PAGE_SIZE)),
                totalPages=2 if listed else 1,
                totalSize=sum(PAGE_ITEMS) if listed else 1,
            )
        if isinstance(body, dict) and "version" in body:
            body["version"] = {"resourceVersion": served, "obsoleteDate": None}
        sent.append(body)
        return httpx.Response(200, content=orjson.dumps(body), headers={"Content-Type": media})

    loket = Loket(
        base_url="http://mock.local/v2",
        access_token="t",
        transport=httpx.MockTransport(answer),
        cache=False,
        progress=False,
        page_size=PAGE_SIZE,
        allow_insecure=True,
    )
    path_params = {p[0]: f"id-{p[0].lower()}" for p in entry["path_params"]}
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error", LoketValinsoWarning
        )  # consistent pages: no paging warning may be issued
        df = loket.get(template, params=spec_data.required_query(op), **path_params)
    spec = schema_for(entry, served)
    assert dict(df.schema) == dict(spec.schema)
    expected = sum(
        spec_data.exploded_rows(it, "", DEFAULT_EXPLODE)
        for b in sent
        for it in spec_data.body_items(b)
    )
    assert df.height == expected
    for param, column in spec.path_columns:
        assert df[column].to_list() == [path_params[param]] * df.height
    loket.close()
    probe.close()
    assert isinstance(df, pl.DataFrame)
