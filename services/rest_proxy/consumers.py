"""Consumer instances of the v2 consumer API, kept in memory, expired when idle.

Each instance wraps one confluent-kafka Consumer. librdkafka calls block, so they run in
worker threads, one at a time per instance (an asyncio lock per instance).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException

from services.clients import ClientFactory
from services.rest_proxy.errors import (
    CONSUMER_ALREADY_EXISTS,
    CONSUMER_INSTANCE_NOT_FOUND,
    INVALID_CONSUMER_CONFIG,
    KAFKA_ERROR,
    ProxyError,
)

log = logging.getLogger(__name__)

FORMATS = ("json", "binary")
MAX_RECORDS_PER_FETCH = 500


@dataclass
class ConsumerInstance:
    group: str
    name: str
    format: str
    consumer: Consumer
    last_used: float = field(default_factory=time.monotonic)
    topics: list[str] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False

    def touch(self) -> None:
        self.last_used = time.monotonic()


class ConsumerRegistry:
    def __init__(self, clients: ClientFactory, idle_s: float) -> None:
        self._clients = clients
        self._idle_s = idle_s
        self._instances: dict[tuple[str, str], ConsumerInstance] = {}
        self._counter = 0

    def __len__(self) -> int:
        return len(self._instances)

    async def create(self, group: str, body: dict[str, Any]) -> ConsumerInstance:
        name = body.get("name")
        if name is None:
            self._counter += 1
            name = f"rest-consumer-{self._counter}-{int(time.time() * 1000)}"
        if not isinstance(name, str) or not name or "/" in name:
            raise ProxyError(422, "`name` must be a non-empty string without '/'.")
        fmt = body.get("format", "binary")
        if fmt not in FORMATS:
            raise ProxyError(
                422,
                f"Unsupported consumer format {fmt!r}: this proxy supports "
                f"{' and '.join(FORMATS)} (no schema registry).",
                INVALID_CONSUMER_CONFIG,
            )
        reset = body.get("auto.offset.reset", "latest")
        if reset not in ("earliest", "latest"):
            raise ProxyError(
                422, "`auto.offset.reset` must be earliest or latest.", INVALID_CONSUMER_CONFIG
            )
        auto_commit = str(body.get("auto.commit.enable", "true")).lower() == "true"
        if (group, name) in self._instances:
            raise ProxyError(
                409,
                "Consumer with specified consumer ID already exists in the specified "
                "consumer group.",
                CONSUMER_ALREADY_EXISTS,
            )
        consumer = await asyncio.to_thread(
            self._clients.kafka_consumer,
            group,
            **{"auto.offset.reset": reset, "enable.auto.commit": auto_commit},
        )
        instance = ConsumerInstance(group=group, name=name, format=fmt, consumer=consumer)
        self._instances[(group, name)] = instance
        return instance

    def get(self, group: str, name: str) -> ConsumerInstance:
        instance = self._instances.get((group, name))
        if instance is None:
            raise ProxyError(404, "Consumer instance not found.", CONSUMER_INSTANCE_NOT_FOUND)
        instance.touch()
        return instance

    async def delete(self, group: str, name: str) -> None:
        instance = self.get(group, name)
        del self._instances[(group, name)]
        await self._close(instance)

    async def subscribe(self, instance: ConsumerInstance, topics: list[str]) -> None:
        async with instance.lock:
            await asyncio.to_thread(instance.consumer.subscribe, topics)
            instance.topics = list(topics)

    async def unsubscribe(self, instance: ConsumerInstance) -> None:
        async with instance.lock:
            await asyncio.to_thread(instance.consumer.unsubscribe)
            instance.topics = []

    async def commit(self, instance: ConsumerInstance) -> None:
        async with instance.lock:
            try:
                await asyncio.to_thread(instance.consumer.commit, asynchronous=False)
            except KafkaException as exc:
                # Nothing consumed yet: nothing to commit, which is not an error.
                if exc.args[0].code() != KafkaError._NO_OFFSET:
                    raise ProxyError(
                        500, f"Commit failed: {exc.args[0].str()}", KAFKA_ERROR
                    ) from None

    async def fetch(
        self, instance: ConsumerInstance, timeout_s: float, max_bytes: int | None
    ) -> list[dict[str, Any]]:
        async with instance.lock:
            messages = await asyncio.to_thread(
                instance.consumer.consume, MAX_RECORDS_PER_FETCH, timeout_s
            )
        instance.touch()
        out: list[dict[str, Any]] = []
        size = 0
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise ProxyError(500, f"Consume failed: {err.str()}", KAFKA_ERROR)
            key, value = msg.key(), msg.value()
            size += len(key or b"") + len(value or b"")
            if max_bytes is not None and out and size > max_bytes:
                break
            out.append(
                {
                    "topic": msg.topic(),
                    "key": _decode(key, instance.format),
                    "value": _decode(value, instance.format),
                    "partition": msg.partition(),
                    "offset": msg.offset(),
                }
            )
        return out

    async def expire_idle(self) -> int:
        now = time.monotonic()
        idle = [k for k, i in self._instances.items() if now - i.last_used > self._idle_s]
        for key in idle:
            instance = self._instances.pop(key)
            log.info("consumer %s/%s idle for %.0f s: closed", *key, now - instance.last_used)
            await self._close(instance)
        return len(idle)

    async def run_expiry(self) -> None:
        period = max(0.5, min(self._idle_s / 4, 10.0))
        while True:
            await asyncio.sleep(period)
            await self.expire_idle()

    async def close_all(self) -> None:
        instances = list(self._instances.values())
        self._instances.clear()
        for instance in instances:
            await self._close(instance)

    async def _close(self, instance: ConsumerInstance) -> None:
        if instance.closed:
            return
        instance.closed = True
        async with instance.lock:
            with contextlib.suppress(KafkaException, RuntimeError):
                await asyncio.to_thread(instance.consumer.close)


def _decode(data: bytes | None, fmt: str) -> Any:
    if data is None:
        return None
    if fmt == "binary":
        return base64.b64encode(data).decode("ascii")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProxyError(
            500,
            "Cannot deserialize a record as JSON; consume it with format=binary instead.",
            KAFKA_ERROR,
        ) from None
