"""The ``loketvalinso`` command: ``mock serve`` as a real process, ``cache info|clear``."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

import loketvalinso as lv
from loketvalinso._cli import main
from loketvalinso.mock import WorldSizes

TINY = WorldSizes(employers=1, employees=10, vends=300, devices=3, locations=2, products=5)


def _start_mock_process() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loketvalinso",
            "mock",
            "serve",
            "--port",
            "0",
            "--seed",
            "7",
            "--vends",
            "500",
            "--schema-drift",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    first = process.stdout.readline()
    while not first and time.monotonic() < deadline:  # pragma: no cover - slow start
        time.sleep(0.1)
        first = process.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+)", first)
    assert match, f"no URL in the first line: {first!r}"
    return process, match.group(1)


def test_mock_serve_answers_both_apis_and_stops_on_ctrl_c() -> None:
    process, url = _start_mock_process()
    try:
        with httpx.Client(timeout=10) as client:
            unauthorised = client.get(f"{url}/v2/providers/employers")
            assert unauthorised.status_code == 401
            assert unauthorised.json() == {
                "message": "Authorization has been denied for this request."
            }
            no_key = client.get(f"{url}/api/head/valinso_api/vends")
            assert no_key.status_code == 401
            assert no_key.json()["code"] == 401
            # The same seed gives the same world: the key of seed 7 opens this server.
            key = lv.mock.in_process(seed=7, sizes=TINY).credentials.valinso_api_key
            page = client.get(
                f"{url}/api/2.0.0/valinso_api/vends",
                params={"limit": 10},
                headers={"api-key": key},
            )
            assert page.status_code == 200
            assert page.json()["paging"] == {"total": 500, "offset": 0, "limit": 10}
            # --schema-drift: the vends come with qty instead of quantity
            assert all("qty" in v and "quantity" not in v for v in page.json()["result"])
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "stopped" in out
    # The banner never prints a secret.
    creds = lv.mock.in_process(seed=7, sizes=TINY).credentials
    for secret in (creds.client_secret, creds.password, creds.valinso_api_key):
        assert secret not in out + err


def test_cache_info_and_clear(tmp_path, capsys) -> None:
    folder = tmp_path / "cache"
    with lv.mock.serve(seed=3, sizes=TINY, expires=600) as m:
        client = lv.Valinso.from_mock(m, cache=folder, progress=False)
        vends = client.vends()
        client.close()
    assert vends.height == 300

    assert main(["cache", "info", "--dir", str(folder)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["directory"] == str(folder)
    assert info["entries"] >= 1
    assert info["size_bytes"] > 0

    assert main(["cache", "clear", "--dir", str(folder)]) == 0
    assert re.search(r"removed [1-9]\d* cache entries", capsys.readouterr().out)
    assert main(["cache", "info", "--dir", str(folder)]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 0


def test_help_lists_the_commands(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("demo", "mock", "cache"):
        assert command in text


def test_bad_option_is_a_clear_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["mock", "serve", "--port", "not-a-port"])
    assert exit_info.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_sync_from_the_mock_then_a_day_later(tmp_path, capsys, world) -> None:
    """``loketvalinso sync DIR --mock``: a first sync, then ``--days 1`` syncs what the day
    brought; the dataset equals the mock's world each time and the table says what changed."""
    from loketvalinso.mock.timeline import advance_world

    store = tmp_path / "store"
    assert main(["sync", str(store), "--mock", "--no-progress", "vends"]) == 0
    first = capsys.readouterr().out
    assert first.splitlines()[0].split() == [
        "resource", "mode", "loaded", "added", "changed", "removed", "rows", "seconds"
    ]  # fmt: skip
    assert first.splitlines()[1].split()[:4] == ["vends", "first", "200,000", "200,000"]
    ds = lv.Dataset(store)
    assert ds.read("vends").equals(world.vends)

    assert main(["sync", str(store), "--mock", "--days", "1", "vends", "--no-progress"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    moved = advance_world(world, 1)
    new = moved.vends.height - world.vends.height
    assert row[:2] == ["vends", "incremental"] and row[3] == f"{new:,}"
    assert ds.read("vends").equals(moved.vends)


def test_sync_without_credentials_says_what_to_set(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("VALINSO_API_KEY", raising=False)
    assert main(["sync", str(tmp_path), "vends"]) == 1
    assert "set VALINSO_API_KEY" in capsys.readouterr().err
    assert main(["sync", str(tmp_path), "nothing"]) == 1
    assert "choose one of vends" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.parquet"))
