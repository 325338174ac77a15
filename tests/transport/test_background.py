"""The gate that holds background work back while a load is in progress."""

from __future__ import annotations

import threading
import time

import pytest

from loketvalinso._transport.background import (
    SETTLE_SECONDS,
    load_in_progress,
    loads_in_progress,
    urgent,
    wait_until_quiet,
)

pytestmark = pytest.mark.timeout(30)


def test_quiet_at_once_with_no_load_in_progress() -> None:
    assert loads_in_progress() == 0
    assert wait_until_quiet(timeout=0, settle=0) is True


def test_loads_nest_and_are_counted_until_the_last_one_ends() -> None:
    with load_in_progress():
        with load_in_progress():
            assert loads_in_progress() == 2
        assert loads_in_progress() == 1
    assert loads_in_progress() == 0


def test_a_failed_load_still_ends() -> None:
    with pytest.raises(RuntimeError), load_in_progress():
        raise RuntimeError("the load failed")
    assert loads_in_progress() == 0
    assert wait_until_quiet(timeout=10) is True


def _waiter(events: list[str], **kwargs: object) -> threading.Thread:
    def wait() -> None:
        quiet = wait_until_quiet(**kwargs)  # type: ignore[arg-type]
        events.append(f"waited:{quiet}")

    thread = threading.Thread(target=wait)
    thread.start()
    return thread


def test_background_work_waits_until_the_load_ends() -> None:
    events: list[str] = []
    with load_in_progress():
        thread = _waiter(events, timeout=20)
        thread.join(0.3)
        assert thread.is_alive() and events == []  # still held back by the load
        events.append("load ended")
    thread.join(10)
    assert events == ["load ended", "waited:True"]


def test_urgent_lets_background_work_run_during_a_load() -> None:
    events: list[str] = []
    with load_in_progress():
        thread = _waiter(events, timeout=20)
        thread.join(0.2)
        assert thread.is_alive()
        with urgent():
            thread.join(10)
            assert events == ["waited:True"]  # the load is still in progress
        assert loads_in_progress() == 1


def test_urgent_before_the_wait_never_blocks() -> None:
    with load_in_progress(), urgent():
        assert wait_until_quiet(timeout=20) is True


def test_give_up_ends_the_wait() -> None:
    asked: list[int] = []

    def too_much_held() -> bool:
        asked.append(1)
        return len(asked) >= 3

    with load_in_progress():
        started = time.monotonic()
        assert wait_until_quiet(timeout=20, give_up=too_much_held, poll=0.01) is False
    assert len(asked) == 3 and time.monotonic() - started < 10


def test_the_wait_ends_after_timeout() -> None:
    with load_in_progress():
        assert wait_until_quiet(timeout=0.05, poll=0.01) is False


def test_quiet_only_once_no_load_has_run_for_the_settle_time() -> None:
    """Loads run back to back count as one: work waits SETTLE_SECONDS after the last one."""
    with load_in_progress():
        pass
    ended = time.monotonic()
    assert wait_until_quiet(timeout=0) is False  # the load ended just now
    assert wait_until_quiet(timeout=10) is True
    assert time.monotonic() - ended >= SETTLE_SECONDS
    assert wait_until_quiet(timeout=0) is True  # settled: no wait


def test_a_load_within_the_settle_time_keeps_work_waiting() -> None:
    events: list[str] = []
    with load_in_progress():
        pass
    thread = _waiter(events, timeout=20, settle=0.5)
    time.sleep(0.2)
    with load_in_progress():  # the next load of a loop, 0.2 s after the first
        time.sleep(0.5)
        assert thread.is_alive() and events == []
    ended = time.monotonic()
    thread.join(10)
    assert events == ["waited:True"] and time.monotonic() - ended >= 0.5


def test_urgent_does_not_wait_for_the_settle_time() -> None:
    with load_in_progress():
        pass
    with urgent():
        assert wait_until_quiet(timeout=0) is True
