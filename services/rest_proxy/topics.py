"""Topic and broker metadata: `GET /topics`, `GET /topics/{topic}`, `GET /brokers`."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource
from starlette.requests import Request
from starlette.responses import Response

from services.rest_proxy.errors import broker_unavailable, topic_not_found
from services.rest_proxy.records import V2
from services.rest_proxy.state import ProxyState


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type=V2)


def visible(name: str) -> bool:
    # Kafka's own topics (`__consumer_offsets`, `__transaction_state`) and the `_`-prefixed
    # internal topics of Connect and Schema Registry are hidden, as Confluent's proxy does.
    return not name.startswith("_")


async def list_topics(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy
    metadata = await state.topics.metadata()
    return _json(sorted(name for name in metadata.topics if visible(name)))


async def get_topic(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy
    name = request.path_params["topic"]
    metadata = await state.topics.metadata()
    topic = metadata.topics.get(name)
    if topic is None or topic.error is not None:
        raise topic_not_found()
    configs = await asyncio.to_thread(_describe_configs, state, name)
    partitions = []
    for p in sorted(topic.partitions.values(), key=lambda p: p.id):
        isrs = set(p.isrs)
        partitions.append(
            {
                "partition": p.id,
                "leader": p.leader,
                "replicas": [
                    {"broker": b, "leader": b == p.leader, "in_sync": b in isrs} for b in p.replicas
                ],
            }
        )
    return _json({"name": name, "configs": configs, "partitions": partitions})


def _describe_configs(state: ProxyState, name: str) -> dict[str, str | None]:
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    timeout = state.settings.rest_proxy_produce_timeout_s
    try:
        futures = state.admin.describe_configs([resource], request_timeout=timeout)
        entries = futures[resource].result(timeout=timeout)
    except KafkaException as exc:
        raise broker_unavailable(f"cannot describe topic {name}: {exc.args[0].str()}") from None
    return {key: entry.value for key, entry in sorted(entries.items())}


async def list_brokers(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy
    metadata = await state.topics.metadata()
    return _json({"brokers": sorted(metadata.brokers)})
