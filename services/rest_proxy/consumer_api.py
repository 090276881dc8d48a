"""Handlers of the v2 consumer API: instances, subscription, records, offsets, positions."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from services.rest_proxy.errors import CONSUMER_FORMAT_MISMATCH, ProxyError, internal_topic
from services.rest_proxy.produce import is_internal, read_body
from services.rest_proxy.records import V2, load_json, media_type
from services.rest_proxy.state import ProxyState

_ACCEPT = {
    "application/vnd.kafka.json.v2+json": "json",
    "application/vnd.kafka.binary.v2+json": "binary",
}


def _state(request: Request) -> ProxyState:
    state: ProxyState = request.app.state.proxy
    return state


async def _object_body(request: Request, *, required: bool = True) -> dict[str, Any]:
    body = await read_body(request, _state(request).settings.rest_proxy_max_body_bytes)
    if not body.strip():
        if required:
            raise ProxyError(422, "A JSON object body is required.")
        return {}
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise ProxyError(422, "The request body must be a JSON object.")
    return doc


def _instance(request: Request) -> Any:
    p = request.path_params
    return _state(request).consumers.get(p["group"], p["name"])


async def create_consumer(request: Request) -> Response:
    group = request.path_params["group"]
    instance = await _state(request).consumers.create(group, await _object_body(request))
    base = str(request.base_url).rstrip("/")
    body = {
        "instance_id": instance.name,
        "base_uri": f"{base}/consumers/{group}/instances/{instance.name}",
    }
    return Response(orjson.dumps(body), media_type=V2)


async def delete_consumer(request: Request) -> Response:
    p = request.path_params
    await _state(request).consumers.delete(p["group"], p["name"])
    return Response(status_code=204)


async def subscribe(request: Request) -> Response:
    instance = _instance(request)
    body = await _object_body(request)
    topics = body.get("topics")
    if (
        not isinstance(topics, list)
        or not topics
        or not all(isinstance(t, str) and t for t in topics)
    ):
        raise ProxyError(422, "Field `topics` must be a non-empty array of topic names.")
    for topic in topics:
        if is_internal(topic):
            # _connect-configs holds connector configs, __consumer_offsets every group's
            # position: as with produce, 403 with Kafka's TopicAuthorization wording.
            raise internal_topic(topic)
        if topic.startswith("^"):
            # librdkafka reads such a name as a regex, which could match internal topics.
            raise ProxyError(
                422,
                f"Topic {topic!r}: names starting with '^' are regular expressions to "
                "Kafka's client; this proxy subscribes to named topics only, list them.",
            )
    await _state(request).consumers.subscribe(instance, topics)
    return Response(status_code=204)


async def get_subscription(request: Request) -> Response:
    instance = _instance(request)
    return Response(orjson.dumps({"topics": instance.topics}), media_type=V2)


async def unsubscribe(request: Request) -> Response:
    await _state(request).consumers.unsubscribe(_instance(request))
    return Response(status_code=204)


def _partitions(body: dict[str, Any], key: str, with_offset: bool) -> list[Any]:
    """`{"<key>": [{"topic": t, "partition": p[, "offset": o]}, ...]}` -> tuples."""
    items = body.get(key)
    shape = '{"topic": "<topic>", "partition": 0' + (', "offset": 0' if with_offset else "") + "}"
    if not isinstance(items, list) or not items:
        raise ProxyError(422, f"Field `{key}` must be a non-empty array of {shape}.")
    out: list[Any] = []
    for i, item in enumerate(items):
        ok = (
            isinstance(item, dict)
            and isinstance(item.get("topic"), str)
            and item["topic"]
            and type(item.get("partition")) is int
            and item["partition"] >= 0
            and (not with_offset or (type(item.get("offset")) is int and item["offset"] >= 0))
        )
        if not ok:
            raise ProxyError(422, f"`{key}[{i}]` must be {shape} (non-negative integers).")
        row = (item["topic"], item["partition"])
        out.append((*row, item["offset"]) if with_offset else row)
    return out


async def commit_offsets(request: Request) -> Response:
    """Commit the given offsets (each the last record read), or with no body every record
    this instance has returned; never a record it has not returned."""
    instance = _instance(request)
    body = await _object_body(request, required=False)
    offsets = _partitions(body, "offsets", True) if body.get("offsets") is not None else None
    await _state(request).consumers.commit(instance, offsets)
    return Response(status_code=200)


async def committed_offsets(request: Request) -> Response:
    instance = _instance(request)
    partitions = _partitions(await _object_body(request), "partitions", False)
    offsets = await _state(request).consumers.committed(instance, partitions)
    return Response(orjson.dumps({"offsets": offsets}), media_type=V2)


async def seek(request: Request) -> Response:
    instance = _instance(request)
    positions = _partitions(await _object_body(request), "offsets", True)
    await _state(request).consumers.seek(instance, positions)
    return Response(status_code=204)


def _seek_to(end: bool) -> Any:
    async def handler(request: Request) -> Response:
        instance = _instance(request)
        partitions = _partitions(await _object_body(request), "partitions", False)
        await _state(request).consumers.seek_to(instance, partitions, end)
        return Response(status_code=204)

    return handler


seek_to_beginning = _seek_to(end=False)
seek_to_end = _seek_to(end=True)


async def assignments(request: Request) -> Response:
    partitions = await _state(request).consumers.assignments(_instance(request))
    body = {"partitions": [{"topic": t, "partition": p} for t, p in partitions]}
    return Response(orjson.dumps(body), media_type=V2)


async def records(request: Request) -> Response:
    instance = _instance(request)
    accept = media_type(request.headers.get("accept"))
    wanted = _ACCEPT.get(accept, instance.format if accept in ("", "*/*") else None)
    if wanted != instance.format:
        raise ProxyError(
            406,
            "The requested embedded data format does not match the deserializer for this "
            f"consumer instance (created with format {instance.format!r}).",
            CONSUMER_FORMAT_MISMATCH,
        )
    # Capped: a fetch holds a worker thread for its whole timeout.
    timeout_ms = min(_int_param(request, "timeout", 1000), 30000)
    max_bytes = _int_param(request, "max_bytes", None)
    out = await _state(request).consumers.fetch(instance, timeout_ms / 1000, max_bytes)
    return Response(orjson.dumps(out), media_type=f"application/vnd.kafka.{wanted}.v2+json")


def _int_param(request: Request, name: str, default: int | None) -> Any:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ProxyError(422, f"Query parameter `{name}` must be an integer.") from None
    if value < 0:
        raise ProxyError(422, f"Query parameter `{name}` must not be negative.")
    return value
