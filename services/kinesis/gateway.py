"""API Gateway's Kinesis routes on the REST proxy's port, as students configure them.

    GET    /streams                      ListStreams
    GET    /streams/{name}               DescribeStream
    POST   /streams/{name}               CreateStream (body may carry ShardCount)
    DELETE /streams/{name}               DeleteStream
    PUT    /streams/{name}/record        PutRecord:  {"StreamName", "Data", "PartitionKey"}
    PUT    /streams/{name}/records       PutRecords: {"records": [{"data", "partition-key"}]}

`Data` is any JSON value and goes to Kafka as its JSON text, which is what the exported
API's mapping template (`$util.base64Encode($input.json('$.Data'))`) hands to Kinesis. A
JSON *array* of objects is flattened into one record per object, as Spark's JSON reader
reads a top-level array (the original's scripts send `"Data": [row]`); each record of an
array gets the same partition key, and the answer carries the first one's sequence number.
Errors are Kinesis' bodies with 400, as API Gateway passes Kinesis errors through.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.kinesis import names
from services.kinesis.backend import (
    KinesisBackend,
    PutRequest,
    put_records_entries,
    put_result,
)
from services.kinesis.errors import KinesisError, error_response, serialization, validation
from services.kinesis.fast import gateway_record, gateway_records
from services.kinesis.protocol import describe_stream
from services.rest_proxy.errors import ProxyError
from services.rest_proxy.produce import read_body

log = logging.getLogger(__name__)

JSON = "application/json"
_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]

Handler = Callable[[Request], Awaitable[Response]]


def _ok(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type=JSON)


def _backend(request: Request) -> KinesisBackend:
    backend: KinesisBackend = request.app.state.kinesis
    return backend


async def _body(request: Request) -> bytes:
    try:
        return await read_body(request, _backend(request).settings.rest_proxy_max_body_bytes)
    except ProxyError as exc:
        raise KinesisError("SerializationException", exc.message, status=exc.status) from None


def _parse(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise serialization(
            f"The request body is not JSON ({exc}); send Content-Type: application/json "
            'and a body like {"StreamName": "...", "Data": {...}, "PartitionKey": "..."}.'
        ) from None
    if not isinstance(doc, dict):
        raise serialization("The request body must be a JSON object.")
    return doc


async def _document(request: Request, *, optional: bool = False) -> dict[str, Any]:
    body = await _body(request)
    if optional and not body.strip():
        return {}
    return _parse(body)


def flatten(data: Any, where: str) -> list[bytes]:
    """A record's `Data` -> the Kafka values it becomes (see the module's docstring)."""
    if isinstance(data, list):
        if not data:
            raise validation(f"{where} is an empty array: send the row as an object.")
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise validation(
                    f"{where}[{i}] is not an object: an array in {where} must hold rows "
                    "(objects), one record each; send other values on their own."
                )
        values = [orjson.dumps(item) for item in data]
    else:
        values = [orjson.dumps(data)]
    for value in values:
        names.check_record_size(len(value), where)
    return values


def _record(doc: dict[str, Any], where: str, data_key: str, key_key: str) -> list[PutRequest]:
    if data_key not in doc:
        raise validation(f"{where}{data_key} is required: the row to put, as JSON.")
    key = names.check_partition_key(doc.get(key_key), f"{where}{key_key}")
    return [PutRequest(key, value) for value in flatten(doc[data_key], f"{where}{data_key}")]


def _combine(counts: list[int], entries: list[dict[str, str]]) -> list[dict[str, str]]:
    """Per-record entries of the flattened values -> one per record the client sent: the
    first failure of its group, else its first record's."""
    out = []
    i = 0
    for n in counts:
        group = entries[i : i + n]
        i += n
        out.append(next((e for e in group if "ErrorCode" in e), group[0]))
    return out


async def streams(request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        raise _method(request, "GET")
    return _ok({"StreamNames": await _backend(request).list_streams(), "HasMoreStreams": False})


async def stream(request: Request) -> Response:
    backend = _backend(request)
    name = names.check_stream_name(request.path_params["name"])
    if request.method in ("GET", "HEAD"):
        return _ok(describe_stream(backend, name, await backend.shards(name)))
    if request.method == "POST":
        doc = await _document(request, optional=True)
        await backend.create(name, doc.get("ShardCount"))
        return _ok({})
    if request.method == "DELETE":
        await backend.delete(name)
        return _ok({})
    raise _method(request, "GET, POST or DELETE")


async def record(request: Request) -> Response:
    if request.method != "PUT":
        raise _method(request, "PUT")
    backend = _backend(request)
    name = names.check_stream_name(request.path_params["name"])
    body = await _body(request)
    fast = gateway_record(body)
    if fast is not None:
        (one,) = await backend.produce(name, [fast[0]], [fast[1]])
        results = [put_result(one)]
    else:
        puts = _record(_parse(body), "", "Data", "PartitionKey")
        results = await backend.put(name, puts)
    result = next((r for r in results if r.error_code is not None), results[0])
    result.raise_if_failed()
    return _ok(result.as_dict())


async def records(request: Request) -> Response:
    if request.method != "PUT":
        raise _method(request, "PUT")
    backend = _backend(request)
    name = names.check_stream_name(request.path_params["name"])
    body = await _body(request)
    fast = gateway_records(body)
    if fast is not None:
        keys, values, _ = fast
        failed, entries = put_records_entries(await backend.produce(name, keys, values))
        return _ok({"FailedRecordCount": failed, "Records": entries, "EncryptionType": "NONE"})
    doc = _parse(body)
    # The API Gateway tutorial's body is {"records": [{"data", "partition-key"}]}; the
    # Kinesis-shaped {"Records": [{"Data", "PartitionKey"}]} is taken as well.
    items = doc.get("records", doc.get("Records"))
    if not isinstance(items, list) or not 1 <= len(items) <= names.MAX_PUT_RECORDS:
        raise validation(
            f"records must be an array of 1 to {names.MAX_PUT_RECORDS} objects like "
            '{"data": {...}, "partition-key": "..."} (Kinesis\' PutRecords limit).'
        )
    puts: list[PutRequest] = []
    counts: list[int] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise validation(f"records[{i}] must be an object with data and partition-key.")
        data_key, key_key = (
            ("data", "partition-key") if "data" in item else ("Data", "PartitionKey")
        )
        group = _record(item, f"records[{i}].", data_key, key_key)
        counts.append(len(group))
        puts.extend(group)
    total = sum(len(p.data) + len(p.partition_key) for p in puts)
    if total > names.MAX_PUT_RECORDS_BYTES:
        raise validation(f"records total {total} bytes: PutRecords takes at most 5 MiB per call.")
    results = await backend.produce(name, [p.partition_key for p in puts], [p.data for p in puts])
    _failed, entries = put_records_entries(results)
    entries = _combine(counts, entries)
    return _ok(
        {
            "FailedRecordCount": sum("ErrorCode" in e for e in entries),
            "Records": entries,
            "EncryptionType": "NONE",
        }
    )


def _method(request: Request, allowed: str) -> KinesisError:
    return KinesisError(
        "MethodNotAllowedException",
        f"{request.method} is not a method of {request.url.path}; use {allowed}.",
        status=405,
    )


def _kinesis_errors(handler: Handler) -> Handler:
    # These routes live in the Confluent API's app, whose error handlers answer in
    # Confluent's shape; Kinesis' shape is answered here instead.
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except KinesisError as exc:
            return error_response(exc, JSON)
        except Exception as exc:
            log.exception("unexpected error on %s %s", request.method, request.url.path)
            return error_response(
                KinesisError(
                    "InternalFailure",
                    f"Internal error ({type(exc).__name__}); see the proxy's log.",
                    500,
                ),
                JSON,
            )

    return wrapped


def gateway_routes() -> list[Route]:
    """The routes to add to the REST proxy's v2 app (its `state.kinesis` is the backend)."""
    return [
        Route("/streams", _kinesis_errors(streams), methods=_METHODS),
        Route("/streams/{name}", _kinesis_errors(stream), methods=_METHODS),
        Route("/streams/{name}/record", _kinesis_errors(record), methods=_METHODS),
        Route("/streams/{name}/records", _kinesis_errors(records), methods=_METHODS),
    ]
