"""The hot path of PutRecords (500 records a call): msgspec decoders for both faces' bodies.

Each decoder accepts only the plain shape and returns None for anything else, so the
caller's general path parses that body and names what is wrong: the fast path never
decides an error. API Gateway's `data` is kept as the client's JSON text (msgspec's Raw:
never decoded and re-encoded); the protocol's base64 `Data` is decoded by msgspec in C.
"""

from __future__ import annotations

from typing import Any

import orjson

from services.kinesis import names
from services.rest_proxy.records import HAVE_MSGSPEC

#: (partition keys, values, explicit hash keys or None) of one PutRecords call.
Batch = tuple[list[str], list[bytes], list[str | None] | None]

if HAVE_MSGSPEC:
    import msgspec

    class _GatewayRecord(msgspec.Struct):
        data: msgspec.Raw
        partition_key: str = msgspec.field(name="partition-key")

    class _GatewayRecords(msgspec.Struct):
        records: list[_GatewayRecord]

    class _GatewayRecord1(msgspec.Struct):
        Data: msgspec.Raw
        PartitionKey: str

    class _ProtocolRecord(msgspec.Struct):
        Data: bytes  # base64 in the body, as the SDKs send it
        PartitionKey: str
        ExplicitHashKey: str | None = None

    class _ProtocolRecords(msgspec.Struct):
        Records: list[_ProtocolRecord]
        StreamName: str | None = None
        StreamARN: str | None = None

    _GATEWAY: Any = msgspec.json.Decoder(_GatewayRecords)
    _GATEWAY_ONE: Any = msgspec.json.Decoder(_GatewayRecord1)
    _PROTOCOL: Any = msgspec.json.Decoder(_ProtocolRecords)
    # msgspec raises RecursionError for nesting deeper than the interpreter allows and
    # UnicodeDecodeError for a string of invalid UTF-8 (not DecodeError): the general
    # path then answers 400 with orjson's explanation instead of a 500.
    _ERRORS: tuple[type[Exception], ...] = (
        msgspec.ValidationError,
        msgspec.DecodeError,
        RecursionError,
        UnicodeDecodeError,
    )


def _valid_json(values: list[bytes]) -> bool:
    """msgspec's Raw skips a value without checking its strings' UTF-8 or its numbers'
    range; the general path (orjson) refuses those, so the fast path must not take them."""
    loads = orjson.loads
    try:
        for value in values:
            loads(value)
    except orjson.JSONDecodeError:
        return False
    return True


def _plain(keys: list[str], values: list[bytes]) -> bool:
    """Within Kinesis' limits (the general path explains any breach)."""
    if not 1 <= len(keys) <= names.MAX_PUT_RECORDS:
        return False
    if any(not 1 <= len(k) <= names.MAX_PARTITION_KEY_CHARS for k in keys):
        return False
    if any(len(v) > names.MAX_RECORD_BYTES for v in values):
        return False
    total = sum(map(len, values)) + sum(map(len, keys))
    return total <= names.MAX_PUT_RECORDS_BYTES


def gateway_records(body: bytes) -> Batch | None:
    """`{"records": [{"data", "partition-key"}]}` without arrays in `data`, or None."""
    if not HAVE_MSGSPEC:
        return None
    try:
        request = _GATEWAY.decode(body)
    except _ERRORS:
        return None
    keys = [r.partition_key for r in request.records]
    values = [bytes(r.data) for r in request.records]
    # An array is flattened into its rows: the general path does that.
    if any(v[:1] == b"[" for v in values) or not _plain(keys, values):
        return None
    if not _valid_json(values):
        return None
    return keys, values, None


def gateway_record(body: bytes) -> tuple[str, bytes] | None:
    """`PUT .../record`'s `{"Data": <not an array>, "PartitionKey"}` -> (key, value), or None."""
    if not HAVE_MSGSPEC:
        return None
    try:
        request = _GATEWAY_ONE.decode(body)
    except _ERRORS:
        return None
    value = bytes(request.Data)
    if value[:1] == b"[" or not _plain([request.PartitionKey], [value]):
        return None
    if not _valid_json([value]):
        return None
    return request.PartitionKey, value


def protocol_records(body: bytes) -> tuple[dict[str, Any], Batch] | None:
    """PutRecords' JSON body: ({StreamName, StreamARN}, batch), or None."""
    if not HAVE_MSGSPEC:
        return None
    try:
        request = _PROTOCOL.decode(body)
    except _ERRORS:
        return None
    records = request.Records
    keys = [r.PartitionKey for r in records]
    values = [r.Data for r in records]
    if not _plain(keys, values):
        return None
    hashes = [r.ExplicitHashKey for r in records]
    stream = {"StreamName": request.StreamName, "StreamARN": request.StreamARN}
    return stream, (keys, values, hashes if any(h is not None for h in hashes) else None)
