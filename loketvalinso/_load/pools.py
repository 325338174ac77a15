"""The threads loads run on: the page pool (fetch workers) and the parse pool (frame builders).

Both are made on first use and shared by every load of the process:

* **page pool** (:func:`page_pool`, :data:`PAGE_THREADS`): a walk's fetch workers, up to
  ``2 * max_concurrency`` per walk. A new pool per walk would start its threads on the caller's
  critical path. A walk that needs more threads than the shared pool has, or that runs on a page
  thread itself (a decoder that walks another listing), gets a pool of its own, so it never
  waits on itself.
* **parse pool** (:func:`parse_pool`, :data:`PARSE_THREADS`): the few threads that build
  frames. The fetch workers hand their bodies over instead of parsing in place: more parsing
  threads than cores buys no speed, and every thread that allocates keeps its own arena of freed
  memory (peak memory grows with the number of parsing threads).

The third kind of background work, the cache's writer, is below this layer
(:mod:`loketvalinso._transport.background`): it waits while a load is in progress.

Clients say when they open and close (:func:`client_opened`, :func:`client_closed`): when no
client has been open for :data:`IDLE_SECONDS`, the pools and the writer stop, so a notebook that
closed its clients holds no thread (and no SQLite connection of a pool thread) of this package.
The wait keeps the threads for a client opened right after another closed (a new session on the
same cache): threads that have run loads already reuse their memory, new ones fault it in again,
which made the next cold load measurably slower (see ``bench/README.md``). The next load starts
them again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from loketvalinso._transport.background import stop_writer

__all__ = [
    "IDLE_SECONDS",
    "PAGE_THREADS",
    "PARSE_THREADS",
    "client_closed",
    "client_opened",
    "map_bounded",
    "on_parse_thread",
    "page_pool",
    "parse_pool",
    "stop_if_idle",
]

_T = TypeVar("_T")
_R = TypeVar("_R")

#: Threads of the shared page pool.
PAGE_THREADS = 32
#: Threads that build frames (capped by the number of cores).
PARSE_THREADS = 2
#: Seconds without an open client before the threads stop.
IDLE_SECONDS = 5.0

_PAGE_THREAD_PREFIX = "loketvalinso-page"
_PARSE_THREAD_PREFIX = "loketvalinso-parse"
_lock = threading.Lock()
_page_pool: ThreadPoolExecutor | None = None
_parse_pool: ThreadPoolExecutor | None = None
_open_clients = 0
_idle_timer: threading.Timer | None = None


def client_opened() -> None:
    """Count a client that may run loads on the pools."""
    global _open_clients, _idle_timer
    with _lock:
        _open_clients += 1
        timer, _idle_timer = _idle_timer, None
    if timer is not None:
        timer.cancel()


def client_closed() -> None:
    """Count a client closed; :data:`IDLE_SECONDS` after the last one, the threads stop."""
    global _open_clients, _idle_timer
    with _lock:
        _open_clients = max(0, _open_clients - 1)
        if _open_clients:
            return
        if IDLE_SECONDS <= 0:
            timer = None
        else:
            if _idle_timer is not None:
                _idle_timer.cancel()
            timer = _idle_timer = threading.Timer(IDLE_SECONDS, stop_if_idle)
            timer.name = "loketvalinso-idle"
            timer.daemon = True
    if timer is None:
        stop_if_idle()
    else:
        timer.start()


def stop_if_idle() -> None:
    """Stop the pools and the cache writer if no client is open (they restart on use)."""
    global _page_pool, _parse_pool, _idle_timer
    with _lock:
        if _open_clients:
            return
        pools, _page_pool, _parse_pool = (_page_pool, _parse_pool), None, None
        if _idle_timer is threading.current_thread():
            _idle_timer = None
    for pool in pools:
        if pool is not None:
            pool.shutdown(wait=True)
    stop_writer()


def page_pool(threads: int) -> tuple[ThreadPoolExecutor, bool]:
    """The pool a walk's page workers run on, and whether the walk owns it (and shuts it down)."""
    global _page_pool
    on_page_thread = threading.current_thread().name.startswith(_PAGE_THREAD_PREFIX)
    if threads > PAGE_THREADS or on_page_thread:
        return ThreadPoolExecutor(threads, thread_name_prefix=_PAGE_THREAD_PREFIX + "-own"), True
    with _lock:
        if _page_pool is None:
            _page_pool = ThreadPoolExecutor(PAGE_THREADS, thread_name_prefix=_PAGE_THREAD_PREFIX)
        return _page_pool, False


def parse_pool() -> ThreadPoolExecutor:
    """The threads that build frames for every walk (one per core, at most PARSE_THREADS)."""
    global _parse_pool
    if _parse_pool is None:
        with _lock:
            if _parse_pool is None:
                workers = max(1, min(PARSE_THREADS, os.cpu_count() or 1))
                _parse_pool = ThreadPoolExecutor(workers, thread_name_prefix=_PARSE_THREAD_PREFIX)
    return _parse_pool


def on_parse_thread() -> bool:
    """Whether the caller runs on the parse pool (it must not wait on that pool)."""
    return threading.current_thread().name.startswith(_PARSE_THREAD_PREFIX)


def map_bounded(fn: Callable[[_T], _R], items: Sequence[_T], limit: int) -> list[_R]:
    """``[fn(item) for item in items]`` on the page pool, at most ``limit`` at a time.

    For walks over many parents (leave per employment). The first exception is raised once the
    calls already running have ended; calls not yet started are not made.
    """
    if not items:
        return []
    limit = max(1, min(limit, len(items)))
    pool, own = page_pool(limit)
    results: dict[int, _R] = {}
    running: dict[Future[_R], int] = {}
    queued = iter(enumerate(items))
    failure: BaseException | None = None
    try:
        while True:
            while failure is None and len(running) < limit:
                nxt = next(queued, None)
                if nxt is None:
                    break
                running[pool.submit(fn, nxt[1])] = nxt[0]
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                try:
                    results[index] = future.result()
                except BaseException as exc:
                    failure = failure or exc
    finally:
        if own:
            pool.shutdown(wait=True)
    if failure is not None:
        raise failure
    return [results[i] for i in range(len(items))]
