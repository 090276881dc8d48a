"""Parse and validate produce request bodies: pure functions, no I/O.

Status codes follow the issue: bytes that are not JSON -> 400; JSON that is not a valid
produce request -> 422; unsupported media type -> 415; too large -> 413.

One parser, one rule (issue 13): msgspec reads the envelope and hands over each key's
and value's JSON text untouched; each text is then checked with exactly the test the S3
sink applies before it lands a value (`orjson.loads`, see `services/contracts/lines.py`),
so whatever the proxy acknowledges, the sink can write. That rule refuses invalid UTF-8,
lone surrogates, numbers that overflow a double (`1e400`) and nesting deeper than
`MAX_JSON_DEPTH` levels within one key or value.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import msgspec
import orjson

from services.rest_proxy.errors import ProxyError
from services.rest_proxy.producer import OutRecord

JSON_V2 = "application/vnd.kafka.json.v2+json"
BINARY_V2 = "application/vnd.kafka.binary.v2+json"
V2 = "application/vnd.kafka.v2+json"
EMBEDDED_FORMATS = {JSON_V2: "json", BINARY_V2: "binary"}

#: msgspec is a required dependency now (one parser); the name stays for the benchmark.
HAVE_MSGSPEC = True

#: The deepest nesting of arrays and objects allowed within one key or value: orjson's
#: own limit, which the S3 sink's encoder shares, so the two always agree.
MAX_JSON_DEPTH = 1024

# msgspec skips a value's text recursively under Python's recursion limit (1000 by
# default), which would refuse values the sink accepts (depth 990-1024). Room for the
# envelope's 3 levels, the caller's stack and `MAX_JSON_DEPTH`; anything deeper than the
# new limit is refused as too deep, which it is anyway.
RECURSION_HEADROOM = 4 * MAX_JSON_DEPTH


def ensure_recursion_headroom() -> None:
    """Raise the interpreter's recursion limit to `RECURSION_HEADROOM` (never lower it).

    Process-wide, so only the proxy's entry point calls it (`server.serve`), not an
    import: importing this module must not change the limit of whoever imports it."""
    if sys.getrecursionlimit() < RECURSION_HEADROOM:
        sys.setrecursionlimit(RECURSION_HEADROOM)


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


def json_problem(exc: orjson.JSONDecodeError, where: str) -> ProxyError:
    """A clear 400/422 for a text orjson refuses, naming what is wrong and the fix."""
    text = str(exc)
    if "UTF-8" in text or "surrogate" in text:
        return ProxyError(
            400,
            f"{where} is not valid UTF-8 JSON ({text}); send text as UTF-8, or bytes with "
            f"the binary format ({BINARY_V2}) as base64.",
        )
    if "infinity" in text:
        return ProxyError(
            422,
            f"{where} has a number that overflows a 64-bit float ({text}); JSON numbers must "
            "be finite: send it as a string.",
        )
    if "recursion" in text:
        return ProxyError(
            422,
            f"{where} nests arrays/objects deeper than {MAX_JSON_DEPTH} levels; flatten it.",
        )
    return ProxyError(400, f"Malformed JSON in {where}: {text}")


def load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise json_problem(exc, "the request body") from None


def _invalid(message: str) -> ProxyError:
    return ProxyError(422, message)


# --- the parser: msgspec hands over each value's JSON text without building it ----------

_Partition = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
_NULL = msgspec.Raw(b"null")


class _JsonRecord(msgspec.Struct):
    value: msgspec.Raw = _NULL
    key: msgspec.Raw = _NULL
    partition: _Partition | None = None


class _JsonRequest(msgspec.Struct):
    records: list[_JsonRecord]


class _BinaryRecord(msgspec.Struct):
    value: bytes | None = None  # msgspec decodes base64 for `bytes`
    key: bytes | None = None
    partition: _Partition | None = None


class _BinaryRequest(msgspec.Struct):
    records: list[_BinaryRecord]


_DECODERS: dict[str, Any] = {
    "json": msgspec.json.Decoder(_JsonRequest),
    "binary": msgspec.json.Decoder(_BinaryRequest),
}


def _raw(data: Any) -> bytes | None:
    raw = bytes(data)
    return None if raw == b"null" else raw


#: Why a null value is refused on the topics the S3 sink lands.
TOMBSTONE_REFUSED = (
    "is null: a null value is a tombstone and would not land in S3; send the event as JSON"
)


def parse_records(
    body: bytes, fmt: str, max_records: int | None = None, *, tombstones: bool = True
) -> list[OutRecord]:
    """A produce body -> (key bytes, value bytes, partition) per record, in order.

    JSON keys and values keep the client's text; every one is valid by the sink's rule.
    A null (or absent) value is a Kafka tombstone, as in Confluent's proxy; with
    `tombstones=False` (the topics the S3 sink lands, which cannot write one) it is 422."""
    try:
        request = _DECODERS[fmt].decode(body)
    except msgspec.ValidationError as exc:
        raise _invalid(f"Invalid produce request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise _describe(body, exc) from None
    except UnicodeDecodeError as exc:
        raise ProxyError(
            400, f"The request body is not valid UTF-8 ({exc}); JSON must be UTF-8."
        ) from None
    except RecursionError:
        raise _invalid(
            f"The request body nests arrays/objects deeper than {MAX_JSON_DEPTH} levels "
            "within a record; flatten it."
        ) from None
    records = request.records
    if not records:
        raise _invalid("Field `records` must contain at least one record.")
    if max_records is not None and len(records) > max_records:
        raise _invalid(
            f"{len(records)} records in one request is more than the limit of {max_records} "
            "(REST_PROXY_MAX_RECORDS_PER_REQUEST); split it into several requests."
        )
    if fmt == "binary":
        out = [(r.key, r.value, r.partition) for r in records]
    else:
        out = [(_raw(r.key), _raw(r.value), r.partition) for r in records]
        _check_texts(out)
    if not tombstones:
        for i, (_key, value, _p) in enumerate(out):
            if value is None:
                raise _invalid(f"records[{i}].value {TOMBSTONE_REFUSED}.")
    return out


def _describe(body: bytes, exc: msgspec.DecodeError) -> ProxyError:
    # Cold path: orjson names most problems better (msgspec calls a lone surrogate
    # escape "truncated"), with the same status rules as a value's.
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as why:
        return json_problem(why, "the request body")
    return ProxyError(400, f"Malformed JSON: {exc}")


def _check_texts(out: list[OutRecord]) -> None:
    # The sink's rule, on the hot path: one orjson parse per key and value (results
    # dropped), which also catches what msgspec's skipping never looks at.
    loads = orjson.loads
    for i, (key, value, _p) in enumerate(out):
        try:
            if value is not None:
                loads(value)
            if key is not None:
                loads(key)
        except orjson.JSONDecodeError as exc:
            field = "value" if value is not None and _fails(value) else "key"
            raise json_problem(exc, f"records[{i}].{field}") from None


def _fails(text: bytes) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return True
    return False


def parse_event(body: bytes) -> bytes:
    """A legacy `/pin/` body: one JSON object, re-encoded compactly."""
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise _invalid("The request body must be one JSON object (the event's row).")
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError:
        # orjson writes at most 255 levels but reads 1024: keep the client's (valid) text.
        return body
