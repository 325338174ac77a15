"""A sync killed at any moment leaves the previous state readable and exact; the next completes.

``test_sigkill_at_random_moments`` kills a real sync process with SIGKILL, several times, at
seeded random moments; the others stop a sync in-process at each step of its commit.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import loketvalinso as lv

SIZES = lv.mock.WorldSizes(employers=2, employees=40, vends=60_000, devices=8, locations=4)

SYNC_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import loketvalinso as lv

    url = os.environ["MOCK_URL"]
    valinso = lv.Valinso(api_key=os.environ["MOCK_VALINSO_KEY"],
                         base_url=url + "/api/head/valinso_api",
                         cache=False, progress=False, limit=100, max_concurrency=2)
    loket = lv.Loket(base_url=url + "/v2", token_url=url + "/token",
                     client_id=os.environ["MOCK_CLIENT_ID"],
                     client_secret=os.environ["MOCK_CLIENT_SECRET"],
                     username=os.environ["MOCK_USERNAME"], password=os.environ["MOCK_PASSWORD"],
                     cache=False, progress=False)
    ds = lv.Dataset(sys.argv[1])
    ds.sync(valinso, "vends", batch_rows=5_000)
    ds.sync(loket, "leave_requests")
    print("synced", flush=True)
    """
)


def state_of(ds: lv.Dataset) -> dict[str, pl.DataFrame | None]:
    """What the dataset holds now, read the way users read it."""
    have = ds.resources()
    return {name: ds.read(name) if name in have else None for name in ("vends", "leave_requests")}


def truth_of(world, loket: lv.Loket) -> dict[str, pl.DataFrame]:
    requests = pl.concat([loket.leave_requests(e) for e in loket.employers()["id"]])
    return {"vends": world.vends.sort("id"), "leave_requests": requests.sort("id")}


def same(a: pl.DataFrame | None, b: pl.DataFrame | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.columns == b.columns and a.equals(b)


def assert_no_leftovers(ds: lv.Dataset, folder: Path) -> None:
    """On disk: exactly the files the manifest lists (the recovery cleaned up)."""
    listed = {p for name in ds.resources() for p in ds.files(name)}
    on_disk = {p for p in folder.rglob("*.parquet") if "_changes" not in p.parts}
    assert on_disk == listed
    staging = folder / "_staging"
    assert not staging.exists() or not any(staging.iterdir())


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_at_random_moments(tmp_path) -> None:
    folder = tmp_path / "store"
    rng = random.Random(21)
    killed = finished = 0
    last_run: float | None = None  # how long the last sync that was not killed took
    with lv.mock.serve(seed=5, sizes=SIZES) as server:
        creds = server.credentials
        env = {
            **os.environ,
            "MOCK_URL": server.url,
            "MOCK_VALINSO_KEY": creds.valinso_api_key,
            "MOCK_CLIENT_ID": creds.client_id,
            "MOCK_CLIENT_SECRET": creds.client_secret,
            "MOCK_USERNAME": creds.username,
            "MOCK_PASSWORD": creds.password,
        }
        ds = lv.Dataset(folder)
        with (
            lv.Valinso.from_mock(server, cache=False, progress=False) as valinso,
            lv.Loket.from_mock(server, cache=False, progress=False) as loket,
        ):
            previous = state_of(ds)
            # The first sync runs to its end and is timed; later ones are killed at a moment
            # drawn within the length of the last one that ran to its end (so the kills land
            # inside a sync however fast the machine is), until four were killed.
            for _round in range(12):
                if killed >= 4:
                    break
                truth = truth_of(server.world, loket)
                started = time.monotonic()
                process = subprocess.Popen(
                    [sys.executable, "-c", SYNC_SCRIPT, str(folder)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                moment = None if last_run is None else rng.uniform(0.3, 0.95) * last_run
                try:
                    process.wait(timeout=moment)
                except subprocess.TimeoutExpired:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    killed += 1
                else:
                    assert process.returncode == 0, process.stderr.read().decode()
                    finished += 1
                    last_run = time.monotonic() - started
                # whatever the moment: each resource is as before, or as the world is now
                now = state_of(ds)
                for name in now:
                    assert same(now[name], previous[name]) or same(now[name], truth[name]), name
                # and the next sync completes exactly
                ds.sync(valinso, "vends")
                ds.sync(loket, "leave_requests")
                now = state_of(ds)
                for name, frame in truth.items():
                    assert now[name] is not None
                    assert_frame_equal(now[name], frame.select(now[name].columns))
                assert_no_leftovers(ds, folder)
                previous = now
                server.advance(days=1)
    assert killed >= 4, f"only {killed} of {killed + finished} runs were killed"


@pytest.fixture
def server():
    with lv.mock.serve(
        seed=6, sizes=lv.mock.WorldSizes(employers=2, employees=30, vends=8_000)
    ) as m:
        yield m


class Stop(Exception):
    """Stands in for the process dying at this point."""


def test_a_sync_stopped_at_each_step_of_its_commit(server, tmp_path, monkeypatch) -> None:
    """The commit: files into place (``os.replace``), the manifest (``os.replace`` too), the
    old files and the commit's note out (``Path.unlink``). Stopped before any one of those
    steps, the dataset is the previous one or the new one, exactly, as its manifest says; the
    next sync is exact and leaves nothing behind."""
    with lv.Valinso.from_mock(server, cache=False, progress=False) as valinso:
        base = tmp_path / "base"
        lv.Dataset(base).sync(valinso, "vends")
        before = lv.Dataset(base).read("vends")
        after = server.advance(days=1)
        outcomes = []
        for step in range(7):
            # the day's sync into a copy of the dataset, stopped before step ``step``
            folder = tmp_path / f"stop-{step}"
            shutil.copytree(base, folder)
            ds = lv.Dataset(folder)
            steps = 0
            real_replace, real_unlink = os.replace, Path.unlink

            def stopping(action):
                def run(*args, **kwargs):
                    nonlocal steps
                    steps += 1
                    if steps > step:  # noqa: B023 - the step of this round
                        raise Stop
                    return action(*args, **kwargs)

                return run

            monkeypatch.setattr(os, "replace", stopping(real_replace))
            monkeypatch.setattr(Path, "unlink", stopping(real_unlink))
            with contextlib.suppress(Stop):
                ds.sync(valinso, "vends")
            monkeypatch.undo()
            committed = ds.history().height == 2
            outcomes.append(committed)
            assert_frame_equal(ds.read("vends"), after.vends.sort("id") if committed else before)
            ds.sync(valinso, "vends")
            assert_frame_equal(ds.read("vends"), after.vends.sort("id"))
            assert_no_leftovers(ds, folder)
    assert outcomes[0] is False and outcomes[-1] is True, outcomes
