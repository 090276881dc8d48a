"""A record as bytes: one compact JSON line, and an object body made of such lines.

`encode_row` is what a row becomes on the wire and in S3 (orjson, compact, UTF-8);
`decode_row` reads one back. `to_line` is the rule the S3 sink applies to a record value
before it lands it (and the REST proxy before it acknowledges one): strict JSON, only the
whitespace between tokens dropped, so a value that is already compact stays byte-identical.
The connector's copy of that rule is connect/s3-sink's JsonLine.java.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from services.contracts.rows import Row, to_json_row

# JSON strings (kept verbatim) or insignificant whitespace (dropped): a minifier that never
# re-encodes a token, so a value that is already compact stays byte-identical.
_STRING_OR_SPACE = re.compile(rb'("[^"\\]*(?:\\.[^"\\]*)*")|[ \t\n\r]+', re.DOTALL)
_SPACE = re.compile(rb"[ \t\n\r]")


class InvalidRecord(ValueError):
    """A record value that cannot be written as one line of JSON."""


def encode_row(row: Mapping[str, Any]) -> bytes:
    """The row as one compact JSON line, without the newline."""
    return orjson.dumps(to_json_row(row))


def decode_row(line: bytes) -> Row:
    """A line back into the row's JSON values; raises InvalidRecord if it is not an object."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidRecord(f"not a JSON object: {line[:80]!r}")
    return doc


def is_json_line(line: bytes) -> bool:
    """Whether a landed line is one valid JSON value (the sink's test, see `to_line`)."""
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


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
