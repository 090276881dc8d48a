"""Parsing and validating produce bodies: every status the issue assigns to bad input."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable, Iterator

import orjson
import pytest

from services.rest_proxy.errors import ProxyError
from services.rest_proxy.records import (
    BINARY_V2,
    JSON_V2,
    MAX_JSON_DEPTH,
    RECURSION_HEADROOM,
    check_size,
    embedded_format,
    ensure_recursion_headroom,
    media_type,
    parse_event,
    parse_records,
)

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True, scope="module")
def recursion_headroom() -> Iterator[None]:
    """What the proxy's entry point (`server.serve`) sets; importing records does not."""
    before = sys.getrecursionlimit()
    ensure_recursion_headroom()
    yield
    sys.setrecursionlimit(before)


def test_importing_the_parser_leaves_the_recursion_limit_alone() -> None:
    # A fresh interpreter: this one's limit is the fixture's.
    code = (
        "import sys; before = sys.getrecursionlimit(); "
        "import services.rest_proxy.records, services.kinesis.fast; "
        "assert sys.getrecursionlimit() == before, sys.getrecursionlimit()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert sys.getrecursionlimit() >= RECURSION_HEADROOM


def _status(fn: Callable[..., object], *args: object) -> tuple[int, int]:
    with pytest.raises(ProxyError) as info:
        fn(*args)
    return info.value.status, info.value.error_code


def test_media_type_drops_parameters_and_case() -> None:
    assert media_type("Application/VND.kafka.json.v2+json; charset=UTF-8") == JSON_V2
    assert media_type(None) == ""


def test_embedded_format_accepts_json_and_binary_only() -> None:
    assert embedded_format(JSON_V2) == "json"
    assert embedded_format(f"{BINARY_V2}; charset=utf-8") == "binary"
    for bad in ("application/json", "text/plain", "application/vnd.kafka.avro.v2+json", None):
        assert _status(embedded_format, bad) == (415, 415)


def test_size_limit_is_413_and_names_the_setting() -> None:
    check_size("1024", 1024)
    check_size(None, 10)
    with pytest.raises(ProxyError) as info:
        check_size("1025", 1024)
    assert info.value.status == 413
    assert "REST_PROXY_MAX_BODY_BYTES" in info.value.message
    assert _status(check_size, "abc", 10) == (400, 400)


def test_malformed_json_is_400() -> None:
    assert _status(parse_records, b'{"records": [', "json") == (400, 400)
    assert _status(parse_records, b"", "json") == (400, 400)
    # Inside a value too, and trailing bytes after the object.
    assert _status(parse_records, b'{"records": [{"value": {"a": tru}}]}', "json") == (400, 400)
    assert _status(parse_records, b'{"records": [{"value": 1}]} x', "json") == (400, 400)


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"records"',
        b"{}",
        b'{"records": []}',
        b'{"records": {"value": 1}}',
        b'{"records": [1]}',
        b'{"records": [{"value": 1, "partition": "0"}]}',
        b'{"records": [{"value": 1, "partition": -1}]}',
        b'{"records": [{"value": 1, "partition": true}]}',
    ],
)
def test_valid_json_that_is_not_a_produce_request_is_422(body: bytes) -> None:
    assert _status(parse_records, body, "json") == (422, 422)


def test_json_records_are_encoded_as_json_in_order() -> None:
    body = orjson.dumps(
        {
            "records": [
                {"value": {"index": 1, "follower_count": "51k"}},
                {"key": "k", "value": [1, 2], "partition": 0},
                {"key": None},
            ]
        }
    )
    out = parse_records(body, "json")
    assert out == [
        (None, b'{"index":1,"follower_count":"51k"}', None),
        (b'"k"', b"[1,2]", 0),
        (None, None, None),
    ]


def test_values_with_whitespace_stay_the_same_json() -> None:
    body = b'{"records": [ {"value" : { "a" : [1, 2.5, "x y"] , "b": null } } ]}'
    ((key, value, partition),) = parse_records(body, "json")
    assert (key, partition) == (None, None)
    assert value is not None and orjson.loads(value) == {"a": [1, 2.5, "x y"], "b": None}


def test_binary_records_are_base64_decoded() -> None:
    key, value = base64.b64encode(b"\x00key").decode(), base64.b64encode(b"hello").decode()
    out = parse_records(orjson.dumps({"records": [{"key": key, "value": value}]}), "binary")
    assert out == [(b"\x00key", b"hello", None)]
    assert _status(parse_records, b'{"records": [{"value": "not base64!"}]}', "binary")[0] == 422
    assert (
        _status(parse_records, b'{"records": [{"value": "aGk=", "partition": -2}]}', "binary")[0]
        == 422
    )
    assert _status(parse_records, b'{"records": [{"value": 12}]}', "binary")[0] == 422


def test_legacy_event_must_be_one_object() -> None:
    assert parse_event(b'{"index": 3, "title": "x"}') == b'{"index":3,"title":"x"}'
    assert _status(parse_event, b"[1, 2]")[0] == 422
    assert _status(parse_event, b"{nope")[0] == 400


# --- issue 13: what the sink cannot land is refused here, never a 500 --------------------


def _refused(body: bytes, fmt: str = "json") -> ProxyError:
    with pytest.raises(ProxyError) as info:
        parse_records(body, fmt)
    assert info.value.status in (400, 422), info.value.message
    return info.value


def test_invalid_utf8_in_a_value_is_400_and_says_so() -> None:
    error = _refused(b'{"records": [{"value": {"title": "caf\xe9"}}]}')
    assert error.status == 400
    assert "records[0].value" in error.message and "UTF-8" in error.message
    # Also a lone surrogate escape, which no UTF-8 text can hold, and in a key.
    assert "UTF-8" in _refused(b'{"records": [{"value": "\\ud800"}]}').message
    assert "records[0].key" in _refused(b'{"records": [{"key": "\xff", "value": 1}]}').message


def test_non_finite_number_is_422_and_says_so() -> None:
    for number in (b"1e400", b"-1e400", b"[1, 2e999]"):
        error = _refused(b'{"records": [{"value": 1}, {"value": ' + number + b"}]}")
        assert error.status == 422
        assert "records[1].value" in error.message and "finite" in error.message
    # NaN and Infinity are not JSON at all.
    assert _refused(b'{"records": [{"value": NaN}]}').status == 400
    assert _refused(b'{"records": [{"value": Infinity}]}').status == 400


def test_nesting_beyond_the_limit_is_422_and_the_limit_itself_is_accepted() -> None:
    def nested(depth: int) -> bytes:
        return b'{"records": [{"value": ' + b"[" * depth + b"]" * depth + b"}]}"

    ((_k, value, _p),) = parse_records(nested(MAX_JSON_DEPTH), "json")
    assert value == b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    for depth in (MAX_JSON_DEPTH + 1, 2000, 100_000):
        error = _refused(nested(depth))
        assert error.status == 422 and str(MAX_JSON_DEPTH) in error.message


def test_records_per_request_cap_is_422_naming_the_setting() -> None:
    body = orjson.dumps({"records": [{"value": i} for i in range(11)]})
    assert len(parse_records(body, "json", max_records=11)) == 11
    with pytest.raises(ProxyError) as info:
        parse_records(body, "json", max_records=10)
    assert info.value.status == 422
    assert "REST_PROXY_MAX_RECORDS_PER_REQUEST" in info.value.message
    with pytest.raises(ProxyError):
        parse_records(body.replace(b"value", b"wrong"), "binary", max_records=10)


def test_invalid_utf8_in_envelope_strings_is_refused_too() -> None:
    assert _refused(b'{"records": [{"value": "aGk=", "key": "\xff"}]}', "binary")
    # Unknown fields are ignored as Confluent's proxy does; their bytes never reach Kafka.
    assert parse_records(b'{"records": [{"value": 1}], "x\xff": 1}', "json") == [(None, b"1", None)]


def test_legacy_event_deeper_than_orjson_writes_keeps_its_text() -> None:
    body = b'{"a": ' + b"[" * 300 + b"]" * 300 + b"}"
    assert parse_event(body) == body
    assert _status(parse_event, b'{"a": 1e400}') == (422, 422)
    assert _status(parse_event, b'{"a": "\xff"}') == (400, 400)
