"""The embedded mock in its own process, so its CPU does not share the client's GIL.

Run as ``python -m bench.server --vends N --leave-requests N --latency-ms X --expires S``; prints
one JSON line ``{"url": ..., "credentials": {...}}`` once it answers, then serves until its
standard input closes. The credentials are the mock's own (fake) ones, handed over a pipe. A line
``advance N`` on standard input moves the world on N days (``m.advance``); the answer is a JSON
line ``{"vends": rows}`` once the moved world is served.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vends", type=int, required=True)
    ap.add_argument("--leave-requests", type=int, required=True)
    ap.add_argument("--latency-ms", type=float, default=25)
    ap.add_argument("--expires", type=int, default=3600)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)

    import loketvalinso as lv

    sizes = lv.mock.sizes_for(vends=args.vends, leave_requests=args.leave_requests)
    with lv.mock.serve(
        seed=args.seed, sizes=sizes, latency_ms=args.latency_ms, expires=args.expires
    ) as m:
        # Encode the Valinso tables now (the bench also makes one unmeasured pass of every
        # listing, which warms the Loket side).
        m.app.valinso.warm()
        info = {"url": m.url, "credentials": dataclasses.asdict(m.credentials)}
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        for line in sys.stdin:  # until the parent closes the pipe
            command, _, days = line.partition(" ")
            if command == "advance":
                world = m.advance(days=int(days))
                sys.stdout.write(json.dumps({"vends": world.vends.height}) + "\n")
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
