"""Fixtures shared by the whole suite: the spec folder, the default world and a served mock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPECS_DIR = REPO.parent / "shared" / "specs"
OPENAPI_PATH = SPECS_DIR / "loket-openapi.json"


def require_specs() -> Path:
    """The specs folder, or skip: contract tests need ``../shared/specs`` beside the checkout."""
    if not OPENAPI_PATH.exists():
        pytest.skip(
            f"{OPENAPI_PATH} is absent: the Loket OpenAPI description lives outside the repo"
        )
    return SPECS_DIR


def password_token(server, *, transport=None) -> str:
    """An access token from a mock's ``/token`` (password grant); ``transport=None`` = real HTTP."""
    import httpx

    creds = server.credentials
    with httpx.Client(transport=transport) as http:
        answer = http.post(
            f"{server.url}/token",
            data={
                "grant_type": "password",
                "username": creds.username,
                "password": creds.password,
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            },
        )
    return answer.json()["access_token"]


def spy_on(monkeypatch, owner, name: str) -> list[tuple]:
    """Record the arguments of every call to ``owner.name`` (after ``self`` when ``owner`` is
    a class), which still runs."""
    calls: list[tuple] = []
    original = getattr(owner, name)
    skip = 1 if isinstance(owner, type) else 0

    def spying(*args, **kwargs):
        calls.append(args[skip:])
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, spying)
    return calls


@pytest.fixture(autouse=True)
def _background_writes_done() -> Iterator[None]:
    """Each test leaves the cache writer idle: a job it queued would otherwise be held back by
    the next test's load (background work waits until no load has run for a moment)."""
    yield
    import sys

    background = sys.modules.get("loketvalinso._transport.background")
    if background is not None:
        background.flush_background_writes()


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    return require_specs()


@pytest.fixture(scope="session")
def world():
    """The default world (seed 42), built once per session."""
    from loketvalinso.mock.world import WorldSizes, cached_world

    return cached_world(42, WorldSizes())


@pytest.fixture(scope="session")
def served_mock(world) -> Iterator:
    """The default mock over real HTTP on loopback, shared by read-only tests."""
    import loketvalinso as lv

    with lv.mock.serve(seed=42, world=world) as server:
        yield server


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No LOKET_/VALINSO_ variable of the machine, and no .env in the working folder: what
    ``from_env()`` and the widgets read is what the test sets with the returned monkeypatch."""
    import os

    for name in list(os.environ):
        if name.startswith(("LOKET_", "VALINSO_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch
