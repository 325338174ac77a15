"""Background work waits while a load is in progress.

The cache's background writer (SQLite writes of the pages, the parsed listing blob) is an
optimisation for *later* loads. Run during a walk, it competes with the walk's fetch and parse
threads for the cores and the GIL (``bench/README.md`` has what that cost). So every load runs
marked with :func:`load_in_progress` (``LoadReport.timed`` does it), and the writer calls
:func:`wait_until_quiet` before each piece of work. Quiet means no load for
:data:`SETTLE_SECONDS`: loads run back to back (a loop over employers) count as one, so the first
one's writes do not start in the moment between it and the next.

Nothing waits for ever, and nothing waits on a reader:

* a caller that needs the writes done now (``flush_background_writes``: a warm read of a cached
  listing, ``close()``, interpreter exit) opens the gate with :func:`urgent`;
* the writer stops waiting when the work held back grows past what it may hold
  (``give_up()``, the cache's pending bytes) or after ``timeout`` seconds.

The writer itself (:func:`submit_background_write`) is one thread for the whole process: jobs
run in submission order, so a listing kept after its pages is written after them. The cache's
store and the frame cache both hand it their writes; :func:`flush_background_writes` waits for
them. This module imports nothing of its own package, so every layer may use it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait

__all__ = [
    "MAX_HOLD_BYTES",
    "MAX_HOLD_SECONDS",
    "SETTLE_SECONDS",
    "WRITE_BATCH",
    "flush_background_writes",
    "hold",
    "holding_too_much",
    "load_in_progress",
    "loads_in_progress",
    "stop_writer",
    "submit_background_write",
    "urgent",
    "wait_until_quiet",
]

#: Seconds without a load before background work starts.
SETTLE_SECONDS = 0.25

_cond = threading.Condition()
_loads = 0
_urgent = 0
_last_end = float("-inf")  # time.monotonic() when the last load ended


@contextlib.contextmanager
def load_in_progress() -> Iterator[None]:
    """Mark a load (or walk) as in progress for as long as the ``with`` block runs (they nest)."""
    global _loads, _last_end
    with _cond:
        _loads += 1
    try:
        yield
    finally:
        with _cond:
            _loads -= 1
            if _loads == 0:
                _last_end = time.monotonic()
                _cond.notify_all()


@contextlib.contextmanager
def urgent() -> Iterator[None]:
    """Let background work run now, walk or no walk, for as long as the block runs."""
    global _urgent
    with _cond:
        _urgent += 1
        _cond.notify_all()
    try:
        yield
    finally:
        with _cond:
            _urgent -= 1


def loads_in_progress() -> int:
    """How many loads (and walks) are in progress in this process."""
    return _loads


def wait_until_quiet(
    *,
    timeout: float,
    give_up: Callable[[], bool] | None = None,
    poll: float = 0.1,
    settle: float = SETTLE_SECONDS,
) -> bool:
    """Block until no load has been in progress for ``settle`` seconds; returns whether it was
    quiet (False: gave up or timed out). :func:`urgent` ends the wait at once.

    Parameters
    ----------
    timeout : float
        Seconds to wait at most.
    give_up : callable, optional
        Checked every ``poll`` seconds: True stops the wait (too much work held back).
    poll : float, default 0.1
        Seconds between checks of ``give_up`` and of the clock.
    settle : float, default SETTLE_SECONDS
        Seconds that must have passed since the last load ended.
    """
    deadline = time.monotonic() + timeout
    with _cond:
        while not _urgent:
            now = time.monotonic()
            unsettled = 0.0 if _loads else settle - (now - _last_end)
            if not _loads and unsettled <= 0:
                break
            remaining = deadline - now
            if remaining <= 0 or (give_up is not None and give_up()):
                return False
            step = min(remaining, poll)
            _cond.wait(min(step, unsettled) if unsettled > 0 else step)
    return True


# -- the writer ----------------------------------------------------------------------------------

_log = logging.getLogger("loketvalinso.cache")
_WRITER: ThreadPoolExecutor | None = None
_WRITER_NAME = "loketvalinso-cache-writer"
_PENDING_WRITES: set[Future[None]] = set()
_WRITER_LOCK = threading.Lock()


def submit_background_write(write: Callable[[], None]) -> None:
    """Run ``write`` on the one background cache writer thread (created on first use).

    Writes run in submission order, so a listing kept after its pages is written after them.
    What is written this way is an optimisation: an exception is logged and dropped.
    """
    global _WRITER
    with _WRITER_LOCK:
        if _WRITER is None:
            _WRITER = ThreadPoolExecutor(1, thread_name_prefix=_WRITER_NAME)
            atexit.register(flush_background_writes)

        submitted = time.monotonic()

        def guarded() -> None:
            try:
                # held while a load is in progress (see the module docstring), for
                # MAX_HOLD_SECONDS after it was submitted at most: a long load's work is done
                # that long after it came in, not that long after the job before it
                held_for = time.monotonic() - submitted
                wait_until_quiet(timeout=MAX_HOLD_SECONDS - held_for, give_up=holding_too_much)
                write()
            except Exception as exc:
                _log.debug("a background cache write failed: %s", type(exc).__name__)

        future = _WRITER.submit(guarded)
        _PENDING_WRITES.add(future)
    future.add_done_callback(_forget_write)


def _forget_write(future: Future[None]) -> None:
    with _WRITER_LOCK:
        _PENDING_WRITES.discard(future)


def flush_background_writes(timeout: float | None = 60.0) -> None:
    """Wait until every background cache write submitted so far is done (or ``timeout``)."""
    if not _PENDING_WRITES or threading.current_thread().name.startswith(_WRITER_NAME):
        return  # nothing pending, or called by a write itself (it would wait for itself)
    with _WRITER_LOCK:
        pending = list(_PENDING_WRITES)
    if pending:
        with urgent():  # the writer does not wait for walks in progress meanwhile
            wait(pending, timeout=timeout)


def stop_writer() -> None:
    """Write what is pending, then end the writer thread (a later write starts a new one)."""
    global _WRITER
    flush_background_writes(timeout=None)
    with _WRITER_LOCK:
        writer, _WRITER = _WRITER, None
    if writer is not None:
        writer.shutdown(wait=True)


#: Entries the background writer writes per SQLite transaction (it checks for walks in progress
#: between transactions).
WRITE_BATCH = 32
#: Seconds at most that the background writer holds a piece of work back while loads are in
#: progress, counted from when it came in (for pending entries, from the oldest one).
MAX_HOLD_SECONDS = 30.0
#: Bytes of encoded entries the caches of this process may hold back, pending, before the writer
#: writes them walk or no walk (about 500 MB of JSON pages at the usual 1:6 compression).
MAX_HOLD_BYTES = 80 * 2**20
_held_bytes = 0
_held_lock = threading.Lock()


def hold(delta: int) -> None:
    """Count ``delta`` more (or, negative, fewer) bytes of encoded entries held back."""
    global _held_bytes
    with _held_lock:
        _held_bytes += delta


def holding_too_much() -> bool:
    """Whether the caches of this process hold back more than :data:`MAX_HOLD_BYTES`."""
    return _held_bytes > MAX_HOLD_BYTES
