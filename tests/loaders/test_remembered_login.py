"""The first ten minutes with real credentials, end to end in real Jupyter kernels (nbclient):
configuration from the environment, a login remembered in the keyring (an in-memory backend
mirrored to a file, so each kernel process sees it), a restarted kernel that loads with no
browser step, and a new process offline, with the server gone, that returns the same frame."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import loketvalinso as lv

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("keyring")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
SIZES = lv.mock.WorldSizes(employers=1, employees=30, devices=3, vends=100)


def run_kernel(cells: list[str], workdir: Path) -> None:
    """Run ``cells`` in a new kernel process (what a kernel restart gives)."""
    from tests.test_notebooks import _kernel_name

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    client = nbclient.NotebookClient(
        nb,
        kernel_name=_kernel_name(),
        timeout=120,
        startup_timeout=60,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()  # raises CellExecutionError on any error


def setup_cell(mirror: Path) -> str:
    return f"""
import sys
sys.path.insert(0, {str(REPO)!r})
import httpx, keyring
import loketvalinso as lv
from tests.keyring_backend import MemoryKeyring
keyring.set_keyring(MemoryKeyring(mirror={str(mirror)!r}))
"""


def test_restart_and_offline_after_a_remembered_login(tmp_path, monkeypatch):
    mirror, cache = tmp_path / "keyring.json", tmp_path / "cache"
    outs = [tmp_path / f"employees-{i}.parquet" for i in range(3)]
    with lv.mock.serve(seed=5, sizes=SIZES) as m:
        creds = m.credentials
        employer = m.world.employers["id"][0]
        for name, value in {
            "LOKET_BASE_URL": m.loket_url,
            "LOKET_TOKEN_URL": m.token_url,
            "LOKET_AUTHORIZE_URL": m.authorize_url,
            "LOKET_CLIENT_ID": creds.client_id,
            "LOKET_CLIENT_SECRET": creds.client_secret,
            "LOKET_REDIRECT_URI": creds.redirect_uri,
            "LOKET_TOKEN_STORE": "keyring",
        }.items():
            monkeypatch.setenv(name, value)  # the kernels inherit them: no secret in a cell
        monkeypatch.chdir(tmp_path)  # no stray .env is read
        # 1. log in through the browser (the mock's /authorize stands in for it) and load
        run_kernel(
            [
                setup_cell(mirror),
                f"""
loket = lv.Loket.from_env(cache={str(cache)!r}, keep_for_offline=True, progress=False)
assert not loket.logged_in
redirect = httpx.get(loket.authorization_url(), follow_redirects=False).headers["location"]
loket.finish_login(redirect)
loket.employees({employer!r}).write_parquet({str(outs[0])!r})
loket.close()
""",
            ],
            tmp_path,
        )
        authorized = m.app.count(path_prefix="/authorize")
        grants_before = m.app.count(path_prefix="/token")
        # 2. the kernel restarted: the remembered login loads with no browser step
        run_kernel(
            [
                setup_cell(mirror),
                f"""
loket = lv.Loket.from_env(cache={str(cache)!r}, keep_for_offline=True, progress=False)
assert loket.logged_in and loket.oauth.remembered, loket
loket.employees({employer!r}).write_parquet({str(outs[1])!r})
print(loket)
loket.close()
""",
            ],
            tmp_path,
        )
        assert m.app.count(path_prefix="/authorize") == authorized == 1
        assert m.app.count(path_prefix="/token") == grants_before + 1  # one refresh
        assert m.app.count(path_prefix="/v2/user") == 1  # who it is came from the keyring
        expected = m.world.employees.filter(pl.col("employer_id") == employer).height
    # 3. the server is gone: a new process, offline, from the same keyring and cache
    run_kernel(
        [
            setup_cell(mirror),
            f"""
loket = lv.Loket.from_env(cache={str(cache)!r}, offline=True, progress=False)
frame = loket.employees({employer!r})
frame.write_parquet({str(outs[2])!r})
assert loket.last_load.stale == 1 and loket.last_load.misses == 0
""",
        ],
        tmp_path,
    )
    frames = [pl.read_parquet(path) for path in outs]
    assert frames[0].height == expected > 0
    assert_frame_equal(frames[1], frames[0])
    assert_frame_equal(frames[2], frames[0])


def test_offline_without_a_remembered_user_says_what_to_do(tmp_path):
    loket = lv.Loket(
        base_url="http://127.0.0.1:9/v2",
        token_url="http://127.0.0.1:9/token",
        client_id="c",
        refresh_token="r",
        cache=tmp_path / "c",
        offline=True,
    )
    with pytest.raises(lv.CacheMissError, match="token_store='keyring'"):
        loket.employers()
    loket.close()
