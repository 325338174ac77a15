"""Peak RSS growth of one cold load, in a fresh process (``python -m bench.memory``).

Reads ``{"url", "credentials", "dataset"}`` as JSON on standard input; prints one JSON line
``{"growth_bytes", "frame_bytes", "buffer_bytes", "rows", "retained_bytes"}``. The growth is the
peak resident set during the load (``VmHWM``, reset just before it through
``/proc/self/clear_refs`` where the kernel allows) minus the resident set before it, after the
imports, the login and a small warm-up load in small pages (first use of the libraries and
thread pools costs memory once per process, not per row).

``frame_bytes`` is the frame's ``estimated_size()``, the issue's yardstick. It leaves out the
16-byte view every value of a String column has (Polars stores strings as Arrow string views;
``estimated_size`` counts only their bytes), so ``buffer_bytes`` gives the frame's own buffers
too: the length of its uncompressed Arrow IPC stream, counted without keeping it.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import tempfile
from pathlib import Path


def _status(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


#: client options of the warm-up load: pages small enough to need every page thread
WARMUP_PAGES = {"vends": {"limit": 100}, "leave_requests": {"page_size": 25}}


class _ByteCounter:
    """A write-only sink that counts what is written to it and keeps nothing."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def buffer_bytes(frame: object) -> int:
    """The length of ``frame``'s uncompressed Arrow IPC stream: its buffers, with the views of
    its String columns (which ``estimated_size`` leaves out), padding and a small schema."""
    sink = _ByteCounter()
    frame.write_ipc_stream(sink, compression="uncompressed")  # type: ignore[attr-defined]
    return sink.count


def main() -> int:
    payload = json.loads(sys.stdin.read())
    from bench.run import CLIENT_OPTIONS, RemoteMock, toolkit_client, toolkit_load
    from loketvalinso.mock import Credentials

    if payload.get("no_json_check"):
        from loketvalinso._transport.retry import RetryPolicy

        CLIENT_OPTIONS["retry"] = RetryPolicy(retry_invalid_json=False)

    remote = RemoteMock(payload["url"], Credentials(**payload["credentials"]))
    dataset = payload["dataset"]
    folder = Path(tempfile.mkdtemp(prefix="lv-bench-mem-"))
    try:
        # First use of Polars' JSON reader, IPC writer, thread pools, httpx etc. costs memory
        # once per process, whatever the load: pay it with a small load (own client, no cache)
        # so the number below grows with the data, not with the imports. The small load walks
        # small pages (one device's vends, two months of one employer's leave; ~1/20 of the
        # rows) so that every page and parse thread the big load uses is started: each new
        # thread costs its stack and allocator arenas once (the growth of a cold 200k-vends load
        # measured after a warm-up of devices() only, which starts one thread, was ~7 MB more).
        # The measured client is open before the warm-up client closes: the last client closed
        # stops the load threads, and they are to stay started.
        client = toolkit_client(remote, dataset, False if payload.get("no_cache") else folder)
        warmup = toolkit_client(remote, dataset, False, **WARMUP_PAGES[dataset])
        try:
            if dataset == "vends":
                devices = warmup.devices()["id"].to_list()
                warmup.vends(device_id=devices[0])
            else:
                employer = warmup.employers()["id"][0]
                warmup.leave_types(employer)
                warmup.leave_requests(employer, start="2025-01-01", end="2025-02-28")
        finally:
            warmup.close()
        before = _status("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        _reset_peak()
        frame = toolkit_load(client, dataset)
        # Count the cached listing written in the background too: it is part of the load's cost.
        from loketvalinso._transport.background import flush_background_writes

        flush_background_writes()
        peak = _status("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        after = _status("VmRSS") or peak
        client.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out = {
        "growth_bytes": max(0, peak - before),
        "frame_bytes": int(frame.estimated_size()),
        "buffer_bytes": buffer_bytes(frame),
        "rows": frame.height,
        "retained_bytes": max(0, after - before),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
