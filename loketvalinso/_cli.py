"""The ``loketvalinso`` command: ``demo``, ``sync``, ``mock serve`` and ``cache info|clear``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

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

    sync = commands.add_parser(
        "sync",
        help="bring a local Parquet dataset up to date",
        description=(
            "Sync resources into the dataset folder DIR (created on first use): vends "
            "incrementally, Loket resources compared by key. Credentials come from the "
            "environment (VALINSO_API_KEY [VALINSO_BASE_URL]; LOKET_ACCESS_TOKEN "
            "[LOKET_ENVIRONMENT or LOKET_BASE_URL]) unless --mock."
        ),
    )
    sync.add_argument("dir", help="the dataset folder")
    sync.add_argument(
        "resources",
        nargs="*",
        metavar="RESOURCE",
        help=f"what to sync (default: {' '.join(SYNC_DEFAULT)}); any of: {', '.join(_choices())}",
    )
    sync.add_argument("--mock", action="store_true", help="sync from the embedded mock")
    sync.add_argument("--seed", type=int, default=42, help="with --mock: the world's seed")
    sync.add_argument(
        "--days",
        type=int,
        default=0,
        help="with --mock: move the mock's world on this many days first (new vends, leave)",
    )
    sync.add_argument("--lookback", default=None, help="vends: reload this far back (e.g. 6h)")
    sync.add_argument("--no-progress", action="store_true", help="no progress bars")

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


#: what ``loketvalinso sync`` syncs when no resource is named
SYNC_DEFAULT = ("vends", "leave_requests")


def _choices() -> list[str]:
    from loketvalinso._dataset.resources import RESOURCES

    return list(RESOURCES)


@contextlib.contextmanager
def _sync_clients(args: argparse.Namespace, needed: set[str]) -> Iterator[dict[str, Any]]:
    """The clients the named resources need: the mock's, or from the environment."""
    from loketvalinso import mock
    from loketvalinso._loket import Loket
    from loketvalinso._valinso import Valinso
    from loketvalinso.errors import ConfigurationError

    options: dict[str, Any] = {"progress": not args.no_progress, "cache": False}
    with contextlib.ExitStack() as stack:
        clients: dict[str, Any] = {}
        if args.mock:
            server = stack.enter_context(mock.serve(seed=args.seed))
            if args.days:
                server.advance(days=args.days)
            if "valinso" in needed:
                clients["valinso"] = stack.enter_context(Valinso.from_mock(server, **options))
            if "loket" in needed:
                clients["loket"] = stack.enter_context(Loket.from_mock(server, **options))
        else:
            if args.days:
                msg = "--days moves the mock's world: use it with --mock"
                raise ConfigurationError(msg)
            env = os.environ
            if "valinso" in needed:
                if not env.get("VALINSO_API_KEY"):
                    msg = "set VALINSO_API_KEY (and VALINSO_BASE_URL for a test server), or --mock"
                    raise ConfigurationError(msg)
                clients["valinso"] = stack.enter_context(
                    Valinso(
                        api_key=env["VALINSO_API_KEY"],
                        base_url=env.get("VALINSO_BASE_URL"),
                        **options,
                    )
                )
            if "loket" in needed:
                if not env.get("LOKET_ACCESS_TOKEN"):
                    msg = "set LOKET_ACCESS_TOKEN (and LOKET_ENVIRONMENT or LOKET_BASE_URL), or --mock"
                    raise ConfigurationError(msg)
                base_url = env.get("LOKET_BASE_URL")
                environment = None if base_url else env.get("LOKET_ENVIRONMENT", "production")
                clients["loket"] = stack.enter_context(
                    Loket(
                        environment=environment,
                        base_url=base_url,
                        access_token=env["LOKET_ACCESS_TOKEN"],
                        **options,
                    )
                )
        yield clients


def sync_table(summaries: Sequence[Any]) -> str:
    """The summary table ``loketvalinso sync`` prints: one line per resource synced."""
    header = ("resource", "mode", "loaded", "added", "changed", "removed", "rows", "seconds")
    lines = [
        (
            s.resource,
            s.mode,
            f"{s.rows_loaded:,}",
            f"{s.added:,}",
            f"{s.changed:,}",
            f"{s.removed:,}",
            f"{s.rows:,}",
            f"{s.seconds:.2f}",
        )
        for s in summaries
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        return "  ".join(cells)

    return "\n".join([fmt(header), *(fmt(line) for line in lines)])


def _sync(args: argparse.Namespace) -> int:
    from loketvalinso._dataset import Dataset
    from loketvalinso._dataset.resources import spec_for

    names = list(dict.fromkeys(args.resources or SYNC_DEFAULT))
    specs = [spec_for(name) for name in names]
    dataset = Dataset(args.dir)
    summaries = []
    with _sync_clients(args, {spec.source for spec in specs}) as clients:
        for spec in specs:
            print(f"syncing {spec.name} …", file=sys.stderr, flush=True)
            lookback = args.lookback if spec.cursor_column else None
            summaries.append(dataset.sync(clients[spec.source], spec.name, lookback=lookback))
    print(sync_table(summaries))
    print(f"dataset: {dataset.folder}  (lv.Dataset({str(dataset.folder)!r}).scan(...))")
    return 0


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
    parser = _build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "sync" and not any(e.startswith("-") for e in extra):
        args.resources += extra  # resources named after the options
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "demo":
        from loketvalinso.report import run_demo

        run_demo(out=args.out, seed=args.seed, progress=not args.no_progress)
        return 0
    if args.command == "sync":
        from loketvalinso.errors import LoketValinsoError

        try:
            return _sync(args)
        except LoketValinsoError as exc:
            print(f"loketvalinso sync: {exc}", file=sys.stderr)
            return 1
    if args.command == "mock":
        return _serve(args)
    if args.command == "cache":
        return _cache(args)
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
