"""A keyring backend for tests: in memory, optionally mirrored to a file the test owns, so a
second process (a restarted kernel, a subprocess) sees the same keyring.

>>> import keyring
>>> keyring.set_keyring(MemoryKeyring(mirror=tmp_path / "keyring.json"))
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    """Passwords in a dict; with ``mirror``, every change is written to that JSON file and every
    read takes it up again."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, mirror: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.mirror = Path(mirror) if mirror is not None else None
        self.data: dict[str, str] = {}

    def _load(self) -> None:
        if self.mirror is not None and self.mirror.exists():
            self.data = json.loads(self.mirror.read_text())

    def _save(self) -> None:
        if self.mirror is not None:
            self.mirror.write_text(json.dumps(self.data))

    def get_password(self, service: str, username: str) -> str | None:
        self._load()
        return self.data.get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self._load()
        self.data[f"{service}\0{username}"] = password
        self._save()

    def delete_password(self, service: str, username: str) -> None:
        self._load()
        if self.data.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError(username)
        self._save()


class DictTokenStore:
    """A token store (``load``/``save``/``delete``) in a dict: what stands in for the keyring
    where a test wants no keyring package at all."""

    def __init__(self) -> None:
        self.records: dict[str, dict] = {}

    def load(self, account: str) -> dict | None:
        return self.records.get(account)

    def save(self, account: str, record) -> None:
        self.records[account] = dict(record)

    def delete(self, account: str) -> None:
        self.records.pop(account, None)
