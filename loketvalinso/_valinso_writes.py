"""Valinso writes: ``POST /vends`` in batches, ``PUT`` and ``DELETE`` of one item, field errors.

>>> created = valinso.post_vends(frame, batch_size=500)      # the loader's columns
>>> valinso.put("/device/12", {"status": "maintenance"})
>>> valinso.delete("/vend/200001")

A 422 raises :class:`~loketvalinso.errors.ValidationError` whose ``errors`` frame names the item
(its index in everything given, not in its batch), the field and the message. Writes are sent
once and drop the cache's entries of what they changed; ``dry_run=True`` returns the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import polars as pl

from loketvalinso._frames.parse import parse_page
from loketvalinso._frames.spec import valinso_spec
from loketvalinso._json import loads
from loketvalinso._transport.responses import raise_for_response
from loketvalinso._transport.store import DiskCache
from loketvalinso._valinso_paths import api_path
from loketvalinso._writes import build_write, dry_run_of, send_write
from loketvalinso.errors import ConfigurationError, ResponseFormatError, ValidationError

__all__ = ["DEFAULT_BATCH_SIZE", "ValinsoWrites"]

#: Vends per ``POST /vends`` by default (the mock accepts up to 1000 per request).
DEFAULT_BATCH_SIZE = 500
#: Singular detail paths → the resource whose columns they have.
_DETAILS = {"device": "devices", "product": "products", "location": "locations", "vend": "vends"}


class ValinsoWrites:
    """The write half of :class:`~loketvalinso.Valinso` (mixed into it)."""

    if TYPE_CHECKING:
        _http: httpx.Client
        offline: bool

        @property
        def cache(self) -> DiskCache | None: ...

        def _check_open(self) -> None: ...

    def post(self, path: str, payload: Any, *, dry_run: bool = False) -> Any:
        """POST JSON (e.g. ``post("/vends", {"items": [...]})``); returns ``result``.

        A 422 raises :class:`~loketvalinso.errors.ValidationError` (``errors``: item, field,
        message); an answer that is not JSON raises
        :class:`~loketvalinso.errors.ResponseFormatError`. POSTs are never retried once they may
        have reached the server.
        """
        path = api_path(path)
        body = _json_ready(payload)
        request = build_write(self._http, "POST", path, body=body)
        if dry_run:
            return dry_run_of(request, auth_headers=("api-key",))
        return _result(self._send(request, f"POST {path}"), f"POST {path}")

    def post_vends(
        self,
        items: pl.DataFrame | Iterable[Mapping[str, Any]],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        dry_run: bool = False,
    ) -> Any:
        """Create vends: ``POST /vends {"items": [...]}``, ``batch_size`` items per request.

        Parameters
        ----------
        items
            A DataFrame or dicts in the columns :meth:`vends` returns (``device_id``,
            ``product_id``, ``timestamp`` as a datetime or unix seconds, ``price`` as a
            decimal, …). ``id`` is the server's to give and is not sent; nulls are left out (the
            server fills its defaults); columns the toolkit does not know are sent as given.
        batch_size
            Items per request.
        dry_run
            Return the request (a :class:`~loketvalinso._writes.DryRun`; a list of them for
            several batches) without sending anything.

        Returns
        -------
        polars.DataFrame
            The created vends, typed as :meth:`vends` returns them, with their new ids.

        Raises
        ------
        ValidationError
            A batch was refused (422). ``errors`` names each refused item by its index in
            ``items``; the batch and every later one were not created; ``created`` holds what
            the earlier batches created.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            msg = f"batch_size must be a positive whole number, not {batch_size!r}"
            raise ConfigurationError(msg)
        rows = _vend_items(items)
        if not rows:
            msg = "post_vends needs at least one vend"
            raise ConfigurationError(msg)
        batches = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
        requests = [build_write(self._http, "POST", "/vends", body={"items": b}) for b in batches]
        if dry_run:
            runs = [dry_run_of(r, auth_headers=("api-key",)) for r in requests]
            return runs[0] if len(runs) == 1 else runs
        spec = valinso_spec("vends")
        created: list[pl.DataFrame] = []
        for number, request in enumerate(requests):
            first = number * batch_size
            try:
                response = self._send(request, f"POST /vends (batch {number + 1})")
            except ValidationError as exc:
                exc.offset_items(first)
                exc.created = pl.concat(created) if created else pl.DataFrame(schema=spec.schema)
                last = first + len(batches[number]) - 1
                if len(batches) == 1:
                    what = "Nothing was created: fix the items in .errors and send them again"
                else:
                    what = (
                        f"Batch {number + 1} of {len(batches)} (items {first}–{last}) was "
                        f"refused: items {first} and later were not created, the "
                        f"{exc.created.height} before them were (.created). Fix the items in "
                        f".errors and send items {first} and later again"
                    )
                exc.args = (f"{exc.args[0]}. {what}",)
                raise
            _, frame = parse_page(response.content, spec, url=str(request.url))
            created.append(frame)
        return pl.concat(created)

    def put(self, path: str, payload: Any, *, dry_run: bool = False) -> Any:
        """PUT the fields of ``payload`` to one item (``/device/{id}``, …); returns it.

        ``payload`` is a dict or a one-row DataFrame in the API's field names (the loader's
        column names): datetimes are sent as unix seconds, decimals as numbers.

        Returns
        -------
        polars.DataFrame or object
            The item as the server now holds it (one typed row for devices, products,
            locations and vends; the raw ``result`` otherwise).
        """
        path = api_path(path)
        if isinstance(payload, pl.DataFrame):
            if payload.height != 1:
                msg = f"PUT {path}: expected a one-row DataFrame, got {payload.height} rows"
                raise ConfigurationError(msg)
            payload = payload.row(0, named=True)
        if not isinstance(payload, Mapping):
            msg = f"PUT {path}: the payload is a dict of fields, not {type(payload).__name__}"
            raise ConfigurationError(msg)
        body = {k: _json_ready(v) for k, v in payload.items()}
        request = build_write(self._http, "PUT", path, body=body)
        if dry_run:
            return dry_run_of(request, auth_headers=("api-key",))
        return self._item(path, self._send(request, f"PUT {path}"))

    def delete(self, path: str, *, dry_run: bool = False) -> Any:
        """DELETE one item (``/vend/{id}``, …); returns what the server removed."""
        path = api_path(path)
        request = build_write(self._http, "DELETE", path)
        if dry_run:
            return dry_run_of(request, auth_headers=("api-key",))
        return self._item(path, self._send(request, f"DELETE {path}"))

    def create_vends(self, items: Sequence[Mapping[str, Any]]) -> Any:
        """The ``result`` of one ``POST /vends`` (see :meth:`post_vends` for batches)."""
        return self.post("/vends", {"items": [_json_ready(i) for i in items]})

    # -- plumbing --------------------------------------------------------------------------------

    def _send(self, request: httpx.Request, label: str) -> httpx.Response:
        self._check_open()
        if self.offline:
            msg = f"{label}: this client is offline (offline=True); writes need the server"
            raise ConfigurationError(msg)
        response = send_write(self._http, request, cache=self.cache, label=label)
        hint = None
        if response.status_code >= 500 and request.method in ("POST", "PATCH"):
            hint = (
                "The request may have been applied all the same: read the items to see before "
                "sending it again (writes are never repeated automatically)"
            )
        raise_for_response(response, api="valinso", hint=hint)
        return response

    def _item(self, path: str, response: httpx.Response) -> Any:
        first = path.strip("/").split("/", 1)[0]
        resource = _DETAILS.get(first)
        if resource is None:
            return _result(response, f"{response.request.method} {path}")
        _, frame = parse_page(response.content, valinso_spec(resource), url=str(response.url))
        return frame


def _result(response: httpx.Response, label: str) -> Any:
    """The ``result`` of a write's answer (a key it repeats keeps its first value)."""
    if not response.content.strip():
        return None
    try:
        body = loads(response.content)
    except ValueError as exc:
        kind = response.headers.get("content-type") or "no content type"
        msg = (
            f"{label} answered {response.status_code} with a body that is not JSON "
            f"({len(response.content)} bytes, {kind})"
        )
        raise ResponseFormatError(msg, url=str(response.url)) from exc
    return body.get("result") if isinstance(body, dict) else body


def _vend_items(items: pl.DataFrame | Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Vends as the API's items: ``id`` and nulls left out, values JSON-ready."""
    if isinstance(items, pl.DataFrame):
        rows: Iterable[Mapping[str, Any]] = items.iter_rows(named=True)
    elif isinstance(items, Mapping):
        msg = "post_vends takes a DataFrame or a list of dicts (one per vend), not one dict"
        raise ConfigurationError(msg)
    else:
        rows = items
    out = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            msg = f"vend {index} is a {type(row).__name__}, not a dict of fields"
            raise ConfigurationError(msg)
        out.append({str(k): _json_ready(v) for k, v in row.items() if v is not None and k != "id"})
    return out


def _json_ready(value: Any) -> Any:
    """``value`` as JSON the Valinso API takes: datetimes and dates as unix seconds."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value
