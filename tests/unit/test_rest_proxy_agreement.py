"""One rule for the proxy and the S3 sink (issue 13, path 2), checked by Hypothesis.

Whatever the proxy acknowledges, the sink can land: a JSON record value the proxy accepts
is one the sink's encoder (`services.landing.layout.to_line`) writes, and a value the sink
can write is one the proxy accepts. Refusals are 400 or 422, never anything else.
Bodies are parsed as for the topics the sink lands (`tombstones=False`): there a `null`
value, which Kafka would carry as a tombstone the sink cannot write, is refused with 422
like any other value the sink cannot land (no exception to the rule).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.landing.layout import InvalidRecord, to_line
from services.rest_proxy.errors import ProxyError
from services.rest_proxy.records import (
    MAX_JSON_DEPTH,
    ensure_recursion_headroom,
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


BOUNDED = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

# Byte strings that break JSON in the ways seen in the wild (issue 13) and some more.
_poison = st.sampled_from(
    [
        b"\xff",
        b"\xc3",
        b"\xed\xa0\x80",
        b"\\ud800",
        b"\\udfff",
        b"1e400",
        b"-1e400",
        b"2E+999",
        b"NaN",
        b"Infinity",
        b"-",
        b"\x00",
        b"\\",
        b'"',
        b"}",
        b"]",
        b",",
        b"\t",
        b"1e308",
        b"0.0000001e-400",
    ]
)


def _as_kafka(text: bytes) -> bytes | None:
    """The Kafka value of a JSON text: `null` is no value at all (a tombstone)."""
    return None if text.strip(b" \t\r\n") == b"null" else text


def _encodable(text: bytes | None) -> bool:
    """Whether the sink writes this Kafka value (None, a tombstone, it cannot)."""
    try:
        to_line(text)
    except InvalidRecord:
        return False
    return True


@st.composite
def value_texts(draw: st.DrawFn) -> bytes:
    """The JSON text of a record value: valid, mutated, deeply nested or random bytes."""
    kind = draw(st.sampled_from(["valid", "mutated", "mutated", "deep", "raw"]))
    if kind == "raw":
        return draw(st.binary(min_size=1, max_size=40))
    if kind == "deep":
        depth = draw(st.integers(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 3) | st.integers(1, 3000))
        left, right = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        inner = draw(st.sampled_from([b"1", b"[]", b"1e400", b'"\xff"']))
        return left * depth + inner + right * depth
    # The standard library writes integers beyond 64 bits and non-ASCII text as is.
    text = json.dumps(draw(json_values), ensure_ascii=draw(st.booleans())).encode()
    if kind == "valid":
        return text
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 2))
        text = text[:at] + draw(_poison) + text[at + cut :]
    return text


def _outcome(body: bytes, fmt: str = "json") -> list[Any] | ProxyError:
    """The parser's answer; anything but a 400/422 refusal fails the test (a 5xx)."""
    try:
        return list(parse_records(body, fmt, max_records=10_000, tombstones=False))
    except ProxyError as exc:
        assert exc.status in (400, 422), f"{exc.status} for {body[:80]!r}: {exc.message}"
        assert exc.message
        return exc


@BOUNDED
@given(value_texts())
def test_proxy_accepts_exactly_what_the_sink_encodes(text: bytes) -> None:
    body = b'{"records": [{"value": ' + text + b"}]}"
    outcome = _outcome(body)
    if _encodable(_as_kafka(text)):
        # Encodable by the sink => acknowledged by the proxy, the text unchanged.
        assert not isinstance(outcome, ProxyError), outcome.message
        assert [value for _k, value, _p in outcome] == [text.strip(b" \t\r\n")]
    else:
        # Not landable (a `null` included) => refused, with 400 or 422.
        assert isinstance(outcome, ProxyError), text
    if isinstance(outcome, list):
        # Acknowledged by the proxy => every value lands (a mutation may have made two
        # records out of one: fine as long as each one lands).
        for _key, value, _partition in outcome:
            assert _encodable(value), value


@BOUNDED
@given(st.lists(value_texts(), min_size=1, max_size=5), st.data())
def test_mutated_bodies_are_refused_with_4xx_or_land(
    texts: list[bytes], data: st.DataObject
) -> None:
    records = b",".join(b'{"key": ' + t + b', "value": ' + t + b"}" for t in texts)
    body = b'{"records": [' + records + b"]}"
    if data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(body)))
        body = body[:at] + data.draw(_poison) + body[at + data.draw(st.integers(0, 3)) :]
    outcome = _outcome(body)
    if isinstance(outcome, list):
        for key, value, _partition in outcome:
            assert _encodable(value)
            assert key is None or _encodable(key)  # a null key is just no key
    # The binary format never reaches the JSON rule, but must refuse cleanly too.
    _outcome(body, "binary")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        (b'"caf\xe9"', 400),  # invalid UTF-8
        (b"1e400", 422),  # a non-finite number
        (b"[" * 2000 + b"]" * 2000, 422),  # 2,000 levels deep: was a RecursionError -> 500
    ],
)
def test_the_three_named_inputs_are_refused_and_not_landable(text: bytes, status: int) -> None:
    outcome = _outcome(b'{"records": [{"value": ' + text + b"}]}")
    assert isinstance(outcome, ProxyError) and outcome.status == status
    assert not _encodable(text)


@pytest.mark.parametrize(
    "body",
    [
        b'{"records": [{"value": {"a": 1}}, {"value": null}]}',
        b'{"records": [{"key": "k"}]}',  # no value at all: a tombstone too
        b'{"records": [{"value": null}]}',
    ],
)
def test_a_null_value_is_refused_where_the_sink_lands_and_a_tombstone_elsewhere(
    body: bytes,
) -> None:
    refused = _outcome(body)
    assert isinstance(refused, ProxyError) and refused.status == 422
    assert "tombstone and would not land in S3" in refused.message
    assert "send the event as JSON" in refused.message
    # Other topics keep Confluent's behaviour: a null value is a tombstone.
    assert None in [value for _k, value, _p in parse_records(body, "json")]


def test_binary_records_without_a_value_are_refused_where_the_sink_lands() -> None:
    refused = _outcome(b'{"records": [{"key": "AA=="}]}', "binary")
    assert isinstance(refused, ProxyError) and refused.status == 422
    assert parse_records(b'{"records": [{"key": "AA=="}]}', "binary") == [(b"\x00", None, None)]
