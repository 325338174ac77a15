"""Fixtures of the auth tests: a fake clock and a fake Loket (token endpoint and API) on it."""

from __future__ import annotations

import pytest

from tests.transport.test_auth import FakeClock, FakeLoket


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> FakeLoket:
    return FakeLoket(clock)
