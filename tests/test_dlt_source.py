"""The dlt source, loaded into dlt's DuckDB destination: vends incremental and merged on id."""

from __future__ import annotations

import polars as pl
import pytest

import loketvalinso as lv
from loketvalinso.errors import ConfigurationError

pytestmark = pytest.mark.timeout(180)

SIZES = lv.mock.WorldSizes(employers=2, employees=30, vends=6_000, devices=5, locations=3)


def test_needs_a_client() -> None:
    from loketvalinso.dlt_source import source

    with pytest.raises(ConfigurationError, match=r"valinso=\.\.\., loket=\.\.\."):
        source()


def test_loads_into_duckdb_incrementally(tmp_path) -> None:
    dlt = pytest.importorskip("dlt", reason='the dlt source needs the dlt extra ("[dlt]")')
    duckdb = pytest.importorskip("duckdb", reason="dlt's DuckDB destination needs duckdb")
    from loketvalinso.dlt_source import source

    m = lv.mock.in_process(seed=8, sizes=SIZES)
    database = tmp_path / "warehouse.duckdb"
    pipeline = dlt.pipeline(
        "loketvalinso_test",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name="lv",
    )
    with (
        lv.Valinso.from_mock(m, cache=False, progress=False) as valinso,
        lv.Loket.from_mock(m, cache=False, progress=False) as loket,
    ):

        def run() -> None:
            chosen = source(valinso=valinso, loket=loket).with_resources(
                "vends", "devices", "leave_requests"
            )
            pipeline.run(chosen)

        def vend_requests() -> list[str]:
            return [r.query for r in m.app.requests if r.path.endswith("/vends")]

        run()
        first = vend_requests()
        m.advance(days=2)
        run()
        second = vend_requests()[len(first) :]
        world = m.world
        requests = pl.concat([loket.leave_requests(e) for e in loket.employers()["id"]])

    assert not any("from=" in q for q in first)
    assert second and all("from=" in q for q in second), "the second run loads from the cursor"
    assert len(second) < len(first) // 3
    with duckdb.connect(str(database), read_only=True) as con:
        rows, ids = con.sql("select count(*), count(distinct id) from lv.vends").fetchall()[0]
        assert rows == ids == world.vends.height
        top = con.sql("select max(id), max(timestamp) from lv.vends").fetchall()[0]
        assert top[0] == world.vends["id"].max()
        statuses = dict(
            con.sql("select id, leave_request_status_key from lv.leave_requests").fetchall()
        )
        devices = con.sql("select count(*) from lv.devices").fetchall()[0][0]
    assert statuses == dict(requests.select("id", "leave_request_status_key").iter_rows())
    assert devices == world.devices.height
