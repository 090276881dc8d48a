"""Parse and validate produce request bodies: pure functions, no I/O.

Status codes follow the issue: bytes that are not JSON -> 400; JSON that is not a valid
produce request -> 422; unsupported media type -> 415; too large -> 413.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from services.rest_proxy.errors import ProxyError
from services.rest_proxy.producer import OutRecord

JSON_V2 = "application/vnd.kafka.json.v2+json"
BINARY_V2 = "application/vnd.kafka.binary.v2+json"
V2 = "application/vnd.kafka.v2+json"
EMBEDDED_FORMATS = {JSON_V2: "json", BINARY_V2: "binary"}


def media_type(header: str | None) -> str:
    """`application/x; charset=utf-8` -> `application/x` (lower case)."""
    if not header:
        return ""
    return header.split(";", 1)[0].strip().lower()


def embedded_format(content_type: str | None) -> str:
    kind = EMBEDDED_FORMATS.get(media_type(content_type))
    if kind is None:
        raise ProxyError(
            415,
            f"HTTP 415 Unsupported Media Type: Content-Type {content_type or '(none)'!r} is not "
            f"supported; use {JSON_V2} or {BINARY_V2}.",
        )
    return kind


def check_size(declared: str | None, limit: int) -> None:
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise ProxyError(400, "Content-Length is not a number.") from None
    if size > limit:
        raise too_large(limit)


def too_large(limit: int) -> ProxyError:
    return ProxyError(
        413,
        f"Request body is larger than the limit of {limit} bytes (REST_PROXY_MAX_BODY_BYTES).",
    )


def load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProxyError(400, f"Malformed JSON: {exc}") from None


def _invalid(message: str) -> ProxyError:
    return ProxyError(422, message)


def parse_records(body: bytes, fmt: str) -> list[OutRecord]:
    """A produce body -> (key bytes, value bytes, partition) per record, in order."""
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise _invalid("The request body must be a JSON object with a `records` array.")
    records = doc.get("records")
    if not isinstance(records, list):
        raise _invalid("Field `records` is required and must be an array of records.")
    if not records:
        raise _invalid("Field `records` must contain at least one record.")
    encode = _encode_json if fmt == "json" else _encode_binary
    out: list[OutRecord] = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise _invalid(f"records[{i}] must be an object with `value` (and optional `key`).")
        partition = record.get("partition")
        if partition is not None and (
            type(partition) is not int or partition < 0 or partition > 2**31 - 1
        ):
            raise _invalid(f"records[{i}].partition must be a non-negative integer.")
        out.append(
            (
                encode(record.get("key"), i, "key"),
                encode(record.get("value"), i, "value"),
                partition,
            )
        )
    return out


def _encode_json(data: Any, _i: int, _field: str) -> bytes | None:
    return None if data is None else orjson.dumps(data)


def _encode_binary(data: Any, i: int, field: str) -> bytes | None:
    if data is None:
        return None
    if not isinstance(data, str):
        raise _invalid(f"records[{i}].{field} must be a base64 string for the binary format.")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"records[{i}].{field} is not valid base64.") from None


def parse_event(body: bytes) -> bytes:
    """A legacy `/pin/` body: one JSON object, re-encoded compactly."""
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise _invalid("The request body must be one JSON object (the event's row).")
    return orjson.dumps(doc)
