"""Syncs against the mock over real HTTP, with the world moving on between them.

The ground truth is the mock's world: after every sync the dataset holds exactly the world's
vends and the accessible employers' leave requests (ids and values), and ``changes()`` is what
changed in the world between the two days.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import loketvalinso as lv
from loketvalinso._parquet import PROVENANCE_KEY
from loketvalinso.errors import ConfigurationError

pytestmark = pytest.mark.timeout(120)

SIZES = lv.mock.WorldSizes(employers=3, employees=60, vends=20_000, devices=8, locations=4)


@pytest.fixture
def server():
    with lv.mock.serve(seed=11, sizes=SIZES) as m:
        yield m


@pytest.fixture
def clients(server):
    with (
        lv.Valinso.from_mock(server, cache=False, progress=False, limit=500) as valinso,
        lv.Loket.from_mock(server, cache=False, progress=False) as loket,
    ):
        yield valinso, loket


def world_requests(world) -> pl.DataFrame:
    visible = world.employers.filter("accessible")["id"].implode()
    return world.leave_requests.filter(pl.col("employer_id").is_in(visible)).sort("id")


def assert_matches_world(ds: lv.Dataset, world) -> None:
    vends = ds.read("vends")
    assert vends["id"].is_unique().all()
    assert_frame_equal(vends, world.vends.sort("id").select(vends.columns))
    requests = ds.read("leave_requests")
    assert requests["id"].is_unique().all()
    truth = world_requests(world)
    common = [c for c in truth.columns if c in requests.columns]
    assert len(common) >= 15
    assert_frame_equal(requests.select(common), truth.select(common), check_dtypes=False)


def world_changes(before: pl.DataFrame, after: pl.DataFrame, columns: list[str]) -> dict:
    """Ids added, removed and changed (in any of ``columns``) between two world frames."""
    old, new = before.select(columns), after.select(columns)
    joined = new.join(old, on="id", how="inner", suffix="_old")
    differs = pl.any_horizontal(
        [pl.col(c).ne_missing(pl.col(f"{c}_old")) for c in columns if c != "id"]
    )
    return {
        "added": set(new["id"]) - set(old["id"]),
        "removed": set(old["id"]) - set(new["id"]),
        "changed": set(joined.filter(differs)["id"]),
    }


def ids_by_change(changes: pl.DataFrame) -> dict:
    return {
        kind: set(changes.filter(pl.col("change") == kind)["id"])
        for kind in ("added", "changed", "removed")
    }


def test_several_syncs_with_the_world_moving_on_stay_exact(server, clients, tmp_path) -> None:
    valinso, loket = clients
    ds = lv.Dataset(tmp_path / "store")
    first = ds.sync(valinso, "vends")
    assert (first.mode, first.added, first.rows) == ("first", SIZES.vends, SIZES.vends)
    ds.sync(loket, "leave_requests")
    assert_matches_world(ds, server.world)
    assert ids_by_change(ds.changes("vends"))["added"] == set(server.world.vends["id"])

    for day in range(3):
        before = server.world
        after = server.advance(days=1)
        vends = ds.sync(valinso, "vends")
        requests = ds.sync(loket, "leave_requests")
        assert_matches_world(ds, after)

        # vends: the new day and the late ones, loaded from the cursor minus the lookback only
        new_ids = set(after.vends["id"]) - set(before.vends["id"])
        assert new_ids and vends.mode == "incremental" and vends.added == len(new_ids)
        assert ids_by_change(ds.changes("vends")) == {
            "added": new_ids,
            "changed": set(),
            "removed": set(),
        }
        assert vends.rows_loaded < 3 * len(new_ids) + 200, "loaded the window, not everything"
        late = after.vends.filter(
            pl.col("id").is_in(list(new_ids)) & (pl.col("timestamp") < before.vends_end)
        )
        assert late.height, f"day {day}: the world has late vends"

        # leave requests: the world's own changes, with the columns that moved
        columns = [c for c in before.leave_requests.columns if c in ds.read("leave_requests")]
        truth = world_changes(world_requests(before), world_requests(after), columns)
        changes = ds.changes("leave_requests")
        assert ids_by_change(changes) == truth
        assert (requests.added, requests.changed, requests.removed) == tuple(
            len(truth[k]) for k in ("added", "changed", "removed")
        )
        moved = changes.filter(pl.col("changed_columns").list.contains("leave_request_status_key"))
        assert moved.height and (moved["leave_request_status_key"] != 1).all()
        assert (moved["before"].struct.field("leave_request_status_key") == 1).all()

    history = ds.history()
    assert history["sync"].to_list() == list(range(1, 9))
    assert history["resource"].to_list() == ["vends", "leave_requests"] * 4
    assert history["mode"].to_list()[:2] == ["first", "first"]
    assert all(url.startswith(server.url) for urls in history["source_urls"] for url in urls)


def test_a_sync_with_nothing_new_writes_nothing(clients, tmp_path) -> None:
    valinso, loket = clients
    ds = lv.Dataset(tmp_path)
    ds.sync(valinso, "vends")
    ds.sync(loket, "leave_requests")
    files = sorted(p for p in tmp_path.rglob("*.parquet"))
    again = ds.sync(valinso, "vends"), ds.sync(loket, "leave_requests")
    assert all(
        (s.added, s.changed, s.removed, s.partitions_written) == (0, 0, 0, []) for s in again
    )
    assert sorted(p for p in tmp_path.rglob("*.parquet")) == files
    assert ds.changes("leave_requests").height == 0


def test_a_lookback_shorter_than_the_lateness_misses_late_vends(server, clients, tmp_path) -> None:
    """The lookback is what catches late vends: with none, the ones dated before the cursor
    stay out (and a later sync with a lookback brings them in)."""
    valinso, _ = clients
    ds = lv.Dataset(tmp_path)
    ds.sync(valinso, "vends")
    cursor = server.world.vends["timestamp"].max()
    after = server.advance(days=1)
    ds.sync(valinso, "vends", lookback=timedelta(0))
    missed = after.vends.filter(
        (pl.col("id") > SIZES.vends) & (pl.col("timestamp") < cursor)
    ).height
    assert missed > 0
    assert ds.read("vends").height == after.vends.height - missed
    # a window back past the late ones, given as text
    ds.sync(valinso, "vends", lookback="2d")
    assert_frame_equal(ds.read("vends"), after.vends.sort("id"))


def test_vends_removed_inside_the_window_are_removed(server, clients, tmp_path) -> None:
    valinso, _ = clients
    ds = lv.Dataset(tmp_path)
    ds.sync(valinso, "vends")
    # the server withdraws the newest vends (a refund system deleting them, say)
    newest = server.world.vends.sort("timestamp").tail(5)
    for vend_id in newest["id"]:
        valinso.delete(f"/vend/{vend_id}")
    changed = server.world
    assert changed.vends.height == SIZES.vends - 5
    summary = ds.sync(valinso, "vends")
    assert (summary.added, summary.changed, summary.removed) == (0, 0, 5)
    assert ids_by_change(ds.changes("vends"))["removed"] == set(newest["id"])
    assert_frame_equal(ds.read("vends"), changed.vends.sort("id"))


def test_one_employer_at_a_time_leaves_the_others(clients, tmp_path) -> None:
    _, loket = clients
    ds = lv.Dataset(tmp_path)
    employers = loket.employers()["id"].to_list()
    ds.sync(loket, "leave_requests", employer_id=employers[0])
    assert set(ds.read("leave_requests")["employer_id"]) == {employers[0]}
    ds.sync(loket, "leave_requests", employer_id=employers[1:])
    assert set(ds.read("leave_requests")["employer_id"]) == set(employers)
    assert ds.changes("leave_requests")["employer_id"].unique().sort().to_list() == sorted(
        employers[1:]
    )


@pytest.mark.parametrize(
    ("resource", "key"),
    [
        ("employers", ["id"]),
        ("employments", ["id"]),
        ("functions", ["key"]),
        ("leave_balances", ["id", "year", "leave_type_key"]),
        ("absences", ["id"]),
    ],
)
def test_other_loket_resources_sync_whole(clients, tmp_path, resource, key) -> None:
    _, loket = clients
    ds = lv.Dataset(tmp_path)
    summary = ds.sync(loket, resource)
    employers = loket.employers()["id"].to_list()
    if resource == "employers":
        truth = loket.employers()
    else:
        loader = getattr(loket, resource)
        truth = pl.concat([loader(e) for e in employers], how="diagonal_relaxed")
    got = ds.read(resource)
    assert summary.rows == truth.height == got.height > 0
    assert_frame_equal(got, truth.select(got.columns).sort(key))
    assert ds.sync(loket, resource).changed == 0


def test_valinso_lists_sync_whole(clients, tmp_path) -> None:
    valinso, _ = clients
    ds = lv.Dataset(tmp_path)
    for name in ("devices", "products", "locations"):
        ds.sync(valinso, name)
        truth = getattr(valinso, name)()
        assert_frame_equal(ds.read(name), truth.sort("id"))
    assert ds.resources() == ["devices", "locations", "products"]


def test_files_carry_their_provenance_in_the_arrow_schema(server, clients, tmp_path) -> None:
    valinso, loket = clients
    ds = lv.Dataset(tmp_path)
    ds.sync(valinso, "vends")
    ds.sync(loket, "employees")
    import json

    for name in ("vends", "employees"):
        for path in ds.files(name):
            metadata = pq.read_table(path).schema.metadata
            record = json.loads(metadata[PROVENANCE_KEY.encode()])
            assert record["resource"] == name and record["sync"] in (1, 2)
            assert record["source_url"].startswith(server.url)
            assert record["toolkit_version"] == lv.__version__
    employees = json.loads(
        pq.read_table(ds.files("employees")[0]).schema.metadata[b"loketvalinso.provenance"]
    )
    assert employees["resource_versions"] == ["2021-03-29"]


def test_scan_prunes_partitions(clients, tmp_path) -> None:
    valinso, _ = clients
    ds = lv.Dataset(tmp_path)
    ds.sync(valinso, "vends")
    frame = ds.scan("vends").filter((pl.col("year") == 2026) & (pl.col("month") == 3))
    plan = frame.explain()
    assert plan.count("month=3") == 1 and "month=4" not in plan
    got = frame.collect()
    assert got.height and (got["timestamp"].dt.month() == 3).all()
    assert got.columns[-2:] == ["year", "month"]


def test_bad_input_is_refused_with_what_to_do(clients, tmp_path) -> None:
    valinso, loket = clients
    ds = lv.Dataset(tmp_path)
    with pytest.raises(ConfigurationError, match="choose one of vends"):
        ds.sync(valinso, "leave_requests")
    with pytest.raises(ConfigurationError, match=r"lv\.Loket or lv\.Valinso"):
        ds.sync(object(), "vends")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unit"):
        ds.sync(valinso, "vends", lookback=6)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="negative"):
        ds.sync(valinso, "vends", lookback=timedelta(hours=-1))
    with pytest.raises(ConfigurationError, match="incremental"):
        ds.sync(loket, "employees", lookback="1h")
    with pytest.raises(ConfigurationError, match="employer_id"):
        ds.sync(loket, "employers", employer_id="x")
    with pytest.raises(ConfigurationError, match=r"ds.sync\(client, 'vends'\) first"):
        ds.read("vends")
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigurationError, match="is a file"):
        lv.Dataset(tmp_path / "file")
    assert not list(tmp_path.rglob("*.parquet"))


def test_one_sync_at_a_time(clients, tmp_path) -> None:
    from loketvalinso._dataset.manifest import exclusive

    valinso, _ = clients
    ds = lv.Dataset(tmp_path)
    with exclusive(tmp_path), pytest.raises(ConfigurationError, match="another sync is running"):
        ds.sync(valinso, "vends")
    ds.sync(valinso, "vends")  # the lock is free again


def test_no_secret_reaches_the_folder(server, clients, tmp_path) -> None:
    valinso, loket = clients
    ds = lv.Dataset(tmp_path)
    ds.sync(valinso, "vends")
    ds.sync(loket, "leave_requests")
    server.advance(days=1)
    ds.sync(loket, "leave_requests")
    creds = server.credentials
    secrets = [creds.valinso_api_key, creds.client_secret, creds.password]
    secrets.append(loket.oauth.access_token)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(secret.encode() in data for secret in secrets), path
