"""A load as an iterator of frames: the walk runs in its own thread and hands over batches.

:func:`iterate_load` runs a walk with a ``sink`` (see :func:`~loketvalinso._load.walk.paginate`)
in a background thread and yields its items as DataFrames of about ``batch_rows`` rows, in page
order. At most :data:`_QUEUED` batches wait for the consumer: a slow consumer slows the walk
down instead of letting memory grow. Closing the iterator early (``break``, an exception in the
consumer, garbage collection) ends the walk: its next hand-over raises, the pages not yet sent
are cancelled, and the thread is joined before ``close()`` returns. An error in the walk is
raised in the consumer, once the batches before it were taken.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Sequence

import polars as pl

from loketvalinso._load.pages import ParsedPage

__all__ = ["PageSink", "iterate_load"]

PageSink = Callable[[Sequence[ParsedPage]], None]

#: Batches waiting for the consumer; the walk waits while this many are queued.
_QUEUED = 2


class _Closed(Exception):
    """The consumer closed the iterator: the walk stops at its next hand-over."""


class _Done:
    """The walk finished (the last item put)."""


def iterate_load(
    run: Callable[[PageSink], None],
    *,
    batch_rows: int,
    concat: Callable[[list[pl.DataFrame]], pl.DataFrame],
    empty: Callable[[], pl.DataFrame],
    name: str = "load",
) -> Generator[pl.DataFrame, None, None]:
    """Run ``run(sink)`` in a thread; yield the frames ``sink`` gets, in batches.

    Parameters
    ----------
    run
        Runs the whole load, handing kept pages to ``sink`` (their ``data`` are frames).
    batch_rows
        Rows per yielded frame (the last one may have fewer; one page is never split).
    concat
        Joins page frames into one batch (the loader's ``concat_pages``).
    empty
        The typed empty frame, yielded once when the load has no rows at all.
    name
        The thread's name, for debugging.
    """
    handed: queue.Queue[pl.DataFrame | BaseException | _Done] = queue.Queue(maxsize=_QUEUED)
    closed = threading.Event()

    def put(item: pl.DataFrame | BaseException | _Done) -> None:
        if closed.is_set():
            raise _Closed
        handed.put(item)

    def produce() -> None:
        pending: list[pl.DataFrame] = []
        rows = sent = 0

        def sink(pages: Sequence[ParsedPage]) -> None:
            nonlocal rows, sent
            for page in pages:
                if page.data is not None and len(page.data):
                    pending.append(page.data)
                    rows += len(page.data)
            if rows >= batch_rows:
                put(concat(pending))
                sent += rows
                pending.clear()
                rows = 0

        try:
            run(sink)
            if pending:
                put(concat(pending))
            elif not sent:
                put(empty())
            put(_Done())
        except _Closed:
            return
        except BaseException as exc:
            if not closed.is_set():
                handed.put(exc)

    thread = threading.Thread(target=produce, name=f"loketvalinso-stream:{name}", daemon=True)

    def consume() -> Generator[pl.DataFrame, None, None]:
        thread.start()
        try:
            while True:
                item = handed.get()
                if isinstance(item, _Done):
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            closed.set()
            # A walk blocked on a full queue gets room; its next hand-over sees ``closed``.
            while True:
                try:
                    handed.get_nowait()
                except queue.Empty:
                    break
            thread.join()

    return consume()
