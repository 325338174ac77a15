"""Clients end cleanly: ``close()`` and ``with`` release every socket and thread they own."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

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


def _cache_files_open(folder) -> int:
    """File handles of this process on the cache's SQLite files (index, WAL, shared memory)."""
    out = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        out += target.startswith(str(folder)) and "cache.db" in target
    return out


def test_close_releases_every_sqlite_connection_of_every_thread(tmp_path) -> None:
    """A walk's worker threads each open a connection to the cache's index; ``close()`` closes
    them all, though the threads live on (another client keeps the pools)."""
    folder = tmp_path / "c"
    sizes = lv.mock.sizes_for(vends=3_000, leave_requests=300)
    with lv.mock.serve(seed=6, sizes=sizes, expires=600) as m:
        keeper = lv.Valinso.from_mock(m, cache=False, progress=False)  # keeps the pools alive
        loket = lv.Loket.from_mock(m, cache=folder, progress=False, max_concurrency=4)
        employer = loket.employers()["id"][0]
        assert loket.leave(employer).height > 0  # one request per employment, on 4 threads
        index = loket.cache._cache  # type: ignore[union-attr]
        assert index.open_connections >= 2 and _cache_files_open(folder) >= 2
        loket.close()
        assert index.open_connections == 0
        assert _cache_files_open(folder) == 0
        assert loket.oauth._http is None  # the token client too
        assert [t for t in threading.enumerate() if t.name.startswith("loketvalinso-page")]
        with pytest.raises(lv.errors.ConfigurationError, match=r"client is closed.*make a new one"):
            loket.employers()
        keeper.close()


_MANY_CLIENTS = """
import json, os, resource, tempfile
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
import loketvalinso as lv

def handles():
    return len(os.listdir("/proc/self/fd"))

folder = tempfile.mkdtemp()
kept, counts = [], []  # closed clients stay referenced, as in a notebook's Out[]
sizes = lv.mock.sizes_for(vends=2_000, leave_requests=200)
with lv.mock.serve(seed=3, sizes=sizes, expires=600) as m:
    vends = m.world.vends.height
    for i in range(200):
        if i % 2:
            client = lv.Loket.from_mock(m, cache=folder, progress=False)
            assert client.employers().height == m.world.employers.filter("accessible").height
        else:
            client = lv.Valinso.from_mock(m, cache=folder, progress=False, limit=500)
            assert client.vends().height == vends
        client.close()
        kept.append(client)
        counts.append(handles())
print(json.dumps({"counts": counts, "limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}))
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_hundred_clients_under_ulimit_256_leave_the_handles_flat() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _MANY_CLIENTS],
        capture_output=True,
        text=True,
        timeout=110,
        env={**os.environ, "PYTHONPATH": str(Path(lv.__file__).resolve().parents[1])},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    counts = result["counts"]
    assert result["limit"] == 256 and len(counts) == 200
    # flat: the 200th client leaves as many handles open as the 10th did (± a socket or two
    # the mock server has not closed yet)
    assert max(counts[10:]) - min(counts[10:]) <= 4, counts
    assert max(counts) < 64, counts
