"""Parsing and validating produce bodies: every status the issue assigns to bad input."""

from __future__ import annotations

import base64
from collections.abc import Callable

import orjson
import pytest

from services.rest_proxy.errors import ProxyError
from services.rest_proxy.records import (
    BINARY_V2,
    JSON_V2,
    PARSERS,
    Parser,
    check_size,
    embedded_format,
    media_type,
    parse_event,
)

pytestmark = pytest.mark.unit


# Every test runs against each parser this environment has (msgspec is optional).
@pytest.fixture(params=sorted(PARSERS))
def parse_records(request: pytest.FixtureRequest) -> Parser:
    return PARSERS[request.param]


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


def test_malformed_json_is_400(parse_records: Parser) -> None:
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
def test_valid_json_that_is_not_a_produce_request_is_422(
    body: bytes, parse_records: Parser
) -> None:
    assert _status(parse_records, body, "json") == (422, 422)


def test_json_records_are_encoded_as_json_in_order(parse_records: Parser) -> None:
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


def test_values_with_whitespace_stay_the_same_json(parse_records: Parser) -> None:
    body = b'{"records": [ {"value" : { "a" : [1, 2.5, "x y"] , "b": null } } ]}'
    ((key, value, partition),) = parse_records(body, "json")
    assert (key, partition) == (None, None)
    assert value is not None and orjson.loads(value) == {"a": [1, 2.5, "x y"], "b": None}


def test_binary_records_are_base64_decoded(parse_records: Parser) -> None:
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
