"""``Loket.get`` over every JSON GET operation of the real API, against random spec-valid bodies.

The list of operations comes from ``../shared/specs/loket-operations.csv`` (the ``_embedded`` /
``content`` envelope rows: 296), the bodies from ``spec_data`` (built from the OpenAPI description
itself, not from the package's catalogue). A paged endpoint answers two consistent pages (3 + 2
items); the expected row count is computed here from the bodies, exploding the arrays the
loaders explode by default.
"""

from __future__ import annotations

import csv
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

OPERATIONS_CSV = spec_data.SPEC.parent / "loket-operations.csv"

pytestmark = pytest.mark.skipif(
    not OPERATIONS_CSV.exists(), reason="../shared/specs (the Loket API description) is absent"
)

PAGE_SIZE = 3
PAGE_ITEMS = (3, 2)


def _operations() -> list[tuple[str, str]]:
    if not OPERATIONS_CSV.exists():
        return []
    with OPERATIONS_CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        (r["path"], r["operationId"] or r["path"])
        for r in rows
        if r["method"] == "GET"
        and "application/json" in r["response_content_types"]
        and ("_embedded" in r["envelope"] or "content" in r["envelope"])
    ]


OPERATIONS = _operations()


def test_operation_count() -> None:
    assert len(OPERATIONS) == 296


def _required_query(op: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in op.get("parameters", []):
        if p.get("in") != "query" or not p.get("required"):
            continue
        schema = p.get("schema") or {}
        if schema.get("type") == "array":
            out[p["name"]] = [1]
        elif schema.get("format") == "date":
            out[p["name"]] = "2024-01-31"
        elif schema.get("type") == "integer":
            out[p["name"]] = 2024
        elif schema.get("format") == "uuid":
            out[p["name"]] = "B14ACD0D-75D7-4FC8-8B22-4A3924585CAB"
        else:
            out[p["name"]] = "x"
    return out


def _rows(obj: Any, prefix: str, explode: frozenset[str]) -> int:
    """Rows one item becomes when the default arrays are exploded (empty/null array: 1 row)."""
    if not isinstance(obj, dict):
        return 1
    n = 1
    for key, value in obj.items():
        path = f"{prefix}.{key}" if prefix else key
        if path in explode and isinstance(value, list):
            n *= sum(_rows(v, path, explode) for v in value) if value else 1
        elif isinstance(value, dict):
            n *= _rows(value, path, explode)
    return n


def _items(body: Any) -> list[Any]:
    if isinstance(body, list):
        return body
    inner = body.get("_embedded", body.get("content"))
    if inner is None:
        return []
    return inner if isinstance(inner, list) else [inner]


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
    contents = op["responses"]["200"]["content"]
    media = f"application/json;version={served}"
    if media not in contents:
        media = next(c for c in contents if c.startswith("application/json"))
    schema = contents[media]["schema"]
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
        df = loket.get(template, params=_required_query(op), **path_params)
    spec = schema_for(entry, served)
    assert dict(df.schema) == dict(spec.schema)
    expected = sum(_rows(it, "", DEFAULT_EXPLODE) for b in sent for it in _items(b))
    assert df.height == expected
    for param, column in spec.path_columns:
        assert df[column].to_list() == [path_params[param]] * df.height
    loket.close()
    probe.close()
    assert isinstance(df, pl.DataFrame)
