"""The HTTP side: one ``httpx.Client`` per API client, built as a stack of transports.

``client`` builds it: auth (an ``httpx.Auth``; ``credentials`` checks what it is given) →
``retry`` → ``cache`` (the cache transport over the ``store`` in its ``folder``, with the pure
RFC 9111 rules of ``freshness``) → ``limits`` (a deadline and a body cap) → the network or the
in-process mock. ``responses`` turns error statuses and transport failures into the package's
errors; ``manage`` is ``cache info|clear``. The layers talk only through the keys of
``extensions``. Nothing here knows about pages or frames.
"""
