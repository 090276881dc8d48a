"""Where records land in S3: Confluent's S3 sink layout, because every Databricks notebook
reads it.

    topics/<topic>/partition=<p>/<topic>+<p>+<start offset, 10 digits>.json

one compact JSON line per record (`lines`), in offset order. An object always covers
contiguous offsets, so line *i* of an object named with start offset *s* is offset *s + i*:
the verifier relies on that, and the connector (connect/s3-sink's ObjectNames.java, its copy
of this module) cuts an object wherever a record goes to the dead-letter queue.
`dead-letter/` objects are what the retired Python sink wrote instead of a dead-letter topic;
the verifier still accounts for them in buckets that hold some. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TOPICS_PREFIX = "topics/"
# Outside `topics/` so a reader globbing `topics/<topic>/partition=*/*.json` never sees them.
# (The Python sink's; the connector dead-letters to a Kafka topic.)
DEAD_LETTER_PREFIX = "dead-letter/"
#: Every data object's name ends so: readers glob `*.json` below a topic.
OBJECT_SUFFIX = ".json"

_OBJECT_NAME = re.compile(
    r"^(?P<root>topics|dead-letter)/(?P<topic>[^/]+)/partition=(?P<partition>\d+)/"
    r"(?P=topic)\+(?P=partition)\+(?P<start>\d{10,})\.(?P<ext>json|bin)$"
)


@dataclass(frozen=True)
class ObjectName:
    topic: str
    partition: int
    start_offset: int
    dead_letter: bool = False


def object_key(topic: str, partition: int, start_offset: int) -> str:
    return (
        f"{partition_prefix(topic, partition)}{topic}+{partition}+{start_offset:010d}"
        f"{OBJECT_SUFFIX}"
    )


def dead_letter_key(topic: str, partition: int, offset: int) -> str:
    # One object per dead-lettered record: its bytes are not JSON, so they cannot share a
    # line-oriented object; the name carries the offset so a replay overwrites it.
    prefix = partition_prefix(topic, partition, dead_letter=True)
    return f"{prefix}{topic}+{partition}+{offset:010d}.bin"


def partition_prefix(topic: str, partition: int, *, dead_letter: bool = False) -> str:
    return f"{topic_prefix(topic, dead_letter=dead_letter)}partition={partition}/"


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
