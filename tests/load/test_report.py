"""LoadReport counters and rendering; the progress display (off unless interactive, no secrets)."""

from __future__ import annotations

import io
import threading
import warnings
from typing import Any

import httpx
import orjson
import pytest

import loketvalinso as lv
from loketvalinso._load import progress as progress_mod
from loketvalinso._load.progress import NullProgress, TqdmProgress, make_progress, safe_label
from loketvalinso._load.report import LoadReport
from loketvalinso._load.strategies import OffsetLimitPaging, PageNumberPaging
from loketvalinso._load.walk import paginate
from tests.json_pages import LOKET, VALINSO

pytestmark = pytest.mark.timeout(20)

SECRET = "s3cr3t-api-key-value"
URL = "https://api.example.test/v2/providers/employers/E1/employees"


def loket_handler(total: int, extensions: dict[int, dict[str, Any]] | None = None) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["pageNumber"])
        size = int(request.url.params["pageSize"])
        body = {
            "currentPage": page,
            "pageSize": size,
            "totalPages": -(-total // size),
            "totalSize": total,
            "version": {
                "obsoleteDate": "2026-06-30" if page == 2 else None,
                "resourceVersion": "2021-03-29",
            },
            "_embedded": [{"id": i} for i in range((page - 1) * size, min(page * size, total))],
        }
        return httpx.Response(
            200, content=orjson.dumps(body), extensions=(extensions or {}).get(page, {})
        )

    return handler


# -- counters ------------------------------------------------------------------------------------


def test_record_response_reads_cache_and_retry_extensions() -> None:
    report = LoadReport()
    for outcome, retries in [
        ("hit", 1),
        ("hit", None),
        ("revalidated", 2),
        ("miss", 3),
        ("stale", 1),
        (None, 1),
        ("bogus", "x"),
    ]:
        ext: dict[str, Any] = {}
        if outcome is not None:
            ext["loketvalinso.cache"] = outcome
        if retries is not None:
            ext["loketvalinso.retries"] = retries
        report.record_response(httpx.Response(200, extensions=ext))
    assert report.requests == 7
    assert (report.cache_hits, report.revalidations, report.misses, report.stale) == (3, 1, 1, 1)
    assert report.retries == 1 + 2 + 3 + 1 + 1  # the retries each response says were made
    assert report.etag is None  # no response carried one


def test_the_etag_of_a_detail_is_kept_and_merged() -> None:
    detail = LoadReport()
    detail.record_response(httpx.Response(200, headers={"ETag": '"v1"'}))
    detail.record_response(httpx.Response(200))  # a later answer without one keeps it
    assert detail.etag == '"v1"' and detail.summary()["etag"] == '"v1"'
    assert "etag" in detail._repr_html_()
    merged = LoadReport()
    merged.merge(detail)
    assert merged.etag == '"v1"'


def test_paginate_fills_the_report() -> None:
    extensions = {
        1: {"loketvalinso.cache": "miss", "loketvalinso.retries": 3},
        2: {"loketvalinso.cache": "hit"},
        3: {"loketvalinso.cache": "revalidated", "loketvalinso.retries": 2},
    }
    report = LoadReport()
    with (
        httpx.Client(transport=httpx.MockTransport(loket_handler(25, extensions))) as client,
        report.timed(),
    ):
        pages = paginate(
            client,
            URL,
            strategy=PageNumberPaging(page_size=10),
            **LOKET,
            params={"api_key": SECRET},
            report=report,
            label="employees",
        )
    assert sum(p.meta.item_count for p in pages) == 25
    assert report.label == "employees" and SECRET not in (report.url or "")
    assert report.url and report.url.startswith(URL) and "api_key=***" in report.url
    assert (report.requests, report.pages, report.rows) == (3, 3, 25)
    assert (report.cache_hits, report.revalidations, report.misses) == (1, 1, 1)
    assert report.retries == 5  # 3 + 2, as the retry layer marks them
    assert report.versions == {"2021-03-29"} and report.obsolete_dates == {"2026-06-30"}
    assert report.status == "ok" and report.warnings == [] and report.error is None
    assert report.started_at is not None and report.elapsed >= 0


def test_one_report_accumulates_over_many_calls_and_merge_adds_up() -> None:
    shared = LoadReport()
    parts = []
    with httpx.Client(transport=httpx.MockTransport(loket_handler(25))) as client:
        for _ in range(3):
            part = LoadReport()
            paginate(
                client,
                URL,
                strategy=PageNumberPaging(page_size=10),
                **LOKET,
                report=shared,
            )
            with part.timed():
                paginate(
                    client,
                    URL,
                    strategy=PageNumberPaging(page_size=10),
                    **LOKET,
                    report=part,
                )
            parts.append(part)
    assert (shared.requests, shared.pages, shared.rows) == (9, 9, 75)
    merged = LoadReport(label="leave")
    for part in parts:
        merged.merge(part)
    assert (merged.requests, merged.pages, merged.rows) == (9, 9, 75)
    assert merged.label == "leave" and merged.versions == {"2021-03-29"}
    assert merged.started_at == min(p.started_at for p in parts if p.started_at)
    assert merged.elapsed >= max(p.elapsed for p in parts)
    warned = LoadReport()
    warned.add_warning("something odd")
    merged.merge(warned)
    assert merged.status == "warning" and merged.warnings == ["something odd"]
    failed = LoadReport()
    failed.set_error("boom")
    assert merged.merge(failed).status == "error" and merged.error == "boom"
    assert merged.merge(merged) is merged


def test_updates_are_thread_safe() -> None:
    report = LoadReport()
    response = httpx.Response(
        200, extensions={"loketvalinso.cache": "hit", "loketvalinso.retries": 2}
    )

    def work() -> None:
        for _ in range(2000):
            report.record_response(response)
            report.record_page(3, {"resourceVersion": "2018-01-01"})

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert report.requests == report.cache_hits == report.pages == 16_000
    assert report.retries == 32_000 and report.rows == 48_000


def test_repr_is_one_line_and_html_is_a_small_escaped_table() -> None:
    report = LoadReport(label="vends <all>")
    report.start(url=f"https://x.test/vends?api_key={SECRET}&from=1")
    report.record_response(httpx.Response(200, extensions={"loketvalinso.cache": "miss"}))
    report.record_page(12, {"resourceVersion": "2018-01-01"})
    report.add_warning("page 2 <b>short</b>")
    report.finish()
    text = repr(report)
    assert "\n" not in text and text.startswith("LoadReport(")
    assert "rows=12" in text and "status='warning'" in text and SECRET not in text
    page = report._repr_html_()
    assert page.startswith("<table") and page.endswith("</table>")
    assert "vends &lt;all&gt;" in page and "&lt;b&gt;short&lt;/b&gt;" in page
    assert "<b>short</b>" not in page and SECRET not in page
    assert LoadReport()._repr_html_().startswith("<table")
    assert report.summary()["rows"] == 12


def test_failed_load_report_says_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"code": 503, "result": "down"})

    report = LoadReport()
    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as client,
        pytest.raises(Exception, match="503"),
        report.timed(),
    ):
        paginate(
            client,
            "https://v.test/api/head/valinso_api/vends",
            strategy=OffsetLimitPaging(),
            **VALINSO,
            report=report,
        )
    assert report.status == "error" and report.error and "503" in report.error
    assert report.requests == 1 and report.pages == 0


# -- progress ------------------------------------------------------------------------------------


def test_progress_is_off_when_not_interactive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_mod.sys, "stderr", io.StringIO())
    assert not progress_mod.is_interactive()
    assert isinstance(make_progress(50, enabled=None, desc="vends"), NullProgress)
    assert isinstance(make_progress(50, enabled=False, desc="vends"), NullProgress)


def test_progress_auto_needs_more_than_one_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_mod, "is_interactive", lambda: True)
    stream = io.StringIO()
    monkeypatch.setattr(progress_mod.sys, "stderr", stream)
    assert isinstance(make_progress(1, enabled=None, desc="x"), NullProgress)
    bar = make_progress(3, enabled=None, desc="x")
    assert isinstance(bar, TqdmProgress)
    bar.close()
    unknown = make_progress(None, enabled=None, desc="x")
    assert isinstance(unknown, TqdmProgress)
    unknown.close()


def test_a_tty_on_stderr_counts_as_interactive(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(progress_mod.sys, "stderr", Tty())
    assert progress_mod.is_interactive()


def test_safe_label_never_keeps_a_query() -> None:
    assert safe_label(f"https://h.test/v2/x/vends?api_key={SECRET}") == "vends"
    assert safe_label(f"/vends?api-key={SECRET}") == "vends"
    assert safe_label("leave requests") == "leave requests"
    assert safe_label(None) == ""
    assert len(safe_label("x" * 200)) <= 48


def test_progress_bar_shows_pages_and_rows_and_no_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with httpx.Client(transport=httpx.MockTransport(loket_handler(45))) as client:
        paginate(
            client,
            f"{URL}?api_key={SECRET}",
            strategy=PageNumberPaging(page_size=10),
            **LOKET,
            params={"access_token": SECRET},
            progress=True,
        )
    err = capsys.readouterr().err
    assert "employees" in err and "45 rows" in err and "5/5" in err
    assert SECRET not in err and "api_key" not in err


def test_paginate_uses_a_callers_progress_object_without_closing_it() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.pages = self.rows = 0
            self.closed = False

        def update(self, pages: int = 1, rows: int = 0) -> None:
            self.pages += pages
            self.rows += rows

        def set_total(self, total_pages: int | None) -> None:
            pass

        def close(self) -> None:
            self.closed = True

    recorder = Recorder()
    with httpx.Client(transport=httpx.MockTransport(loket_handler(45))) as client:
        paginate(
            client,
            URL,
            strategy=PageNumberPaging(page_size=10),
            **LOKET,
            progress=recorder,
        )
    assert (recorder.pages, recorder.rows, recorder.closed) == (5, 45, False)


# -- through the real stack ----------------------------------------------------------------------


def test_retries_reported_are_the_errors_the_server_answered() -> None:
    """Over real HTTP with 8 % 5xx: every error the mock answered was retried once more, and the
    load report says exactly that many retries (the retry layer's count, not one less)."""
    sizes = lv.mock.sizes_for(vends=20_000, leave_requests=400)
    with lv.mock.serve(seed=7, sizes=sizes, error_rate=0.08) as m:
        client = lv.Valinso.from_mock(m, cache=False, progress=False, limit=200)
        m.faults.reset_counts()
        vends = client.vends()
        counts = m.faults.counts
        client.close()
    report = client.last_load
    assert report is not None and vends.height == m.world.vends.height
    assert counts["server_errors"] > 0  # the faults were on
    assert report.retries == counts["server_errors"]
    assert report.requests + report.retries == counts["requests"] == report.pages + report.retries


# -- the drift account ---------------------------------------------------------------------------


def _record(column: str, **changes: Any) -> dict[str, Any]:
    record = {
        "column": column,
        "path": column,
        "kind": "values",
        "declared": "Int32",
        "arrived": ["string"],
        "values": 1,
        "coerced": 1,
        "nulled": 0,
        "examples": ["<b>12</b>"],
    }
    return {**record, **changes}


def test_drift_adds_up_over_merges_and_shows_escaped() -> None:
    first = LoadReport(label="vends")
    first.add_drift("vends", [_record("quantity")])
    second = LoadReport(label="vends")
    second.add_drift("vends", [_record("quantity", values=2, coerced=0, nulled=2, examples=["x"])])
    second.add_drift("vends", [_record("qty", kind="undeclared", declared=None, coerced=0)])
    merged = LoadReport(label="vends").merge(first).merge(second)
    rows = {r["column"]: r for r in merged.drift.to_dicts()}
    assert set(rows) == {"quantity", "qty"}
    quantity = rows["quantity"]
    assert (quantity["values"], quantity["coerced"], quantity["nulled"]) == (3, 1, 2)
    assert quantity["examples"] == ["<b>12</b>", "x"] and quantity["resource"] == "vends"
    assert [r["column"] for r in merged.summary()["drift"]] == ["quantity", "qty"]
    assert "drift=2 columns" in repr(merged)
    html = merged._repr_html_()
    assert "&lt;b&gt;12&lt;/b&gt;" in html and "<b>12</b>" not in html
    assert first.drift.height == 1  # merging copies: the parts keep their own


def test_settle_drift_warns_once_or_raises_in_strict_mode() -> None:
    quiet = LoadReport(label="vends")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.settle_drift()  # nothing drifted: no warning
    assert quiet.status == "ok"

    report = LoadReport(label="vends", url=f"https://x.test/vends?api_key={SECRET}")
    report.add_drift("vends", [_record("quantity", kind="missing", declared="Int32")])
    report.add_drift("vends", [_record("qty", kind="undeclared", declared=None)])
    with pytest.warns(lv.SchemaDriftWarning) as caught:
        report.settle_drift()
    (warning,) = caught
    text = str(warning.message)
    assert text.startswith("vends: data off the schema — ")
    assert "quantity (Int32, never arrived)" in text and "qty (undeclared" in text
    assert warning.filename == __file__  # pointed at the caller, outside the package
    assert report.status == "warning" and report.warnings == [text]

    with pytest.raises(lv.SchemaDriftError, match="strict=True") as info:
        report.settle_drift(strict=True)
    assert SECRET not in str(info.value) and "api_key=***" in str(info.value)
