"""JSON bodies as Python objects, with one rule for a key repeated in an object: the first wins.

The typed fast path decodes pages with Polars' reader, which keeps the first value of a key an
object repeats (``{"id": 1, "id": 2}`` is ``id = 1``); orjson and the standard library keep the
last. Every other path that turns a body into Python objects goes through :func:`loads`, so a
repeated key means the same on every path. orjson does the work; only a body that holds more
keys than orjson kept (a key repeated, or rarely a ``":`` inside a string) is parsed again,
keeping first values, with the standard library.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps_text", "loads"]


def _first_values(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def _keys_in_text(body: bytes) -> int:
    """An upper bound of the object keys in ``body``: every key is a string followed by ``:``."""
    keys = body.count(b'":')
    if b'" :' in body:  # pretty-printed with a space before the colon
        keys += body.count(b'" :')
    return keys


def _keys_in(data: Any) -> int:
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
    """``body`` parsed; a key repeated in an object keeps its first value.

    Raises
    ------
    ValueError
        Not JSON (``orjson.JSONDecodeError``), or nested too deep to parse.
    """
    data = orjson.loads(body)
    if not isinstance(data, dict | list):
        return data
    raw = body.encode() if isinstance(body, str) else bytes(body)
    if _keys_in_text(raw) <= _keys_in(data):
        return data
    try:
        return json.loads(raw, object_pairs_hook=_first_values)
    except RecursionError:
        msg = "the JSON is nested too deep to read"
        raise ValueError(msg) from None


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
