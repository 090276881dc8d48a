"""The inter-stage formats (services.contracts): round trips, and agreement with the Java
connector's copy of the key layout and bucket naming (connect/s3-sink), read from its sources
and JUnit tests so that a change on one side fails here until the other follows."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.contracts import keys, lines, naming, rows
from services.settings import PROJECT_ROOT, TABLES, Settings

pytestmark = pytest.mark.unit

CONNECTOR = PROJECT_ROOT / "connect" / "s3-sink" / "src"
JAVA = CONNECTOR / "main" / "java" / "local" / "pipeline" / "connect" / "s3"
JAVA_TESTS = CONNECTOR / "test" / "java" / "local" / "pipeline" / "connect" / "s3"

# What a MySQL row can hold, as the driver hands it over.
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.datetimes(min_value=dt.datetime(1000, 1, 1)),
    st.dates(),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, max_value=10**12, min_value=-(10**12)
    ),
    st.binary(max_size=64),
)
_rows = st.dictionaries(st.text(min_size=1, max_size=20), _values, max_size=12)


@given(_rows)
def test_a_row_survives_the_line_encoding(row: dict[str, Any]) -> None:
    line = lines.encode_row(row)
    assert b"\n" not in line  # one record, one line
    assert lines.decode_row(line) == rows.to_json_row(row)
    # The sink lands what the emulator sends byte for byte: the line is already compact.
    assert lines.to_line(line) == line
    assert lines.decode_lines(lines.encode_lines([line, line])) == [line, line]


def test_datetimes_travel_as_text_to_the_second() -> None:
    row = {"ind": 3, "timestamp": dt.datetime(2018, 1, 2, 3, 4, 5, 678), "n": Decimal("1.5")}
    assert lines.encode_row(row) == b'{"ind":3,"timestamp":"2018-01-02 03:04:05","n":1.5}'
    assert rows.DATETIME_FORMAT == "%Y-%m-%d %H:%M:%S"


def test_decode_row_refuses_what_is_not_a_row() -> None:
    with pytest.raises(lines.InvalidRecord, match="not a JSON object"):
        lines.decode_row(b"[1, 2]")
    with pytest.raises(lines.InvalidRecord, match="not valid JSON"):
        lines.decode_row(b"{broken")
    assert not lines.is_json_line(b"{broken")


def test_every_table_has_its_key_column() -> None:
    assert set(rows.KEY_COLUMNS) == set(TABLES)
    assert rows.KEY_COLUMNS["pin"] == "index"


_topics = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}\.(pin|geo|user)", fullmatch=True)


@given(_topics, st.integers(0, 999), st.integers(0, 10**15), st.booleans())
def test_object_keys_round_trip(topic: str, partition: int, offset: int, dead: bool) -> None:
    key = (keys.dead_letter_key if dead else keys.object_key)(topic, partition, offset)
    assert keys.parse_key(key) == keys.ObjectName(topic, partition, offset, dead)
    assert key.startswith(keys.partition_prefix(topic, partition, dead_letter=dead))
    assert key.endswith(".bin" if dead else keys.OBJECT_SUFFIX)


def _java_string_calls(source: str, call: str) -> list[tuple[str, list[str]]]:
    """(expected, arguments) of every `assertEquals("expected", <call>(args))` in `source`."""
    found = []
    pattern = rf'assertEquals\(\s*"([^"]*)",\s*{re.escape(call)}\(([^()]*)\)\)'
    for m in re.finditer(pattern, source):
        args = [a.strip() for a in m[2].split(",")]
        found.append((m[1], args))
    return found


def test_object_keys_agree_with_the_connectors_examples() -> None:
    source = (JAVA_TESTS / "ObjectNamesTest.java").read_text()
    examples = _java_string_calls(source, "ObjectNames.key")
    assert len(examples) >= 2, "ObjectNamesTest.java's key examples were not found"
    for expected, (topic, partition, offset) in examples:
        python = keys.object_key(json.loads(topic), int(partition), int(offset.rstrip("L")))
        assert python == expected
    # The connector's own prefix and suffix, from its source.
    java = (JAVA / "ObjectNames.java").read_text()
    assert f'TOPICS_PREFIX = "{keys.TOPICS_PREFIX}"' in java
    assert '"%010d"' in java and f'+ "{keys.OBJECT_SUFFIX}"' in java


def test_buckets_agree_with_the_connector() -> None:
    java = (JAVA / "Buckets.java").read_text()
    assert f'PLACEHOLDER = "{naming.USER_ID_PLACEHOLDER}"' in java
    assert 'DEFAULT_TEMPLATE = "user-" + PLACEHOLDER + "-bucket"' in java
    assert f"user-{naming.USER_ID_PLACEHOLDER}-bucket" == naming.BUCKET_TEMPLATE
    examples = _java_string_calls(
        (JAVA_TESTS / "BucketsTest.java").read_text(), "Buckets.bucketFor"
    )
    assert len(examples) >= 4, "BucketsTest.java's bucketFor examples were not found"
    for expected, (topic, configured) in examples:
        template = None if configured == "null" else json.loads(configured)
        assert naming.bucket_for(json.loads(topic), template) == expected
    # MSK Connect's configuration names the same bucket for every namespace.
    config = json.loads((PROJECT_ROOT / "services" / "landing" / "connector.json").read_text())
    assert config["config"]["s3.bucket.name"] == naming.BUCKET_TEMPLATE


def test_settings_names_are_the_contracts() -> None:
    s = Settings(pipeline_user_id="u-1")
    assert s.topic("pin") == naming.batch_topic("u-1", "pin") == "u-1.pin"
    assert s.streaming_topic("geo") == naming.streaming_topic("u-1", "geo") == "streaming-u-1-geo"
    assert s.bucket == naming.bucket("u-1") == "user-u-1-bucket"
    assert naming.bucket_for(s.topic("user"), naming.BUCKET_TEMPLATE) == s.bucket
    assert naming.namespace_of(s.topic("user")) == "u-1"


def test_the_connector_subscribes_batch_topics_only() -> None:
    config = json.loads((PROJECT_ROOT / "services" / "landing" / "connector.json").read_text())
    subscribed = re.compile(config["local"]["subscription_regex"])
    regex = re.compile(config["config"]["topics.regex"].replace("${user_id}", "u-1"))
    for table in TABLES:
        assert subscribed.fullmatch(naming.batch_topic("u-1", table))
        assert regex.fullmatch(naming.batch_topic("u-1", table))
        assert not subscribed.fullmatch(naming.streaming_topic("u-1", table))
