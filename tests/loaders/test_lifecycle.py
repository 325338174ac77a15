"""Clients end cleanly: ``close()`` and ``with`` release every socket and thread they own."""

from __future__ import annotations

import gc
import os
import threading
import time
import warnings

import pytest

import loketvalinso as lv
from loketvalinso._load import pools


@pytest.fixture(autouse=True)
def _stop_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The threads stop as soon as the last client closes (not IDLE_SECONDS later), and only
    this test's clients count (clients other tests left open would keep the threads)."""
    monkeypatch.setattr(pools, "IDLE_SECONDS", 0.0)
    monkeypatch.setattr(pools, "_open_clients", 0)


def _sockets() -> int:
    fds = os.listdir("/proc/self/fd")
    out = 0
    for fd in fds:
        try:
            out += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return out


def _our_threads() -> list[str]:
    names = [t.name for t in threading.enumerate() if t.name.startswith("loketvalinso-")]
    return sorted(n for n in names if not n.startswith("loketvalinso-mock"))  # the server


def _settle(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_closed_clients_leave_no_socket_or_thread(tmp_path) -> None:
    """A Loket client logged in through OAuth (its token client is a socket of its own) and a
    Valinso client, both loading over real HTTP with a cache: once closed, the process holds
    what it held before, and no ResourceWarning about an unclosed socket is raised."""
    sizes = lv.mock.sizes_for(vends=3_000, leave_requests=300)
    with lv.mock.serve(seed=3, sizes=sizes) as m:
        gc.collect()
        before = _sockets()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            with lv.Loket.from_mock(m, cache=tmp_path, progress=False, page_size=50) as loket:
                employer = loket.employers()["id"][0]
                assert loket.leave_requests(employer).height > 0
                assert loket.oauth._http is not None  # the token client is open while in use
            assert loket.oauth._http is None
            valinso = lv.Valinso.from_mock(m, cache=tmp_path, progress=False, limit=500)
            assert valinso.vends().height == m.world.vends.height
            valinso.close()
            valinso.close()  # twice is harmless
            gc.collect()
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
        # the server closes its side once the clients are gone
        assert _settle(lambda: _sockets() <= before), (_sockets(), before)
        assert _settle(lambda: _our_threads() == []), _our_threads()


def test_the_next_client_after_all_closed_starts_the_threads_again(tmp_path) -> None:
    sizes = lv.mock.sizes_for(vends=2_000, leave_requests=300)
    with lv.mock.serve(seed=4, sizes=sizes) as m:
        for _ in range(2):
            with lv.Valinso.from_mock(m, cache=tmp_path, progress=False, limit=250) as client:
                assert client.vends().height == m.world.vends.height
            assert _settle(lambda: _our_threads() == []), _our_threads()


def test_the_threads_wait_a_moment_for_the_next_client(tmp_path, monkeypatch) -> None:
    """A client opened soon after the last one closed finds the threads still there."""
    monkeypatch.setattr(pools, "IDLE_SECONDS", 30.0)
    sizes = lv.mock.sizes_for(vends=2_000, leave_requests=300)
    with lv.mock.serve(seed=5, sizes=sizes) as m:
        with lv.Valinso.from_mock(m, cache=tmp_path, progress=False, limit=250) as client:
            client.vends()
        started = [n for n in _our_threads() if "page" in n or "parse" in n]
        assert started and "loketvalinso-idle" in _our_threads()
        with lv.Valinso.from_mock(m, cache=tmp_path, progress=False, limit=250) as client:
            assert _settle(lambda: "loketvalinso-idle" not in _our_threads())  # cancelled
            client.vends()
            assert set(started) <= set(_our_threads())  # the same threads, not new ones
        pools.stop_if_idle()
        assert _settle(lambda: [n for n in _our_threads() if n != "loketvalinso-idle"] == [])
