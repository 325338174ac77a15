"""Configuration from the environment: the variables behind ``Loket.from_env()`` and
``Valinso.from_env()``, and what the login widgets pre-fill.

=========================  ===================================================================
``LOKET_ENVIRONMENT``      ``production``, ``acceptance`` or ``test``
``LOKET_CLIENT_ID``        the OAuth client registered with Loket
``LOKET_CLIENT_SECRET``    its secret (never shown by a widget)
``LOKET_REDIRECT_URI``     the redirect URI registered for the client
``LOKET_ACCESS_TOKEN``     a token obtained elsewhere (works until it expires)
``LOKET_REFRESH_TOKEN``    a refresh token obtained elsewhere
``LOKET_BASE_URL``         instead of an environment: any server (``LOKET_TOKEN_URL`` and
                           ``LOKET_AUTHORIZE_URL`` with it), e.g. ``loketvalinso mock serve``
``LOKET_TOKEN_STORE``      ``keyring``: remember the login in the operating system's keyring
``VALINSO_API_KEY``        the key from Valinso support (never shown by a widget)
``VALINSO_BASE_URL``       an explicit API root (e.g. the mock's)
``VALINSO_VERSION``        ``head`` (default) or ``2.0.0``
=========================  ===================================================================

A ``.env`` file (found from the working folder upwards) is read too when ``python-dotenv`` is
installed; the process environment wins over it. Nothing here writes to ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loketvalinso.errors import ConfigurationError

__all__ = [
    "LOKET_VARIABLES",
    "SECRET_VARIABLES",
    "VALINSO_VARIABLES",
    "loket_options",
    "read_environment",
    "valinso_options",
]

#: Variable → ``Loket`` keyword.
LOKET_VARIABLES = {
    "LOKET_ENVIRONMENT": "environment",
    "LOKET_BASE_URL": "base_url",
    "LOKET_TOKEN_URL": "token_url",
    "LOKET_AUTHORIZE_URL": "authorize_url",
    "LOKET_CLIENT_ID": "client_id",
    "LOKET_CLIENT_SECRET": "client_secret",
    "LOKET_REDIRECT_URI": "redirect_uri",
    "LOKET_ACCESS_TOKEN": "access_token",
    "LOKET_REFRESH_TOKEN": "refresh_token",
    "LOKET_TOKEN_STORE": "token_store",
}
#: Variable → ``Valinso`` keyword.
VALINSO_VARIABLES = {
    "VALINSO_API_KEY": "api_key",
    "VALINSO_BASE_URL": "base_url",
    "VALINSO_VERSION": "version",
}
#: Variables whose values are secrets: read, never shown.
SECRET_VARIABLES = frozenset(
    {"LOKET_CLIENT_SECRET", "LOKET_ACCESS_TOKEN", "LOKET_REFRESH_TOKEN", "VALINSO_API_KEY"}
)


def read_environment(
    dotenv: bool | str | os.PathLike[str] = True, *, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables to configure from: ``environ`` (default ``os.environ``) over a ``.env``.

    Parameters
    ----------
    dotenv
        True: a ``.env`` found from the working folder upwards, when ``python-dotenv`` is
        installed; a path: that file (python-dotenv required); False: none.
    environ
        The process environment to use (tests pass their own).
    """
    values: dict[str, str] = {}
    if dotenv is not False:
        try:
            import dotenv as python_dotenv
        except ImportError as exc:
            if dotenv is not True:
                msg = "reading a .env file needs python-dotenv: pip install python-dotenv"
                raise ConfigurationError(msg) from exc
        else:
            if dotenv is True:
                path = python_dotenv.find_dotenv(usecwd=True)
            else:
                path = os.fspath(dotenv)
                if not Path(path).is_file():
                    msg = f"no .env file at {path}"
                    raise ConfigurationError(msg)
            if path:
                loaded = python_dotenv.dotenv_values(path)
                values.update({k: v for k, v in loaded.items() if v is not None and _ours(k)})
    source = os.environ if environ is None else environ
    values.update({k: v for k, v in source.items() if _ours(k)})
    return {k: v.strip() for k, v in values.items() if v and v.strip()}


def _ours(name: str) -> bool:
    return name.startswith(("LOKET_", "VALINSO_"))


def _options(variables: Mapping[str, str], env: Mapping[str, str]) -> dict[str, Any]:
    return {keyword: env[name] for name, keyword in variables.items() if name in env}


def loket_options(env: Mapping[str, str]) -> dict[str, Any]:
    """``Loket`` keywords from the variables in ``env``.

    Raises
    ------
    ConfigurationError
        Neither ``LOKET_ENVIRONMENT`` nor ``LOKET_BASE_URL`` is set, or no credential is.
    """
    options = _options(LOKET_VARIABLES, env)
    if "environment" in options:
        options["environment"] = options["environment"].lower()
    if "environment" not in options and "base_url" not in options:
        msg = (
            "Loket.from_env() needs LOKET_ENVIRONMENT (production, acceptance or test) or "
            "LOKET_BASE_URL, with LOKET_CLIENT_ID, LOKET_CLIENT_SECRET and LOKET_REDIRECT_URI "
            "(or LOKET_ACCESS_TOKEN); set them in the environment or in a .env file"
        )
        raise ConfigurationError(msg)
    credentials = {"client_id", "access_token", "refresh_token"}
    if not credentials & set(options):
        msg = (
            "Loket.from_env() found no credential: set LOKET_CLIENT_ID (with LOKET_CLIENT_SECRET "
            "and LOKET_REDIRECT_URI, then log in) or LOKET_ACCESS_TOKEN"
        )
        raise ConfigurationError(msg)
    return options


def valinso_options(env: Mapping[str, str]) -> dict[str, Any]:
    """``Valinso`` keywords from the variables in ``env``.

    Raises
    ------
    ConfigurationError
        ``VALINSO_API_KEY`` is not set.
    """
    options = _options(VALINSO_VARIABLES, env)
    if "api_key" not in options:
        msg = (
            "Valinso.from_env() needs VALINSO_API_KEY (the key from Valinso support), and "
            "optionally VALINSO_BASE_URL or VALINSO_VERSION; set them in the environment or in a "
            ".env file"
        )
        raise ConfigurationError(msg)
    return options
