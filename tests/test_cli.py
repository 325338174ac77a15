"""The ``loketvalinso`` command: ``mock serve`` as a real process, ``cache info|clear``."""

from __future__ import annotations

import argparse
import io
import json
import re
import shlex
import signal
import subprocess
import sys
import time
import warnings

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


def test_mock_serve_says_which_credentials_it_takes_and_its_curl_lines_work() -> None:
    """A curl or Postman user needs the mock's (made-up) credentials: the banner prints them
    with two curl lines, and both lines work against the running mock."""
    process, url = _start_mock_process()
    try:
        assert process.stdout is not None
        banner = []
        while not banner or not banner[-1].startswith("Ctrl-C"):
            banner.append(process.stdout.readline())
        text = "".join(banner)
        creds = lv.mock.in_process(seed=7, sizes=TINY).credentials
        for value in (creds.client_id, creds.client_secret, creds.password, creds.username):
            assert value in text
        assert creds.valinso_api_key in text and creds.users[1].username in text
        curls = [shlex.split(line) for line in banner if line.strip().startswith("curl ")]
        assert len(curls) == 2
        with httpx.Client(timeout=10) as client:
            token = client.post(
                curls[0][curls[0].index("-X") + 2],
                data=dict(a.split("=", 1) for a in curls[0][curls[0].index("-d") + 1 :: 2]),
            )
            assert token.status_code == 200 and token.json()["access_token"]
            header = curls[1][curls[1].index("-H") + 1].split(": ", 1)
            vends = client.get(curls[1][-1], headers={header[0]: header[1]})
            assert vends.status_code == 200 and len(vends.json()["result"]) == 5
            employers = client.get(
                f"{url}/v2/providers/employers",
                headers={
                    "Authorization": f"Bearer {token.json()['access_token']}",
                    "Accept": "application/json;version=2018-01-01",
                },
            )
            assert employers.status_code == 200
        assert f"LOKET_BASE_URL={url}/v2" in text  # the from_env() set, to paste
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=15)


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

    assert main(["cache", "clear", "--dir", str(folder), "--yes"]) == 0
    assert re.search(r"removed [1-9]\d* cache entries", capsys.readouterr().out)
    assert main(["cache", "info", "--dir", str(folder)]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 0


def test_cache_clear_asks_first(tmp_path, capsys, monkeypatch) -> None:
    folder = tmp_path / "cache"
    with (
        lv.mock.serve(seed=3, sizes=TINY, expires=600) as m,
        lv.Valinso.from_mock(m, cache=folder, progress=False) as client,
    ):
        client.devices()
    entries = lv.cache.cache_info(folder)["entries"]
    assert entries >= 1
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal: refuse, remove nothing
    assert main(["cache", "clear", "--dir", str(folder)]) == 2
    assert "--yes" in capsys.readouterr().err
    tty = io.StringIO("n\n")
    tty.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdin", tty)
    assert main(["cache", "clear", "--dir", str(folder)]) == 1
    assert lv.cache.cache_info(folder)["entries"] == entries
    tty = io.StringIO("y\n")
    tty.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdin", tty)
    assert main(["cache", "clear", "--dir", str(folder)]) == 0
    assert f"Remove {entries} cache entries" in capsys.readouterr().out
    assert lv.cache.cache_info(folder)["entries"] == 0


def _parsers(parser: argparse.ArgumentParser, name: str = "loketvalinso"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_flag_of_every_command_shows_its_default(capsys) -> None:
    from loketvalinso._cli import _build_parser

    seen = 0
    for name, parser in _parsers(_build_parser()):
        with pytest.raises(SystemExit):
            main([*name.split()[1:], "--help"])
        text = " ".join(capsys.readouterr().out.split("options:", 1)[1].split())
        for action in parser._actions:
            if not action.option_strings or action.dest in ("help", "version"):
                continue
            seen += 1
            flag = action.option_strings[-1]
            assert action.help, f"{name} {flag} has no help"
            after = text.split(flag, 1)[1].split(" --", 1)[0]
            assert "(default: " in after, f"{name} {flag}: no default shown"
    assert seen >= 20


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"loketvalinso {lv.__version__} (Python ") and "polars" in out


def test_help_lists_the_commands(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("demo", "mock", "cache", "report"):
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


def test_sync_off_the_schema_notes_the_drift(tmp_path, capsys) -> None:
    """``--mock --schema-drift``: every vend stored (``quantity`` null), the table followed by
    a drift note per resource that drifted; ``--strict`` refuses and leaves no dataset."""
    from loketvalinso.mock import sizes_for
    from loketvalinso.mock.world import cached_world

    world = cached_world(42, sizes_for(vends=5_000))
    store = tmp_path / "store"
    command = ["sync", str(store), "--mock", "--vends", "5000", "--schema-drift", "--no-progress"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", lv.SchemaDriftWarning)  # the notes say it instead
        assert main([*command, "vends", "leave_requests"]) == 0
    out = capsys.readouterr().out
    rows = world.vends.height
    assert (
        f"drift  vends: stored as null: quantity (never arrived, {rows:,} rows); "
        "not stored: qty (undeclared)"
    ) in out
    assert "drift  leave_requests: stored typed: number_of_units (" in out
    assert f"lv.Dataset({str(store)!r}).drift()" in out
    vends = lv.Dataset(store).read("vends")
    assert vends.height == rows and vends["quantity"].null_count() == rows

    strict = tmp_path / "strict"
    refused = ["sync", str(strict), "--mock", "--vends", "5000", "--schema-drift", "--strict"]
    assert main([*refused, "vends"]) == 1
    err = capsys.readouterr().err
    assert "qty (undeclared)" in err and "the dataset was not changed (strict=True)" in err
    assert lv.Dataset(strict).resources() == []
    for option in (["--schema-drift"], ["--vends", "10"]):
        assert main(["sync", str(strict), *option, "vends"]) == 1
        assert f"{option[0]} is an option of the mock" in capsys.readouterr().err


def test_sync_without_credentials_says_what_to_set(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("VALINSO_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the machine
    assert main(["sync", str(tmp_path), "vends"]) == 1
    said = capsys.readouterr().err
    assert "needs VALINSO_API_KEY" in said and "--mock" in said
    assert main(["sync", str(tmp_path), "nothing"]) == 1
    assert "choose one of vends" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.parquet"))
