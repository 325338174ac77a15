"""The one place that builds :class:`httpx.Client` objects: base URL, timeouts, transport stack.

The stack, outermost first::

    auth (httpx.Auth on the client)  →  RetryTransport  →  CacheTransport  →  BoundedTransport
                                                                             →  innermost
                                                                             (network, the in-process
                                                                              mock, or a test fake)

Tests and the mock swap only the innermost ``transport``; nothing else opens connections. Everything
is synchronous httpx, so it works unchanged inside Jupyter's running event loop (no ``asyncio.run``).
httpx's own log lines name the request URL: they are redacted (:func:`~loketvalinso.errors.redact_url`)
once a client is built here.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import ssl
import urllib.request
from collections.abc import Mapping
from typing import Any

import httpx

from loketvalinso._transport.cache import CacheTransport
from loketvalinso._transport.limits import (
    ACCEPT_ENCODING,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BODY_BYTES,
    BoundedTransport,
    check_deadline,
)
from loketvalinso._transport.retry import BackoffGate, RetryPolicy, RetryTransport
from loketvalinso._transport.store import DiskCache
from loketvalinso._version import __version__
from loketvalinso.errors import ConfigurationError, redact_url

__all__ = [
    "DEFAULT_RETRY",
    "LOCAL_HOSTS",
    "build_client",
    "build_transport",
    "check_url_security",
    "default_user_agent",
    "is_local_host",
    "shared_ssl_context",
]

#: The default retry policy (a frozen dataclass, so safe to share).
DEFAULT_RETRY = RetryPolicy()

#: Host names that never leave the machine: plain http is fine for them.
LOCAL_HOSTS = frozenset({"localhost", "mock.local"})


def default_user_agent() -> str:
    """``loketvalinso/<version> httpx/<version>``."""
    return f"loketvalinso/{__version__} httpx/{httpx.__version__}"


@functools.lru_cache(maxsize=4)
def _ssl_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()


def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying SSL context, made once per CA setting (``SSL_CERT_FILE``,
    ``SSL_CERT_DIR``) and shared by the clients of the process: loading the CA bundle takes
    about a tenth of a second, which every client and token client paid anew."""
    return _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


class _RedactURLs(logging.Filter):
    """Redacts the URLs httpx puts in its log records (``HTTP Request: GET <url> ...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                redact_url(a) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


def _redact_httpx_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactURLs) for f in logger.filters):
        logger.addFilter(_RedactURLs())


def is_local_host(host: str) -> bool:
    """Whether ``host`` is loopback (127.0.0.0/8, ::1, localhost) or the in-process mock host."""
    host = host.strip("[]").rstrip(".").lower()
    if host in LOCAL_HOSTS or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url_security(
    url: str | httpx.URL,
    *,
    allow_insecure: bool = False,
    allow_userinfo: bool = True,
    name: str = "the URL",
) -> httpx.URL:
    """Refuse a URL that would send credentials in clear text over the network.

    Parameters
    ----------
    url : str or httpx.URL
        An absolute ``https://`` or ``http://`` URL.
    allow_insecure : bool
        Accept plain ``http://`` to any host (at your own risk: tokens and keys travel unencrypted).
    allow_userinfo : bool
        Accept a user name and password in the URL (``https://user:pass@host``). An API base URL
        refuses them: its requests carry a token or key, so they would never be sent.
    name : str
        What the URL is, in messages (``"base_url"``).

    Returns
    -------
    httpx.URL
        The parsed URL.

    Raises
    ------
    ConfigurationError
        Not an absolute http(s) URL, userinfo where it is not allowed, or plain ``http://`` to a
        host that is not loopback (127.0.0.0/8, ::1, localhost) nor the in-process mock
        (``mock.local``). Messages show the URL redacted.
    """
    shown = redact_url(str(url))[:200]
    try:
        parsed = httpx.URL(str(url))
    except (httpx.InvalidURL, TypeError) as exc:
        msg = f"{name} is not a valid URL: {shown!r} ({type(exc).__name__})"
        raise ConfigurationError(msg) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        msg = (
            f"{name}: expected an absolute http(s) URL such as 'https://api.loket.nl/v2', got "
            f"{shown!r}"
        )
        raise ConfigurationError(msg)
    if not allow_userinfo and parsed.userinfo:
        msg = (
            f"{name} holds a user name or password ({shown!r}), which would never be sent: the "
            "API is authenticated with its token or api_key. Remove the 'user:password@' part"
        )
        raise ConfigurationError(msg)
    if parsed.scheme == "http" and not allow_insecure and not is_local_host(parsed.host):
        msg = (
            f"refusing plain http:// to {parsed.host}: credentials would travel unencrypted. "
            "Use https://, or pass allow_insecure=True if you really mean it"
        )
        raise ConfigurationError(msg)
    return parsed


def build_transport(
    *,
    transport: httpx.BaseTransport | None = None,
    cache: DiskCache | None = None,
    identity: str | None = None,
    retry: RetryPolicy | bool | None = DEFAULT_RETRY,
    gate: BackoffGate | None = None,
    max_connections: int = 8,
    proxy_for: str | None = None,
    deadline: float = DEFAULT_DEADLINE,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    **retry_options: Any,
) -> httpx.BaseTransport:
    """The transport stack below auth: ``RetryTransport → cache → BoundedTransport → innermost``.

    Parameters
    ----------
    transport : httpx.BaseTransport, optional
        The innermost transport; a pooled :class:`httpx.HTTPTransport` when omitted.
    cache : DiskCache, optional
        The cache; None for no cache.
    identity : str, optional
        Who is asking, for the cache key, when the requests do not say it themselves (the auth
        layers put their user's identity in each request's extensions).
    retry : RetryPolicy, None or False
        The retry policy; None/False for no retry layer.
    gate : BackoffGate, optional
        Shared back-off state for all workers of the client.
    max_connections : int
        Connection pool size; match it to the load concurrency.
    proxy_for : str, optional
        A URL whose proxy settings (``HTTPS_PROXY``/``NO_PROXY``...) the network transport uses.
    deadline : float
        Seconds one request may take in all: attempts, back-off and the body streaming in
        (:mod:`~loketvalinso._transport.limits`).
    max_body_bytes : int
        Largest decoded response body; decompression stops there.
    **retry_options
        ``sleep``, ``clock``, ``rng`` for :class:`RetryTransport` (tests).
    """
    if max_connections < 1:
        msg = f"max_connections must be at least 1, got {max_connections}"
        raise ConfigurationError(msg)
    deadline = check_deadline(deadline)
    _redact_httpx_logs()  # before the first request of any client built on this stack
    inner = transport
    if inner is None:
        inner = httpx.HTTPTransport(
            verify=shared_ssl_context(),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            proxy=_env_proxy(proxy_for) if proxy_for else None,
        )
    clock = retry_options.get("clock")
    inner = BoundedTransport(
        inner,
        deadline=deadline,
        max_body_bytes=max_body_bytes,
        **({"clock": clock} if clock is not None else {}),
    )
    if cache is not None:
        inner = CacheTransport(inner, cache=cache, identity=identity)
    if retry is True:
        retry = DEFAULT_RETRY
    if isinstance(retry, RetryPolicy):
        inner = RetryTransport(inner, policy=retry, gate=gate, deadline=deadline, **retry_options)
    return inner


def build_client(
    *,
    base_url: str | httpx.URL,
    auth: httpx.Auth | None = None,
    transport: httpx.BaseTransport | None = None,
    cache: DiskCache | None = None,
    identity: str | None = None,
    retry: RetryPolicy | bool | None = DEFAULT_RETRY,
    gate: BackoffGate | None = None,
    timeout: float | httpx.Timeout | None = 30.0,
    max_connections: int = 8,
    user_agent: str | None = None,
    headers: Mapping[str, str] | None = None,
    allow_insecure: bool = False,
    deadline: float = DEFAULT_DEADLINE,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    **retry_options: Any,
) -> httpx.Client:
    """Build the client every loader uses.

    Parameters
    ----------
    base_url : str or httpx.URL
        The API root, e.g. ``https://api.loket.nl/v2``; request paths are relative to it.
    auth : httpx.Auth, optional
        :class:`~loketvalinso._transport.auth.LoketAuth` or ``ValinsoAuth``.
    transport : httpx.BaseTransport, optional
        The innermost transport: the in-process mock, an ``httpx.MockTransport`` in tests, or
        omitted for the network (a pool of ``max_connections``).
    cache : DiskCache, optional
        The cache; it sits below the retries.
    identity : str, optional
        Who is asking, for the cache key, when the requests do not say it themselves
        (:class:`~loketvalinso._transport.auth.LoketAuth` and ``ValinsoAuth`` do).
    retry : RetryPolicy, None or False
        The retry policy (default :data:`DEFAULT_RETRY`); None/False disables retries.
    gate : BackoffGate, optional
        Back-off state shared by the client's concurrent workers (made when omitted).
    timeout : float, httpx.Timeout or None
        Network timeout in seconds for each connect, read and write (retries have their own
        ``total_timeout``; ``deadline`` bounds the whole request).
    max_connections : int
        Size of the connection pool (set it to the load concurrency).
    user_agent : str, optional
        Defaults to ``loketvalinso/<version> httpx/<version>``.
    headers : mapping, optional
        Extra default headers (never put a secret here: use ``auth``).
    allow_insecure : bool
        Permit plain ``http://`` to a non-loopback host. Checked only when the request goes to
        the network (no ``transport`` given); in-process transports send nothing anywhere.
    deadline : float
        Seconds one request may take in all, the body streaming in included.
    max_body_bytes : int
        Largest decoded response body accepted.
    **retry_options
        ``sleep``, ``clock``, ``rng`` passed to :class:`~loketvalinso._transport.retry.RetryTransport`.

    Returns
    -------
    httpx.Client
        Close it (or use it as a context manager) to release the connections.
    """
    if transport is None:
        check_url_security(base_url, allow_insecure=allow_insecure)
    if gate is None:
        clock = retry_options.get("clock")
        gate = BackoffGate(clock=clock) if clock is not None else BackoffGate()
    stack = build_transport(
        transport=transport,
        cache=cache,
        identity=identity,
        retry=retry,
        gate=gate,
        max_connections=max_connections,
        proxy_for=str(base_url) if transport is None else None,
        deadline=deadline,
        max_body_bytes=max_body_bytes,
        **retry_options,
    )
    default_headers = {
        "User-Agent": user_agent or default_user_agent(),
        # only what the bounded transport decodes (a piece at a time, up to max_body_bytes)
        "Accept-Encoding": ACCEPT_ENCODING,
    }
    default_headers.update(headers or {})
    return httpx.Client(
        base_url=base_url,
        auth=auth,
        transport=stack,
        timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        headers=default_headers,
        follow_redirects=False,
        # Proxies from the environment are resolved in build_transport; nothing else from the
        # environment (netrc, ...) may add credentials behind the caller's back.
        trust_env=False,
    )


def _env_proxy(url: str) -> str | None:
    """The proxy the environment (``HTTPS_PROXY``, ``NO_PROXY``...) sets for ``url``, if any."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return None
    if not parsed.host or urllib.request.proxy_bypass(parsed.host):
        return None
    return urllib.request.getproxies().get(parsed.scheme)
