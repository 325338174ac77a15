"""Where the APIs live: the Loket environments and the Valinso base URLs.

>>> loket_environment("acceptance").api_url
'https://api.loket-acc.nl/v2'
>>> valinso_base_url("2.0.0")
'https://vps3.valinso.nl/api/2.0.0/valinso_api/'
"""

from __future__ import annotations

from dataclasses import dataclass

from loketvalinso.errors import ConfigurationError

__all__ = [
    "LOKET_ENVIRONMENTS",
    "VALINSO_HOST",
    "VALINSO_VERSIONS",
    "Environment",
    "loket_environment",
    "valinso_base_url",
]

#: The documented Valinso host.
VALINSO_HOST = "https://vps3.valinso.nl"
#: The documented Valinso API versions ("head" follows the newest).
VALINSO_VERSIONS = ("head", "2.0.0")


@dataclass(frozen=True, slots=True)
class Environment:
    """Where a Loket environment lives."""

    api_url: str
    token_url: str
    authorize_url: str


LOKET_ENVIRONMENTS: dict[str, Environment] = {
    "production": Environment(
        api_url="https://api.loket.nl/v2",
        token_url="https://oauth.loket.nl/token",
        authorize_url="https://oauth.loket.nl/authorize",
    ),
    "acceptance": Environment(
        api_url="https://api.loket-acc.nl/v2",
        token_url="https://oauth.loket-acc.nl/token",
        authorize_url="https://oauth.loket-acc.nl/authorize",
    ),
    "test": Environment(
        api_url="https://api.loket-test.nl/v2",
        token_url="https://oauth.loket-test.nl/token",
        authorize_url="https://oauth.loket-test.nl/authorize",
    ),
}


def loket_environment(name: str) -> Environment:
    """The :class:`Environment` called ``name`` (``production``, ``acceptance`` or ``test``)."""
    key = name.strip().lower()
    aliases = {"prod": "production", "acc": "acceptance"}
    key = aliases.get(key, key)
    if key not in LOKET_ENVIRONMENTS:
        msg = (
            f"unknown Loket environment {name!r}: choose one of {', '.join(LOKET_ENVIRONMENTS)}, "
            "or pass base_url= and token_url= for any other server"
        )
        raise ConfigurationError(msg)
    return LOKET_ENVIRONMENTS[key]


def valinso_base_url(version: str = "head", *, host: str = VALINSO_HOST) -> str:
    """The Valinso API root for ``version``.

    Parameters
    ----------
    version : str
        ``"head"`` (the newest) or a pinned version such as ``"2.0.0"``.
    host : str
        Scheme and host, e.g. ``https://vps3.valinso.nl`` (``https://`` is added when missing).

    Returns
    -------
    str
        e.g. ``https://vps3.valinso.nl/api/head/valinso_api/``.
    """
    version = str(version).strip()
    parts = version.split(".")
    if version != "head" and not (len(parts) == 3 and all(p.isdigit() for p in parts)):
        msg = (
            f"unknown Valinso API version {version!r}: use 'head' (newest) or a pinned "
            f"version like '2.0.0' (documented: {', '.join(VALINSO_VERSIONS)})"
        )
        raise ConfigurationError(msg)
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = f"https://{host}"
    return f"{host}/api/{version}/valinso_api/"
