from __future__ import annotations

import orjson
import pytest

from services.landing.layout import (
    InvalidRecord,
    ObjectName,
    bucket_for,
    dead_letter_key,
    decode_lines,
    encode_lines,
    namespace_of,
    object_key,
    parse_key,
    to_line,
)

pytestmark = pytest.mark.unit


def test_object_key_is_confluents_layout() -> None:
    assert object_key("0a1b.pin", 0, 42) == "topics/0a1b.pin/partition=0/0a1b.pin+0+0000000042.json"
    assert (
        object_key("u.geo", 3, 12345678901) == "topics/u.geo/partition=3/u.geo+3+12345678901.json"
    )


def test_parse_key_round_trips_and_rejects_foreign_names() -> None:
    assert parse_key(object_key("u-1.user", 2, 7)) == ObjectName("u-1.user", 2, 7)
    assert parse_key(dead_letter_key("u.pin", 0, 9)) == ObjectName("u.pin", 0, 9, dead_letter=True)
    for foreign in (
        "topics/u.pin/partition=0/u.pin+0+42.json",  # not zero-padded
        "topics/u.pin/partition=0/u.geo+0+0000000042.json",  # topic differs from folder
        "topics/u.pin/partition=1/u.pin+0+0000000042.json",  # partition differs
        "topics/u.pin/partition=0/u.pin+0+0000000042.bin",
        "dead-letter/u.pin/partition=0/u.pin+0+0000000042.json",
        "topics/u.pin/_SUCCESS",
    ):
        assert parse_key(foreign) is None, foreign


def test_bucket_and_namespace_from_topic() -> None:
    assert namespace_of("0a1b2c.pin") == "0a1b2c"
    assert bucket_for("0a1b2c.pin", "user-${user_id}-bucket") == "user-0a1b2c-bucket"
    with pytest.raises(ValueError, match=r"<user_id>\.<table>"):
        namespace_of("streaming-0a1b-pin")


def test_compact_values_stay_byte_identical() -> None:
    raw = '{"title":"Caf\\u00e9 ☕","n":1.50,"t":"a b\\"c"}'.encode()
    assert to_line(raw) == raw


def test_whitespace_outside_strings_is_dropped_and_strings_kept() -> None:
    raw = b'{\n  "a" : "x  y\\" z",\t"b": [1, 2.0 ,\r\n 3]\n}\n'
    line = to_line(raw)
    assert line == b'{"a":"x  y\\" z","b":[1,2.0,3]}'
    assert orjson.loads(line) == orjson.loads(raw)


@pytest.mark.parametrize("bad", [b"not json", b"", b'{"a":', b"\xff\xfe", b"NaN"])
def test_invalid_values_are_refused_with_a_reason(bad: bytes) -> None:
    with pytest.raises(InvalidRecord, match="not valid JSON"):
        to_line(bad)


def test_tombstone_is_refused() -> None:
    with pytest.raises(InvalidRecord, match="null value"):
        to_line(None)


def test_lines_end_with_newline_and_decode_back() -> None:
    body = encode_lines([b"{}", b"[1]"])
    assert body == b"{}\n[1]\n"
    assert decode_lines(body) == [b"{}", b"[1]"]
    assert decode_lines(b"{}\n[1]") == [b"{}", b"[1]"]
    assert decode_lines(b"") == []
