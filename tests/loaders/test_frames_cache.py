"""The parsed-page cache: warm loads equal cold loads, and never serve frames of another body."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

import loketvalinso as lv
from loketvalinso import frames
from loketvalinso.cache import CACHE_BODY_EXTENSION, CACHE_EXTENSION, CACHE_KEY_EXTENSION

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def mock():
    sizes = lv.mock.sizes_for(vends=2_500, leave_requests=600)
    return lv.mock.in_process(sizes=sizes, expires=3600)


def _parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = frames.parse_page

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(frames, "parse_page", counting)
    return calls


def test_warm_vends_equal_cold_without_parsing(mock, tmp_path: Path, monkeypatch) -> None:
    calls = _parses(monkeypatch)
    cold_client = lv.Valinso.from_mock(mock, cache=tmp_path, progress=False, limit=500)
    cold = cold_client.vends()
    assert len(calls) == 5  # 2 500 vends, 500 a page
    calls.clear()
    warm_client = lv.Valinso.from_mock(mock, cache=tmp_path, progress=False, limit=500)
    warm = warm_client.vends()
    assert calls == []
    assert warm.equals(cold) and warm.schema == cold.schema
    report = warm_client.last_load
    assert report is not None and report.cache_hits == 5 and report.misses == 0


def test_warm_leave_requests_equal_cold(mock, tmp_path: Path) -> None:
    cold_client = lv.Loket.from_mock(mock, cache=tmp_path, progress=False, page_size=50)
    employers = cold_client.employers()["id"].to_list()
    cold = [cold_client.leave_requests(e) for e in employers]
    warm_client = lv.Loket.from_mock(mock, cache=tmp_path, progress=False, page_size=50)
    warm = [warm_client.leave_requests(e) for e in employers]
    for a, b in zip(cold, warm, strict=True):
        assert a.equals(b) and a.schema == b.schema


def test_changed_page_is_parsed_again(mock, tmp_path: Path, monkeypatch) -> None:
    """A page whose stored body changed after the listing was recorded is not served from the
    recorded frames: the walk falls back to requesting (and parsing) the pages."""
    client = lv.Valinso.from_mock(mock, cache=tmp_path, progress=False, limit=500)
    cold = client.vends()
    cache = client.cache
    assert cache is not None
    # overwrite page 3's entry with a different body under the same key
    r = client._http.get("/vends", params={"offset": 1000, "limit": 500})
    key = r.extensions[CACHE_KEY_EXTENSION]
    entry = cache.get(key)
    assert entry is not None
    changed = entry.body.replace(b'"status":"success"', b'"status":"refunded"', 1)
    assert changed != entry.body
    cache.set(key, dataclasses.replace(entry, body=changed))
    calls = _parses(monkeypatch)
    again = lv.Valinso.from_mock(mock, cache=tmp_path, progress=False, limit=500).vends()
    assert len(calls) >= 1
    assert not again.equals(cold)
    assert (again["status"] == "refunded").sum() == (cold["status"] == "refunded").sum() + 1


def test_extras_are_tied_to_the_body(mock, tmp_path: Path) -> None:
    client = lv.Valinso.from_mock(mock, cache=tmp_path, progress=False, limit=500)
    client.vends()
    r = client._http.get("/vends", params={"offset": 0, "limit": 500})
    assert r.extensions[CACHE_EXTENSION] == "hit"
    key, digest = r.extensions[CACHE_KEY_EXTENSION], r.extensions[CACHE_BODY_EXTENSION]
    parser = frames.page_parser(frames.valinso_spec("vends"), cache=client.cache)
    name = parser.name
    assert client.cache.get_extra(key, name, entry_sha256=digest) is not None
    assert client.cache.get_extra(key, name, entry_sha256="0" * 64) is None
    assert not client.cache.set_extra(key, name, b"x", entry_sha256="0" * 64)


def test_encode_decode_parsed_round_trip() -> None:
    df = pl.DataFrame(
        {
            "id": [1, 2],
            "price": pl.Series([1.5, None]).cast(frames.MONEY),
            "ts": pl.Series([0, 10**6]).cast(frames.UTC_DATETIME),
            "tags": [["a"], []],
            "s": [{"k": 1}, None],
        }
    )
    meta = {"item_count": 2, "messages": [{"type": "Warning"}], "version": None}
    for compression in ("uncompressed", "lz4"):
        got_meta, got = frames.decode_parsed(
            frames.encode_parsed(meta, df, compression=compression)
        )
        assert got_meta == meta and got.equals(df) and got.schema == df.schema


def test_warm_listing_is_confirmed_without_reading_each_page(
    mock, tmp_path: Path, monkeypatch
) -> None:
    """The listing blob carries each page's store time and freshness deadline, so a warm load
    confirms every page with one query instead of reading each entry's header."""
    from loketvalinso.cache import DiskCache

    cold = lv.Valinso.from_mock(mock, cache=tmp_path, progress=False, limit=500).vends()
    header_reads: list[str] = []
    original = DiskCache.fresh_digest

    def counting(self, key):
        header_reads.append(key)
        return original(self, key)

    monkeypatch.setattr(DiskCache, "fresh_digest", counting)
    warm = lv.Valinso.from_mock(mock, cache=tmp_path, progress=False, limit=500).vends()
    assert warm.equals(cold)
    assert header_reads == []


def test_stamps_past_their_deadline_are_not_trusted(mock, tmp_path: Path, monkeypatch) -> None:
    """Once the recorded freshness deadline has passed, pages are checked (and refetched) again."""
    from loketvalinso.cache import DiskCache

    now = [1_000_000.0]
    cold_cache = DiskCache(tmp_path, clock=lambda: now[0])
    cold = lv.Valinso.from_mock(mock, cache=cold_cache, progress=False, limit=500).vends()
    now[0] += 7200  # the mock announces Expires +3600 s
    warm_cache = DiskCache(tmp_path, clock=lambda: now[0])
    held: list[bool] = []
    original = DiskCache.stamps_hold

    def spying(self, stamps):
        held.append(original(self, stamps))
        return held[-1]

    monkeypatch.setattr(DiskCache, "stamps_hold", spying)
    before = len(mock.app.requests)
    again = lv.Valinso.from_mock(mock, cache=warm_cache, progress=False, limit=500).vends()
    assert again.equals(cold)
    assert held in ([], [False])  # page 1 itself is stale, so the blob may not even be read
    assert len(mock.app.requests) - before == 5  # every page went back to the server


def test_listing_kept_in_the_background_reaches_disk_at_exit(tmp_path: Path, monkeypatch) -> None:
    """A process that loads and exits without close() still leaves its cached listing behind
    (the background writer is flushed at interpreter exit), so another process loads warm."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import loketvalinso as lv
        sizes = lv.mock.sizes_for(vends=2_500, leave_requests=600)
        m = lv.mock.in_process(sizes=sizes, expires=3600)
        lv.Valinso.from_mock(m, cache={str(tmp_path)!r}, progress=False, limit=500).vends()
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    calls = _parses(monkeypatch)
    sizes = lv.mock.sizes_for(vends=2_500, leave_requests=600)
    m = lv.mock.in_process(sizes=sizes, expires=3600)
    warm = lv.Valinso.from_mock(m, cache=tmp_path, progress=False, limit=500).vends()
    assert warm.height == 2_500
    # Page 1 and pages 2..5 come from what the other process kept: nothing is parsed again.
    assert calls == []
