"""The parsed-page cache: warm loads equal cold loads, and never serve frames of another body."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import httpx
import orjson
import polars as pl
import pytest

import loketvalinso as lv
from loketvalinso._frames import parse
from loketvalinso._frames.fields import MONEY, UTC_DATETIME
from loketvalinso._frames.parse import _body_keys, concat_pages, convert_raw, is_raw
from loketvalinso._frames.spec import valinso_spec
from loketvalinso._load import decode, frame_cache
from loketvalinso._load.decode import FrameDecoder
from loketvalinso._load.frame_cache import FrameCache, decode_parsed, encode_listing_pieces
from loketvalinso._load.pools import PARSE_THREADS, parse_pool
from loketvalinso._transport.extensions import BODY_SHA256 as CACHE_BODY_EXTENSION
from loketvalinso._transport.extensions import CACHE as CACHE_EXTENSION
from loketvalinso._transport.extensions import CACHE_KEY as CACHE_KEY_EXTENSION
from loketvalinso.errors import SchemaDriftWarning
from tests.conftest import spy_on

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def mock():
    sizes = lv.mock.sizes_for(vends=2_500, leave_requests=600)
    return lv.mock.in_process(sizes=sizes, expires=3600)


def _counted(monkeypatch: pytest.MonkeyPatch, name: str, *modules: object) -> list[int]:
    """Calls of the function ``name`` of the first module, patched in every module."""
    calls: list[int] = []
    original = getattr(modules[0], name)

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    for module in modules:
        monkeypatch.setattr(module, name, counting)
    return calls


def _parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    # both callers: the decoder (a body) and convert_raw (a page parsed again on its own)
    return _counted(monkeypatch, "parse_page", parse, decode)


def _extras_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Pages whose body is read for undeclared fields (after a conversion with the others)."""
    return _counted(monkeypatch, "_add_extras", parse)


def encode_listing(head, frames, **options) -> bytes:
    return b"".join(encode_listing_pieces(head, frames, **options))


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
    name = FrameCache(client.cache, valinso_spec("vends")).page_name
    assert client.cache.get_extra(key, name, entry_sha256=digest) is not None
    assert client.cache.get_extra(key, name, entry_sha256="0" * 64) is None
    assert not client.cache.set_extra(key, name, b"x", entry_sha256="0" * 64)


def test_encode_decode_parsed_round_trip() -> None:
    df = pl.DataFrame(
        {
            "id": [1, 2],
            "price": pl.Series([1.5, None]).cast(MONEY),
            "ts": pl.Series([0, 10**6]).cast(UTC_DATETIME),
            "tags": [["a"], []],
            "s": [{"k": 1}, None],
        }
    )
    meta = {"item_count": 2, "messages": [{"type": "Warning"}], "version": None}
    for compression in ("uncompressed", "lz4"):
        got_meta, got = decode_parsed(frame_cache.encode_parsed(meta, df, compression=compression))
        assert got_meta == meta and got.equals(df) and got.schema == df.schema


def test_listing_streams_read_in_parallel_equal_the_pages() -> None:
    """A listing in several streams reads back the same on the parse threads, in one thread,
    and from a parse thread itself (which must not wait on its own pool)."""
    pages = [
        pl.DataFrame({"id": list(range(k * 10, k * 10 + 10)), "v": [float(k)] * 10})
        for k in range(7)
    ]
    blob = encode_listing({"v": 1}, pages, stream_rows=20)
    head, _ = decode_parsed(blob)
    assert len(head["streams"]) == 4  # 7 pages of 10 rows, 2 pages a stream
    want = pl.concat(pages)
    for parallel in (False, True):
        _, got = decode_parsed(blob, parallel=parallel)
        assert got.equals(want)
    # as many at once as the pool has threads: waiting on their own pool would deadlock
    pool = parse_pool()
    on_pool = [pool.submit(decode_parsed, blob, parallel=True) for _ in range(4)]
    assert all(future.result(timeout=30)[1].equals(want) for future in on_pool)


def test_warm_listing_is_confirmed_without_reading_each_page(
    mock, tmp_path: Path, monkeypatch
) -> None:
    """The listing blob carries each page's store time and freshness deadline, so a warm load
    confirms every page with one query instead of reading each entry's header."""
    from loketvalinso.cache import DiskCache

    cold = lv.Valinso.from_mock(mock, cache=tmp_path, progress=False, limit=500).vends()
    header_reads = spy_on(monkeypatch, DiskCache, "fresh_digest")
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


# -- undeclared fields found by the load-wide key count -------------------------------------------


class _AddsFields(httpx.BaseTransport):
    """The mock, with undeclared fields spliced into one item of one page (as an API that
    grew a field would send them)."""

    def __init__(
        self, inner: httpx.BaseTransport, page: tuple[str, str], splice: tuple[bytes, bytes]
    ):
        self.inner, self.page, self.splice = inner, page, splice
        self.changed = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        param, value = self.page
        if request.url.params.get(param) != value:
            return response
        body = response.read()
        old, new = self.splice
        assert old in body
        self.changed += 1
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(
            response.status_code, headers=headers, content=body.replace(old, new, 1)
        )


@pytest.mark.parametrize("cache", [False, True], ids=["no cache", "cache"])
def test_undeclared_field_on_one_page_becomes_a_column(
    mock, tmp_path: Path, cache, monkeypatch
) -> None:
    encoded: list[int] = []
    monkeypatch.setattr(
        frame_cache,
        "encode_listing_pieces",
        lambda *a, **k: encoded.append(1) or encode_listing_pieces(*a, **k),
    )
    world = mock.world.vends.sort("id")
    target = world.row(1203, named=True)  # page 3 of 5
    old = b'{"id":%d,' % target["id"]
    new = old + b'"loyalty":{"card":"C-7","points":12},"promo":"spring",'
    transport = _AddsFields(mock.transport, ("offset", "1000"), (old, new))
    client = lv.Valinso.from_mock(
        mock, cache=tmp_path if cache else False, progress=False, limit=500, transport=transport
    )
    with pytest.warns(SchemaDriftWarning, match=r"loyalty \(undeclared.*promo \(undeclared"):
        vends = client.vends()
    assert transport.changed == 1
    drift = client.last_load.drift
    assert sorted(drift.select("column", "kind", "values").rows()) == [
        ("loyalty", "undeclared", 1),
        ("promo", "undeclared", 1),
    ]
    assert vends["id"].to_list() == world["id"].to_list()  # every row, in order
    assert vends.columns[: len(valinso_spec("vends").schema)] == list(valinso_spec("vends").schema)
    extra = vends.filter(pl.col("promo").is_not_null())
    assert extra["id"].to_list() == [target["id"]]
    assert extra["promo"].to_list() == ["spring"]
    assert [orjson.loads(x) for x in extra["loyalty"]] == [{"card": "C-7", "points": 12}]
    assert vends["promo"].null_count() == vends.height - 1
    client.close()  # writes what the cache keeps in the background
    assert encoded == []  # pages with different columns are not kept as one listing
    if cache:  # and a warm load (served from the per-page extras) is the same frame
        again = lv.Valinso.from_mock(
            mock, cache=tmp_path, progress=False, limit=500, transport=transport
        )
        with pytest.warns(SchemaDriftWarning):
            warm = again.vends()
        assert warm.equals(vends) and again.last_load.drift.equals(drift)


def test_undeclared_nested_field_in_leave_requests(mock, tmp_path: Path) -> None:
    client = lv.Loket.from_mock(mock, cache=False, progress=False, page_size=50)
    employer = client.employers()["id"][0]
    plain = client.leave_requests(employer)
    assert plain.height > 100  # several pages
    target = plain["id"][77]  # page 2
    old = b'"id":"%s",' % target.encode()
    new = old + b'"workflowStep":3,'

    transport = _AddsFields(mock.transport, ("pageNumber", "2"), (old, new))
    loket = lv.Loket.from_mock(
        mock, cache=tmp_path, progress=False, page_size=50, transport=transport
    )
    with pytest.warns(SchemaDriftWarning, match="workflow_step"):
        spliced = loket.leave_requests(employer)
    assert transport.changed == 1
    assert loket.last_load.drift.select("field", "kind", "values").rows() == [
        ("workflowStep", "undeclared", 1)
    ]
    assert spliced.drop("workflow_step").equals(plain)
    assert spliced.filter(pl.col("workflow_step").is_not_null())["id"].to_list() == [target]


def _vend(i: int, **changes: object) -> dict[str, object]:
    """A Valinso vend item as the API sends it (``changes`` replace or add fields)."""
    item: dict[str, object] = {
        "id": i,
        "device_id": 1,
        "product_id": 2,
        "location_id": 3,
        "selection": "A1",
        "quantity": 1,
        "price": 1.5,
        "currency": "EUR",
        "payment_type": "card",
        "status": "success",
        "timestamp": 1_700_000_000 + i,
    }
    return {**item, **changes}


def _vends_body(items: list[dict[str, object]], offset: int = 0, total: int | None = None) -> bytes:
    paging = {
        "offset": offset,
        "limit": len(items),
        "total": len(items) if total is None else total,
    }
    return orjson.dumps({"code": 200, "result": items, "paging": paging})


def test_load_wide_key_count_settles_pages_without_a_recheck(monkeypatch) -> None:
    """Clean pages are checked by one count for the load; nothing is parsed twice."""
    spec = valinso_spec("vends")
    items = [_vend(i, note=None) for i in range(6)]
    bodies = [_vends_body(items[k : k + 2], offset=k, total=6) for k in range(0, 6, 2)]
    raws = [parse.parse_page(b, spec, convert=False)[1] for b in bodies]
    assert all(is_raw(r) and r.body_keys is not None for r in raws)
    calls = _parses(monkeypatch)
    extras = _extras_read(monkeypatch)
    out = convert_raw(raws, spec)
    assert calls == [] and extras == []  # the counts matched: no body read again
    assert pl.concat(out)["id"].to_list() == list(range(6))
    # the same pages with a key the schema lacks on the last one: only that page's body is
    # read again, for its undeclared field (its typed columns convert with the others)
    bodies[2] = bodies[2].replace(b'"note":null', b'"note":"hi"')
    raws = [parse.parse_page(b, spec, convert=False)[1] for b in bodies]
    calls.clear()
    out = convert_raw(raws, spec)
    assert calls == [] and len(extras) == 1
    joined = concat_pages(out)
    assert joined["note"].to_list() == [None, None, None, None, "hi", "hi"]


def test_pages_are_converted_in_batches_during_the_walk(mock, monkeypatch) -> None:
    """Kept pages are converted in the background while later ones are still arriving; the
    frame is the same as the world, every row in order."""
    batches: list[list[int]] = []
    original = FrameDecoder.convert_later

    def recording(self, pages):
        batches.append([page.page for page in pages])
        return original(self, pages)

    monkeypatch.setattr(FrameDecoder, "convert_later", recording)
    client = lv.Valinso.from_mock(mock, cache=False, progress=False, limit=100)
    vends = client.vends()
    world = mock.world.vends.sort("id")
    assert vends["id"].to_list() == world["id"].to_list()
    assert vends["price"].to_list() == world["price"].to_list()
    assert batches and all(len(b) >= 16 for b in batches)  # 25 pages: one batch, then the rest
    assert batches[0][0] == 1
    converted = [i for b in batches for i in b]
    assert len(converted) == len(set(converted))  # no page converted twice


def test_colons_inside_values_are_recounted_not_reparsed(monkeypatch) -> None:
    """Flat items are counted by every ``:``; a value with colons makes the totals differ, the
    page is then counted exactly and, having no undeclared field, not parsed again."""
    spec = valinso_spec("vends")
    body = _vends_body([_vend(1, selection="A:1:2", timestamp=1_700_000_000)])
    (raw,) = [parse.parse_page(body, spec, convert=False)[1]]
    assert raw.quick and raw.body_keys == _body_keys(body) + 2  # the colons in "A:1:2"
    calls = _parses(monkeypatch)
    extras = _extras_read(monkeypatch)
    (frame,) = convert_raw([raw], spec)
    assert calls == extras == [] and frame["selection"].to_list() == ["A:1:2"]
    # and an undeclared field next to it is still found
    body = body.replace(b'"status"', b'"note":"x:y","status"')
    (raw,) = [parse.parse_page(body, spec, convert=False)[1]]
    calls.clear()
    (frame,) = convert_raw([raw], spec)
    assert calls == [] and len(extras) == 1 and frame["note"].to_list() == ["x:y"]


def test_nulls_in_flat_items_settle_without_a_reparse(monkeypatch) -> None:
    """Colons count null values too; the page's bound is then tightened (nulls subtracted)
    before anything is parsed again, and an undeclared field next to a null is still found."""
    spec = valinso_spec("vends")
    body = _vends_body([_vend(i, location_id=None if i % 2 else 3) for i in range(4)])
    (raw,) = [parse.parse_page(body, spec, convert=False)[1]]
    assert raw.quick and raw.body_keys == _body_keys(body) + 2  # two null locations
    calls = _parses(monkeypatch)
    extras = _extras_read(monkeypatch)
    (frame,) = convert_raw([raw], spec)
    assert calls == extras == []
    assert frame["location_id"].to_list() == [3, None, 3, None]
    spliced = body.replace(b'"id":1,', b'"id":1,"note":"late",', 1)
    (raw,) = [parse.parse_page(spliced, spec, convert=False)[1]]
    calls.clear()
    (frame,) = convert_raw([raw], spec)
    assert calls == [] and len(extras) == 1
    assert frame["note"].to_list() == [None, "late", None, None]
    assert frame["location_id"].to_list() == [3, None, 3, None]


def test_a_cold_load_writes_the_cache_after_it_returns(mock, tmp_path: Path, monkeypatch) -> None:
    """No SQLite write competes with the walk: pages and frames go to disk after the load."""
    from loketvalinso._transport.background import flush_background_writes, loads_in_progress
    from loketvalinso.cache import DiskCache

    during: list[int] = []
    for name in ("_write_pending", "set_extra"):
        original = getattr(DiskCache, name)

        def spying(self, *args, _original=original, **kwargs):
            during.append(loads_in_progress())
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(DiskCache, name, spying)
    client = lv.Valinso.from_mock(mock, cache=tmp_path, progress=False, limit=500)
    vends = client.vends()
    flush_background_writes()
    assert during and all(n == 0 for n in during)
    assert len(vends) == mock.world.sizes.vends
    assert client.cache is not None
    info = client.cache.info()
    assert info["entries"] == 5 and info["extras"] == 2  # the pages; page 1's frame, the listing
    client.close()


def test_a_listing_is_kept_in_streams_of_equal_size_for_the_parse_threads() -> None:
    """Fewer rows than one stream holds, but enough to split: one stream per parse thread, of
    whole pages and equal size (the longest stream sets how long a warm load reads)."""
    pages = [pl.DataFrame({"id": list(range(k * 250, k * 250 + 250))}) for k in range(51)]
    blob = encode_listing({"v": 1}, pages, stream_rows=frame_cache.LISTING_STREAM_ROWS)
    pieces = encode_listing_pieces({"v": 1}, pages, stream_rows=frame_cache.LISTING_STREAM_ROWS)
    assert len(pieces) == 3 and b"".join(pieces) == blob  # the lead, then one piece per stream
    head, got = decode_parsed(blob, parallel=True)
    assert len(head["streams"]) == PARSE_THREADS == 2
    a, b = (pl.read_ipc_stream(io.BytesIO(s)).height for s in _streams(blob, head))
    assert (a, b) == (26 * 250, 25 * 250)
    assert got.equals(pl.concat(pages))
    # a small listing stays in one stream
    small = encode_listing({"v": 1}, pages[:3])
    assert len(decode_parsed(small)[0]["streams"]) == 1


def _streams(blob: bytes, head: dict) -> list[bytes]:
    lengths = head["streams"]
    data = blob[len(blob) - sum(lengths) :]
    out, start = [], 0
    for n in lengths:
        out.append(data[start : start + n])
        start += n
    return out


def test_a_cold_listing_asks_the_cache_once_for_its_other_pages(
    mock, tmp_path: Path, monkeypatch
) -> None:
    """A cold walk sends its pages 2.. with a PageSiblings extension: the cache asks SQLite once
    for all of them (not once a page), and the load is whole; a warm walk sends none."""
    from loketvalinso.cache import DiskCache

    queries = spy_on(monkeypatch, DiskCache, "store_times")
    client = lv.Valinso.from_mock(mock, cache=tmp_path, progress=False, limit=250)
    cold = client.vends()
    assert [len(keys) for (keys,) in queries] == [9]  # pages 2..10 of 2 500 vends, 250 a page
    assert cold.height == mock.world.vends.height == 2_500
    assert cold["id"].to_list() == mock.world.vends["id"].to_list()
    report = client.last_load
    assert report is not None and report.misses == 10 and report.requests == 10
    client.close()
    queries.clear()
    warm_client = lv.Valinso.from_mock(mock, cache=tmp_path, progress=False, limit=250)
    assert warm_client.vends().equals(cold)
    # the listing's stamps confirmed in one query, no sibling lookups
    assert [len(keys) for (keys,) in queries] == [9]
    warm_client.close()
