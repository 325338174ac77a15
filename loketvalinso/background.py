"""Background work waits while a load is in progress.

The cache's background writer (SQLite writes of the pages, the parsed listing blob) is an
optimisation for *later* loads. Run during a walk, it competes with the walk's fetch and parse
threads for the cores and the GIL: on the 2-core bench machine a cold load of 200,000 vends took
~1.45 s with the writer running alongside and ~1.15 s with the writes held until the walk had
ended. So the clients mark each load, and the pager each walk, with :func:`load_in_progress`,
and the writer calls :func:`wait_until_quiet` before each piece of work. Quiet means no load for
:data:`SETTLE_SECONDS`: loads run back to back (a loop over employers) count as one, so the first
one's writes do not start in the moment between it and the next (on the bench, three leave
listings loaded one after another took ~3 % longer when the writer started in those gaps).

Nothing waits for ever, and nothing waits on a reader:

* a caller that needs the writes done now (``flush_background_writes``: a warm read of a cached
  listing, ``close()``, interpreter exit) opens the gate with :func:`urgent`;
* the writer stops waiting when the work held back grows past what it may hold
  (``give_up()``, the cache's pending bytes) or after ``timeout`` seconds.

This module holds no data, only the count of loads in progress; it has no imports of its own
package, so the pager and the cache can both use it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

__all__ = [
    "SETTLE_SECONDS",
    "load_in_progress",
    "loads_in_progress",
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
