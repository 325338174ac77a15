"""JSON bodies as Python objects, with one rule for a key repeated in an object: the first wins.

The typed fast path decodes pages with Polars' reader, which keeps the first value of a key an
object repeats (``{"id": 1, "id": 2}`` is ``id = 1``); orjson and the standard library keep the
last. Every other path that turns a body into Python objects goes through :func:`loads`, so a
repeated key means the same on every path. orjson does the work; only a body that holds more
keys than orjson kept (a key repeated, or rarely a ``":`` inside a string) is parsed again,
keeping first values, with the standard library.

orjson also reads an integer past 64 bits as a float (its last digits lost), so a body with a
run of 19 digits or more goes to the standard library at once, which keeps every digit (ids
and totals a server may send); and a body orjson refuses is tried there too, in case only
orjson minds it. ``NaN`` and ``Infinity`` are not JSON on either path.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps_text", "has_long_integers", "keys_in", "keys_in_text", "loads"]

#: Every byte as ``1`` (a digit) or ``0`` (anything else), so that a run of 19 digits, which
#: may be an integer past 64 bits, is a plain substring search (a regex scans byte by byte).
_DIGITS = bytes(0x31 if 0x30 <= b <= 0x39 else 0x30 for b in range(256))
_LONG_RUN = b"1" * 19


def _first_values(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def keys_in_text(body: bytes) -> int:
    """An upper bound of the object keys in ``body``: every key is a string followed by ``:``."""
    keys = body.count(b'":')
    if b'" :' in body:  # pretty-printed with a space before the colon
        keys += body.count(b'" :')
    return keys


def has_long_integers(body: bytes) -> bool:
    """Whether ``body`` has a run of digits that may be an integer past 64 bits (which orjson
    would read as a float)."""
    return _LONG_RUN in body.translate(_DIGITS)


def keys_in(data: Any) -> int:
    """Object keys in ``data`` at every level (no recursion: the nesting may be deep)."""
    n = 0
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            n += len(value)
            stack.extend(v for v in value.values() if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend(v for v in value if isinstance(v, dict | list))
    return n


def loads(body: bytes | bytearray | memoryview | str) -> Any:
    """``body`` parsed; a key repeated in an object keeps its first value, every digit of an
    integer past 64 bits is kept.

    Raises
    ------
    ValueError
        Not JSON (``orjson.JSONDecodeError``), or nested too deep to parse.
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    first: ValueError | None = None
    if not has_long_integers(raw):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            first = exc
        else:
            if not isinstance(data, dict | list) or keys_in_text(raw) <= keys_in(data):
                return data
    try:
        return json.loads(raw, object_pairs_hook=_first_values, parse_constant=_not_json)
    except RecursionError:
        msg = "the JSON is nested too deep to read"
        raise (first or ValueError(msg)) from None
    except ValueError as exc:
        raise (first or exc) from None


def _not_json(name: str) -> None:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def dumps_text(value: Any) -> str:
    """``value`` as compact JSON text (a nested field kept as one text column).

    Raises
    ------
    ValueError
        Nested deeper than can be written.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: deeper than orjson writes (255 levels)
        pass
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        msg = "a value is nested too deep to write as text"
        raise ValueError(msg) from None
