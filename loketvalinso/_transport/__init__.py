"""The HTTP side: one ``httpx.Client`` per API client, built as a stack of transports.

``client`` builds it: auth (an ``httpx.Auth``) → ``retry`` → ``cache`` (the cache transport over
the ``store``, with the pure RFC 9111 rules of ``freshness``) → the network or the in-process
mock. ``responses`` turns error statuses into the package's errors. The layers talk only through
the keys of ``extensions``. Nothing here knows about pages or frames.
"""
