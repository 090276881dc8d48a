"""The Kinesis JSON protocol: `POST /` with `X-Amz-Target: Kinesis_20131202.<Action>`.

What an AWS SDK with `endpoint_url` sends (boto3 1.40 speaks JSON 1.1 to Kinesis). CBOR,
which the Java SDKs and KPL prefer, is refused with the setting that turns it off.
Signatures (`Authorization`) are accepted and not checked: this is a local sandbox.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.kinesis import names
from services.kinesis.backend import (
    KinesisBackend,
    PutRequest,
    ShardInfo,
    put_records_entries,
)
from services.kinesis.errors import (
    AMZ_JSON,
    KinesisError,
    error_response,
    serialization,
    validation,
)
from services.kinesis.fast import Batch, protocol_records
from services.rest_proxy.errors import ProxyError
from services.rest_proxy.produce import read_body
from services.rest_proxy.records import media_type

log = logging.getLogger(__name__)

TARGET_PREFIX = "Kinesis_20131202."
_JSON_TYPES = ("application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json", "")

Action = Callable[[KinesisBackend, dict[str, Any]], Awaitable[dict[str, Any]]]


# --- shapes shared with the API Gateway face ---------------------------------------------
def describe_stream(
    backend: KinesisBackend, stream: str, shards: list[ShardInfo]
) -> dict[str, Any]:
    return {
        "StreamDescription": {
            **_summary(backend, stream),
            "Shards": [_shard(s, len(shards)) for s in shards],
            "HasMoreShards": False,
        }
    }


def _summary(backend: KinesisBackend, stream: str) -> dict[str, Any]:
    return {
        "StreamName": stream,
        "StreamARN": names.stream_arn(backend.region, stream),
        "StreamStatus": "ACTIVE",
        "StreamModeDetails": {"StreamMode": "PROVISIONED"},
        "RetentionPeriodHours": 24,
        "StreamCreationTimestamp": backend.created_at(stream),
        "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
        "EncryptionType": "NONE",
    }


def _shard(info: ShardInfo, count: int) -> dict[str, Any]:
    start, end = names.hash_key_range(info.partition, count)
    return {
        "ShardId": names.shard_id(info.partition),
        "HashKeyRange": {"StartingHashKey": str(start), "EndingHashKey": str(end)},
        "SequenceNumberRange": {
            "StartingSequenceNumber": names.sequence_number(info.partition, info.low)
        },
    }


def stream_name(doc: dict[str, Any]) -> str:
    if doc.get("StreamName") is not None:
        return names.check_stream_name(doc["StreamName"])
    if isinstance(doc.get("StreamARN"), str):
        return names.stream_from_arn(doc["StreamARN"])
    raise validation("Either StreamName or StreamARN should be provided.")


def _blob(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise serialization(f"{where} must be a base64 string, as the SDKs send it.")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise serialization(f"{where} is not valid base64.") from None
    names.check_record_size(len(data), where)
    return data


def _put_request(record: object, where: str = "") -> PutRequest:
    """One record of PutRecord (`where` empty) or of PutRecords (`where` = "Records[i]")."""
    if not isinstance(record, dict):
        raise serialization(f"{where} must be an object with Data and PartitionKey.")

    def field(name: str) -> str:
        return f"{where}.{name}" if where else name

    ehk = record.get("ExplicitHashKey")
    if ehk is not None and not isinstance(ehk, str):
        raise validation(f"{field('ExplicitHashKey')} must be a decimal string.")
    return PutRequest(
        names.check_partition_key(record.get("PartitionKey"), field("PartitionKey")),
        _blob(record.get("Data"), field("Data")),
        ehk,
    )


# --- the actions ------------------------------------------------------------------------
async def create_stream(backend: KinesisBackend, doc: dict[str, Any]) -> dict[str, Any]:
    await backend.create(stream_name(doc), doc.get("ShardCount"))
    return {}


async def delete_stream(backend: KinesisBackend, doc: dict[str, Any]) -> dict[str, Any]:
    await backend.delete(stream_name(doc))
    return {}


async def list_streams(backend: KinesisBackend, doc: dict[str, Any]) -> dict[str, Any]:
    streams = await backend.list_streams()
    start = doc.get("ExclusiveStartStreamName")
    if isinstance(start, str):
        streams = [s for s in streams if s > start]
    limit = doc.get("Limit", 100)
    if type(limit) is not int or not 1 <= limit <= 10_000:
        raise validation("Limit must be an integer from 1 to 10000.")
    page = streams[:limit]
    return {
        "StreamNames": page,
        "HasMoreStreams": len(streams) > limit,
        "StreamSummaries": [
            {
                "StreamName": s,
                "StreamARN": names.stream_arn(backend.region, s),
                "StreamStatus": "ACTIVE",
                "StreamModeDetails": {"StreamMode": "PROVISIONED"},
                "StreamCreationTimestamp": backend.created_at(s),
            }
            for s in page
        ],
    }


async def describe(backend: KinesisBackend, doc: dict[str, Any]) -> dict[str, Any]:
    stream = stream_name(doc)
    return describe_stream(backend, stream, await backend.shards(stream))


async def describe_summary(backend: KinesisBackend, doc: dict[str, Any]) -> dict[str, Any]:
    stream = stream_name(doc)
    count = await backend.shard_count(stream)
    summary = {**_summary(backend, stream), "OpenShardCount": count, "ConsumerCount": 0}
    return {"StreamDescriptionSummary": summary}


async def list_shards(backend: KinesisBackend, doc: dict[str, Any]) -> dict[str, Any]:
    stream = stream_name(doc)
    shards = await backend.shards(stream)
    return {"Shards": [_shard(s, len(shards)) for s in shards]}


async def put_record(backend: KinesisBackend, doc: dict[str, Any]) -> dict[str, Any]:
    stream = stream_name(doc)
    (result,) = await backend.put(stream, [_put_request(doc)])
    result.raise_if_failed()
    return {**result.as_dict(), "EncryptionType": "NONE"}


async def put_records(backend: KinesisBackend, doc: dict[str, Any]) -> dict[str, Any]:
    stream = stream_name(doc)
    records = doc.get("Records")
    if not isinstance(records, list) or not 1 <= len(records) <= names.MAX_PUT_RECORDS:
        raise validation(
            f"Records must be a list of 1 to {names.MAX_PUT_RECORDS} records "
            "(Kinesis' PutRecords limit); split larger batches."
        )
    requests = [_put_request(r, f"Records[{i}]") for i, r in enumerate(records)]
    total = sum(len(r.data) + len(r.partition_key) for r in requests)
    if total > names.MAX_PUT_RECORDS_BYTES:
        raise validation(f"Records total {total} bytes: PutRecords takes at most 5 MiB per call.")
    hashes = [r.explicit_hash_key for r in requests]
    batch = (
        [r.partition_key for r in requests],
        [r.data for r in requests],
        hashes if any(h is not None for h in hashes) else None,
    )
    return await put_batch(backend, stream, batch)


async def put_batch(backend: KinesisBackend, stream: str, batch: Batch) -> dict[str, Any]:
    failed, entries = put_records_entries(await backend.produce(stream, *batch))
    return {"FailedRecordCount": failed, "Records": entries, "EncryptionType": "NONE"}


async def get_shard_iterator(backend: KinesisBackend, doc: dict[str, Any]) -> dict[str, Any]:
    stream = stream_name(doc)
    iterator = await backend.iterator(
        stream,
        doc.get("ShardId"),
        doc.get("ShardIteratorType"),
        doc.get("StartingSequenceNumber"),
        doc.get("Timestamp"),
    )
    return {"ShardIterator": iterator}


async def get_records(backend: KinesisBackend, doc: dict[str, Any]) -> dict[str, Any]:
    it = names.decode_iterator(doc.get("ShardIterator"))
    limit = doc.get("Limit", names.MAX_GET_RECORDS)
    if type(limit) is not int or not 1 <= limit <= names.MAX_GET_RECORDS:
        raise validation(f"Limit must be an integer from 1 to {names.MAX_GET_RECORDS}.")
    result = await backend.read(it, limit)
    b64 = base64.b64encode
    for record in result.records:
        record["Data"] = b64(record["Data"]).decode()
    return {
        "Records": result.records,
        "NextShardIterator": names.encode_iterator(it.stream, it.partition, result.next_offset),
        "MillisBehindLatest": result.millis_behind,
    }


ACTIONS: dict[str, Action] = {
    "CreateStream": create_stream,
    "DeleteStream": delete_stream,
    "ListStreams": list_streams,
    "DescribeStream": describe,
    "DescribeStreamSummary": describe_summary,
    "ListShards": list_shards,
    "PutRecord": put_record,
    "PutRecords": put_records,
    "GetShardIterator": get_shard_iterator,
    "GetRecords": get_records,
}


def parse_request(
    target: str | None, content_type: str | None, body: bytes
) -> tuple[Action, dict[str, Any]]:
    """Headers and body -> (action, parameters); KinesisError when either is wrong."""
    kind = media_type(content_type)
    if "cbor" in kind:
        raise serialization(
            f"Content-Type {kind} (CBOR) is not supported by this local endpoint: turn CBOR "
            "off in the client, e.g. AWS_CBOR_DISABLE=true (AWS SDK for Java/KPL: "
            "-Dcom.amazonaws.sdk.disableCbor=true); boto3 and the AWS CLI send JSON already."
        )
    if kind not in _JSON_TYPES:
        raise serialization(f"Content-Type {kind!r}: send application/x-amz-json-1.1.")
    service, _, name = (target or "").partition(".")
    action = ACTIONS.get(name) if f"{service}." == TARGET_PREFIX else None
    if action is None:
        raise KinesisError(
            "UnknownOperationException",
            f"X-Amz-Target {target!r} is not an operation of this endpoint; supported: "
            + ", ".join(TARGET_PREFIX + a for a in ACTIONS),
        )
    try:
        doc = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise serialization(f"The request body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise serialization("The request body must be a JSON object of the action's parameters.")
    return action, doc


async def handle(request: Request) -> Response:
    backend: KinesisBackend = request.app.state.kinesis
    try:
        body = await read_body(request, backend.settings.rest_proxy_max_body_bytes)
    except ProxyError as exc:
        raise KinesisError("SerializationException", exc.message, status=exc.status) from None
    target = request.headers.get("x-amz-target")
    content_type = request.headers.get("content-type")
    if target == TARGET_PREFIX + "PutRecords" and media_type(content_type) in _JSON_TYPES:
        fast = protocol_records(body)
        if fast is not None:
            ids, batch = fast
            result = await put_batch(backend, stream_name(ids), batch)
            return Response(orjson.dumps(result), media_type=AMZ_JSON)
    action, doc = parse_request(target, content_type, body)
    result = await action(backend, doc)
    return Response(orjson.dumps(result), media_type=AMZ_JSON)


async def health(_request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def _kinesis_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KinesisError)
    return error_response(exc)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = "UnknownOperationException" if exc.status_code in (404, 405) else "ValidationException"
    return error_response(
        KinesisError(
            kind,
            f"HTTP {exc.status_code}: the Kinesis API is POST / with X-Amz-Target.",
            exc.status_code,
        )
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s: %r", request.method, request.url.path, exc)
    return error_response(
        KinesisError("InternalFailure", "Internal error; see the proxy's log.", 500)
    )


HANDLERS: Any = {KinesisError: _kinesis_error, HTTPException: _http_error, Exception: _unexpected}


#: Never refused by the proxy's admission control (see services/rest_proxy/admission.py).
KINESIS_PROBES = frozenset({"/health"})


def kinesis_app(backend: KinesisBackend) -> Starlette:
    routes = [Route("/", handle, methods=["POST"]), Route("/health", health)]
    app = Starlette(routes=routes, exception_handlers=HANDLERS)
    app.state.kinesis = backend
    return app
