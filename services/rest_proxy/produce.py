"""Produce handlers: Confluent v2 `POST /topics/{topic}` and legacy `POST /pin/` etc."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from services.rest_proxy.errors import (
    KAFKA_RETRIABLE_ERROR,
    PARTITION_NOT_FOUND,
    ProxyError,
    internal_topic,
    topic_not_found,
)
from services.rest_proxy.producer import UNKNOWN_TOPIC_CODES, OutRecord, RecordResult
from services.rest_proxy.records import (
    V2,
    check_size,
    embedded_format,
    media_type,
    parse_event,
    parse_records,
    too_large,
)
from services.rest_proxy.state import ProxyState
from services.settings import TABLES


async def read_body(request: Request, limit: int) -> bytes:
    check_size(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def is_internal(topic: str) -> bool:
    """Kafka's (`__consumer_offsets`, `__transaction_state`) and Connect's (`_connect-configs`,
    `_connect-offsets`, `_connect-status`) topics: every internal topic here starts with `_`."""
    return topic.startswith("_")


async def produce_records(
    state: ProxyState, topic: str, records: list[OutRecord]
) -> list[RecordResult]:
    partitions = await state.topics.partitions(topic)
    for _key, _value, partition in records:
        if partition is not None and partition >= partitions:
            raise ProxyError(404, "Partition not found.", PARTITION_NOT_FOUND)
    results = await state.producer.produce(topic, records, partitions)
    failed = [r for r in results if r.error_code is not None]
    if failed and len(failed) == len(results):
        # Nothing was written: answer with one error instead of a 200 the client might
        # take for success. Retriable -> 503 so clients back off and try again.
        if all(r.kafka_code in UNKNOWN_TOPIC_CODES for r in failed):
            state.topics.forget(topic)
            raise topic_not_found()
        if all(r.error_code == KAFKA_RETRIABLE_ERROR for r in failed):
            raise ProxyError(
                503, f"Kafka retriable error: {failed[0].error}", KAFKA_RETRIABLE_ERROR
            )
    return results


async def produce_v2(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy
    topic = request.path_params["topic"]
    if is_internal(topic):
        raise internal_topic(topic)
    fmt = embedded_format(request.headers.get("content-type"))
    body = await read_body(request, state.settings.rest_proxy_max_body_bytes)
    records = parse_records(
        body,
        fmt,
        state.settings.rest_proxy_max_records_per_request,
        # Whatever the proxy acknowledges, the sink lands: no tombstones on its topics.
        tombstones=state.sink_topics.match(topic) is None,
    )
    results = await produce_records(state, topic, records)
    offsets = [
        {"partition": r.partition, "offset": r.offset, "error_code": r.error_code, "error": r.error}
        for r in results
    ]
    return Response(
        orjson.dumps({"offsets": offsets, "key_schema_id": None, "value_schema_id": None}),
        media_type=V2,
    )


async def produce_legacy(request: Request) -> Response:
    """The original project's first API: one event per request, the row as the body."""
    state: ProxyState = request.app.state.proxy
    table = request.path_params["table"]
    if table not in TABLES:
        raise ProxyError(
            404, f"HTTP 404 Not Found: post events to /pin/, /geo/ or /user/, not /{table}/."
        )
    kind = media_type(request.headers.get("content-type"))
    if kind not in ("application/json", ""):
        raise ProxyError(
            415,
            f"HTTP 415 Unsupported Media Type: Content-Type {kind!r}; post the row as "
            "application/json.",
        )
    body = await read_body(request, state.settings.rest_proxy_max_body_bytes)
    value = parse_event(body)
    topic = state.settings.topic(table)
    (result,) = await produce_records(state, topic, [(None, value, None)])
    if result.error_code is not None:
        raise ProxyError(500, f"Kafka error: {result.error}", result.error_code)
    return Response(
        orjson.dumps({"topic": topic, "partition": result.partition, "offset": result.offset}),
        media_type="application/json",
    )
