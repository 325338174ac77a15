"""A remembered Loket login: the refresh token in the operating system's keyring.

With ``token_store="keyring"`` a client keeps its login (the newest refresh token) and who is
logged in (the cache identity, a non-secret hash) as one keyring password, so a restarted kernel
is logged in again without a browser, and ``offline=True`` knows whose cached responses to read::

    service  "loketvalinso"
    account  "<client id> <token URL>"          one remembered login per client and server
    password {"v": 1, "refresh_token": "…", "identity": "<64 hex>", "saved_at": "…"}

Nothing is ever written to a plain file: a keyring whose only backend is a file in clear text
(or none at all) is refused with a message that says what to install. The ``keyring`` package
comes with the ``[keyring]`` extra. Any object with ``load``/``save``/``delete`` (the
:class:`TokenStore` protocol) can stand in for the keyring.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import orjson

from loketvalinso.errors import ConfigurationError

__all__ = ["KEYRING_SERVICE", "KeyringTokenStore", "TokenStore", "resolve_token_store"]

#: The keyring service name every remembered login is stored under.
KEYRING_SERVICE = "loketvalinso"
_FORMAT = 1

_log = logging.getLogger("loketvalinso.auth")


@runtime_checkable
class TokenStore(Protocol):
    """Where a login is remembered: a record per account, or None when nothing is."""

    def load(self, account: str) -> dict[str, Any] | None: ...

    def save(self, account: str, record: Mapping[str, Any]) -> None: ...

    def delete(self, account: str) -> None: ...


def _no_keyring_backend(backend: Any) -> str | None:
    """Why ``backend`` cannot hold a login (None when it can)."""
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    priority = getattr(backend, "priority", 1)
    try:
        priority = float(priority)
    except (TypeError, ValueError):
        priority = 1.0
    if name.startswith("keyring.backends.fail") or name.startswith("keyring.backends.null"):
        return f"keyring found no backend on this machine ({name})"
    if "plaintext" in name.lower():
        return f"the keyring backend {name} writes secrets to a plain file"
    if priority <= 0:
        return f"the keyring backend {name} is not usable here (priority {priority:g})"
    return None


class KeyringTokenStore:
    """Logins in the operating system's keyring (macOS Keychain, Windows Credential Locker,
    the Secret Service of GNOME/KDE), through the ``keyring`` package.

    Raises
    ------
    ConfigurationError
        ``keyring`` is not installed, or it has no backend that keeps secrets out of plain
        files.
    """

    def __init__(self, *, service: str = KEYRING_SERVICE) -> None:
        try:
            import keyring
            import keyring.errors
        except ImportError as exc:
            msg = (
                "token_store='keyring' needs the keyring package: pip install "
                "'loketvalinso[keyring]' (or keep tokens yourself with on_token=)"
            )
            raise ConfigurationError(msg) from exc
        self._keyring = keyring
        self._errors: tuple[type[BaseException], ...] = (keyring.errors.KeyringError,)
        self.service = service
        why = _no_keyring_backend(keyring.get_keyring())
        if why is not None:
            msg = (
                f"token_store='keyring': {why}. Use a desktop session with a keychain (macOS, "
                "Windows, GNOME Keyring or KWallet), or install a keyring backend that encrypts "
                "(see the keyring package's documentation); loketvalinso never falls back to a "
                "plain file. Without one, log in each session (or pass on_token=)"
            )
            raise ConfigurationError(msg)

    def __repr__(self) -> str:
        backend = type(self._keyring.get_keyring()).__name__
        return f"KeyringTokenStore(service={self.service!r}, backend={backend})"

    def load(self, account: str) -> dict[str, Any] | None:
        try:
            text = self._keyring.get_password(self.service, account)
        except self._errors as exc:
            msg = f"the keyring could not be read ({type(exc).__name__}); unlock it, or log in"
            raise ConfigurationError(msg) from None
        if not text:
            return None
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            _log.info("the remembered login of %s is unreadable: ignored", account)
            return None
        if not isinstance(record, dict) or record.get("v") != _FORMAT:
            return None
        return record

    def save(self, account: str, record: Mapping[str, Any]) -> None:
        payload = {
            "v": _FORMAT,
            **record,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        try:
            self._keyring.set_password(self.service, account, orjson.dumps(payload).decode())
        except self._errors as exc:
            msg = f"the keyring could not store the login ({type(exc).__name__})"
            raise ConfigurationError(msg) from None

    def delete(self, account: str) -> None:
        with contextlib.suppress(*self._errors):  # nothing stored is the wanted state
            self._keyring.delete_password(self.service, account)


def resolve_token_store(option: str | TokenStore | None) -> TokenStore | None:
    """``"keyring"`` → :class:`KeyringTokenStore`; a :class:`TokenStore` as is; None → None."""
    if option is None:
        return None
    if isinstance(option, str):
        if option.strip().lower() == "keyring":
            return KeyringTokenStore()
        msg = f"token_store must be 'keyring', a TokenStore object or None, not {option!r}"
        raise ConfigurationError(msg)
    if isinstance(option, TokenStore):
        return option
    msg = (
        "token_store must be 'keyring', None, or an object with load(account), "
        f"save(account, record) and delete(account); got {type(option).__name__}"
    )
    raise ConfigurationError(msg)
