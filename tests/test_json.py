"""One rule for a key an object repeats (the first value wins, as Polars' reader decides it),
and nesting deeper than the JSON libraries go."""

from __future__ import annotations

import orjson
import pytest

from loketvalinso._json import dumps_text, loads


def test_a_repeated_key_keeps_its_first_value_at_every_level():
    body = b'{"id":1,"id":2,"n":{"k":"a","k":"b"},"items":[{"x":1,"x":2}]}'
    assert orjson.loads(body)["id"] == 2  # what a plain parse would give
    assert loads(body) == {"id": 1, "n": {"k": "a"}, "items": [{"x": 1}]}
    assert loads(body.decode()) == loads(body) == loads(memoryview(body))


def test_bodies_without_repeats_are_orjson_s_own():
    body = b'{"a": "x\\":y", "b": [1, 2.5, null, true], "c": {"d": "e"}}'
    assert loads(body) == orjson.loads(body)
    assert loads(b"[]") == [] and loads(b"3") == 3
    with pytest.raises(ValueError):
        loads(b'{"cut": ')


def test_deep_values_are_written_back_or_refused_clearly():
    deep = orjson.loads(b"[" * 600 + b"]" * 600)
    assert dumps_text(deep) == "[" * 600 + "]" * 600  # past orjson's 255 levels
    deeper = []
    for _ in range(5000):
        deeper = [deeper]
    with pytest.raises(ValueError, match="nested too deep to write"):
        dumps_text(deeper)
    with pytest.raises(ValueError):
        loads(b"[" * 2000 + b"]" * 2000)  # deeper than orjson reads
