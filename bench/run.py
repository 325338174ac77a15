"""The loketvalinso benchmark: a hand-written baseline, the network floor, cold, warm, parse, memory.

``python -m bench [--repeat N] [--quick] [--latency-ms X] [--vends N] [--leave-requests N]``

The embedded mock runs over real HTTP on loopback in a **separate process** (``bench.server``),
so its request handling does not compete with the client for this process's GIL. Every timing is
the median of ``--repeat`` runs, interleaved (baseline, floor, cold, warm, then again), so a noisy
neighbour hurts all of them alike. See ``bench/README.md`` for what each row means.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import polars as pl

from loketvalinso.mock import MockServer, MockURLs

DATASETS = ("vends", "leave_requests")
VALINSO_LIMIT = 1000
LOKET_PAGE_SIZE = 250
BASELINE_ACCEPT = "application/json;version=2018-01-01"
LEAVE_PATH = "/providers/employers/{employerId}/employees/employments/leaverequests"

#: (key, label, unit, target text) of every row of the table, in order.
ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("rows", "rows loaded", "", ""),
    ("pages", "pages (requests)", "", ""),
    ("baseline_s", "baseline: httpx loop + json.loads + from_dicts", "s", ""),
    ("floor_s", "floor: raw bytes, same concurrency", "s", ""),
    ("cold_s", "cold: toolkit, empty cache", "s", ""),
    ("cold_closed_s", "cold, then close() (cache written)", "s", ""),
    ("warm_s", "warm: toolkit, fresh cache", "s", ""),
    ("baseline_over_cold", "baseline / cold", "x", ">= 6"),
    ("cold_over_floor", "cold / floor", "x", "<= 1.3"),
    ("cold_over_warm", "cold / warm", "x", ">= 20"),
    ("parse_rows_s", "parse: frame builder, one page at a time", "rows/s", ""),
    ("parse_rows_s_par", "parse: fed by the walk's workers", "rows/s", ""),
    ("read_json_rows_s", "parse: pl.read_json on the same bytes, same feeders", "rows/s", ""),
    ("parse_over_read_json", "parse (fed) / pl.read_json", "x", ">= 0.8 (vends)"),
    ("mem_growth_mb", "memory: peak RSS growth, cold load", "MB", ""),
    ("frame_mb", "memory: final frame estimated_size()", "MB", ""),
    ("mem_ratio", "memory: growth / frame size", "x", ""),
    ("buffers_mb", "memory: final frame's Arrow buffers (with string views)", "MB", ""),
    ("mem_ratio_buffers", "memory: growth / frame's Arrow buffers", "x", "<= 3"),
    ("mem_ratio_no_cache", "memory: growth without a cache / frame size", "x", ""),
)
RATIO_KEYS = (
    "baseline_over_cold",
    "cold_over_floor",
    "cold_over_warm",
    "parse_over_read_json",
    "mem_ratio",
    "mem_ratio_buffers",
    "mem_ratio_no_cache",
)


# -- the mock in its own process ------------------------------------------------------------------


@dataclass
class RemoteMock(MockURLs):
    """Stands in for ``lv.mock.MockServer`` when the mock runs in another process."""

    url: str
    credentials: Any
    transport: httpx.BaseTransport = field(default_factory=httpx.HTTPTransport)
    in_process: bool = False

    def as_server(self) -> MockServer:
        """Itself, for ``from_mock``: it has every attribute that reads (but no ``world``)."""
        return cast(MockServer, self)


class MockProcess:
    """``python -m bench.server`` as a context manager yielding a :class:`RemoteMock`."""

    def __init__(self, *, vends: int, leave_requests: int, latency_ms: float, expires: int) -> None:
        self.argv = [
            sys.executable,
            "-m",
            "bench.server",
            f"--vends={vends}",
            f"--leave-requests={leave_requests}",
            f"--latency-ms={latency_ms}",
            f"--expires={expires}",
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> RemoteMock:
        from loketvalinso.mock import Credentials

        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=root, env=env
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            msg = f"the mock process exited with {self.proc.returncode} before it served"
            raise RuntimeError(msg)
        self.info = json.loads(line)
        return RemoteMock(self.info["url"], Credentials(**self.info["credentials"]))

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


# -- baseline: what a user writes by hand ---------------------------------------------------------


def loket_token(remote: RemoteMock) -> str:
    c = remote.credentials
    r = httpx.post(
        remote.token_url,
        data={
            "grant_type": "password",
            "username": c.username,
            "password": c.password,
            "client_id": c.client_id,
            "client_secret": c.client_secret,
        },
    )
    r.raise_for_status()
    return str(r.json()["access_token"])


def baseline_vends(remote: RemoteMock) -> pl.DataFrame:
    items: list[dict[str, Any]] = []
    offset = 0
    with httpx.Client(timeout=60) as client:
        while True:
            r = client.get(
                f"{remote.valinso_url}/vends",
                params={"offset": offset, "limit": VALINSO_LIMIT},
                headers={"api-key": remote.credentials.valinso_api_key},
            )
            r.raise_for_status()
            doc = json.loads(r.content)
            page = doc["result"]
            items.extend(page)
            offset += len(page)
            total = (doc.get("paging") or {}).get("total")
            if not page or len(page) < VALINSO_LIMIT or (total is not None and offset >= total):
                break
    return pl.from_dicts(items)


def baseline_leave(remote: RemoteMock, token: str) -> pl.DataFrame:
    headers = {"Authorization": f"Bearer {token}", "Accept": BASELINE_ACCEPT}
    items: list[dict[str, Any]] = []
    with httpx.Client(timeout=60, headers=headers) as client:
        r = client.get(f"{remote.loket_url}/providers/employers", params={"pageSize": 250})
        r.raise_for_status()
        employers = [e["id"] for e in json.loads(r.content)["_embedded"]]
        for employer in employers:
            url = f"{remote.loket_url}{LEAVE_PATH.format(employerId=employer)}"
            page = 1
            while True:
                r = client.get(url, params={"pageNumber": page, "pageSize": LOKET_PAGE_SIZE})
                r.raise_for_status()
                doc = json.loads(r.content)
                for item in doc["_embedded"]:
                    item["employer_id"] = employer
                    items.append(item)
                if page >= doc["totalPages"]:
                    break
                page += 1
    return pl.from_dicts(items)


# -- floor: the same bytes, the same concurrency, no parsing --------------------------------------


@dataclass
class Listing:
    """One paged listing: its URL, headers and the query params of each page."""

    url: str
    headers: dict[str, str]
    pages: list[dict[str, Any]]
    path_ids: dict[str, str] = field(default_factory=dict)


def plan_listings(remote: RemoteMock, dataset: str, token: str, version: str) -> list[Listing]:
    """Every page the toolkit requests for ``dataset`` (worked out once, not timed)."""
    if dataset == "vends":
        r = httpx.get(
            f"{remote.valinso_url}/vends",
            params={"offset": 0, "limit": VALINSO_LIMIT},
            headers={"api-key": remote.credentials.valinso_api_key},
        )
        total = int(r.json()["paging"]["total"])
        pages = [
            {"offset": o, "limit": VALINSO_LIMIT} for o in range(0, max(total, 1), VALINSO_LIMIT)
        ]
        headers = {"api-key": remote.credentials.valinso_api_key}
        return [Listing(f"{remote.valinso_url}/vends", headers, pages)]
    headers = {"Authorization": f"Bearer {token}", "Accept": f"application/json;version={version}"}
    emp_headers = {"Authorization": f"Bearer {token}", "Accept": BASELINE_ACCEPT}
    r = httpx.get(
        f"{remote.loket_url}/providers/employers",
        params={"pageNumber": 1, "pageSize": LOKET_PAGE_SIZE},
        headers=emp_headers,
    )
    employers = [e["id"] for e in r.json()["_embedded"]]
    out = [
        Listing(
            f"{remote.loket_url}/providers/employers",
            emp_headers,
            [{"pageNumber": 1, "pageSize": LOKET_PAGE_SIZE}],
        )
    ]
    for employer in employers:
        url = f"{remote.loket_url}{LEAVE_PATH.format(employerId=employer)}"
        r = httpx.get(url, params={"pageNumber": 1, "pageSize": LOKET_PAGE_SIZE}, headers=headers)
        n = max(int(r.json()["totalPages"]), 1)
        pages = [{"pageNumber": p, "pageSize": LOKET_PAGE_SIZE} for p in range(1, n + 1)]
        out.append(Listing(url, headers, pages, {"employerId": employer}))
    return out


def floor_fetch(listings: Sequence[Listing], concurrency: int) -> list[list[bytes]]:
    """Page 1 of each listing, then its other pages ``concurrency`` at a time (as the pager)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    out: list[list[bytes]] = []
    with (
        httpx.Client(timeout=60, limits=limits) as client,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        for listing in listings:

            def get(params: dict[str, Any], listing: Listing = listing) -> bytes:
                r = client.get(listing.url, params=params, headers=listing.headers)
                r.raise_for_status()
                return r.content

            first = get(listing.pages[0])
            out.append([first, *pool.map(get, listing.pages[1:])])
    return out


# -- the toolkit ----------------------------------------------------------------------------------


#: Extra options for the toolkit's clients (``--no-json-check`` sets a retry policy).
CLIENT_OPTIONS: dict[str, Any] = {}


def toolkit_client(remote: RemoteMock, dataset: str, cache: Any, **options: Any) -> Any:
    import loketvalinso as lv

    options = {**CLIENT_OPTIONS, **options}
    if dataset == "vends":
        return lv.Valinso.from_mock(remote.as_server(), cache=cache, progress=False, **options)
    return lv.Loket.from_mock(
        remote.as_server(), flow="password", cache=cache, progress=False, **options
    )


def toolkit_load(client: Any, dataset: str) -> pl.DataFrame:
    if dataset == "vends":
        return client.vends()
    employers = client.employers()["id"].to_list()
    return pl.concat([client.leave_requests(e) for e in employers], how="vertical")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def frame_spec(dataset: str, version: str) -> Any:
    from loketvalinso._frames.spec import schema_for, valinso_spec

    if dataset == "vends":
        return valinso_spec("vends")
    return schema_for(LEAVE_PATH, version)


def parse_rate(
    listings: Sequence[Listing],
    bodies: list[list[bytes]],
    dataset: str,
    version: str,
    feeders: int,
) -> tuple[float, int]:
    """Rows per second of the toolkit's frame decoder on already-fetched bytes.

    The decoder is driven as the walk drives it: ``feeders`` threads (the walk's fetch
    workers; 1 = one page at a time) hand each body to ``decode``, which builds the page on the
    parse threads (``_load.pools.PARSE_THREADS``); every ``_CONVERT_BATCH`` decoded pages of a
    listing go to ``convert_later`` (converted together on the parse threads while later pages
    decode), and what is left is converted by ``convert`` at the end.
    """
    from loketvalinso._frames.parse import is_raw
    from loketvalinso._load.decode import FrameDecoder
    from loketvalinso._load.pages import PageContext
    from loketvalinso._load.walk import _CONVERT_BATCH

    spec = frame_spec(dataset, version)
    jobs = []
    for listing, pages in zip(listings, bodies, strict=True):
        if dataset != "vends" and not listing.path_ids:
            continue  # the employers page is not part of the leave-request frame
        decoder = FrameDecoder(spec, listing.path_ids)
        for i, body in enumerate(pages, 1):
            jobs.append((decoder, body, PageContext(url=listing.url, page=i)))

    def one(job: tuple[Any, bytes, Any]) -> tuple[Any, Any]:
        decoder, body, ctx = job
        return decoder, decoder.decode(body, ctx)

    pool = ThreadPoolExecutor(feeders) if feeders > 1 else None
    if pool:
        list(pool.map(time.sleep, [0.005] * feeders))  # its threads started before the clock
    start = time.perf_counter()
    done = []
    waiting: dict[int, tuple[Any, list[Any]]] = {}  # per decoder: its pages not yet converted
    later = []
    for decoder, page in pool.map(one, jobs) if pool else map(one, jobs):
        done.append(page)
        pending = waiting.setdefault(id(decoder), (decoder, []))[1]
        pending.append(page)
        if pool and len(pending) >= _CONVERT_BATCH:
            later.append(decoder.convert_later(list(pending)))
            pending.clear()
    for future in later:
        future.result()
    for decoder, pending in waiting.values():
        if pending:
            decoder.convert(pending)
    elapsed = time.perf_counter() - start
    if pool:
        pool.shutdown()
    rows = sum(int(page.meta.item_count) for page in done)
    assert all(not is_raw(page.data) for page in done)
    return rows / elapsed, rows


def read_json_rate(
    listings: Sequence[Listing], bodies: list[list[bytes]], dataset: str, feeders: int
) -> float:
    """Rows per second of Polars' own ``pl.read_json`` on the same bytes (schema inferred),
    fed by the same ``feeders`` threads: the yardstick of the parse rate."""
    work = [
        body
        for listing, pages in zip(listings, bodies, strict=True)
        if dataset == "vends" or listing.path_ids
        for body in pages
    ]

    def one(body: bytes) -> int:
        return pl.read_json(body).height

    pool = ThreadPoolExecutor(feeders) if feeders > 1 else None
    if pool:
        list(pool.map(time.sleep, [0.005] * feeders))
    rows_key = "result" if dataset == "vends" else "_embedded"
    rows = sum(len(orjson.loads(body)[rows_key]) for body in work)
    start = time.perf_counter()
    list(pool.map(one, work) if pool else map(one, work))
    elapsed = time.perf_counter() - start
    if pool:
        pool.shutdown()
    return rows / elapsed


def memory_probe(remote: RemoteMock, dataset: str, *, cache: bool = True) -> dict[str, float]:
    """Run :mod:`bench.memory` in a fresh process (clean RSS) and return its numbers; ``cache``
    False loads without a disk cache (what the cache adds to the peak)."""
    payload = {
        "url": remote.url,
        "credentials": {
            k: getattr(remote.credentials, k)
            for k in (
                "client_id",
                "client_secret",
                "redirect_uri",
                "username",
                "password",
                "valinso_api_key",
            )
        },
        "dataset": dataset,
        "no_json_check": bool(CLIENT_OPTIONS),
        "no_cache": not cache,
    }
    return child_json("bench.memory", payload)


def child_json(module: str, payload: dict[str, Any], *args: str) -> dict[str, Any]:
    """Run ``python -m module *args`` in a fresh process with ``payload`` as JSON on its
    standard input; its last line of output, as JSON."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        check=True,
        timeout=600,
    )
    return cast(dict[str, Any], json.loads(done.stdout.strip().splitlines()[-1]))


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Options:
    repeat: int = 5
    vends: int = 200_000
    leave_requests: int = 50_000
    latency_ms: float = 25
    concurrency: int = 8
    memory_runs: int = 3
    datasets: tuple[str, ...] = DATASETS


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(opts: Options) -> dict[str, dict[str, float]]:
    """Measure every row of :data:`ROWS` for each dataset; returns ``{dataset: {key: value}}``."""
    import loketvalinso as lv

    results: dict[str, dict[str, float]] = {}
    _log(
        f"mock: {opts.vends} vends, ~{opts.leave_requests} leave requests, "
        f"latency {opts.latency_ms} ms, Expires +3600 s (separate process)"
    )
    with MockProcess(
        vends=opts.vends,
        leave_requests=opts.leave_requests,
        latency_ms=opts.latency_ms,
        expires=3600,
    ) as remote:
        token = loket_token(remote)
        with lv.Loket.from_mock(
            remote.as_server(), flow="password", cache=False, progress=False
        ) as probe:
            version = probe.resolve_version("leave_requests")
        for dataset in opts.datasets:
            listings = plan_listings(remote, dataset, token, version)
            n_pages = sum(len(x.pages) for x in listings)
            _log(f"{dataset}: {n_pages} pages; one unmeasured pass to warm the mock")
            bodies = floor_fetch(listings, opts.concurrency)
            times: dict[str, list[float]] = {
                "baseline": [],
                "floor": [],
                "cold": [],
                "cold_closed": [],
                "warm": [],
            }
            rows = 0
            for i in range(opts.repeat):
                t, base = timed(
                    partial(baseline_vends, remote)
                    if dataset == "vends"
                    else partial(baseline_leave, remote, token)
                )
                times["baseline"].append(t)
                t, bodies = timed(partial(floor_fetch, listings, opts.concurrency))
                times["floor"].append(t)
                folder = Path(tempfile.mkdtemp(prefix="lv-bench-cache-"))
                try:
                    client = toolkit_client(remote, dataset, folder)
                    try:
                        t, cold = timed(partial(toolkit_load, client, dataset))
                    finally:
                        # the cache is written after the load returns: close() waits for it
                        t_close, _ = timed(client.close)
                    times["cold"].append(t)
                    times["cold_closed"].append(t + t_close)
                    client = toolkit_client(remote, dataset, folder)
                    try:
                        t, warm = timed(partial(toolkit_load, client, dataset))
                        hits = client.last_load
                    finally:
                        client.close()
                    times["warm"].append(t)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                if not warm.equals(cold):
                    msg = f"{dataset}: the warm load differs from the cold load"
                    raise AssertionError(msg)
                if cold.height != base.height:
                    msg = f"{dataset}: toolkit {cold.height} rows, baseline {base.height}"
                    raise AssertionError(msg)
                rows = cold.height
                _log(
                    f"  run {i + 1}: baseline {times['baseline'][-1]:.3f} s, floor "
                    f"{times['floor'][-1]:.3f} s, cold {times['cold'][-1]:.3f} s, warm "
                    f"{times['warm'][-1]:.4f} s (last warm load: {_cache_use(hits)})"
                )
            med = {k: statistics.median(v) for k, v in times.items()}
            par = [
                parse_rate(listings, bodies, dataset, version, 1)[0]
                for _ in range(max(3, opts.repeat))
            ]
            # the decoder and Polars' own reader on the same bytes, interleaved
            par2, read_json = [], []
            for _ in range(max(3, opts.repeat)):
                par2.append(parse_rate(listings, bodies, dataset, version, opts.concurrency)[0])
                read_json.append(read_json_rate(listings, bodies, dataset, opts.concurrency))
            # with and without a cache, interleaved
            runs = max(1, opts.memory_runs)
            pairs = [
                (memory_probe(remote, dataset), memory_probe(remote, dataset, cache=False))
                for _ in range(runs)
            ]
            mems = [with_cache for with_cache, _ in pairs]
            growth = statistics.median(m["growth_bytes"] for m in mems)
            size = statistics.median(m["frame_bytes"] for m in mems)
            buffers = statistics.median(m["buffer_bytes"] for m in mems)
            growth_no_cache = statistics.median(m["growth_bytes"] for _, m in pairs)
            results[dataset] = {
                "rows": rows,
                "pages": n_pages,
                "baseline_s": med["baseline"],
                "floor_s": med["floor"],
                "cold_s": med["cold"],
                "cold_closed_s": med["cold_closed"],
                "warm_s": med["warm"],
                "baseline_over_cold": med["baseline"] / med["cold"],
                "cold_over_floor": med["cold"] / med["floor"],
                "cold_over_warm": med["cold"] / med["warm"],
                "parse_rows_s": statistics.median(par),
                "parse_rows_s_par": statistics.median(par2),
                "read_json_rows_s": statistics.median(read_json),
                "parse_over_read_json": statistics.median(par2) / statistics.median(read_json),
                "mem_growth_mb": growth / 2**20,
                "frame_mb": size / 2**20,
                "mem_ratio": growth / size if size else math.nan,
                "buffers_mb": buffers / 2**20,
                "mem_ratio_buffers": growth / buffers if buffers else math.nan,
                "mem_ratio_no_cache": growth_no_cache / size if size else math.nan,
            }
    return results


def _cache_use(report: Any) -> str:
    if report is None:
        return "?"
    return f"{getattr(report, 'cache_hits', '?')} hits, {getattr(report, 'misses', '?')} misses"


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f}" if value >= 0.1 else f"{value * 1000:.1f} ms"
    if unit == "x":
        return f"{value:.2f}"
    if unit == "rows/s":
        return f"{value / 1e6:.2f} M"
    if unit == "MB":
        return f"{value:.1f}"
    return f"{int(value):,}"


def format_table(results: dict[str, dict[str, float]]) -> str:
    """The results as one Markdown table (a row per metric, a column per dataset)."""
    datasets = [d for d in DATASETS if d in results]
    head = ["metric", "unit", *datasets, "target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, label, unit, target in ROWS:
        cells = [_fmt(results[d][key], unit) for d in datasets]
        lines.append("| " + " | ".join([label, unit or "-", *cells, target or "-"]) + " |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> tuple[Options, argparse.Namespace]:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    ap.add_argument("--quick", action="store_true", help="tiny world, 1 run: a smoke test")
    ap.add_argument("--vends", type=int, default=200_000)
    ap.add_argument("--leave-requests", type=int, default=50_000)
    ap.add_argument("--latency-ms", type=float, default=25)
    ap.add_argument("--concurrency", type=int, default=8, help="the toolkit's default is 8")
    ap.add_argument("--memory-runs", type=int, default=3)
    ap.add_argument("--dataset", choices=DATASETS, action="append", help="default: both")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument(
        "--no-json-check",
        action="store_true",
        help="clients with RetryPolicy(retry_invalid_json=False): no orjson check of every body",
    )
    ns = ap.parse_args(argv)
    opts = Options(
        repeat=ns.repeat,
        vends=ns.vends,
        leave_requests=ns.leave_requests,
        latency_ms=ns.latency_ms,
        concurrency=ns.concurrency,
        memory_runs=ns.memory_runs,
        datasets=tuple(ns.dataset or DATASETS),
    )
    if ns.quick:
        opts.repeat, opts.vends, opts.leave_requests = 1, 3_000, 1_500
        opts.latency_ms, opts.memory_runs = 2, 1
    return opts, ns


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["sync"]:
        from bench.sync import main as sync_main

        return sync_main(args[1:])
    opts, ns = parse_args(args)
    CLIENT_OPTIONS.clear()
    if ns.no_json_check:
        from loketvalinso._transport.retry import RetryPolicy

        CLIENT_OPTIONS["retry"] = RetryPolicy(retry_invalid_json=False)
    results = run(opts)
    table = format_table(results)
    print(table)
    if ns.json:
        ns.json.write_text(json.dumps(results, indent=2))
    return 0
