"""Shared pieces of the reliability suite: a small world, exact comparisons, request budgets.

Everything here is sized for CI on two cores: one employer (plus the world's minimum), 40
employees, 5 000 vends. Each test has its own ``pytest.mark.timeout``.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl
import pytest

from loketvalinso.mock import WorldSizes
from loketvalinso.mock.world import cached_world

SEED = 7
SMALL = WorldSizes(employers=1, employees=40, vends=5000, devices=5, locations=3, products=8)

#: Paths of the OAuth endpoints (token requests are counted apart from data requests).
TOKEN_PATH = "/token"


@pytest.fixture(scope="session")
def small_world():
    """The small world (seed 7), built once and shared by every mock of the suite."""
    return cached_world(SEED, SMALL)


@pytest.fixture(scope="session")
def employer_id(small_world) -> str:
    return small_world.employers["id"][0]


def assert_same_rows(loaded: pl.DataFrame, truth: pl.DataFrame, *, what: str) -> None:
    """``loaded`` holds exactly the rows of ``truth``: same ids, no duplicates, same values.

    Values are compared as text on every column both frames have (the loaders add columns
    the world does not keep and vice versa; the shared ones must agree exactly).
    """
    assert loaded.height == truth.height, f"{what}: {loaded.height} rows, expected {truth.height}"
    assert loaded["id"].n_unique() == loaded.height, f"{what}: duplicate ids"
    assert set(loaded["id"].cast(pl.String)) == set(truth["id"].cast(pl.String)), f"{what}: ids"
    common = [c for c in loaded.columns if c in truth.columns]
    assert "id" in common and len(common) > 3, f"{what}: too few shared columns {common}"
    left = loaded.select(common).sort("id")
    right = truth.select(common).sort("id")
    for column in common:
        a = left[column].cast(pl.String).to_list()
        b = right[column].cast(pl.String).to_list()
        assert a == b, f"{what}: column {column} differs"


def data_requests(app, prefix: str) -> list:
    """The requests the mock logged under ``prefix`` (a data API, not the OAuth endpoints)."""
    return [r for r in app.requests if r.path.startswith(prefix)]


def token_requests(app) -> list:
    return [r for r in app.requests if r.path == TOKEN_PATH]


def distinct_pages(records: Iterable) -> int:
    """How many distinct (path, query) pairs were asked for: pages of the walk."""
    return len({(r.path, r.query) for r in records})
