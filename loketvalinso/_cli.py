"""The ``loketvalinso`` command: ``demo``, ``sync``, ``mock serve``, ``report`` and
``cache info|clear``.

Every flag has a help line and shows its default (``loketvalinso <command> --help``);
``loketvalinso --version`` names the versions that matter when reporting a problem.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["main"]


class _DEFAULTS(argparse.HelpFormatter):
    """Every option's help ends with its default: given in words where it is None, ``off`` for
    a switch, else the value."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default:" in text or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        if isinstance(action, argparse._StoreTrueAction):
            return f"{text} (default: off)"
        return f"{text} (default: %(default)s)"


def _version_text() -> str:
    import platform

    import httpx
    import polars

    from loketvalinso._version import __version__

    return (
        f"loketvalinso {__version__} (Python {platform.python_version()}, polars "
        f"{polars.__version__}, httpx {httpx.__version__})"
    )


class _Version(argparse.Action):
    """``--version``, importing polars and httpx only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        print(_version_text())
        parser.exit()


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loketvalinso",
        description="Loket.nl and Valinso APIs as Polars DataFrames, with an embedded mock.",
        formatter_class=_DEFAULTS,
    )
    parser.add_argument("--version", action=_Version, help="show the versions and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run the demo report against the embedded mock",
        description="Start the mock, log in through OAuth, load, chart, and write a report.",
        formatter_class=_DEFAULTS,
    )
    demo.add_argument("--out", default="data/demo", help="output folder")
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
            "environment or a .env file, as lv.Valinso.from_env() and lv.Loket.from_env() "
            "read them (VALINSO_API_KEY; LOKET_ENVIRONMENT with LOKET_ACCESS_TOKEN, or a login "
            "remembered with LOKET_TOKEN_STORE=keyring) unless --mock."
        ),
        formatter_class=_DEFAULTS,
    )
    sync.add_argument("dir", help="the dataset folder")
    sync.add_argument(
        "resources",
        nargs="*",
        metavar="RESOURCE",
        help=f"what to sync (default: {' '.join(SYNC_DEFAULT)}); any of: {', '.join(_choices())}",
    )
    sync.add_argument("--mock", action="store_true", help="sync from the embedded mock")
    sync.add_argument(
        "--seed", type=int, default=42, help="the mock world's seed (only with the mock)"
    )
    sync.add_argument(
        "--days",
        type=int,
        default=0,
        help="move the mock's world on this many days first: new vends, leave (only with the mock)",
    )
    sync.add_argument(
        "--vends",
        type=int,
        default=None,
        help="number of vends in the mock's world, only with the mock (default: 200,000)",
    )
    sync.add_argument(
        "--schema-drift",
        action="store_true",
        help="the mock sends data off the schema: Loket numbers as text, qty (only with the mock)",
    )
    sync.add_argument(
        "--lookback", default=None, help="vends: reload this far back, e.g. 12h (default: 6 hours)"
    )
    sync.add_argument(
        "--strict",
        action="store_true",
        help=(
            "refuse data off the schema that the dataset cannot keep exactly; without it a sync "
            "stores what landed typed, nulls for the rest, and notes the drift"
        ),
    )
    sync.add_argument("--no-progress", action="store_true", help="no progress bars")

    mock = commands.add_parser(
        "mock",
        help="the embedded mock of both APIs",
        description="The embedded mock of the Loket and Valinso APIs.",
        formatter_class=_DEFAULTS,
    )
    mock_commands = mock.add_subparsers(dest="mock_command", required=True, metavar="COMMAND")
    serve = mock_commands.add_parser(
        "serve",
        help="serve the mock over HTTP until Ctrl-C",
        description=(
            "Serve both APIs over HTTP until Ctrl-C, on their production paths; prints the URLs, "
            "the mock's credentials (made up, the same for a seed) and two curl examples."
        ),
        formatter_class=_DEFAULTS,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8800, help="port; 0 takes any free port")
    serve.add_argument("--seed", type=int, default=42, help="seed of the world and credentials")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="delay of every answer")
    serve.add_argument(
        "--error-rate", type=float, default=0.0, help="share of requests answered with a 5xx"
    )
    serve.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="requests per second before 429 with Retry-After (default: no limit)",
    )
    serve.add_argument(
        "--token-lifetime", type=float, default=3600.0, help="seconds an access token lives"
    )
    serve.add_argument(
        "--truncate-rate", type=float, default=0.0, help="share of bodies cut off mid-way"
    )
    serve.add_argument(
        "--drift", action="store_true", help="a listing's total changes during a walk"
    )
    serve.add_argument(
        "--expires",
        type=int,
        default=None,
        help="seconds of freshness announced on list pages (default: none, 'do not reuse' as "
        "Loket says)",
    )
    serve.add_argument(
        "--schema-drift",
        action="store_true",
        help="send data off the schema (renamed, retyped and new fields)",
    )
    serve.add_argument(
        "--vends", type=int, default=None, help="number of vends in the world (default: 200,000)"
    )
    serve.add_argument(
        "--leave-requests",
        type=int,
        default=None,
        help="approximate number of leave requests (default: about 38,000)",
    )

    report = commands.add_parser(
        "report",
        help="render the HTML report from saved snapshots",
        description=(
            "Render report.html (and charts/) from a folder of Parquet snapshots "
            "(lv.snapshots.save, or `loketvalinso demo`), with no server. Any frame names "
            "work: the charts the frames allow are drawn, the rest is listed."
        ),
        formatter_class=_DEFAULTS,
    )
    report.add_argument("directory", metavar="DIR", help="the folder of .parquet snapshots")
    report.add_argument("--out", default=None, help="output folder (default: DIR itself)")
    report.add_argument(
        "--title", default="loketvalinso report (from snapshots)", help="the page title"
    )
    report.add_argument(
        "--no-images", action="store_true", help="skip the SVG and PNG file of each chart"
    )

    cache = commands.add_parser(
        "cache",
        help="inspect or clear the disk cache",
        description="Inspect or empty the disk cache of HTTP responses.",
        formatter_class=_DEFAULTS,
    )
    cache_commands = cache.add_subparsers(dest="cache_command", required=True, metavar="COMMAND")
    for name, text in (
        ("info", "show the cache folder, entries and size"),
        ("clear", "empty it (asks first, unless --yes)"),
    ):
        sub = cache_commands.add_parser(
            name, help=text, description=text, formatter_class=_DEFAULTS
        )
        sub.add_argument(
            "--dir",
            default=None,
            help="cache folder (default: the user cache folder, see `cache info`)",
        )
        if name == "clear":
            sub.add_argument(
                "-y", "--yes", action="store_true", help="do not ask before removing entries"
            )
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
    from loketvalinso.mock import sizes_for

    options: dict[str, Any] = {"progress": not args.no_progress, "cache": False}
    with contextlib.ExitStack() as stack:
        clients: dict[str, Any] = {}
        if args.mock:
            server = stack.enter_context(
                mock.serve(
                    seed=args.seed,
                    sizes=sizes_for(vends=args.vends),
                    schema_drift=args.schema_drift,
                )
            )
            if args.days:
                server.advance(days=args.days)
            if "valinso" in needed:
                clients["valinso"] = stack.enter_context(Valinso.from_mock(server, **options))
            if "loket" in needed:
                clients["loket"] = stack.enter_context(Loket.from_mock(server, **options))
        else:
            mock_only = (
                (args.days, "--days"),
                (args.vends is not None, "--vends"),
                (args.schema_drift, "--schema-drift"),
            )
            for given, option in mock_only:
                if given:
                    msg = f"{option} is an option of the mock: use it with --mock"
                    raise ConfigurationError(msg)
            try:
                if "valinso" in needed:
                    clients["valinso"] = stack.enter_context(Valinso.from_env(**options))
                if "loket" in needed:
                    clients["loket"] = stack.enter_context(Loket.from_env(**options))
            except ConfigurationError as exc:
                msg = f"{exc}; or sync from the embedded mock with --mock"
                raise ConfigurationError(msg) from exc
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


def drift_notes(summaries: Sequence[Any], folder: str) -> str:
    """The lines under the table for the syncs whose data arrived off the schema (empty when
    none did)."""
    notes = [f"drift  {s.resource}: {s.drift}" for s in summaries if s.drift]
    if notes:
        notes.append(
            f"       (per column: lv.Dataset({folder!r}).drift(); --strict refuses what the "
            "dataset cannot keep exactly)"
        )
    return "\n".join(notes)


def _sync(args: argparse.Namespace) -> int:
    from loketvalinso._dataset import Dataset
    from loketvalinso._dataset.resources import spec_for
    from loketvalinso.errors import SchemaDriftWarning

    names = list(dict.fromkeys(args.resources or SYNC_DEFAULT))
    specs = [spec_for(name) for name in names]
    dataset = Dataset(args.dir)
    summaries = []
    with _sync_clients(args, {spec.source for spec in specs}) as clients, warnings.catch_warnings():
        # the drift notes under the table say what a sync's SchemaDriftWarning says
        warnings.simplefilter("ignore", SchemaDriftWarning)
        for spec in specs:
            print(f"syncing {spec.name} …", file=sys.stderr, flush=True)
            lookback = args.lookback if spec.cursor_column else None
            summaries.append(
                dataset.sync(clients[spec.source], spec.name, lookback=lookback, strict=args.strict)
            )
    print(sync_table(summaries))
    if notes := drift_notes(summaries, str(dataset.folder)):
        print(notes)
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
        print(_banner(server, args.seed), flush=True)
        try:
            _block()
        except KeyboardInterrupt:
            print("stopped")
    return 0


def _banner(server: Any, seed: int) -> str:
    """What ``mock serve`` prints: URLs, credentials, two curl lines and the ``from_env`` set."""
    creds = server.credentials
    users = creds.users or ()
    others = "".join(f"\n  other user     {u.username}  password {u.password}" for u in users[1:])
    return f"""loketvalinso mock on {server.url}  (seed {seed})
  Loket API      {server.loket_url}
  OAuth          {server.authorize_url}  {server.token_url}
  Valinso API    {server.valinso_url}
The mock's credentials (made up, the same for every run with this seed):
  client_id      {creds.client_id}
  client_secret  {creds.client_secret}
  redirect_uri   {creds.redirect_uri}
  username       {creds.username}  password {creds.password}{others}
  api-key        {creds.valinso_api_key}
Try it (the first answer's access_token goes in "Authorization: Bearer ..." with
"Accept: application/json;version=2018-01-01" on {server.loket_url}/providers/employers):
  curl -s -X POST {server.token_url} -d grant_type=password -d username={creds.username} -d password={creds.password} -d client_id={creds.client_id} -d client_secret={creds.client_secret}
  curl -s -H "api-key: {creds.valinso_api_key}" "{server.valinso_url}/vends?limit=5"
Or from Python, with lv.Loket.from_env() / lv.Valinso.from_env():
  LOKET_BASE_URL={server.loket_url} LOKET_TOKEN_URL={server.token_url} LOKET_AUTHORIZE_URL={server.authorize_url}
  LOKET_CLIENT_ID={creds.client_id} LOKET_CLIENT_SECRET={creds.client_secret} LOKET_REDIRECT_URI={creds.redirect_uri}
  VALINSO_BASE_URL={server.valinso_url} VALINSO_API_KEY={creds.valinso_api_key}
Ctrl-C to stop."""


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
        info = cache_info(args.dir)
        if args.cache_command == "info":
            print(json.dumps(info, indent=2, default=str))
            return 0
        entries, size = info.get("entries"), info.get("size_bytes") or 0
        # a damaged index cannot count its entries: clearing it is what repairs it
        what = f"{entries} cache entries" if entries is not None else "every cache entry"
        if not args.yes:
            if not sys.stdin.isatty():
                print(
                    f"cache clear: would remove {what} ({size / 1e6:.1f} MB) from "
                    f"{info['directory']}; no terminal to ask, so nothing was removed: pass --yes",
                    file=sys.stderr,
                )
                return 2
            answer = input(f"Remove {what} ({size / 1e6:.1f} MB) from {info['directory']}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing removed")
                return 1
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


def _report(args: argparse.Namespace) -> int:
    from loketvalinso.errors import ConfigurationError
    from loketvalinso.report import report_from_snapshots

    try:
        result = report_from_snapshots(
            args.directory, args.out, title=args.title, images=not args.no_images
        )
    except ConfigurationError as exc:
        print(f"loketvalinso report: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {result.report} ({len(result.rows)} frames, {len(result.charts)} chart images)")
    for name, why in result.skipped.items():
        print(f"  no chart {name}: {why}")
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
    if args.command == "report":
        return _report(args)
    if args.command == "cache":
        return _cache(args)
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
