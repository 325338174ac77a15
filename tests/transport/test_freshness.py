"""The RFC 9111 freshness rules as pure functions, with a frozen clock (plain numbers)."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from loketvalinso._transport.freshness import (
    CacheEntry,
    conditional_headers,
    current_age,
    freshness_lifetime,
    is_fresh,
    is_storable,
    parse_cache_control,
    parse_http_date,
    refresh_from_304,
    should_store,
    storable_headers,
)

T0 = 1_700_000_000.0  # the frozen "now" of these tests


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def entry(headers: dict[str, str], *, at: float = T0, sent: float | None = None) -> CacheEntry:
    return CacheEntry(
        status=200,
        headers=tuple((k.lower(), v) for k, v in headers.items()),
        body=b"{}",
        request_time=at if sent is None else sent,
        response_time=at,
        url="https://api.example/v2/x",
    )


# -- Cache-Control ---------------------------------------------------------------------------


def test_parse_cache_control_directives_and_arguments():
    cc = parse_cache_control('Private, MAX-AGE=60, no-cache="Set-Cookie, X-Foo", s-maxage = 5')
    assert cc == {
        "private": None,
        "max-age": "60",
        "no-cache": "Set-Cookie, X-Foo",
        "s-maxage": "5",
    }


def test_parse_cache_control_first_occurrence_wins_and_empty():
    assert parse_cache_control("max-age=10, max-age=99")["max-age"] == "10"
    assert parse_cache_control(None) == {}
    assert parse_cache_control(" , ,") == {}
    assert parse_cache_control("no-store") == {"no-store": None}


# -- HTTP-date ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # RFC 850
        "Sun Nov  6 08:49:37 1994",  # asctime
    ],
)
def test_parse_http_date_three_formats(value):
    assert parse_http_date(value) == 784111777.0


@pytest.mark.parametrize("value", [None, "", "0", "-1", "yesterday", "Sun, 99 Foo 1994"])
def test_parse_http_date_unparsable_is_none(value):
    assert parse_http_date(value) is None


# -- lifetime ----------------------------------------------------------------------------------


def test_max_age_beats_expires():
    headers = {
        "Cache-Control": "max-age=30",
        "Date": http_date(T0),
        "Expires": http_date(T0 + 3600),
    }
    assert freshness_lifetime(headers) == 30.0


def test_max_age_zero_beats_future_expires():
    headers = {"Cache-Control": "max-age=0", "Expires": http_date(T0 + 3600)}
    assert freshness_lifetime(headers, response_time=T0) == 0.0


def test_malformed_max_age_is_stale():
    assert freshness_lifetime({"Cache-Control": "max-age=soon"}) == 0.0


def test_expires_minus_date():
    headers = {"Date": http_date(T0 - 100), "Expires": http_date(T0 + 200)}
    # Date is the server's clock: the lifetime is 300 s whatever our response time was
    assert freshness_lifetime(headers, response_time=T0) == 300.0


def test_expires_minus_response_time_without_date():
    headers = {"Expires": http_date(T0 + 120)}
    assert freshness_lifetime(headers, response_time=T0) == 120.0


def test_expires_minus_response_time_when_date_unparsable():
    headers = {"Date": "garbage", "Expires": http_date(T0 + 120)}
    assert freshness_lifetime(headers, response_time=T0) == 120.0


def test_expires_in_the_past_is_zero():
    headers = {"Date": http_date(T0), "Expires": http_date(T0 - 86400)}
    assert freshness_lifetime(headers) == 0.0
    assert not is_fresh(entry(headers), T0)


@pytest.mark.parametrize("value", ["0", "-1", "never", ""])
def test_unparsable_expires_is_zero(value):
    headers = {"Date": http_date(T0), "Expires": value}
    assert freshness_lifetime(headers, response_time=T0) == 0.0
    assert not is_fresh(entry(headers), T0)


def test_no_explicit_lifetime_is_none_and_not_fresh():
    headers = {"Date": http_date(T0), "ETag": '"x"'}
    assert freshness_lifetime(headers, response_time=T0) is None
    assert not is_fresh(entry(headers), T0)


def test_lifetime_from_entry_uses_its_response_time():
    e = entry({"Expires": http_date(T0 + 50)})
    assert freshness_lifetime(e) == 50.0


# -- storable ----------------------------------------------------------------------------------


def test_is_storable_only_get_200():
    ok = {"Cache-Control": "max-age=60"}
    assert is_storable("GET", 200, ok)
    assert is_storable("get", 200, ok)
    assert not is_storable("POST", 200, ok)
    assert not is_storable("HEAD", 200, ok)
    for status in (201, 204, 301, 304, 404, 500):
        assert not is_storable("GET", status, ok)


def test_no_store_never_stored():
    assert not is_storable("GET", 200, {"Cache-Control": "private, no-store, max-age=60"})
    assert not should_store(
        "GET", 200, {"Cache-Control": "no-store", "ETag": '"a"'}, response_time=T0
    )
    assert not should_store(
        "GET", 200, {"Cache-Control": "no-store"}, response_time=T0, keep_unreusable=True
    )


def test_request_no_store_and_vary_star():
    assert not is_storable(
        "GET", 200, {"Cache-Control": "max-age=9"}, request_headers={"Cache-Control": "no-store"}
    )
    assert not is_storable("GET", 200, {"Cache-Control": "max-age=9", "Vary": "Accept, *"})
    assert is_storable("GET", 200, {"Cache-Control": "max-age=9", "Vary": "Accept"})


def test_private_is_fine_for_a_private_cache():
    assert should_store("GET", 200, {"Cache-Control": "private, max-age=60"}, response_time=T0)


def test_should_store_needs_lifetime_or_validator():
    past = {"Date": http_date(T0), "Expires": http_date(T0 - 1)}
    assert not should_store("GET", 200, past, response_time=T0)
    assert should_store("GET", 200, past, response_time=T0, keep_unreusable=True)
    assert should_store("GET", 200, {**past, "ETag": '"v1"'}, response_time=T0)
    assert should_store("GET", 200, {**past, "Last-Modified": http_date(T0 - 9)}, response_time=T0)
    assert should_store("GET", 200, {"Expires": http_date(T0 + 60)}, response_time=T0)
    assert not should_store("GET", 200, {}, response_time=T0)
    assert not should_store("GET", 200, {"Cache-Control": "no-cache, max-age=60"}, response_time=T0)


# -- age and freshness -------------------------------------------------------------------------


def test_current_age_resident_time():
    e = entry({"Date": http_date(T0)})
    assert current_age(e, T0) == 0.0
    assert current_age(e, T0 + 42) == 42.0


def test_current_age_counts_age_header_delay_and_apparent_age():
    # the response left the origin 10 s before it arrived, a proxy says it aged 5 s, the
    # request took 2 s: corrected initial age = max(10, 5 + 2) = 10
    e = entry({"Date": http_date(T0 - 10), "Age": "5"}, sent=T0 - 2)
    assert current_age(e, T0) == 10.0
    e = entry({"Date": http_date(T0), "Age": "30"}, sent=T0 - 2)
    assert current_age(e, T0 + 1) == 33.0


def test_is_fresh_until_expiry_with_frozen_clock():
    e = entry({"Date": http_date(T0), "Expires": http_date(T0 + 60)})
    assert is_fresh(e, T0)
    assert is_fresh(e, T0 + 59)
    assert not is_fresh(e, T0 + 60)
    assert not is_fresh(e, T0 + 3600)


def test_is_fresh_max_age_and_no_cache():
    assert is_fresh(entry({"Cache-Control": "max-age=10"}), T0 + 9)
    assert not is_fresh(entry({"Cache-Control": "max-age=10"}), T0 + 10)
    assert not is_fresh(entry({"Cache-Control": "no-cache, max-age=10"}), T0)


def test_request_no_cache_or_max_age_forces_revalidation():
    e = entry({"Cache-Control": "max-age=100"})
    assert not is_fresh(e, T0 + 1, request_headers={"Cache-Control": "no-cache"})
    assert not is_fresh(e, T0 + 1, request_headers={"Cache-Control": "max-age=0"})
    assert is_fresh(e, T0 + 1, request_headers={"Cache-Control": "max-age=50"})


# -- validators and 304 ------------------------------------------------------------------------


def test_conditional_headers():
    lm = http_date(T0 - 500)
    e = entry({"ETag": 'W/"v1"', "Last-Modified": lm})
    assert conditional_headers(e) == {"If-None-Match": 'W/"v1"', "If-Modified-Since": lm}
    assert conditional_headers(entry({})) == {}
    assert entry({"ETag": '"a"'}).has_validator
    assert not entry({"Expires": "0"}).has_validator


def test_refresh_from_304_keeps_body_and_renews_lifetime():
    old = entry(
        {
            "Date": http_date(T0),
            "Expires": http_date(T0 + 60),
            "ETag": '"v1"',
            "Content-Type": "application/json",
        }
    )
    later = T0 + 600
    assert not is_fresh(old, later)
    headers_304 = {
        "Date": http_date(later),
        "Expires": http_date(later + 60),
        "ETag": '"v1"',
        "Content-Length": "0",
        "Content-Type": "text/plain",
        "Set-Cookie": "session=secret",
    }
    new = refresh_from_304(old, headers_304, later, request_time=later - 1)
    assert new.body == old.body
    assert new.status == 200
    assert new.response_time == later and new.request_time == later - 1
    assert new.header("expires") == http_date(later + 60)
    assert new.header("content-type") == "application/json"  # framing fields kept from the 200
    assert new.header("content-length") is None
    assert new.header("set-cookie") is None  # secrets never enter an entry
    assert is_fresh(new, later + 30)
    assert not is_fresh(new, later + 61)
    assert old.header("expires") == http_date(T0 + 60)  # the original is untouched


def test_refresh_from_304_without_new_expires_keeps_old_lifetime_rules():
    old = entry({"Cache-Control": "max-age=60", "ETag": '"v1"'})
    new = refresh_from_304(old, {"ETag": '"v1"'}, T0 + 1000)
    assert is_fresh(new, T0 + 1030)  # max-age counts from the revalidation
    assert not is_fresh(new, T0 + 1061)


# -- stripping ---------------------------------------------------------------------------------


def test_storable_headers_drop_secrets_and_hop_by_hop():
    headers = [
        ("Content-Type", "application/json"),
        ("Set-Cookie", "a=b"),
        ("Authorization", "Bearer x"),
        ("api-key", "k"),
        ("Connection", "close, X-Hop"),
        ("X-Hop", "1"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Encoding", "gzip"),
        ("Content-Length", "10"),
        ("ETag", '"e"'),
    ]
    assert storable_headers(headers) == (("content-type", "application/json"), ("etag", '"e"'))
