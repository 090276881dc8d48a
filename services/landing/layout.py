"""Where records land in S3, and how a record value becomes one line of an object.

The formats themselves are contracts between stages and live in `services.contracts`
(`keys`: the object keys; `lines`: the JSON line rule and object bodies; `naming`: which
bucket a topic lands in). This module is the landing side's name for them.
"""

from __future__ import annotations

from services.contracts.keys import (
    DEAD_LETTER_PREFIX,
    TOPICS_PREFIX,
    ObjectName,
    dead_letter_key,
    object_key,
    parse_key,
    partition_prefix,
    topic_prefix,
)
from services.contracts.lines import InvalidRecord, decode_lines, encode_lines, to_line
from services.contracts.naming import bucket_for, namespace_of

__all__ = [
    "DEAD_LETTER_PREFIX",
    "TOPICS_PREFIX",
    "InvalidRecord",
    "ObjectName",
    "bucket_for",
    "dead_letter_key",
    "decode_lines",
    "encode_lines",
    "namespace_of",
    "object_key",
    "parse_key",
    "partition_prefix",
    "to_line",
    "topic_prefix",
]
