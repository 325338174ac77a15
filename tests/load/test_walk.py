"""The pager against fake servers (``httpx.MockTransport``) that count their requests.

Every fake server also refuses to answer more than ``max_requests`` requests, so a pager that loops
fails the test instead of hanging it; every test has a hard timeout on top.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from loketvalinso._load.pages import PageContext, PageMeta, ParsedPage
from loketvalinso._load.report import LoadReport
from loketvalinso._load.strategies import OffsetLimitPaging, PageNumberPaging
from loketvalinso._load.walk import paginate
from loketvalinso.errors import (
    ConfigurationError,
    NetworkError,
    NotFoundError,
    PaginationError,
    PaginationWarning,
    ResponseFormatError,
    ServerError,
)
from tests.json_pages import (
    LOKET,
    VALINSO,
    JsonDecoder,
    parse_json_page_loket,
    parse_json_page_valinso,
    raise_loket,
    raise_valinso,
)

pytestmark = pytest.mark.timeout(20)

LOKET_URL = "https://api.example.test/v2/providers/employers/E1/employees/employments/leaverequests"
VALINSO_URL = "https://valinso.example.test/api/head/valinso_api/vends"
SECRET = "s3cr3t-api-key-value"

Body = dict[str, Any] | bytes | httpx.Response


class FakeServer:
    """Counts requests and concurrent requests; ``answer(query, n)`` makes each body."""

    def __init__(
        self,
        answer: Callable[[dict[str, str], int], Body],
        *,
        delay: float = 0.0,
        max_requests: int = 500,
    ) -> None:
        self.answer = answer
        self.delay = delay
        self.max_requests = max_requests
        self.queries: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def count(self) -> int:
        return len(self.queries)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        with self.lock:
            self.queries.append(query)
            n = len(self.queries)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if n > self.max_requests:
                msg = f"fake server: more than {self.max_requests} requests (a paging loop?)"
                raise RuntimeError(msg)
            if self.delay:
                time.sleep(self.delay)
            body = self.answer(query, n)
        finally:
            with self.lock:
                self.in_flight -= 1
        if isinstance(body, httpx.Response):
            return body
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})


def client_for(server: FakeServer) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(server))


def loket_answer(
    total: int,
    *,
    total_pages: Callable[[int], int] | None = None,
    tweak: Callable[[int, dict[str, Any]], Body] | None = None,
) -> Callable[[dict[str, str], int], Body]:
    """A Loket list of ``total`` items ``{"id": i}``; ``tweak(page, body)`` may change a page."""

    def answer(query: dict[str, str], n: int) -> Body:
        page = int(query.get("pageNumber", 1))
        size = int(query.get("pageSize", 250))
        items = [{"id": i} for i in range((page - 1) * size, min(page * size, total))]
        body: dict[str, Any] = {
            "currentPage": page,
            "pageSize": size,
            "totalPages": total_pages(size) if total_pages else math.ceil(total / size),
            "totalSize": total,
            "version": {"obsoleteDate": None, "resourceVersion": "2018-01-01"},
            "messages": [],
            "_embedded": items,
        }
        return tweak(page, body) if tweak else body

    return answer


def valinso_answer(
    total: int,
    *,
    cap: int | None = None,
    echo_cap: bool = True,
    tweak: Callable[[int, dict[str, Any]], Body] | None = None,
) -> Callable[[dict[str, str], int], Body]:
    """A Valinso list of ``total`` items; ``cap`` limits the page size server-side."""

    def answer(query: dict[str, str], n: int) -> Body:
        offset = int(query.get("offset", 0))
        limit = int(query.get("limit", 1000))
        served = min(limit, cap) if cap else limit
        items = [{"id": i} for i in range(offset, min(offset + served, total))]
        body: dict[str, Any] = {
            "code": 200,
            "result": items,
            "paging": {"total": total, "offset": offset, "limit": served if echo_cap else limit},
        }
        return tweak(offset, body) if tweak else body

    return answer


def ids(pages: list[ParsedPage]) -> list[int]:
    return [item["id"] for page in pages for item in page.data]


def loket(server: FakeServer, **kwargs: Any) -> list[ParsedPage]:
    kwargs.setdefault("strategy", PageNumberPaging(page_size=10))
    with client_for(server) as client:
        return paginate(client, LOKET_URL, **{**LOKET, **kwargs})


def valinso(server: FakeServer, **kwargs: Any) -> list[ParsedPage]:
    kwargs.setdefault("strategy", OffsetLimitPaging(limit=10))
    with client_for(server) as client:
        return paginate(client, VALINSO_URL, **{**VALINSO, **kwargs})


# -- normal walks --------------------------------------------------------------------------------

TOTALS = [0, 1, 9, 10, 11, 65, 100, 137]


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
@pytest.mark.parametrize("concurrency", [1, 2, 8])
@pytest.mark.parametrize("total", TOTALS)
def test_loket_walk_returns_all_items_in_order(total: int, concurrency: int) -> None:
    server = FakeServer(loket_answer(total))
    report = LoadReport()
    pages = loket(server, max_concurrency=concurrency, report=report)
    assert ids(pages) == list(range(total))
    assert server.count == max(1, math.ceil(total / 10))
    assert [p.page for p in pages] == list(range(1, len(pages) + 1))
    assert report.requests == server.count and report.rows == total
    assert report.status == "ok" and report.versions == {"2018-01-01"}
    assert sorted(int(q["pageNumber"]) for q in server.queries) == list(range(1, server.count + 1))


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
@pytest.mark.parametrize("concurrency", [1, 2, 8])
@pytest.mark.parametrize("total", TOTALS)
def test_valinso_walk_returns_all_items_in_order(total: int, concurrency: int) -> None:
    server = FakeServer(valinso_answer(total))
    pages = valinso(server, max_concurrency=concurrency)
    assert ids(pages) == list(range(total))
    assert server.count == max(1, math.ceil(total / 10))
    offsets = sorted(int(q["offset"]) for q in server.queries)
    assert offsets == [10 * i for i in range(server.count)]


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
def test_zero_items_is_one_request_and_one_empty_page() -> None:
    for total_pages in (0, 1):
        server = FakeServer(loket_answer(0, total_pages=lambda size, tp=total_pages: tp))
        pages = loket(server)
        assert server.count == 1
        assert len(pages) == 1 and pages[0].data == [] and pages[0].meta.item_count == 0


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
def test_user_params_and_headers_are_sent_with_paging_params() -> None:
    seen: list[httpx.Request] = []

    def answer(query: dict[str, str], n: int) -> Body:
        return loket_answer(25)(query, n)

    server = FakeServer(answer)
    original = server.__call__

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return original(request)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        pages = paginate(
            client,
            LOKET_URL,
            strategy=PageNumberPaging(page_size=10),
            **LOKET,
            params={"filter": "status eq 1"},
            headers={"Accept": "application/json;version=2018-01-01"},
        )
    assert ids(pages) == list(range(25))
    assert all(r.url.params["filter"] == "status eq 1" for r in seen)
    assert all(r.headers["accept"] == "application/json;version=2018-01-01" for r in seen)


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
def test_unpaged_responses_are_a_single_page() -> None:
    server = FakeServer(lambda q, n: {"_embedded": [{"id": 1}, {"id": 2}], "messages": []})
    assert ids(loket(server)) == [1, 2] and server.count == 1
    server = FakeServer(lambda q, n: {"code": 200, "result": [{"id": 7}]})
    assert ids(valinso(server)) == [7] and server.count == 1
    server = FakeServer(lambda q, n: {"code": 200, "result": {"id": 3}})
    assert ids(valinso(server)) == [3]


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
def test_no_strategy_is_one_request_without_paging_params() -> None:
    server = FakeServer(loket_answer(25))
    pages = loket(server, strategy=None, params={"filter": "x"})
    assert server.count == 1 and server.queries == [{"filter": "x"}]
    assert ids(pages) == list(range(25))  # the fake's default page size of 250


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
def test_loket_server_page_size_rules() -> None:
    """The server answers pageSize=7 although 10 was asked: its numbers drive the walk."""

    def answer(query: dict[str, str], n: int) -> Body:
        return loket_answer(30)({**query, "pageSize": "7"}, n)

    server = FakeServer(answer)
    assert ids(loket(server)) == list(range(30))
    assert server.count == 5


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
@pytest.mark.parametrize("echo_cap", [True, False])
def test_valinso_server_side_cap_is_followed(echo_cap: bool) -> None:
    server = FakeServer(valinso_answer(95, cap=30, echo_cap=echo_cap))
    pages = valinso(server, strategy=OffsetLimitPaging(limit=100), max_concurrency=4)
    assert ids(pages) == list(range(95))
    assert server.count == 4


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
def test_content_envelope_with_paging() -> None:
    def answer(query: dict[str, str], n: int) -> Body:
        body = loket_answer(23)(query, n)
        assert isinstance(body, dict)
        body["content"] = body.pop("_embedded")
        return body

    server = FakeServer(answer)
    assert ids(loket(server, max_concurrency=3)) == list(range(23))


# -- sequential walks without totals -------------------------------------------------------------


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
def test_sequential_walk_without_totals_stops_on_short_or_empty_page() -> None:
    def answer_for(total: int) -> Callable[[dict[str, str], int], Body]:
        def answer(query: dict[str, str], n: int) -> Body:
            body = loket_answer(total)(query, n)
            assert isinstance(body, dict)
            del body["totalPages"], body["totalSize"]
            return body

        return answer

    server = FakeServer(answer_for(35))
    assert ids(loket(server)) == list(range(35)) and server.count == 4
    server = FakeServer(answer_for(30))  # exact multiple: ends on an empty page
    assert ids(loket(server)) == list(range(30)) and server.count == 4
    assert [int(q["pageNumber"]) for q in server.queries] == [1, 2, 3, 4]

    def valinso_no_total(query: dict[str, str], n: int) -> Body:
        body = valinso_answer(42)(query, n)
        assert isinstance(body, dict)
        del body["paging"]["total"]
        return body

    server = FakeServer(valinso_no_total)
    assert ids(valinso(server)) == list(range(42)) and server.count == 5


# -- the looping servers ---------------------------------------------------------------------------


def test_server_answering_page_2_of_3_forever_ends_at_once() -> None:
    """The Mockoon sample: ``{"currentPage":2,"pageSize":250,"totalPages":3,"totalSize":650}``.
    Page 1 answered as page 2 keeps its items (nothing earlier can it repeat), and the walk
    asks for no other page."""
    body = {
        "currentPage": 2,
        "pageSize": 250,
        "totalPages": 3,
        "totalSize": 650,
        "_embedded": [{"id": i} for i in range(5)],
    }
    server = FakeServer(lambda q, n: body, max_requests=20)
    report = LoadReport()
    with pytest.warns(PaginationWarning) as record:
        pages = loket(server, strategy=PageNumberPaging(), report=report)
    assert ids(pages) == list(range(5)) and [p.page for p in pages] == [1]
    assert server.count == 1
    assert (report.pages, report.rows) == (1, 5)
    texts = [str(w.message) for w in record]
    assert any(
        "asked for page 1 but the server answered currentPage 2; its 5 items are kept and "
        "paging stops"
        in t
        and "page: 1" in t
        for t in texts
    )
    assert any("received 5 items but the server announced 650" in t for t in texts)
    assert all(LOKET_URL in t for t in texts)
    assert report.status == "warning" and report.warnings

    server = FakeServer(lambda q, n: body, max_requests=20)
    with pytest.raises(PaginationError, match="currentPage 2") as info:
        loket(server, strategy=PageNumberPaging(), strict=True)
    assert server.count == 1 and info.value.page == 1 and LOKET_URL in str(info.value)


def test_valinso_first_page_at_another_offset_keeps_its_items() -> None:
    def answer(query: dict[str, str], n: int) -> Body:
        items = [{"id": i} for i in range(10, 20)]
        return {"code": 200, "result": items, "paging": {"total": 95, "offset": 10, "limit": 10}}

    server = FakeServer(answer, max_requests=20)
    with pytest.warns(PaginationWarning) as record:
        pages = valinso(server)
    assert ids(pages) == list(range(10, 20)) and server.count == 1
    texts = [str(w.message) for w in record]
    assert any(
        "asked for page 1 (offset 0) but the server answered offset 10; its 10 items are kept" in t
        for t in texts
    )


def test_server_echoing_the_page_but_always_empty_ends_at_once() -> None:
    def answer(query: dict[str, str], n: int) -> Body:
        page = int(query["pageNumber"])
        return {"currentPage": page, "pageSize": 10, "totalPages": 3, "totalSize": 25}

    server = FakeServer(answer, max_requests=20)
    with pytest.warns(PaginationWarning) as record:
        pages = loket(server)
    assert server.count == 1 and ids(pages) == []
    texts = [str(w.message) for w in record]
    assert any("page 1 is empty although the server announced 3 pages" in t for t in texts)
    assert any("received 0 items but the server announced 25" in t for t in texts)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_server_ignoring_the_page_param_is_detected(concurrency: int) -> None:
    """Page 1 forever, with ``currentPage: 1`` echoed: left out, and the walk stops."""

    def answer(query: dict[str, str], n: int) -> Body:
        return loket_answer(500)({**query, "pageNumber": "1"}, n)

    server = FakeServer(answer, max_requests=50)
    with pytest.warns(PaginationWarning) as record:
        pages = loket(server, max_concurrency=concurrency)
    assert ids(pages) == list(range(10))
    assert server.count <= 1 + concurrency
    texts = [str(w.message) for w in record]
    assert any("asked for page 2 but the server answered currentPage 1" in t for t in texts)
    assert any("received 10 items but the server announced 500" in t for t in texts)


def test_server_ignoring_the_page_param_without_echo_is_detected() -> None:
    """Page 1 forever, no position echoed: the repeated body is detected."""

    def answer(query: dict[str, str], n: int) -> Body:
        body = loket_answer(500)({**query, "pageNumber": "1"}, n)
        assert isinstance(body, dict)
        del body["currentPage"]
        return body

    server = FakeServer(answer, max_requests=50)
    with pytest.warns(PaginationWarning) as record:
        pages = loket(server, max_concurrency=4)
    assert ids(pages) == list(range(10)) and server.count <= 5
    assert any("page 2 repeats page 1" in str(w.message) for w in record)

    # a sequential walk (no totals, no offset echo) over the same kind of server
    def valinso_forever(query: dict[str, str], n: int) -> Body:
        return {"code": 200, "result": [{"id": i} for i in range(10)], "paging": {"limit": 10}}

    server = FakeServer(valinso_forever, max_requests=50)
    with pytest.warns(PaginationWarning, match="repeats page 1") as record:
        pages = valinso(server)
    assert ids(pages) == list(range(10)) and server.count == 2
    assert len(record) == 1  # no totals announced: nothing else to compare
    server = FakeServer(valinso_forever, max_requests=50)
    with pytest.raises(PaginationError, match="repeats page 1"):
        valinso(server, strict=True)


def test_valinso_server_ignoring_offset_is_detected() -> None:
    def answer(query: dict[str, str], n: int) -> Body:
        return valinso_answer(100)({**query, "offset": "0"}, n)

    server = FakeServer(answer, max_requests=50)
    with pytest.warns(PaginationWarning) as record:
        pages = valinso(server, max_concurrency=2)
    assert ids(pages) == list(range(10)) and server.count <= 3
    texts = [str(w.message) for w in record]
    assert any("asked for page 2 (offset 10) but the server answered offset 0" in t for t in texts)
    assert any("received 10 items but the server announced 100" in t for t in texts)


# -- page cap ------------------------------------------------------------------------------------


def test_page_cap_on_announced_pages() -> None:
    server = FakeServer(loket_answer(1000))
    with pytest.raises(PaginationError, match="page_cap=20") as info:
        loket(server, page_cap=20)
    assert server.count == 1 and LOKET_URL in str(info.value)


def test_page_cap_on_an_endless_sequential_walk() -> None:
    def endless(query: dict[str, str], n: int) -> Body:
        offset = int(query["offset"])
        items = [{"id": i} for i in range(offset, offset + 10)]
        return {"code": 200, "result": items, "paging": {"offset": offset, "limit": 10}}

    server = FakeServer(endless, max_requests=100)
    with pytest.raises(PaginationError, match="page_cap=15"):
        valinso(server, page_cap=15)
    assert server.count == 15


# -- each stop-rule disagreement: warning, or error when strict -----------------------------------


def _drop_items(page: int, body: dict[str, Any], keep: int) -> dict[str, Any]:
    body["_embedded"] = body["_embedded"][:keep]
    return body


DISAGREEMENTS: dict[str, tuple[Callable[[], FakeServer], str]] = {
    "inconsistent page 1": (
        lambda: FakeServer(loket_answer(20, total_pages=lambda size: 5)),
        "totalPages=5 but totalSize=20",
    ),
    "empty page before the end": (
        lambda: FakeServer(
            loket_answer(50, tweak=lambda p, b: _drop_items(p, b, 0) if p == 3 else b)
        ),
        "page 3 is empty",
    ),
    "short page that is not the last": (
        lambda: FakeServer(
            loket_answer(50, tweak=lambda p, b: _drop_items(p, b, 4) if p == 2 else b)
        ),
        "page 2 holds 4 items, fewer than the page size 10",
    ),
    "wrong currentPage": (
        lambda: FakeServer(
            loket_answer(50, tweak=lambda p, b: {**b, "currentPage": 4} if p == 3 else b)
        ),
        "asked for page 3 but the server answered currentPage 4",
    ),
    "total changes (drift)": (
        lambda: FakeServer(
            loket_answer(50, tweak=lambda p, b: {**b, "totalSize": 57} if p >= 3 else b)
        ),
        "total changed from 50 to 57",
    ),
    "items do not add up": (
        lambda: FakeServer(
            loket_answer(45, tweak=lambda p, b: _drop_items(p, b, 2) if p == 5 else b)
        ),
        "received 42 items but the server announced 45",
    ),
    "over-full page": (
        lambda: FakeServer(
            loket_answer(
                30,
                tweak=lambda p, b: (
                    {**b, "_embedded": [*b["_embedded"], {"id": -1}]} if p == 2 else b
                ),
            )
        ),
        "more than the page size",
    ),
}


@pytest.mark.parametrize("case", list(DISAGREEMENTS))
@pytest.mark.parametrize("concurrency", [1, 8])
def test_each_disagreement_warns_naming_url_and_page(case: str, concurrency: int) -> None:
    make, expected = DISAGREEMENTS[case]
    server = make()
    report = LoadReport()
    with pytest.warns(PaginationWarning) as record:
        loket(server, max_concurrency=concurrency, report=report, params={"api_key": SECRET})
    texts = [str(w.message) for w in record if issubclass(w.category, PaginationWarning)]
    assert any(expected in t for t in texts), texts
    assert all(LOKET_URL in t and "page: " in t for t in texts)
    assert not any(SECRET in t for t in texts)
    assert report.status == "warning" and report.warnings == texts
    assert server.count <= 10


@pytest.mark.parametrize("case", list(DISAGREEMENTS))
def test_each_disagreement_raises_when_strict(case: str) -> None:
    make, expected = DISAGREEMENTS[case]
    server = make()
    with pytest.raises(PaginationError, match="leaverequests") as info:
        loket(server, strict=True, max_concurrency=4, params={"api_key": SECRET})
    assert expected in str(info.value)
    assert LOKET_URL in str(info.value) and info.value.page is not None
    assert SECRET not in str(info.value)


def test_drift_on_valinso_is_detected() -> None:
    """Like the mock's ``drift`` fault: the total grows while the walk runs."""
    state = {"total": 95}

    def answer(query: dict[str, str], n: int) -> Body:
        if n == 3:
            state["total"] = 101
        return valinso_answer(state["total"])(query, n)

    server = FakeServer(answer)
    with pytest.warns(PaginationWarning) as record:
        pages = valinso(server, max_concurrency=1)
    texts = [str(w.message) for w in record]
    assert any("total changed from 95 to 101 at page 3 (offset 20)" in t for t in texts)
    assert any("received 100 items but the server announced 95" in t for t in texts)
    assert ids(pages) == list(range(100))  # what was served is kept, with the warnings
    state["total"] = 95
    server = FakeServer(answer)
    with pytest.raises(PaginationError, match="total changed"):
        valinso(server, max_concurrency=1, strict=True)


def test_many_problems_are_summed_up_not_flooded() -> None:
    server = FakeServer(loket_answer(400, tweak=lambda p, b: _drop_items(p, b, 9) if p < 40 else b))
    with pytest.warns(PaginationWarning) as record:
        loket(server, max_concurrency=8)
    short = [str(w.message) for w in record if "fewer than the page size" in str(w.message)]
    assert len(short) == 1 and "the same on 38 more page(s)" in short[0]


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 8])
def test_failing_page_raises_naming_url_and_page_and_cancels_the_rest(concurrency: int) -> None:
    def answer(query: dict[str, str], n: int) -> Body:
        if query["pageNumber"] == "3":
            return httpx.Response(
                500, json={"message": "boom"}, extensions={"loketvalinso.retries": 4}
            )
        return loket_answer(2000)(query, n)

    server = FakeServer(answer, delay=0.01)
    report = LoadReport()
    with pytest.raises(ServerError) as info, report.timed():
        loket(server, max_concurrency=concurrency, report=report, params={"api_key": SECRET})
    text = str(info.value)
    assert "500" in text and "page: 3" in text and LOKET_URL in text and SECRET not in text
    assert info.value.page == 3  # type: ignore[attr-defined]
    time.sleep(0.1)  # let in-flight workers finish before counting
    assert server.count <= 2 * concurrency + 3
    assert report.status == "error" and report.error and SECRET not in report.error
    assert report.retries == 4  # what the retry layer says it made for that response


def test_callers_raise_for_response_is_used() -> None:
    calls: list[int] = []

    def raise_for_response(response: httpx.Response) -> None:
        calls.append(response.status_code)
        if response.status_code == 404:
            msg = "no such employer"
            raise NotFoundError(msg, status=404, url=response.request.url)

    server = FakeServer(lambda q, n: httpx.Response(404, json={"messages": []}))
    with pytest.raises(NotFoundError, match="no such employer") as info:
        loket(server, raise_for_response=raise_for_response)
    assert calls == [404] and "page: 1" in str(info.value)

    # a non-2xx that the caller lets through is still raised
    server = FakeServer(lambda q, n: httpx.Response(503, json={}))
    with pytest.raises(ServerError, match="page: 1"):
        loket(server, raise_for_response=lambda r: None)


def test_truncated_body_is_a_response_format_error_naming_the_page() -> None:
    def answer(query: dict[str, str], n: int) -> Body:
        body = loket_answer(40)(query, n)
        raw = orjson.dumps(body)
        return raw[: len(raw) // 2] if query["pageNumber"] == "2" else raw

    server = FakeServer(answer)
    with pytest.raises(ResponseFormatError, match="page: 2") as info:
        loket(server, max_concurrency=4)
    assert LOKET_URL in str(info.value) and info.value.page == 2


def test_transport_error_names_url_and_page() -> None:
    def answer(query: dict[str, str], n: int) -> Body:
        if query["offset"] == "20":
            msg = "connection reset"
            raise httpx.ConnectError(msg)
        return valinso_answer(50)(query, n)

    server = FakeServer(answer)
    with pytest.raises(NetworkError) as info:
        valinso(server, max_concurrency=1, params={"api-key": SECRET})
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.page == 3
    assert "page: 3" in str(info.value) and SECRET not in str(info.value)


def test_bad_options_are_configuration_errors() -> None:
    server = FakeServer(loket_answer(5))
    for kwargs in ({"max_concurrency": 0}, {"page_cap": 0}, {"strategy": object()}):
        with pytest.raises(ConfigurationError):
            loket(server, **kwargs)
    with pytest.raises(ConfigurationError):
        PageNumberPaging(page_size=0)
    with pytest.raises(ConfigurationError):
        OffsetLimitPaging(limit=-1)
    assert server.count == 0


# -- concurrency ---------------------------------------------------------------------------------


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
@pytest.mark.parametrize("concurrency", [2, 8])
def test_concurrency_really_happens_and_is_bounded(concurrency: int) -> None:
    server = FakeServer(loket_answer(400), delay=0.02)
    pages = loket(server, max_concurrency=concurrency)
    assert ids(pages) == list(range(400))
    assert 1 < server.max_in_flight <= concurrency


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
def test_a_page_being_parsed_holds_no_request_slot() -> None:
    """Pages 2 and 3 finish parsing only once page 4 was requested. With two request slots
    that happens only if a page's next request goes out while the page is parsed."""
    page_4_requested = threading.Event()
    base = loket_answer(100)

    def answer(query: dict[str, str], n: int) -> Body:
        if query["pageNumber"] == "4":
            page_4_requested.set()
        return base(query, n)

    def parse(body: bytes, ctx: PageContext) -> ParsedPage:
        if ctx.page in (2, 3) and not page_4_requested.wait(timeout=10):
            msg = "page 4 was not requested while pages 2 and 3 were parsed"
            raise AssertionError(msg)
        return parse_json_page_loket(body, ctx)

    server = FakeServer(answer)
    with client_for(server) as client:
        pages = paginate(
            client,
            LOKET_URL,
            raise_for_response=raise_loket,
            decoder=JsonDecoder(parse),
            strategy=PageNumberPaging(page_size=10),
            max_concurrency=2,
        )
    assert ids(pages) == list(range(100))
    assert server.max_in_flight <= 2


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
def test_walks_share_their_page_threads() -> None:
    """A second walk starts no threads: the first one's page threads serve it."""
    server = FakeServer(loket_answer(200), delay=0.002)
    assert ids(loket(server, max_concurrency=4)) == list(range(200))
    before = {t.ident for t in threading.enumerate()}
    assert ids(loket(server, max_concurrency=4)) == list(range(200))
    started = {t.ident for t in threading.enumerate()} - before
    assert not started


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
def test_a_walk_inside_a_parser_does_not_wait_on_its_own_threads(monkeypatch) -> None:
    """A parser that walks another listing runs on a page thread; with the shared pool full of
    the outer walk's pages, the inner walk gets threads of its own instead of waiting forever."""
    from loketvalinso._load import pools

    monkeypatch.setattr(pools, "_page_pool", None)
    monkeypatch.setattr(pools, "PAGE_THREADS", 4)  # exactly the outer walk's 2 * 2
    inner_server = FakeServer(loket_answer(50))
    inner_ids: list[list[int]] = []

    def parse(body: bytes, ctx: PageContext) -> ParsedPage:
        if ctx.page <= 5:  # enough pages to hold every shared thread
            inner_ids.append(ids(loket(inner_server, max_concurrency=2)))
        return parse_json_page_loket(body, ctx)

    outer: list[list[ParsedPage]] = []

    def walk() -> None:
        with client_for(FakeServer(loket_answer(100))) as client:
            outer.append(
                paginate(
                    client,
                    LOKET_URL,
                    raise_for_response=raise_loket,
                    decoder=JsonDecoder(parse),
                    strategy=PageNumberPaging(page_size=10),
                    max_concurrency=2,
                )
            )

    thread = threading.Thread(target=walk, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the nested walk waited on its own page threads"
    assert ids(outer[0]) == list(range(100))
    assert inner_ids == [list(range(50))] * 5  # pages 1-5


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
def test_pages_are_reassembled_in_order_when_they_finish_out_of_order() -> None:
    def answer(query: dict[str, str], n: int) -> Body:
        page = int(query["pageNumber"])
        time.sleep(0.002 * ((7 * page) % 11))
        return loket_answer(200)(query, n)

    server = FakeServer(answer)
    assert ids(loket(server, max_concurrency=8)) == list(range(200))


@pytest.mark.filterwarnings("error::loketvalinso.errors.PaginationWarning")
def test_parsing_runs_in_worker_threads() -> None:
    threads: set[str] = set()

    def parse(body: bytes, ctx: PageContext) -> ParsedPage:
        threads.add(threading.current_thread().name)
        return parse_json_page_valinso(body, ctx)

    server = FakeServer(valinso_answer(80), delay=0.01)
    with client_for(server) as client:
        pages = paginate(
            client,
            VALINSO_URL,
            strategy=OffsetLimitPaging(limit=10),
            raise_for_response=raise_valinso,
            decoder=JsonDecoder(parse),
        )
    assert ids(pages) == list(range(80))
    assert any(name.startswith("loketvalinso-page") for name in threads)


# -- default parsers -----------------------------------------------------------------------------


def test_default_parsers_read_the_envelopes() -> None:
    ctx = PageContext(url=LOKET_URL, page=1)
    body = orjson.dumps(
        {
            "currentPage": 1,
            "pageSize": 250,
            "totalPages": 1,
            "totalSize": 2,
            "version": {"obsoleteDate": "2026-01-01", "resourceVersion": "2018-01-01"},
            "messages": [{"code": 1, "description": "hi", "type": "Warning"}],
            "_embedded": [{"id": "a"}, {"id": "b"}],
        }
    )
    page = parse_json_page_loket(body, ctx)
    assert page.meta == PageMeta(
        item_count=2,
        current_page=1,
        page_size=250,
        total_pages=1,
        total_size=2,
        version={"obsoleteDate": "2026-01-01", "resourceVersion": "2018-01-01"},
        messages=[{"code": 1, "description": "hi", "type": "Warning"}],
    )
    detail = parse_json_page_loket(orjson.dumps({"content": {"id": "x"}}), ctx)
    assert detail.data == [{"id": "x"}] and detail.meta.current_page is None
    vctx = PageContext(url=VALINSO_URL, page=2)
    vpage = parse_json_page_valinso(
        b'{"code":200,"result":[{"id":11},{"id":12}],"paging":{"total":12,"offset":10,"limit":20}}',
        vctx,
    )
    assert vpage.meta.total == 12 and vpage.meta.offset == 10 and vpage.meta.limit == 20
    assert vpage.meta.item_count == 2
    with pytest.raises(ResponseFormatError, match="page: 2"):
        parse_json_page_valinso(b'{"code": 404, "result": "Item not found"}', vctx)
    with pytest.raises(ResponseFormatError, match="result"):
        parse_json_page_valinso(b'{"code": 200}', vctx)
    with pytest.raises(ResponseFormatError, match="not valid JSON"):
        parse_json_page_loket(b'{"_embedded": [', ctx)


def test_a_header_httpx_refuses_to_send_is_a_configuration_error_not_the_network() -> None:
    def answer(query: dict[str, str], n: int) -> Body:
        msg = f"Illegal header value b'Bearer {SECRET}\\n'"
        raise httpx.LocalProtocolError(msg)

    server = FakeServer(answer)
    with pytest.raises(ConfigurationError) as info:
        valinso(server, max_concurrency=1)
    text = str(info.value)
    assert "This is not the network" in text and "control character" in text
    assert SECRET not in text and "page: 1" in text
