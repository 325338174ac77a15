"""What a write drops from the cache: every entry of the collections it changed (the resource,
the listings that hold it), for every caller and every version, with their extras; and nothing
else. Against a counting ``httpx.MockTransport`` server and the real ``DiskCache``."""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from loketvalinso._transport.cache import CacheTransport
from loketvalinso._transport.extensions import CACHE, CACHE_KEY
from loketvalinso._transport.keys import collection_tag, make_identity, resource_tags
from loketvalinso._transport.store import DiskCache
from loketvalinso._writes import forget

BASE = "https://api.loket.example/v2/providers/employers"
ID = "b14acd0d-75d7-4fc8-8b22-4a3924585cab"
ALICE = make_identity("loket", "alice")
BOB = make_identity("loket", "bob")


@pytest.mark.parametrize(
    ("url", "tag"),
    [
        (f"{BASE}/employees/employments/leaverequests/{ID}", "c/leaverequest"),
        (f"{BASE}/{ID}/employees/employments/leaverequests?pageNumber=2", "c/leaverequest"),
        (f"{BASE}/{ID}/employees/employments/calendar/leaverequests", "c/leaverequest"),
        (f"{BASE}/{{{ID.upper()}}}", "c/employer"),  # braces and upper case: still an id
        (BASE, "c/employer"),
        ("https://v.example/api/head/valinso_api/device/12", "c/device"),
        ("https://v.example/api/head/valinso_api/devices?offset=0", "c/device"),
    ],
)
def test_collection_tags(url: str, tag: str) -> None:
    assert collection_tag(url) == tag


def test_a_write_on_an_entity_changes_its_collection_too() -> None:
    assert resource_tags(f"{BASE}/employees/employments/{ID}/terminate") == [
        "c/terminate",
        "c/employment",
    ]
    assert resource_tags(f"{BASE}/employees/employments/leaverequests") == ["c/leaverequest"]


@pytest.fixture
def cache(tmp_path: Path):
    with DiskCache(tmp_path / "cache") as c:
        yield c


def test_a_write_drops_its_collections_for_every_caller_and_version(cache) -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        headers = {"Date": formatdate(usegmt=True), "Cache-Control": "max-age=600"}
        return httpx.Response(200, headers=headers, json={"n": len(sent)})

    def client(identity: str) -> httpx.Client:
        inner = CacheTransport(httpx.MockTransport(answer), cache=cache, identity=identity)
        return httpx.Client(transport=inner)

    alice, bob = client(ALICE), client(BOB)
    urls = {
        "detail": f"{BASE}/employees/employments/leaverequests/{ID}",
        "listing": f"{BASE}/{ID}/employees/employments/leaverequests?pageNumber=1",
        "other": f"{BASE}/{ID}/departments",
    }
    for who in (alice, bob):
        for url in urls.values():
            for version in ("2018-01-01", "2021-03-29"):
                who.get(url, headers={"Accept": f"application/json;version={version}"})
    # an extra (a parsed frame) next to the listing's entry
    listing = alice.get(urls["listing"], headers={"Accept": "application/json;version=2018-01-01"})
    assert listing.extensions[CACHE] == "hit"
    key = listing.extensions[CACHE_KEY]
    assert cache.set_extra(key, "arrow", b"frame")
    before = len(sent)
    assert before == 12

    forget(cache, f"{BASE}/employees/employments/leaverequests")  # the multi-patch
    assert cache.get_extra(key, "arrow") is None
    for who in (alice, bob):
        for name, url in urls.items():
            for version in ("2018-01-01", "2021-03-29"):
                got = who.get(url, headers={"Accept": f"application/json;version={version}"})
                assert got.extensions[CACHE] == ("hit" if name == "other" else "miss"), name
    assert len(sent) - before == 8  # detail and listing, 2 callers × 2 versions, and only those


def test_an_offline_cache_is_left_alone(tmp_path: Path) -> None:
    with DiskCache(tmp_path / "c", offline=True) as offline:
        forget(offline, f"{BASE}/employees/employments/leaverequests")  # no error, no change
        assert offline.info()["entries"] == 0
