"""The folder is plain hive Parquet: Polars, DuckDB, pyarrow and pandas read it on their own,
and see each file's provenance."""

from __future__ import annotations

import json

import polars as pl
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import loketvalinso as lv
from loketvalinso._parquet import PROVENANCE_KEY

pytestmark = pytest.mark.timeout(120)

SIZES = lv.mock.WorldSizes(employers=2, employees=30, vends=6_000, devices=5, locations=3)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A dataset after a first sync, a move of the world and a second sync (so partitions were
    rewritten and old files removed)."""
    folder = tmp_path_factory.mktemp("store")
    m = lv.mock.in_process(seed=8, sizes=SIZES)
    with (
        lv.Valinso.from_mock(m, cache=False, progress=False) as valinso,
        lv.Loket.from_mock(m, cache=False, progress=False) as loket,
    ):
        ds = lv.Dataset(folder)
        ds.sync(valinso, "vends")
        ds.sync(loket, "leave_requests")
        m.advance(days=1)
        ds.sync(valinso, "vends")
        ds.sync(loket, "leave_requests")
    return ds, m.world


def test_polars_reads_the_folder_by_glob(store) -> None:
    ds, world = store
    vends = pl.scan_parquet(ds.folder / "vends/**/*.parquet", hive_partitioning=True).collect()
    assert_frame_equal(vends.drop("year", "month").sort("id"), world.vends.sort("id"))
    assert (vends["year"] == vends["timestamp"].dt.year()).all()
    requests = pl.read_parquet(ds.folder / "leave_requests/**/*.parquet", hive_partitioning=True)
    assert_frame_equal(
        requests.select(ds.read("leave_requests").columns).sort("id"), ds.read("leave_requests")
    )


def test_duckdb_reads_the_folder_and_the_provenance(store) -> None:
    duckdb = pytest.importorskip("duckdb", reason="DuckDB is in the dev extra")
    ds, world = store
    glob = (ds.folder / "vends/**/*.parquet").as_posix()
    rows, ids, months = duckdb.sql(
        f"select count(*), count(distinct id), count(distinct (year, month)) "
        f"from read_parquet('{glob}', hive_partitioning = true)"
    ).fetchall()[0]
    assert rows == ids == world.vends.height
    assert months == world.vends["timestamp"].dt.strftime("%Y-%m").n_unique()
    by_employer = duckdb.sql(
        "select employer_id, count(*) from read_parquet("
        f"'{(ds.folder / 'leave_requests/**/*.parquet').as_posix()}', hive_partitioning = true) "
        "group by employer_id order by employer_id"
    ).fetchall()
    truth = ds.read("leave_requests").group_by("employer_id").len().sort("employer_id")
    assert by_employer == truth.rows()
    (value,) = duckdb.sql(
        f"select value from parquet_kv_metadata('{ds.files('vends')[0].as_posix()}') "
        f"where key = '{PROVENANCE_KEY}'"
    ).fetchall()[0]
    assert json.loads(value)["resource"] == "vends"


def test_pyarrow_and_pandas_see_the_provenance(store) -> None:
    ds, _ = store
    path = ds.files("leave_requests")[0]
    record = json.loads(pq.read_table(path).schema.metadata[PROVENANCE_KEY.encode()])
    assert record["resource"] == "leave_requests" and record["partition"]["employer_id"]
    table = pads.dataset(ds.folder / "leave_requests", partitioning="hive").to_table()
    assert table.num_rows == ds.read("leave_requests").height
    pandas = pytest.importorskip("pandas", reason="pandas is in the dev extra")
    frame = pandas.read_parquet(path)
    assert frame.attrs[PROVENANCE_KEY] == record


def test_the_daily_report_recipe(store, tmp_path) -> None:
    """The README's recipe: scan a quarter from the dataset (partitions pruned), chart it."""
    pytest.importorskip("altair", reason="charts need the charts extra")
    ds, world = store
    quarter = (
        ds.scan("vends")
        .filter((pl.col("year") == 2026) & pl.col("month").is_between(7, 9))
        .collect()
    )
    truth = world.vends.filter(
        (pl.col("timestamp").dt.year() == 2026) & pl.col("timestamp").dt.month().is_between(7, 9)
    )
    assert quarter.height == truth.height > 0
    chart = lv.charts.vends_overview(quarter)
    chart.save(tmp_path / "vends.html")
    assert "vega" in (tmp_path / "vends.html").read_text()
