"""A dlt source of both APIs: for users who outgrow files, dlt's destinations instead.

Needs the ``dlt`` extra (``pip install "loketvalinso[dlt]"``). Its resources are the named
loaders, each yielding Arrow tables (no per-row Python): ``vends`` is incremental on
``timestamp`` (from the stored cursor minus ``lookback``, merged on ``id``, so late vends land
and nothing doubles); the other Valinso lists and every Loket loader merge on their key, Loket
ones per employer.

>>> import dlt
>>> from loketvalinso.dlt_source import source
>>> pipeline = dlt.pipeline("loketvalinso", destination="duckdb", dataset_name="lv")
>>> pipeline.run(source(valinso=valinso, loket=loket).with_resources("vends", "leave_requests"))
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from loketvalinso._dataset.dataset import parse_lookback
from loketvalinso._dataset.resources import PER_EMPLOYER, RESOURCES, WHOLE, SyncSpec
from loketvalinso._loket import Loket
from loketvalinso._valinso import Valinso
from loketvalinso.errors import ConfigurationError

if TYPE_CHECKING:
    from dlt.extract.source import DltSource

__all__ = ["source"]


def _dlt() -> Any:
    try:
        return importlib.import_module("dlt")
    except ImportError:
        msg = 'the dlt source needs dlt: pip install "loketvalinso[dlt]"'
        raise ConfigurationError(msg) from None


def source(
    *,
    valinso: Valinso | None = None,
    loket: Loket | None = None,
    employer_ids: Sequence[str] | None = None,
    lookback: timedelta | str | None = None,
    batch_rows: int = 100_000,
) -> DltSource:
    """The dlt source ``loketvalinso`` with a resource per named loader of the clients given.

    Parameters
    ----------
    valinso, loket
        The clients (at least one): ``vends``, ``devices``, ``products``, ``locations`` come
        from Valinso; ``employers``, ``leave_requests``, ``employees``, … from Loket.
    employer_ids
        Loket: the employers to load (None = every employer the user may see).
    lookback
        Vends: how far before the stored cursor each run loads again (late vends); default 6h.
    batch_rows
        Vends: rows per Arrow table handed to dlt (memory holds a few, never the whole load).
    """
    if valinso is None and loket is None:
        msg = "source() needs valinso=..., loket=... or both"
        raise ConfigurationError(msg)
    dlt = _dlt()
    lag = parse_lookback(lookback)
    resources: list[Any] = []
    if valinso is not None:
        resources.append(_vends(dlt, valinso, lag, batch_rows))
        lists = ("devices", "products", "locations")
        resources += [_whole(dlt, valinso, RESOURCES[n]) for n in lists]
    if loket is not None:
        resources.append(_whole(dlt, loket, RESOURCES["employers"]))
        resources += [_per_employer(dlt, loket, RESOURCES[n], employer_ids) for n in PER_EMPLOYER]

    @dlt.source(name="loketvalinso")
    def loketvalinso() -> list[Any]:
        return resources

    built: DltSource = loketvalinso()
    return built


def _vends(dlt: Any, valinso: Valinso, lag: timedelta, batch_rows: int) -> Any:
    cursor = dlt.sources.incremental("timestamp", lag=lag.total_seconds())

    # dlt finds the cursor as the default of an argument (its documented idiom)
    @dlt.resource(name="vends", primary_key="id", write_disposition="merge")
    def vends(timestamp: Any = cursor) -> Iterator[pa.Table]:
        since = timestamp.last_value
        if since is not None:
            since = since - lag
        for batch in valinso.iter_vends(since=since, batch_rows=batch_rows, strict=True):
            if batch.height:
                yield batch.to_arrow()

    return vends


def _whole(dlt: Any, client: Any, spec: SyncSpec) -> Any:
    load = WHOLE[spec.name]

    @dlt.resource(name=spec.name, primary_key=list(spec.key), write_disposition="merge")
    def whole() -> Iterator[pa.Table]:
        frame = load(client)
        if frame.height:
            yield frame.to_arrow()

    return whole


def _per_employer(
    dlt: Any, loket: Loket, spec: SyncSpec, employer_ids: Sequence[str] | None
) -> Any:
    load = PER_EMPLOYER[spec.name]
    key = list(spec.key) if "employer_id" in spec.key else ["employer_id", *spec.key]

    @dlt.resource(name=spec.name, primary_key=key, write_disposition="merge")
    def per_employer() -> Iterator[pa.Table]:
        ids = employer_ids if employer_ids is not None else loket.employers()["id"].to_list()
        for employer_id in ids:
            frame = load(loket, employer_id)
            if frame.height:
                yield frame.to_arrow()

    return per_employer
