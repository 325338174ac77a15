"""Parquet snapshots with provenance: reports re-run from files, with no server."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import loketvalinso as lv
from loketvalinso import snapshots
from loketvalinso.errors import ConfigurationError

pytestmark = pytest.mark.timeout(60)

SMALL = lv.mock.WorldSizes(
    employers=2, employees=30, vends=1_500, devices=5, locations=3, products=6
)


@pytest.fixture(scope="module")
def loaded():
    """Frames loaded through the clients (in-process mock), with each load's report."""
    m = lv.mock.in_process(seed=3, sizes=SMALL)
    with (
        lv.Loket.from_mock(m, cache=False, progress=False) as loket,
        lv.Valinso.from_mock(m, cache=False, progress=False) as valinso,
    ):
        frames: dict[str, pl.DataFrame] = {}
        reports = {}
        frames["vends"] = valinso.vends()
        reports["vends"] = valinso.last_load
        employer = loket.employers()["id"][0]
        frames["employees"] = loket.employees(employer, version="2021-03-29")
        reports["employees"] = loket.last_load
        frames["leave_requests"] = loket.leave_requests(employer)
        reports["leave_requests"] = loket.last_load
    return frames, reports


def test_round_trip_gives_equal_frames_and_provenance(loaded, tmp_path) -> None:
    frames, reports = loaded
    written = snapshots.save(frames, tmp_path, provenance=reports)
    assert {p.name for p in written.values()} == {f"{n}.parquet" for n in frames}
    snap = snapshots.load(tmp_path)
    assert set(snap) == set(frames) and len(snap) == len(frames)
    for name, frame in frames.items():
        assert_frame_equal(snap[name], frame)
        record = snap.provenance[name]
        assert record["rows"] == frame.height
        assert record["source_url"] == reports[name].url
        assert record["loaded_at"] == reports[name].started_at.isoformat()
    assert snap.provenance["employees"]["resource_versions"] == ["2021-03-29"]
    assert snap.provenance["vends"]["resource_versions"] == []
    assert "/valinso_api/vends" in snap.provenance["vends"]["source_url"]


def test_describe_says_where_the_data_came_from(loaded, tmp_path) -> None:
    frames, reports = loaded
    snapshots.save(frames, tmp_path, provenance=reports)
    table = snapshots.load(tmp_path).describe()
    assert table.columns == [
        "name",
        "rows",
        "columns",
        "source_url",
        "resource_versions",
        "loaded_at",
        "saved_at",
    ]
    assert table.schema["loaded_at"] == pl.Datetime("us", "UTC") == table.schema["saved_at"]
    assert table["name"].to_list() == sorted(frames)
    row = table.filter(pl.col("name") == "employees").row(0, named=True)
    assert row["rows"] == frames["employees"].height
    assert row["resource_versions"] == "2021-03-29"
    assert row["source_url"].endswith("/employees")
    assert table["loaded_at"].null_count() == 0
    assert row["loaded_at"] == reports["employees"].started_at  # the load's own time, exactly
    assert row["columns"] == frames["employees"].width
    assert row["saved_at"] >= row["loaded_at"].replace(microsecond=0)


def test_a_snapshot_prints_in_a_few_lines(loaded, tmp_path) -> None:
    frames, reports = loaded
    snapshots.save(frames, tmp_path, provenance=reports)
    snap = snapshots.load(tmp_path)
    text = repr(snap)
    assert len(text.splitlines()) == len(frames) + 1
    for name, frame in frames.items():
        assert f"{frame.height:,} × {frame.width}" in text and name in text
    assert "shape:" not in text  # no frame printed in full
    assert snap._repr_html_().count("<tr>") == len(frames) + 1


def test_mapping_provenance_and_no_provenance(tmp_path) -> None:
    frame = pl.DataFrame({"a": [1, 2, 3]})
    snapshots.save(
        {"with_info": frame, "bare": frame},
        tmp_path,
        provenance={
            "with_info": {
                "source_url": "https://api.example.org/x?api_key=SECRET123&page=1",
                "resource_versions": ["2020-01-01"],
                "loaded_at": "2025-01-01T00:00:00+00:00",
            }
        },
    )
    snap = snapshots.load(tmp_path)
    info = snap.provenance["with_info"]
    assert info["resource_versions"] == ["2020-01-01"] and info["rows"] == 3
    assert "SECRET123" not in info["source_url"]  # query secrets are redacted
    assert snap.provenance["bare"]["rows"] == 3 and snap.provenance["bare"]["loaded_at"] is None
    assert "SECRET123" not in (tmp_path / "with_info.parquet").read_bytes().decode("latin-1")


def test_empty_frames_keep_their_schema(tmp_path) -> None:
    empty = pl.DataFrame(schema={"id": pl.String, "when": pl.Datetime("us", "UTC")})
    snapshots.save({"nothing": empty}, tmp_path)
    back = snapshots.load(tmp_path)["nothing"]
    assert back.height == 0 and back.schema == empty.schema


def test_clear_errors(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="loketvalinso demo --out"):
        snapshots.load(tmp_path / "missing")
    with pytest.raises(ConfigurationError, match=r"no \.parquet"):
        snapshots.load(tmp_path)
    with pytest.raises(ConfigurationError, match="letters, digits"):
        snapshots.save({"../escape": pl.DataFrame({"a": [1]})}, tmp_path)
    snapshots.save({"one": pl.DataFrame({"a": [1]})}, tmp_path)
    with pytest.raises(KeyError, match="it has: one"):
        snapshots.load(tmp_path)["two"]


def test_provenance_of_a_plain_parquet_is_empty(tmp_path) -> None:
    path = tmp_path / "plain.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(path)
    assert snapshots.provenance_of(path) == {}
    assert snapshots.load(tmp_path).describe()["rows"].to_list() == [None]


def test_provenance_is_in_the_arrow_schema_with_every_url(tmp_path) -> None:
    """pyarrow's ``read_table(f).schema.metadata`` sees it (not only the file footer), and a
    frame merged over several employers' loads keeps every URL."""
    import json

    import pyarrow.parquet as pq

    m = lv.mock.in_process(seed=3, sizes=SMALL)
    with lv.Loket.from_mock(m, cache=False, progress=False) as loket:
        parts, reports = [], []
        for employer in loket.employers()["id"]:
            parts.append(loket.leave_requests(employer))
            reports.append(loket.last_load)
    assert len(reports) == 2
    written = snapshots.save({"leave": pl.concat(parts)}, tmp_path, provenance={"leave": reports})
    metadata = pq.read_table(written["leave"]).schema.metadata
    record = json.loads(metadata[snapshots.PROVENANCE_KEY.encode()])
    assert record["source_urls"] == [r.url for r in reports]
    assert record["source_url"] == reports[0].url
    assert record["pages"] == sum(r.pages for r in reports)
    assert record == snapshots.provenance_of(written["leave"])
    described = snapshots.load(tmp_path).describe().row(0, named=True)
    assert all(r.url in described["source_url"] for r in reports)
