"""The ``loketvalinso`` command: ``demo``, ``mock serve`` and ``cache info|clear``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loketvalinso",
        description="Loket.nl and Valinso APIs as Polars DataFrames, with an embedded mock.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the demo report against the embedded mock")
    demo.add_argument("--out", default="data/demo", help="output folder (default: data/demo)")
    demo.add_argument("--seed", type=int, default=42, help="seed of the mock world")
    demo.add_argument(
        "--no-progress", action="store_true", help="do not show progress bars while loading"
    )

    mock = commands.add_parser("mock", help="the embedded mock of both APIs")
    mock_commands = mock.add_subparsers(dest="mock_command", required=True)
    serve = mock_commands.add_parser("serve", help="serve the mock over HTTP until Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8800)
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--latency-ms", type=float, default=0.0)
    serve.add_argument("--error-rate", type=float, default=0.0)
    serve.add_argument("--rate-limit", type=float, default=None)
    serve.add_argument("--token-lifetime", type=float, default=3600.0)
    serve.add_argument("--truncate-rate", type=float, default=0.0)
    serve.add_argument("--drift", action="store_true")
    serve.add_argument("--expires", type=int, default=None)
    serve.add_argument("--schema-drift", action="store_true", help="send data off the schema")
    serve.add_argument("--vends", type=int, default=None, help="number of vends in the world")
    serve.add_argument(
        "--leave-requests", type=int, default=None, help="approximate number of leave requests"
    )

    cache = commands.add_parser("cache", help="inspect or clear the disk cache")
    cache_commands = cache.add_subparsers(dest="cache_command", required=True)
    for name, text in (("info", "show the cache folder, entries and size"), ("clear", "empty it")):
        sub = cache_commands.add_parser(name, help=text)
        sub.add_argument("--dir", default=None, help="cache folder (default: the user cache dir)")
    return parser


def _serve(args: argparse.Namespace) -> int:
    from loketvalinso import mock
    from loketvalinso.mock import sizes_for

    sizes = sizes_for(vends=args.vends, leave_requests=args.leave_requests)
    with mock.serve(
        seed=args.seed,
        host=args.host,
        port=args.port,
        sizes=sizes,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        rate_limit=args.rate_limit,
        token_lifetime=args.token_lifetime,
        truncate_rate=args.truncate_rate,
        drift=args.drift,
        expires=args.expires,
        schema_drift=args.schema_drift,
    ) as server:
        creds = server.credentials
        print(f"loketvalinso mock on {server.url}  (seed {args.seed})")
        print(f"  Loket API     {server.loket_url}")
        print(f"  OAuth         {server.authorize_url}  {server.token_url}")
        print(f"  Valinso API   {server.valinso_url}")
        print(f"  client_id     {creds.client_id}")
        print(f"  redirect_uri  {creds.redirect_uri}")
        print(f"  username      {creds.username}")
        print("  secrets (client secret, password, api key): lv.mock.serve(seed=...).credentials")
        print("Ctrl-C to stop.", flush=True)
        try:
            _block()
        except KeyboardInterrupt:
            print("stopped")
    return 0


def _block() -> None:
    import time

    # A plain sleep loop: Ctrl-C (SIGINT) interrupts time.sleep at once on every platform.
    while True:
        time.sleep(0.5)


def _cache(args: argparse.Namespace) -> int:
    import warnings

    from loketvalinso.cache import cache_clear, cache_info
    from loketvalinso.errors import LoketValinsoError

    try:
        if args.cache_command == "info":
            print(json.dumps(cache_info(args.dir), indent=2, default=str))
            return 0
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            removed = cache_clear(args.dir)
        for warning in said:  # a damaged index was reset: say so in plain words
            print(warning.message)
        print(f"removed {removed} cache entries")
    except LoketValinsoError as exc:
        print(f"loketvalinso cache {args.cache_command}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "demo":
        from loketvalinso.report import run_demo

        run_demo(out=args.out, seed=args.seed, progress=not args.no_progress)
        return 0
    if args.command == "mock":
        return _serve(args)
    if args.command == "cache":
        return _cache(args)
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
