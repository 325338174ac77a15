"""Valinso paths and ids, checked before any request is sent (reads and writes alike).

A path is named under the API's root; a ``.`` or ``..`` segment (also percent-encoded) would
leave the base path with the api key attached, and a ``?`` or ``#`` would bypass ``params=``.
"""

from __future__ import annotations

import numbers
import re
from urllib.parse import unquote

from loketvalinso.errors import ConfigurationError

__all__ = ["api_path", "device_id_of"]

#: What a path segment may not hold: query and fragment marks, backslashes, controls.
_NOT_IN_PATH = re.compile(r"[?#\\\x00-\x1f\x7f]")


def api_path(path: object) -> str:
    """``path`` as a path under the API root (``"devices"`` → ``"/devices"``).

    Raises
    ------
    ConfigurationError
        Not text, empty, a ``.``/``..`` segment (it would leave the API's base path, with the
        api key attached), or a ``?``/``#``/control character (query parameters go in
        ``params=``).
    """
    if not isinstance(path, str) or not path.strip("/ "):
        msg = f"a Valinso path such as '/devices' is needed, not {path!r}"
        raise ConfigurationError(msg)
    segments = path.strip("/").split("/")
    if any(unquote(seg).strip() in (".", "..", "") for seg in segments):
        msg = (
            f"the path {path!r} has an empty, '.' or '..' segment: name the resource under the "
            "API's root (e.g. '/devices'); requests never leave the API's base path"
        )
        raise ConfigurationError(msg)
    if _NOT_IN_PATH.search(path):
        msg = (
            f"the path {path!r} holds '?', '#', a backslash or a control character: pass query "
            "parameters as params={...}"
        )
        raise ConfigurationError(msg)
    return "/" + "/".join(segments)


def device_id_of(value: object, *, name: str = "device_id") -> int:
    """A Valinso device id (a whole number ≥ 0, or its digits as text)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 0:
        return int(value)
    msg = f"{name} must be a whole number (a Valinso device id), not {value!r}"
    raise ConfigurationError(msg)
