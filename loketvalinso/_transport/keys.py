"""Cache keys: a normalised URL, the ``Accept`` version and a non-secret caller identity, hashed.

Two requests share an entry exactly when they have the same method, the same URL once
normalised (:func:`normalize_url`), the same ``Accept`` (it carries the Loket resource version)
and the same caller identity (:func:`make_identity`: a one-way hash, never a token or key).
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from loketvalinso.errors import ConfigurationError

__all__ = [
    "cache_key",
    "collection_tag",
    "make_identity",
    "merged_urls",
    "normalize_accept",
    "normalize_url",
    "resource_tags",
]

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = "/:@!$'()*+,;?-._~%"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _normalize_component(text: str, safe: str) -> str:
    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return quote(_PERCENT.sub(fix, text), safe=safe)


def normalize_url(url: httpx.URL | str) -> str:
    """A canonical form of ``url`` for cache keys.

    Scheme and host are lower-cased, a default port and any user-info or fragment are dropped,
    an empty path becomes ``/``, percent-encoding is normalised (unreserved characters decoded,
    hex digits upper-cased, unsafe characters encoded, ``+`` in the query read as a space) and
    query parameters are sorted by name (values of a repeated name keep their order).

    Parameters
    ----------
    url : httpx.URL or str
        An absolute URL.

    Returns
    -------
    str
    """
    return _join_url(*_url_parts(url))


def _url_parts(url: httpx.URL | str) -> tuple[str, str, str, list[tuple[str, str]]]:
    """:func:`normalize_url` before the join: scheme, netloc, path and the query's
    ``(name, "=" + value)`` pairs, each normalised, in their order."""
    parts = urlsplit(str(url))
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    path = _normalize_component(parts.path or "/", _PATH_SAFE)
    pairs: list[tuple[str, str]] = []
    for piece in parts.query.split("&"):
        if not piece:
            continue
        # form encoding: "+" is a space in a query ("%2B" is a plus sign)
        name, sep, value = piece.replace("+", "%20").partition("=")
        name = _normalize_component(name, _QUERY_SAFE)
        pairs.append((name, sep + _normalize_component(value, _QUERY_SAFE)))
    return scheme, netloc, path, pairs


def _join_url(scheme: str, netloc: str, path: str, pairs: list[tuple[str, str]]) -> str:
    pairs = sorted(pairs, key=lambda pair: pair[0])
    query = "&".join(name + value for name, value in pairs)
    return urlunsplit((scheme, netloc, path, query, ""))


_PLAIN_NAME = re.compile(r"[A-Za-z0-9._~-]+")


def merged_urls(url: httpx.URL, page_params: Sequence[Mapping[str, Any]]) -> list[str]:
    """``normalize_url(url.copy_merge_params(params))`` for each of ``page_params``.

    Paging parameters (the same plain names on every page, int values: ``pageNumber``,
    ``offset``, ``limit``) are merged into one parse of ``url`` instead of httpx's merge each.
    httpx re-encodes the whole query when it merges (``'`` becomes ``%27``, ``flag`` becomes
    ``flag=``), so the first page is also merged by httpx, and the quick way is kept only when
    the two agree. Other parameters are merged by httpx.
    """
    if not page_params:
        return []
    names = set(page_params[0])
    plain = all(_PLAIN_NAME.fullmatch(name) for name in names) and all(
        set(params) == names and all(type(value) is int for value in params.values())
        for params in page_params
    )
    if plain:
        scheme, netloc, path, pairs = _url_parts(url)
        kept = [pair for pair in pairs if pair[0] not in names]  # a merged name loses them all
        out = [
            _join_url(scheme, netloc, path, kept + [(n, f"={v}") for n, v in params.items()])
            for params in page_params
        ]
        if out[0] == normalize_url(url.copy_merge_params(page_params[0])):
            return out
    return [normalize_url(url.copy_merge_params(params)) for params in page_params]


def normalize_accept(accept: str | None) -> str:
    """A canonical ``Accept`` value: lower-cased, whitespace around ``,`` ``;`` ``=`` removed."""
    if not accept:
        return ""
    ranges = []
    for media_range in accept.lower().split(","):
        params = [p.strip().replace(" ", "") for p in media_range.split(";")]
        ranges.append(";".join(p for p in params if p))
    return ",".join(r for r in ranges if r)


def cache_key(method: str, url: httpx.URL | str, *, accept: str | None, identity: str) -> str:
    """The cache key of a request: sha256 over method, URL, ``Accept`` and caller identity.

    Parameters
    ----------
    method : str
        Request method.
    url : httpx.URL or str
        Request URL (normalised with :func:`normalize_url`).
    accept : str or None
        The ``Accept`` header (it carries the Loket resource version).
    identity : str
        Who is asking, as an opaque string — a hash from :func:`make_identity`, never a token or
        key itself. Two identities never share entries.

    Returns
    -------
    str
        64 hexadecimal characters.

    Raises
    ------
    ConfigurationError
        When ``identity`` is empty.
    """
    if not isinstance(identity, str) or not identity:
        msg = "the cache needs a non-empty identity (use make_identity(...))"
        raise ConfigurationError(msg)
    return key_of(method, normalize_url(url), normalize_accept(accept), identity)


def key_of(method: str, normal_url: str, normal_accept: str, identity: str) -> str:
    """:func:`cache_key` from the normalised URL and ``Accept``."""
    digest = hashlib.sha256()
    # v2: entries are tagged with their collection (collection_tag), so a write can drop them
    for part in ("loketvalinso-cache-v2", method.upper(), normal_url, normal_accept, identity):
        _update(digest, part)
    return digest.hexdigest()


def _update(digest: Any, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    digest.update(len(data).to_bytes(8, "big"))
    digest.update(data)


def make_identity(*parts: str) -> str:
    """Hash what identifies a caller (e.g. base URL + client id + user name, or an API key).

    The result is safe to pass as ``identity``: it is a one-way sha256 digest, and the cache only
    ever stores a second digest over it.

    Parameters
    ----------
    *parts : str
        The identifying values, in a fixed order.

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    digest = hashlib.sha256()
    _update(digest, "loketvalinso-identity-v1")
    for part in parts:
        _update(digest, str(part))
    return digest.hexdigest()


#: A path segment that names one entity rather than a collection: a uuid (braces allowed, as in
#: the Loket description's pattern), a number, or an unfilled ``{template}`` parameter.
_ID_SEGMENT = re.compile(
    r"^(\{.*\}|\d+|[{(]?[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}[)}]?)$"
)


def _singular(name: str) -> str:
    name = name.lower()
    return name[:-1] if name.endswith("s") and len(name) > 1 else name


def _literal_segments(url: httpx.URL | str) -> list[tuple[int, str]]:
    path = urlsplit(str(url)).path
    segments = [s for s in path.split("/") if s]
    return [(i, s) for i, s in enumerate(segments) if not _ID_SEGMENT.match(s)]


def collection_tag(url: httpx.URL | str) -> str:
    """The collection a cached response belongs to: its path's last segment that is not an id,
    lower-cased and singular (``…/employments/{id}/leaverequests`` and
    ``…/leaverequests/{id}`` are both ``c/leaverequest``; ``/device/5`` and ``/devices`` are
    ``c/device``). Stored entries are tagged with it, so a write drops what it changed.
    """
    literals = _literal_segments(url)
    return "c/" + (_singular(literals[-1][1]) if literals else "")


def resource_tags(url: httpx.URL | str) -> list[str]:
    """The collections a write to ``url`` changes: its own (:func:`collection_tag`), and the
    collection of the entity it is under when it acts on one (``…/employments/{id}/terminate``
    changes ``c/employment`` too)."""
    literals = _literal_segments(url)
    tags = [collection_tag(url)]
    path = [s for s in urlsplit(str(url)).path.split("/") if s]
    ids = [i for i in range(len(path)) if _ID_SEGMENT.match(path[i])]
    if ids:
        before = [s for i, s in literals if i < ids[-1]]
        if before:
            tags.append("c/" + _singular(before[-1]))
    return list(dict.fromkeys(tags))
