"""``python -m bench sync``: the dataset's syncs against plain loads (see bench/README.md).

Two parts, each against the mock in its own process (``bench.server``, 25 ms latency):

* **incremental**: a year of vends (``--vends``, 200,000) synced into a dataset, then the world
  moves on one day. Timed, in turns: a full cold load (``valinso.vends()``, no cache) and the
  incremental sync of that day into a copy of the dataset (each run syncs the same day into a
  fresh copy). Target: the sync ≥ 20× quicker.
* **first sync** of ``--big-vends`` (2,000,000) into an empty folder, against the plain cold
  load of the same rows, in turns (target: within 1.2×); and its peak memory growth in a fresh
  process, measured as ``bench.memory`` measures a load, against the frame's Arrow buffers
  (target: at most half).

Medians of ``--repeat`` runs; nothing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.memory import _reset_peak, _status, buffer_bytes
from bench.run import MockProcess, RemoteMock, child_json

ROWS = (
    ("vends", "vends in the dataset (a year)", ""),
    ("new_vends", "new vends on the server (one day)", ""),
    ("cold_s", "cold full load of every vend", "s"),
    ("incremental_s", "incremental sync of the new day", "s"),
    ("cold_over_incremental", "cold load / incremental sync", "x >= 20"),
    ("big_vends", "first sync: vends", ""),
    ("big_cold_s", "plain cold load of them", "s"),
    ("first_sync_s", "first sync into an empty folder", "s"),
    ("first_sync_over_cold", "first sync / cold load", "x <= 1.2"),
    ("growth_mb", "first sync: peak RSS growth", "MB"),
    ("buffers_mb", "the frame's Arrow buffers (with string views)", "MB"),
    ("growth_over_buffers", "growth / the frame's Arrow buffers", "x <= 0.5"),
)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _valinso(remote: RemoteMock) -> Any:
    import loketvalinso as lv

    return lv.Valinso.from_mock(remote.as_server(), cache=False, progress=False)


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _advance(mock: MockProcess, days: int) -> int:
    assert mock.proc is not None and mock.proc.stdin is not None and mock.proc.stdout is not None
    mock.proc.stdin.write(f"advance {days}\n")
    mock.proc.stdin.flush()
    return int(json.loads(mock.proc.stdout.readline())["vends"])


def incremental(vends: int, latency_ms: float, repeat: int) -> dict[str, float]:
    import loketvalinso as lv

    work = Path(tempfile.mkdtemp(prefix="lv-bench-sync-"))
    try:
        mock = MockProcess(vends=vends, leave_requests=500, latency_ms=latency_ms, expires=0)
        with mock as remote, _valinso(remote) as valinso:
            base = work / "base"
            lv.Dataset(base).sync(valinso, "vends")
            total = _advance(mock, 1)
            cold, sync = [], []
            for run in range(repeat):
                _log(f"  incremental: run {run + 1}/{repeat}")
                cold.append(_timed(valinso.vends))
                copy = work / f"copy-{run}"
                shutil.copytree(base, copy)
                os.sync()  # the copy's writes are not the sync's to flush
                summary: list[Any] = []

                def one(copy: Path = copy, summary: list[Any] = summary) -> None:
                    summary.append(lv.Dataset(copy).sync(valinso, "vends"))

                sync.append(_timed(one))
                assert summary[0].rows == total, (summary[0], total)
                shutil.rmtree(copy)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cold_s, sync_s = statistics.median(cold), statistics.median(sync)
    return {
        "vends": vends,
        "new_vends": total - vends,
        "cold_s": cold_s,
        "incremental_s": sync_s,
        "cold_over_incremental": cold_s / sync_s,
    }


def first_sync(vends: int, latency_ms: float, repeat: int) -> dict[str, float]:
    import loketvalinso as lv

    work = Path(tempfile.mkdtemp(prefix="lv-bench-first-"))
    try:
        with MockProcess(
            vends=vends, leave_requests=500, latency_ms=latency_ms, expires=0
        ) as remote:
            with _valinso(remote) as valinso:
                valinso.vends(device_id=1)  # first use of the libraries, outside the timing
                cold, sync = [], []
                for run in range(repeat):
                    _log(f"  first sync: run {run + 1}/{repeat}")
                    started = time.perf_counter()
                    rows = valinso.vends().height
                    cold.append(time.perf_counter() - started)
                    folder = work / f"store-{run}"
                    os.sync()
                    started = time.perf_counter()
                    lv.Dataset(folder).sync(valinso, "vends")
                    sync.append(time.perf_counter() - started)
                    assert lv.Dataset(folder).history()["rows"][0] == rows == vends
                    shutil.rmtree(folder)
            memory = _memory_probe(remote, work / "memory")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cold_s, sync_s = statistics.median(cold), statistics.median(sync)
    return {
        "big_vends": vends,
        "big_cold_s": cold_s,
        "first_sync_s": sync_s,
        "first_sync_over_cold": sync_s / cold_s,
        "growth_mb": memory["growth_bytes"] / 1e6,
        "buffers_mb": memory["buffer_bytes"] / 1e6,
        "growth_over_buffers": memory["growth_bytes"] / memory["buffer_bytes"],
    }


def _memory_probe(remote: RemoteMock, folder: Path) -> dict[str, int]:
    credentials = dataclasses.asdict(remote.credentials)
    payload = {"url": remote.url, "credentials": credentials, "folder": str(folder)}
    return child_json("bench.sync", payload, "--memory-child")


def memory_child() -> int:
    """In a fresh process: the peak RSS growth of a first sync (after a small warm-up sync of
    one device's vends into another folder, so imports and thread pools are paid already)."""
    import loketvalinso as lv
    from loketvalinso.mock import Credentials

    payload = json.loads(sys.stdin.read())
    remote = RemoteMock(payload["url"], Credentials(**payload["credentials"]))
    folder = Path(payload["folder"])
    with _valinso(remote) as valinso:
        warm = lv.Dataset(folder / "warm-up")
        for batch in valinso.iter_vends(device_id=1, batch_rows=5_000):
            batch.height  # noqa: B018 - the walk and the stream threads start
        warm.sync(valinso, "devices")
        before = _status("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        _reset_peak()
        lv.Dataset(folder / "store").sync(valinso, "vends")
        peak = _status("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    frame = lv.Dataset(folder / "store").read("vends")
    out = {"growth_bytes": max(0, peak - before), "buffer_bytes": buffer_bytes(frame)}
    print(json.dumps(out))
    return 0


def format_table(results: dict[str, float]) -> str:
    lines = ["| metric | value | unit / target |", "|---|---|---|"]
    for key, label, unit in ROWS:
        value = results.get(key)
        if value is None:
            continue
        text = f"{value:,.0f}" if unit == "" else f"{value:.3f}" if unit == "s" else f"{value:.2f}"
        lines.append(f"| {label} | {text} | {unit} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench sync", description=__doc__.splitlines()[0])
    ap.add_argument("--vends", type=int, default=200_000, help="the year in the dataset")
    ap.add_argument("--big-vends", type=int, default=2_000_000, help="the first sync's vends")
    ap.add_argument("--latency-ms", type=float, default=25)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small worlds, 1 run: a smoke test")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ns = ap.parse_args(argv)
    if ns.memory_child:
        return memory_child()
    if ns.quick:
        ns.vends, ns.big_vends, ns.repeat, ns.latency_ms = 5_000, 20_000, 1, 2
    _log(f"incremental: {ns.vends:,} vends, then one day")
    results = incremental(ns.vends, ns.latency_ms, ns.repeat)
    _log(f"first sync: {ns.big_vends:,} vends")
    results.update(first_sync(ns.big_vends, ns.latency_ms, ns.repeat))
    print(format_table(results))
    if ns.json:
        ns.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
