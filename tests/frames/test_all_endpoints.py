"""``parse_page`` over every JSON GET operation × version, with random bodies built from the spec."""

from __future__ import annotations

import orjson
import pytest

from loketvalinso._catalog import get_catalog
from loketvalinso._frames.parse import parse_page
from loketvalinso._frames.spec import schema_for
from tests import spec_data

pytestmark = pytest.mark.skipif(
    not spec_data.SPEC.exists(), reason="../shared/specs/loket-openapi.json is not present"
)

SEEDS = (0, 1, 2)


def _cases() -> list[tuple[str, str]]:
    if not spec_data.SPEC.exists():
        return []
    return [(p, ct) for p, ct, _ in spec_data.json_get_operations()]


@pytest.fixture(scope="module")
def schemas() -> dict[tuple[str, str], dict]:
    return {(p, ct): s for p, ct, s in spec_data.json_get_operations()}


def _n_items(body: object) -> int:
    if isinstance(body, list):
        return len(body)
    emb = body.get("_embedded", body.get("content"))  # type: ignore[union-attr]
    if emb is None:
        return 0
    return len(emb) if isinstance(emb, list) else 1


@pytest.mark.parametrize(("path", "ctype"), _cases())
def test_every_json_get(path: str, ctype: str, schemas: dict) -> None:
    cat = get_catalog()
    entry = cat.find(path.rstrip('"').replace("{employmerId}", "{employerId}"))
    label = ctype.partition("version=")[2]
    flat = schema_for(entry, label, explode=())
    exploded = schema_for(entry, label)
    ids = {p[0]: f"id-{p[0]}" for p in entry["path_params"]}
    for seed in SEEDS:
        gen = spec_data.Gen(seed, null_rate=0.3 if seed else 0.0, missing_rate=0.2 * seed)
        body = gen.body(schemas[(path, ctype)], n_items=[3, 0, 5][seed])
        raw = orjson.dumps(body)
        meta, df = parse_page(raw, flat, path_ids=ids, url=path, page=1)
        assert df.schema == flat.schema, f"seed {seed}"
        assert df.height == _n_items(body) == meta["item_count"]
        for _, col in flat.path_columns:
            assert (
                df[col].to_list() == [ids[p] for p, c in flat.path_columns if c == col] * df.height
            )
        _, df2 = parse_page(raw, exploded, path_ids=ids)
        assert df2.schema == exploded.schema
        assert df2.height >= df.height
