"""The cache under abuse: tampered, truncated and pickled entries; two processes; a full cache."""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import stat
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import loketvalinso as lv
from loketvalinso.cache import DiskCache
from loketvalinso.errors import CacheWarning, LoketValinsoWarning

from .conftest import SEED, assert_same_rows, data_requests

pytestmark = pytest.mark.timeout(60)
REPO = Path(lv.__file__).resolve().parents[1]


def _valinso(m, cache, **options):
    return lv.Valinso.from_mock(m, cache=cache, progress=False, limit=1000, **options)


def _values(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.val"))


@pytest.fixture
def mock(small_world):
    with lv.mock.serve(seed=SEED, world=small_world, expires=600) as server:
        yield server


def _warm(mock, folder: Path) -> None:
    with _valinso(mock, folder) as client:
        assert_same_rows(client.vends(), mock.world.vends, what="vends (cold)")
    assert _values(folder), "nothing was cached: the test proves nothing"


def test_cache_folder_is_private(mock, tmp_path):
    folder = tmp_path / "c"
    _warm(mock, folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    with DiskCache(loose) as cache:  # not the toolkit's folder: its mode is left alone
        assert cache.directory == loose / "loketvalinso-cache"
    assert stat.S_IMODE(loose.stat().st_mode) == 0o755
    assert stat.S_IMODE((loose / "loketvalinso-cache").stat().st_mode) == 0o700


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_damaged_entries_are_dropped_with_a_warning_and_refetched(mock, tmp_path, damage):
    """Every stored value damaged: bodies (compressed, in the index) and the parsed-frame
    copies kept beside them (files)."""
    folder = tmp_path / "c"
    _warm(mock, folder)
    pages = len(data_requests(mock.app, "/api/"))

    def damaged(value: bytes) -> bytes:
        data = bytearray(value)
        if damage == "flip":
            data[len(data) // 2] ^= 0x55
        elif damage == "truncate":
            del data[len(data) // 2 :]
        else:
            data.clear()
        return bytes(data)

    for victim in _values(folder):
        victim.write_bytes(damaged(victim.read_bytes()))
    # compressed pages live in the SQLite index itself
    with sqlite3.connect(folder / "cache.db") as db:
        rows = db.execute("SELECT rowid, value FROM Cache WHERE typeof(value) = 'blob'").fetchall()
        assert rows, "no value in the index: the test proves less than it says"
        for rowid, value in rows:
            db.execute("UPDATE Cache SET value = ? WHERE rowid = ?", (damaged(value), rowid))
    before = len(data_requests(mock.app, "/api/"))
    with (
        pytest.warns(CacheWarning, match=r"corrupt cache entry.*refetched"),
        _valinso(mock, folder) as client,
    ):
        vends = client.vends()
    assert_same_rows(vends, mock.world.vends, what=f"vends after {damage}")
    refetched = data_requests(mock.app, "/api/")[before:]
    assert 1 <= len(refetched) <= pages and all(r.status == 200 for r in refetched)
    with warnings.catch_warnings():  # and now it is healthy again
        warnings.simplefilter("error", CacheWarning)
        with _valinso(mock, folder) as client:
            assert_same_rows(client.vends(), mock.world.vends, what="vends (healed)")


def test_pickled_values_are_never_unpickled(mock, tmp_path):
    folder = tmp_path / "c"
    _warm(mock, folder)
    marker = tmp_path / "PWNED"

    class Bomb:
        def __reduce__(self):
            return (Path.touch, (marker,))

    payload = pickle.dumps(Bomb(), protocol=pickle.HIGHEST_PROTOCOL)
    # In a value file...
    _values(folder)[0].write_bytes(payload)
    # ...and as a pickled value in the index (diskcache's MODE_PICKLE = 4).
    with sqlite3.connect(folder / "cache.db") as db:
        db.execute(
            "UPDATE Cache SET mode = 4, value = ?, filename = NULL WHERE rowid = (SELECT MAX(rowid) FROM Cache)",
            (payload,),
        )
    with pytest.warns(CacheWarning), _valinso(mock, folder) as client:
        vends = client.vends()
    assert not marker.exists(), "a cached pickle was unpickled"
    assert_same_rows(vends, mock.world.vends, what="vends after pickles")


def test_cache_at_its_size_limit_evicts_without_errors(mock, tmp_path):
    folder = tmp_path / "small"
    # Room for about two of the five ~180 kB pages.
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error", LoketValinsoWarning
        )  # no warning, no error: eviction is routine
        for _ in range(3):
            cache = DiskCache(folder, size_limit=400_000)
            with _valinso(mock, cache) as client:
                assert_same_rows(client.vends(), mock.world.vends, what="vends (small cache)")
                client.devices()
            info = cache.info()
            cache.close()
    assert info["size_limit"] == 400_000
    assert info["size_bytes"] <= 400_000 + 200_000  # one page of slack while culling


CHILD = textwrap.dedent(
    """
    import hashlib, json, sys
    import polars as pl
    import loketvalinso as lv
    url, key, loket_url, token, employer, folder = sys.argv[1:7]
    valinso = lv.Valinso(api_key=key, base_url=url, cache=folder, progress=False, limit=500)
    loket = lv.Loket(base_url=loket_url, access_token=token, cache=folder, progress=False, page_size=50)
    out = {}
    for _ in range(2):
        vends = valinso.vends()
        requests = loket.leave_requests(employer)
        out = {
            "vends": [vends.height, sorted(vends["id"].to_list())[:3], float(vends["price"].cast(pl.Float64).sum())],
            "vend_ids": hashlib.sha256(str(sorted(vends["id"].to_list())).encode()).hexdigest(),
            "requests": [requests.height, hashlib.sha256(str(sorted(requests["id"].to_list())).encode()).hexdigest()],
        }
    print(json.dumps(out))
    """
)


def test_two_processes_share_one_cache_folder(mock, tmp_path, employer_id):
    import hashlib

    import polars as pl

    folder = tmp_path / "shared"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    login = lv.Loket.from_mock(mock, cache=False, progress=False)
    token = login.oauth.access_token
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [
        sys.executable,
        str(script),
        mock.valinso_url,
        mock.credentials.valinso_api_key,
        mock.loket_url,
        token,
        employer_id,
        str(folder),
    ]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=50)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert token.encode() not in err and token.encode() not in out
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    world = mock.world
    truth_vends = hashlib.sha256(str(sorted(world.vends["id"].to_list())).encode()).hexdigest()
    truth_requests = world.leave_requests.filter(pl.col("employer_id") == employer_id)
    truth_req_hash = hashlib.sha256(
        str(sorted(truth_requests["id"].to_list())).encode()
    ).hexdigest()
    expected_sum = float(world.vends["price"].cast(pl.Float64).sum())
    for result in results:
        assert result["vends"][0] == world.vends.height
        assert result["vend_ids"] == truth_vends
        assert result["vends"][2] == pytest.approx(expected_sum)
        assert result["requests"] == [truth_requests.height, truth_req_hash]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
