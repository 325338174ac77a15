"""Streaming loads: ``paginate(sink=)`` and ``Valinso.iter_vends``.

The ground truth is the mock's world and its request log; memory is judged by counting the
page payloads still alive (weak references), not by timing anything.
"""

from __future__ import annotations

import gc
import threading
import weakref

import httpx
import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import loketvalinso as lv
from loketvalinso._load.pages import PageContext, PageMeta, ParsedPage
from loketvalinso._load.strategies import OffsetLimitPaging
from loketvalinso._load.walk import _CONVERT_BATCH, paginate
from loketvalinso.errors import ConfigurationError, PaginationError
from tests.json_pages import JsonDecoder, raise_valinso

pytestmark = pytest.mark.timeout(60)

SIZES = lv.mock.WorldSizes(employers=1, employees=5, vends=12_345, devices=5, locations=3)


@pytest.fixture(scope="module")
def mock():
    return lv.mock.in_process(seed=4, sizes=SIZES)


@pytest.fixture
def valinso(mock):
    with lv.Valinso.from_mock(mock, cache=False, progress=False, limit=100) as client:
        yield client


def test_iter_vends_yields_the_whole_load_in_order_in_batches(mock, valinso) -> None:
    batches = list(valinso.iter_vends(batch_rows=2_000))
    assert len(batches) > 3
    # a batch holds whole runs of pages: at most one run more than asked for
    assert all(b.height <= 2_000 + _CONVERT_BATCH * 100 for b in batches)
    joined = pl.concat(batches)
    assert_frame_equal(joined, mock.world.vends)
    assert valinso.last_load.rows == SIZES.vends and valinso.last_load.status == "ok"
    assert_frame_equal(joined, valinso.vends())


def test_iter_vends_filters_like_vends(mock, valinso) -> None:
    since, until = "2026-03-01", "2026-04-01"
    got = pl.concat(valinso.iter_vends(since=since, until=until, device_id=2, batch_rows=500))
    assert_frame_equal(got, valinso.vends(since=since, until=until, device_id=2))
    assert got.height and (got["device_id"] == 2).all()


def test_an_empty_load_yields_one_typed_empty_frame(valinso) -> None:
    (only,) = list(valinso.iter_vends(since="2030-01-01"))
    assert only.height == 0 and only.schema == valinso.vends(since="2030-01-01").schema


def test_stopping_early_cancels_the_rest_and_ends_the_thread(mock, valinso) -> None:
    before = mock.app.count(path_prefix="/api/head/valinso_api/vends")
    batches = valinso.iter_vends(batch_rows=100)
    first = next(batches)
    assert first.height
    batches.close()
    sent = mock.app.count(path_prefix="/api/head/valinso_api/vends") - before
    assert sent < SIZES.vends // 100 // 2, "the pages after the stop were not requested"
    assert not [t for t in threading.enumerate() if t.name.startswith("loketvalinso-stream")]


def test_a_failing_walk_raises_in_the_consumer(valinso) -> None:
    with pytest.raises(ConfigurationError, match="batch_rows"):
        valinso.iter_vends(batch_rows=0)
    drifting = lv.mock.in_process(seed=4, sizes=SIZES, drift=True)
    with lv.Valinso.from_mock(drifting, cache=False, progress=False, limit=100) as client:
        seen = 0
        with pytest.raises(PaginationError, match="total"):
            for batch in client.iter_vends(batch_rows=1_000, strict=True):
                seen += batch.height
        assert seen < SIZES.vends


# -- the walk's sink, with a fake server ----------------------------------------------------


class Items:
    """A page's payload (weakly referable, so the test can count the live ones)."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)


class CountingDecoder(JsonDecoder):
    """Pages whose payloads it keeps weak references to (``alive``)."""

    def __init__(self) -> None:
        self.alive: weakref.WeakSet[Items] = weakref.WeakSet()
        super().__init__(self._parse)

    def _parse(self, body: bytes, context: PageContext) -> ParsedPage:
        doc = orjson.loads(body)
        items = Items(doc["result"])
        self.alive.add(items)
        paging = doc["paging"]
        meta = PageMeta(
            item_count=len(items),
            offset=paging["offset"],
            limit=paging["limit"],
            total=paging["total"],
        )
        return ParsedPage(meta=meta, data=items, page=context.page)


def fake_vends(total: int, limit: int) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        items = [{"id": i} for i in range(offset, min(offset + limit, total))]
        body = {
            "code": 200,
            "result": items,
            "paging": {"total": total, "offset": offset, "limit": limit},
        }
        return httpx.Response(200, json=body)

    return httpx.MockTransport(answer)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_the_sink_gets_every_page_in_order_and_memory_stays_bounded(concurrency) -> None:
    total, limit = 30_000, 100  # 300 pages
    decoder = CountingDecoder()
    runs: list[list[int]] = []
    alive_at_sink: list[int] = []

    def sink(pages: list[ParsedPage]) -> None:
        alive_at_sink.append(len(decoder.alive))  # freed as soon as nothing refers to them
        runs.append([item["id"] for page in pages for item in page.data.rows])

    with httpx.Client(transport=fake_vends(total, limit), base_url="https://v.test") as client:
        pages = paginate(
            client,
            "/vends",
            strategy=OffsetLimitPaging(limit=limit),
            decoder=decoder,
            raise_for_response=raise_valinso,
            max_concurrency=concurrency,
            strict=True,
            sink=sink,
        )
    assert [i for run in runs for i in run] == list(range(total))
    assert all(len(run) == _CONVERT_BATCH * limit for run in runs[:-1])
    assert [p.page for p in pages] == list(range(1, 301)) and all(p.data is None for p in pages)
    # the pages on the wire and one run, never the whole listing
    assert max(alive_at_sink) <= 4 * concurrency + 3 * _CONVERT_BATCH
    gc.collect()
    assert len(decoder.alive) == 0


def test_an_error_in_the_sink_ends_the_walk() -> None:
    requested = []

    def answer(request: httpx.Request) -> httpx.Response:
        requested.append(request)
        return fake_vends(50_000, 100).handle_request(request)

    def sink(pages: list[ParsedPage]) -> None:
        raise RuntimeError("disk full")

    with (
        httpx.Client(transport=httpx.MockTransport(answer), base_url="https://v.test") as client,
        pytest.raises(RuntimeError, match="disk full"),
    ):
        paginate(
            client,
            "/vends",
            strategy=OffsetLimitPaging(limit=100),
            decoder=CountingDecoder(),
            raise_for_response=raise_valinso,
            max_concurrency=4,
            sink=sink,
        )
    assert len(requested) < 100, "the walk stopped at the sink's error"


def test_a_slow_page_holds_back_the_requests_after_it() -> None:
    """Pages reach the sink in order: while page 2 is slow, the walk asks for no page further
    ahead than its window (the pages held stay bounded), then goes on."""
    total, limit, concurrency = 60_000, 100, 4  # 600 pages
    window = 2 * concurrency + 2 * _CONVERT_BATCH
    asked_while_blocked: list[int] = []
    page_two_answered = threading.Event()
    lock = threading.Lock()
    inner = fake_vends(total, limit)

    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        if offset == limit:  # page 2 answers a second late
            threading.Event().wait(1.0)
            page_two_answered.set()
        elif not page_two_answered.is_set() and offset > limit:
            with lock:
                asked_while_blocked.append(offset // limit + 1)
        return inner.handle_request(request)

    seen: list[int] = []
    with httpx.Client(transport=httpx.MockTransport(answer), base_url="https://v.test") as client:
        paginate(
            client,
            "/vends",
            strategy=OffsetLimitPaging(limit=limit),
            decoder=CountingDecoder(),
            raise_for_response=raise_valinso,
            max_concurrency=concurrency,
            strict=True,
            sink=lambda pages: seen.extend(p.page for p in pages),
        )
    assert seen == list(range(1, 601))
    assert asked_while_blocked and max(asked_while_blocked) <= 2 + window
