"""Consumer instances of the v2 consumer API, kept in memory, expired when idle.

Each instance wraps one confluent-kafka Consumer. librdkafka calls block, so they run in
worker threads, one at a time per instance (an asyncio lock per instance).

Nothing fetched is lost (issue 13): a fetch from Kafka goes into the instance's buffer,
and a poll answers from the front of that buffer. Records cut off by `max_bytes`, and a
record that cannot be deserialised together with everything after it, stay buffered for
the next poll. Offsets are stored for commit (auto or explicit) only for records already
returned to the client, so a commit never covers a record nobody saw.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from services.clients import ClientFactory
from services.rest_proxy.errors import (
    CONSUMER_ALREADY_EXISTS,
    CONSUMER_INSTANCE_NOT_FOUND,
    INVALID_CONSUMER_CONFIG,
    KAFKA_RETRIABLE_ERROR,
    ProxyError,
)

log = logging.getLogger(__name__)

FORMATS = ("json", "binary")
MAX_RECORDS_PER_FETCH = 500
#: Each consumer's prefetch queue, in KiB (see `create`).
QUEUED_KBYTES = 2048
#: Confluent's code for "too many requests".
TOO_MANY_CONSUMERS = 42901

Partition = tuple[str, int]


@dataclass
class ConsumerInstance:
    group: str
    name: str
    format: str
    consumer: Consumer
    auto_commit: bool = True
    last_used: float = field(default_factory=time.monotonic)
    topics: list[str] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False
    #: Fetched from Kafka, not yet returned to the client, in fetch order.
    buffer: deque[Message] = field(default_factory=deque)
    #: Per partition, the offset after the last record returned to the client: the
    #: highest offset a commit may cover.
    returned: dict[Partition, int] = field(default_factory=dict)

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def forget(self, partitions: set[Partition]) -> None:
        """Drop what is buffered for these partitions (seek, revoke): Kafka has it still."""
        if self.buffer:
            self.buffer = deque(
                m for m in self.buffer if (m.topic(), m.partition()) not in partitions
            )


class UndecodableRecord(Exception):
    """A key or value that the instance's format cannot represent."""


class ConsumerRegistry:
    def __init__(self, clients: ClientFactory, idle_s: float, max_instances: int = 64) -> None:
        self._clients = clients
        self._idle_s = idle_s
        self._max_instances = max_instances
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
        auto_commit_raw = str(body.get("auto.commit.enable", "true")).lower()
        if auto_commit_raw not in ("true", "false"):
            raise ProxyError(
                422, '`auto.commit.enable` must be "true" or "false".', INVALID_CONSUMER_CONFIG
            )
        auto_commit = auto_commit_raw == "true"
        if len(self._instances) >= self._max_instances:
            # Each instance is a Kafka consumer with its own fetch queue: a bound on their
            # number bounds the proxy's memory. 429: the proxy answers with Retry-After.
            raise ProxyError(
                429,
                f"Too many consumer instances ({len(self._instances)}, the limit "
                f"REST_PROXY_MAX_CONSUMERS={self._max_instances}): delete the ones you no "
                "longer use (DELETE /consumers/<group>/instances/<name>), wait for idle ones "
                "to expire, or raise the limit.",
                TOO_MANY_CONSUMERS,
            )
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
            **{
                "auto.offset.reset": reset,
                "enable.auto.commit": auto_commit,
                # Offsets are stored by hand for returned records only (see `fetch`), so
                # auto-commit never covers what is still in the buffer.
                "enable.auto.offset.store": False,
                # librdkafka prefetches up to 64 MiB per consumer by default; the API
                # fetches at most MAX_RECORDS_PER_FETCH a poll, so 2 MiB is plenty and
                # REST_PROXY_MAX_CONSUMERS instances stay within a known bound.
                "queued.max.messages.kbytes": QUEUED_KBYTES,
            },
        )
        instance = ConsumerInstance(
            group=group, name=name, format=fmt, consumer=consumer, auto_commit=auto_commit
        )
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
        def revoked(_consumer: Any, partitions: list[TopicPartition]) -> None:
            # Runs inside consume() (the instance's lock is held): another member may
            # now own these partitions and will read them from the committed offset.
            lost = {(tp.topic, tp.partition) for tp in partitions}
            instance.forget(lost)
            for key in lost:
                instance.returned.pop(key, None)

        async with instance.lock:
            await asyncio.to_thread(instance.consumer.subscribe, topics, on_revoke=revoked)
            instance.topics = list(topics)

    async def unsubscribe(self, instance: ConsumerInstance) -> None:
        async with instance.lock:
            await asyncio.to_thread(instance.consumer.unsubscribe)
            instance.topics = []
            instance.buffer.clear()
            instance.returned.clear()

    # --- commits -----------------------------------------------------------------------
    async def commit(
        self, instance: ConsumerInstance, offsets: list[tuple[str, int, int]] | None
    ) -> list[dict[str, Any]]:
        """Commit the given (topic, partition, last offset read) or, with None, every
        record returned so far. Returns what was committed (Kafka's next-offset form)."""
        async with instance.lock:
            if offsets is None:
                assigned = await asyncio.to_thread(instance.consumer.assignment)
                mine = {(tp.topic, tp.partition) for tp in assigned}
                wanted = {k: v for k, v in instance.returned.items() if k in mine}
            else:
                wanted = {}
                for topic, partition, offset in offsets:
                    limit = instance.returned.get((topic, partition))
                    if limit is None or offset >= limit:
                        raise ProxyError(
                            422,
                            f"Cannot commit offset {offset} of {topic} partition {partition}: "
                            "this instance has not returned that record yet (highest "
                            f"returned: {'none' if limit is None else limit - 1}). Commit "
                            "only records you have read.",
                        )
                    wanted[(topic, partition)] = offset + 1
            if not wanted:
                return []
            tps = [TopicPartition(t, p, o) for (t, p), o in sorted(wanted.items())]
            try:
                await asyncio.to_thread(instance.consumer.commit, offsets=tps, asynchronous=False)
            except KafkaException as exc:
                raise ProxyError(
                    503, f"Commit failed: {exc.args[0].str()}", KAFKA_RETRIABLE_ERROR
                ) from None
        return [{"topic": tp.topic, "partition": tp.partition, "offset": tp.offset} for tp in tps]

    async def committed(
        self, instance: ConsumerInstance, partitions: list[Partition]
    ) -> list[dict[str, Any]]:
        tps = [TopicPartition(t, p) for t, p in partitions]
        async with instance.lock:
            try:
                got = await asyncio.to_thread(instance.consumer.committed, tps, timeout=10)
            except KafkaException as exc:
                raise ProxyError(
                    503,
                    f"Cannot read committed offsets: {exc.args[0].str()}",
                    KAFKA_RETRIABLE_ERROR,
                ) from None
        # No commit yet: librdkafka's OFFSET_INVALID (-1001) is answered as -1.
        return [
            {
                "topic": tp.topic,
                "partition": tp.partition,
                "offset": tp.offset if tp.offset >= 0 else -1,
                "metadata": tp.metadata or "",
            }
            for tp in got
        ]

    # --- positions ---------------------------------------------------------------------
    async def assignments(self, instance: ConsumerInstance) -> list[Partition]:
        async with instance.lock:
            assigned = await asyncio.to_thread(instance.consumer.assignment)
        return sorted((tp.topic, tp.partition) for tp in assigned)

    async def seek(self, instance: ConsumerInstance, positions: list[tuple[str, int, int]]) -> None:
        """Move each partition's position to an offset (or OFFSET_BEGINNING / OFFSET_END)."""
        async with instance.lock:
            assigned = await asyncio.to_thread(instance.consumer.assignment)
            mine = {(tp.topic, tp.partition) for tp in assigned}
            for topic, partition, _offset in positions:
                if (topic, partition) not in mine:
                    raise ProxyError(
                        409,
                        f"{topic} partition {partition} is not assigned to this consumer "
                        f"instance (assigned: {sorted(mine) or 'none yet'}); poll `records` "
                        "once after subscribing so the group assigns partitions, then seek.",
                    )
            instance.forget({(t, p) for t, p, _o in positions})
            for topic, partition, offset in positions:
                try:
                    await asyncio.to_thread(
                        instance.consumer.seek, TopicPartition(topic, partition, offset)
                    )
                except KafkaException as exc:
                    raise ProxyError(
                        503,
                        f"Cannot seek {topic} partition {partition}: {exc.args[0].str()}",
                        KAFKA_RETRIABLE_ERROR,
                    ) from None

    async def seek_to(
        self, instance: ConsumerInstance, partitions: list[Partition], end: bool
    ) -> None:
        where = OFFSET_END if end else OFFSET_BEGINNING
        await self.seek(instance, [(t, p, where) for t, p in partitions])

    # --- records -----------------------------------------------------------------------
    async def fetch(
        self, instance: ConsumerInstance, timeout_s: float, max_bytes: int | None
    ) -> list[dict[str, Any]]:
        async with instance.lock:
            room = MAX_RECORDS_PER_FETCH - len(instance.buffer)
            if room > 0:
                # An empty buffer waits up to `timeout`; a non-empty one only tops up
                # without waiting, which also keeps this member in its group
                # (max.poll.interval.ms) while polls are answered from the buffer.
                await self._fill(instance, room, 0 if instance.buffer else timeout_s)
            out = self._take(instance, max_bytes)
            if out:
                after = {(r["topic"], r["partition"]): r["offset"] + 1 for r in out}
                stored = [TopicPartition(t, p, o) for (t, p), o in after.items()]
                with contextlib.suppress(KafkaException):
                    # A partition revoked meanwhile cannot store: nothing to commit there.
                    instance.consumer.store_offsets(offsets=stored)
        instance.touch()
        return out

    async def _fill(self, instance: ConsumerInstance, count: int, timeout_s: float) -> None:
        messages = await asyncio.to_thread(instance.consumer.consume, count, timeout_s)
        errors: list[KafkaError] = []
        for msg in messages:
            err = msg.error()
            if err is None:
                instance.buffer.append(msg)
            elif err.code() != KafkaError._PARTITION_EOF:
                errors.append(err)
        if errors and not instance.buffer:
            # Consumer errors do not move the position: the client may simply poll again.
            raise ProxyError(503, f"Consume failed: {errors[0].str()}", KAFKA_RETRIABLE_ERROR)
        for err in errors:
            log.warning("consumer %s/%s: %s", instance.group, instance.name, err.str())

    def _take(self, instance: ConsumerInstance, max_bytes: int | None) -> list[dict[str, Any]]:
        """Records from the front of the buffer, up to `max_bytes` of keys and values (at
        least one record, as Confluent's proxy) and up to the first undecodable one."""
        out: list[dict[str, Any]] = []
        size = 0
        buffer = instance.buffer
        while buffer:
            msg = buffer[0]
            key, value = msg.key(), msg.value()
            size += len(key or b"") + len(value or b"")
            if max_bytes is not None and out and size > max_bytes:
                break
            try:
                record = {
                    "topic": msg.topic(),
                    "key": _decode(key, instance.format),
                    "value": _decode(value, instance.format),
                    "partition": msg.partition(),
                    "offset": msg.offset(),
                }
            except UndecodableRecord as why:
                if out:
                    break  # return the good records first; the error comes next poll
                raise _undecodable(instance, msg, str(why)) from None
            buffer.popleft()
            out.append(record)
            instance.returned[(msg.topic(), msg.partition())] = msg.offset() + 1
        return out

    # --- lifetime ----------------------------------------------------------------------
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


def _undecodable(instance: ConsumerInstance, msg: Message, why: str) -> ProxyError:
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    base = f"/consumers/{instance.group}/instances/{instance.name}"
    skip = orjson.dumps(
        {"offsets": [{"topic": topic, "partition": partition, "offset": offset + 1}]}
    ).decode()
    return ProxyError(
        422,
        f"Cannot deserialize the record at topic {topic} partition {partition} offset "
        f"{offset} as {instance.format} ({why}); this consumer's position stays at that "
        f"record. Read it with a consumer created with format=binary, or skip it: POST "
        f"{skip} to {base}/positions.",
    )


def _decode(data: bytes | None, fmt: str) -> Any:
    if data is None:
        return None
    if fmt == "binary":
        return base64.b64encode(data).decode("ascii")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UndecodableRecord(f"not JSON: {exc}") from None
