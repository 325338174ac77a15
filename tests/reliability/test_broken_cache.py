"""A cache folder that breaks: a damaged index, a full disk, a read-only folder, impossible paths.

The client warns once (:class:`~loketvalinso.errors.CacheWarning`, saying what to do) and loads
without the cache, with exactly the world's rows; offline it says no cache is readable.
``loketvalinso cache info`` says what is wrong and ``cache clear`` repairs a damaged index.

The disk cases run for real where the kernel lets an unprivileged user make a mount namespace
(a tiny tmpfs, a read-only bind mount); a read-only folder is also made with ``chmod`` when the
tests do not run as root (root writes through any mode).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import loketvalinso as lv
from loketvalinso._cli import main
from loketvalinso.errors import CacheMissError, CacheWarning, ConfigurationError

from .conftest import SEED, assert_same_rows, data_requests

pytestmark = pytest.mark.timeout(90)
REPO = Path(lv.__file__).resolve().parents[1]


@pytest.fixture
def mock(small_world):
    with lv.mock.serve(seed=SEED, world=small_world, expires=600) as server:
        yield server


def _valinso(m, cache, **options):
    return lv.Valinso.from_mock(m, cache=cache, progress=False, limit=1000, **options)


def _cache_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]


def _warm(mock, folder: Path) -> int:
    """Fill ``folder`` with the vends; the number of requests that took."""
    before = len(data_requests(mock.app, "/api/"))
    with _valinso(mock, folder) as client:
        assert_same_rows(client.vends(), mock.world.vends, what="vends (warm-up)")
    return len(data_requests(mock.app, "/api/")) - before


# -- a damaged index -------------------------------------------------------------------------------


def test_a_damaged_index_warns_once_and_loads_without_the_cache(mock, tmp_path, capsys):
    folder = tmp_path / "c"
    pages = _warm(mock, folder)
    (folder / "cache.db").write_bytes(b"this is not a database" * 200)
    for name in ("cache.db-wal", "cache.db-shm"):
        (folder / name).unlink(missing_ok=True)
    before = len(data_requests(mock.app, "/api/"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _valinso(mock, folder) as client:
            assert client.cache is None
            assert_same_rows(client.vends(), mock.world.vends, what="vends (no cache)")
            assert_same_rows(client.vends(), mock.world.vends, what="vends (again)")
    said = _cache_warnings(caught)
    assert len(said) == 1, said
    assert "index is damaged (file is not a database)" in said[0]
    assert "loketvalinso cache clear" in said[0] and "loading goes on without the cache" in said[0]
    assert len(data_requests(mock.app, "/api/")) - before == 2 * pages  # both from the network

    with pytest.raises(CacheMissError, match=r"offline=True, but no cache is readable.*damaged"):
        _valinso(mock, folder, offline=True)

    assert main(["cache", "info", "--dir", str(folder)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["exists"] and info["entries"] is None and "index is damaged" in info["problem"]

    assert main(["cache", "clear", "--dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "was damaged (file is not a database): removed it" in out
    assert (folder / ".loketvalinso-cache").exists()  # the folder is still the toolkit's
    # repaired: the cache works again, and serves what it stored
    _warm(mock, folder)
    before = len(data_requests(mock.app, "/api/"))
    with _valinso(mock, folder) as client:
        assert_same_rows(client.vends(), mock.world.vends, what="vends (from the cache)")
        assert client.last_load is not None and client.last_load.misses == 0
    assert len(data_requests(mock.app, "/api/")) == before
    assert main(["cache", "info", "--dir", str(folder)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["problem"] is None and info["entries"] == pages


# -- a full disk -----------------------------------------------------------------------------------


def test_a_full_disk_switches_the_cache_off_with_one_warning(mock, tmp_path):
    """SQLite's own "database or disk is full" (its page limit set to what the index holds)."""
    folder = tmp_path / "c"
    with _valinso(mock, folder) as client:
        client.devices()
    with sqlite3.connect(folder / "cache.db") as db:
        ((pages,),) = db.execute("PRAGMA page_count").fetchall()
        db.execute("INSERT OR REPLACE INTO Settings VALUES ('sqlite_max_page_count', ?)", (pages,))
    before = len(data_requests(mock.app, "/api/"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _valinso(mock, folder) as client:
            first = client.vends()
            assert client.cache is not None
            client.cache.flush()  # the pages reach the disk now, not in the background
            assert "disk is full" in (client.cache.failure or "")
            second = client.vends()
    assert_same_rows(first, mock.world.vends, what="vends (disk full)")
    assert_same_rows(second, mock.world.vends, what="vends (cache off)")
    said = _cache_warnings(caught)
    assert len(said) == 1 and "the disk is full (database or disk is full)" in said[0], said
    assert "free some space" in said[0]
    pages_per_load = len(data_requests(mock.app, "/api/")) - before
    assert pages_per_load == 2 * -(-mock.world.vends.height // 1000)  # both from the network


# -- a read-only folder, a real tiny disk: in a mount namespace ------------------------------------

_SCENARIO = textwrap.dedent(
    """
    import json, sys, warnings
    import loketvalinso as lv
    from loketvalinso.mock.world import cached_world
    from loketvalinso.mock import WorldSizes
    folder, seed, sizes = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    out = {}
    with lv.mock.serve(seed=seed, world=cached_world(seed, WorldSizes(**sizes)), expires=600) as m:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loads = []
            with lv.Valinso.from_mock(m, cache=folder, progress=False, limit=1000) as client:
                for _ in range(2):
                    frame = client.vends()
                    loads.append(frame.sort("id").equals(m.world.vends.select(frame.columns).sort("id")))
            out["exact"] = loads
        out["warnings"] = [str(w.message) for w in caught
                           if issubclass(w.category, lv.errors.CacheWarning)]
        out["requests"] = sum(1 for r in m.app.requests if r.path.startswith("/api/"))
        out["pages"] = -(-m.world.vends.height // 1000)
        try:
            lv.Valinso.from_mock(m, cache=folder, offline=True).close()
            out["offline"] = "no error"
        except lv.errors.LoketValinsoError as exc:
            out["offline"] = f"{type(exc).__name__}: {exc}"
    out["info"] = lv.cache.cache_info(folder)
    try:
        out["clear"] = lv.cache.cache_clear(folder)
    except lv.errors.LoketValinsoError as exc:
        out["clear"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out))
    """
)


def _namespaces_work() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "true"], capture_output=True
    )
    return probe.returncode == 0


def _run_scenario(folder: Path, mount: str | None, *, unprivileged: bool = False) -> dict:
    """Run :data:`_SCENARIO` on ``folder``: after ``mount`` (a shell command) in a mount
    namespace, or ``unprivileged`` (root in a user namespace of its own keeps the file modes
    but loses the power to write through them)."""
    from .conftest import SMALL

    sizes = json.dumps({k: getattr(SMALL, k) for k in SMALL.__dataclass_fields__})
    python = [sys.executable, "-c", _SCENARIO, str(folder), str(SEED), sizes]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if mount is None:
        command = ["unshare", "--user", *python] if unprivileged else python
    else:
        quoted = " ".join(f"'{part}'" for part in python)
        command = [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            f"{mount} && exec {quoted}",
        ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=80)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _read_only_outcome(out: dict) -> None:
    assert out["exact"] == [True, True]
    assert len(out["warnings"]) == 1, out["warnings"]
    assert "cannot be written" in out["warnings"][0] and "make it writable" in out["warnings"][0]
    assert out["requests"] == 2 * out["pages"]  # loaded twice from the network, no crash
    assert out["offline"].startswith("CacheMissError: offline=True, but no cache is readable")
    # `cache info` reads what it can without writing and says what is wrong; `clear` refuses
    assert out["info"]["entries"] == out["pages"] and "cannot be written" in out["info"]["problem"]
    assert (
        out["clear"].startswith("UnusableCacheError: the cache in")
        and "cannot be written" in out["clear"]
    )


@pytest.mark.skipif(not _namespaces_work(), reason="no unprivileged mount namespaces here")
def test_a_read_only_mounted_cache_folder(mock, tmp_path):
    folder = tmp_path / "c"
    _warm(mock, folder)
    remount = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder}"
    _read_only_outcome(_run_scenario(folder, remount))


@pytest.mark.skipif(
    os.name == "nt" or (os.geteuid() == 0 and not _namespaces_work()),
    reason="root writes through any mode (and no user namespace to run without that power)",
)
def test_a_chmod_read_only_cache_folder(mock, tmp_path):
    folder = tmp_path / "c"
    _warm(mock, folder)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)
    try:
        _read_only_outcome(_run_scenario(folder, None, unprivileged=os.geteuid() == 0))
    finally:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(stat.S_IMODE(path.stat().st_mode) | 0o200)


@pytest.mark.skipif(not _namespaces_work(), reason="no unprivileged mount namespaces here")
def test_a_tiny_disk_that_fills_up(tmp_path):
    """A 160 KiB tmpfs: the index fits, the vends do not (each page is ~30 KB stored)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    out = _run_scenario(folder, f"mount -t tmpfs -o size=160k tmpfs {folder}")
    assert out["exact"] == [True, True]
    assert len(out["warnings"]) == 1 and "disk is full" in out["warnings"][0], out["warnings"]
    assert out["requests"] == 2 * out["pages"]


# -- cache paths -----------------------------------------------------------------------------------


def test_cache_paths_are_resolved_strictly(mock, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("x")
    before = sorted(os.listdir(tmp_path))
    for empty in ("", "   "):
        with pytest.raises(ConfigurationError, match=r"empty path .*working directory"):
            _valinso(mock, empty)
    monkeypatch.delenv("LV_SURELY_UNSET", raising=False)
    with pytest.raises(ConfigurationError, match=r"uses \$LV_SURELY_UNSET, which is not set"):
        _valinso(mock, "$HOME/x_$LV_SURELY_UNSET")
    with pytest.raises(ConfigurationError, match=r"uses \$LV_SURELY_UNSET"):
        _valinso(mock, "${LV_SURELY_UNSET}/x")
    with pytest.raises(ConfigurationError, match=r"cannot make the cache folder .*a-file/x"):
        _valinso(mock, tmp_path / "a-file" / "x")
    assert sorted(os.listdir(tmp_path)) == before  # nothing was made, nothing changed mode
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LV_CACHE_PART", "set")
    with _valinso(mock, "~/lv-$LV_CACHE_PART") as client:
        assert client.cache is not None
        assert client.cache.directory == tmp_path / "home" / "lv-set"
        assert_same_rows(client.vends(), mock.world.vends, what="vends (~ and $VAR)")


def test_an_existing_folder_of_the_users_keeps_its_mode(mock, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    (shared / "report.txt").write_text("theirs")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # nothing to warn about
        with _valinso(mock, shared) as client:
            assert client.cache is not None
            assert client.cache.directory == shared / "loketvalinso-cache"
            assert_same_rows(client.vends(), mock.world.vends, what="vends")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert (shared / "report.txt").read_text() == "theirs"
    assert stat.S_IMODE((shared / "loketvalinso-cache").stat().st_mode) == 0o700
    # `cache info --dir` finds it there too
    assert lv.cache.cache_info(shared)["entries"] >= 1
