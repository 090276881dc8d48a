"""Where records land in S3, and how a record value becomes one line of an object.

The layout is Confluent's S3 sink's, because every Databricks notebook reads it:
`topics/<topic>/partition=<p>/<topic>+<p>+<start offset, 10 digits>.json`, one compact JSON
value per line, each line ending in `\\n`, in offset order. An object always covers
contiguous offsets, so line *i* of an object named with start offset *s* is offset *s + i*:
the verifier relies on that, and the connector (connect/s3-sink, ObjectNames.java and
JsonLine.java are its side of this contract) cuts an object wherever a record goes to the
dead-letter queue. `dead-letter/` objects are what the retired Python sink wrote instead of a
dead-letter topic; the verifier still accounts for them in buckets that hold some.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

TOPICS_PREFIX = "topics/"
# Outside `topics/` so a reader globbing `topics/<topic>/partition=*/*.json` never sees them.
# (The Python sink's; the connector dead-letters to a Kafka topic.)
DEAD_LETTER_PREFIX = "dead-letter/"

_OBJECT_NAME = re.compile(
    r"^(?P<root>topics|dead-letter)/(?P<topic>[^/]+)/partition=(?P<partition>\d+)/"
    r"(?P=topic)\+(?P=partition)\+(?P<start>\d{10,})\.(?P<ext>json|bin)$"
)
# JSON strings (kept verbatim) or insignificant whitespace (dropped): a minifier that never
# re-encodes a token, so a value that is already compact stays byte-identical.
_STRING_OR_SPACE = re.compile(rb'("[^"\\]*(?:\\.[^"\\]*)*")|[ \t\n\r]+', re.DOTALL)
_SPACE = re.compile(rb"[ \t\n\r]")


class InvalidRecord(ValueError):
    """A record value that cannot be written as one line of JSON."""


@dataclass(frozen=True)
class ObjectName:
    topic: str
    partition: int
    start_offset: int
    dead_letter: bool = False


def object_key(topic: str, partition: int, start_offset: int) -> str:
    return (
        f"{TOPICS_PREFIX}{topic}/partition={partition}/{topic}+{partition}+{start_offset:010d}.json"
    )


def dead_letter_key(topic: str, partition: int, offset: int) -> str:
    # One object per dead-lettered record: its bytes are not JSON, so they cannot share a
    # line-oriented object; the name carries the offset so a replay overwrites it.
    return (
        f"{DEAD_LETTER_PREFIX}{topic}/partition={partition}/{topic}+{partition}+{offset:010d}.bin"
    )


def partition_prefix(topic: str, partition: int, *, dead_letter: bool = False) -> str:
    root = DEAD_LETTER_PREFIX if dead_letter else TOPICS_PREFIX
    return f"{root}{topic}/partition={partition}/"


def topic_prefix(topic: str, *, dead_letter: bool = False) -> str:
    root = DEAD_LETTER_PREFIX if dead_letter else TOPICS_PREFIX
    return f"{root}{topic}/"


def parse_key(key: str) -> ObjectName | None:
    """The object's topic, partition and start offset, or None if the key is not in the layout."""
    m = _OBJECT_NAME.match(key)
    if m is None:
        return None
    dead = m["root"] == "dead-letter"
    if dead != (m["ext"] == "bin"):
        return None
    return ObjectName(m["topic"], int(m["partition"]), int(m["start"]), dead)


def namespace_of(topic: str) -> str:
    """`<user_id>.<table>` -> `<user_id>`."""
    user_id, dot, _table = topic.rpartition(".")
    if not dot or not user_id:
        raise ValueError(f"topic {topic!r} is not named <user_id>.<table>")
    return user_id


def bucket_for(topic: str, bucket_template: str) -> str:
    return bucket_template.replace("${user_id}", namespace_of(topic))


def to_line(value: bytes | None) -> bytes:
    """The value as one compact JSON line (without the newline); raises InvalidRecord."""
    if value is None:
        raise InvalidRecord("null value (a tombstone): there is no JSON to write")
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord(f"not valid JSON: {exc}") from None
    if _SPACE.search(value) is None:
        return value
    return _STRING_OR_SPACE.sub(rb"\1", value)


def encode_lines(lines: list[bytes]) -> bytes:
    # Confluent's JSON format ends every record, the last one included, with a newline.
    return b"".join(line + b"\n" for line in lines)


def decode_lines(body: bytes) -> list[bytes]:
    """Split an object body into its lines; a missing final newline still yields the last line."""
    if not body:
        return []
    lines = body.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines
