"""Frames reach pandas (the ``[pandas]`` extra): money stays exact either way, as
``decimal.Decimal`` objects by default or as an Arrow-backed ``decimal128`` column."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

import loketvalinso as lv

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

SIZES = lv.mock.WorldSizes(employers=1, employees=10, devices=3, locations=2, vends=400)


@pytest.fixture(scope="module")
def vends_and_truth():
    m = lv.mock.in_process(seed=13, sizes=SIZES)
    with lv.Valinso.from_mock(m, cache=False, progress=False) as valinso:
        vends = valinso.vends()
    yield vends, m.world.vends
    m.close()


def test_to_pandas_keeps_every_row_and_exact_money(vends_and_truth):
    vends, truth = vends_and_truth
    assert vends.schema["price"] == pl.Decimal(10, 2)
    frame = vends.to_pandas()
    assert len(frame) == truth.height == vends.height
    assert all(isinstance(p, Decimal) for p in frame["price"].dropna())
    expected = dict(zip(truth["id"].to_list(), truth["price"].to_list(), strict=True))
    got = dict(zip(frame["id"].tolist(), frame["price"].tolist(), strict=True))
    assert got == {k: Decimal(str(v)).quantize(Decimal("0.01")) for k, v in expected.items()}
    assert str(frame["timestamp"].dt.tz) == "UTC"


def test_the_arrow_backed_route_keeps_decimals_as_a_column(vends_and_truth):
    vends, truth = vends_and_truth
    frame = vends.to_pandas(use_pyarrow_extension_array=True)
    assert str(frame["price"].dtype) == "decimal128(10, 2)[pyarrow]"
    total = sum(Decimal(str(p)).quantize(Decimal("0.01")) for p in truth["price"].to_list())
    assert frame["price"].sum() == total
