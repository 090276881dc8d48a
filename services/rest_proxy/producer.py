"""One idempotent producer shared by every request, bridged onto asyncio.

librdkafka runs delivery callbacks on whichever thread calls `poll()`; a background thread
polls, fills in per-record results, and wakes the request's future once per *request*
(not once per record), which keeps the cost of a 500-record batch close to a plain producer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from services.rest_proxy.errors import KAFKA_ERROR, KAFKA_RETRIABLE_ERROR
from services.rest_proxy.partitioner import assign

log = logging.getLogger(__name__)

# Errors after which the same record may well succeed if sent again: the client should
# retry (50003). Everything else is a permanent failure of that record (50002).
_RETRIABLE_CODES = frozenset(
    {
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError._QUEUE_FULL,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
    }
)

#: Delivery errors meaning the topic or partition vanished after the metadata cache saw it.
UNKNOWN_TOPIC_CODES = frozenset(
    {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION}
)


class RecordResult(NamedTuple):
    partition: int | None
    offset: int | None
    error_code: int | None
    error: str | None
    kafka_code: int | None = None


#: (key bytes, value bytes, partition) as handed to the producer.
OutRecord = tuple[bytes | None, bytes | None, int | None]


def classify(err: KafkaError) -> int:
    if err.code() in _RETRIABLE_CODES or err.retriable():
        return KAFKA_RETRIABLE_ERROR
    return KAFKA_ERROR


def _failed(err: KafkaError) -> RecordResult:
    return RecordResult(None, None, classify(err), err.str(), err.code())


class _Batch:
    """Delivery reports of one request, one list per partition, in production order.

    librdkafka reports a partition's messages in the order they were produced, so the
    k-th report of partition p belongs to the k-th record this request sent to p. Each
    report is reduced to an int (the offset) or a KafkaError at once: keeping the
    Message objects alive until the response costs more than everything else per record.
    The future resolves once `expected` reports are in; `expected` is known only after
    enqueueing, so both the poll thread and the event loop check for the end.
    """

    __slots__ = ("expected", "future", "loop", "received")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.received = 0  # written by the poll thread only
        self.expected = -1

    def collector(self, out: list[int | KafkaError]) -> Any:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            out.append(msg.offset() if err is None else err)
            self.received += 1
            if self.received == self.expected:
                self.loop.call_soon_threadsafe(_resolve, self.future)

        return on_delivery

    def enqueued(self, n: int) -> None:
        self.expected = n
        if self.received >= n:
            _resolve(self.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class AsyncProducer:
    """Produce batches from coroutines; each batch returns per-record results in order."""

    def __init__(self, producer: Producer, timeout_s: float) -> None:
        self._producer = producer
        self._timeout_s = timeout_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-producer-poll", daemon=True)

    @property
    def raw(self) -> Producer:
        return self._producer

    def start(self) -> None:
        self._thread.start()

    def close(self, flush_timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        remaining = self._producer.flush(flush_timeout_s)
        if remaining:
            log.warning("%d records were still unacknowledged at shutdown", remaining)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def produce(
        self, topic: str, records: Sequence[OutRecord], partitions: int = 1
    ) -> list[RecordResult]:
        n = len(records)
        assigned = assign([r[0] for r in records], [r[2] for r in records], partitions)
        # Indices of the records going to each partition, in production order. The usual
        # case (one partition for the whole request) skips the per-record bookkeeping.
        by_partition: dict[int, list[int]] = {}
        if assigned.count(assigned[0]) == n:
            by_partition[assigned[0]] = list(range(n))
        else:
            for i, p in enumerate(assigned):
                by_partition.setdefault(p, []).append(i)
        batch = _Batch(asyncio.get_running_loop())
        results: list[RecordResult | None] = [None] * n
        queued = 0
        reports: list[tuple[int, list[int], list[int | KafkaError]]] = []
        for p, indices in by_partition.items():
            # produce_batch ignores a per-message partition: one call per partition.
            messages = [{"value": records[i][1], "key": records[i][0]} for i in indices]
            out: list[int | KafkaError] = []
            accepted = await self._enqueue(topic, p, messages, batch.collector(out))
            queued += accepted
            sent = indices
            if accepted != len(messages):
                sent = []
                for i, m in zip(indices, messages, strict=True):
                    if "_error" in m:
                        results[i] = _failed(m["_error"])
                    else:
                        sent.append(i)
            reports.append((p, sent, out))
        batch.enqueued(queued)
        # librdkafka's message.timeout.ms guarantees every report; the extra margin only
        # guards against a wedged client, so that no request waits forever.
        # (A timer that resolves the future is cheaper than wait_for's extra task.)
        overdue = batch.loop.call_later(self._timeout_s + 5.0, _resolve, batch.future)
        try:
            await batch.future
        finally:
            overdue.cancel()
        if batch.received < queued:
            log.error("delivery reports overdue for %d records to %s", queued, topic)
        new = tuple.__new__  # skips NamedTuple's Python-level __new__: once per record
        for p, sent, out in reports:
            for i, report in zip(sent, list(out), strict=False):
                if type(report) is int:
                    results[i] = new(RecordResult, (p, report, None, None, None))
                else:
                    results[i] = _failed(report)
        return [r if r is not None else _missing() for r in results]

    async def _enqueue(
        self, topic: str, partition: int, messages: list[dict[str, Any]], on_delivery: Any
    ) -> int:
        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                return int(
                    self._producer.produce_batch(
                        topic, messages, partition=partition, on_delivery=on_delivery
                    )
                )
            except BufferError:
                # The local queue is full: let the poll thread drain it, then try again.
                error = KafkaError(KafkaError._QUEUE_FULL)
                if time.monotonic() <= deadline:
                    await asyncio.sleep(0.005)
                    continue
            except KafkaException as exc:
                error = exc.args[0]
            for m in messages:
                m["_error"] = error
            return 0


def _missing() -> RecordResult:
    return RecordResult(None, None, KAFKA_RETRIABLE_ERROR, "Delivery not confirmed", None)


def producer_overrides(timeout_s: float) -> dict[str, Any]:
    """Producer settings the proxy adds to the shared factory's (acks=all, idempotent)."""
    ms = max(1000, int(timeout_s * 1000))
    return {
        # Bound how long a record may wait for the broker: past it the client gets 50003.
        "message.timeout.ms": ms,
        "request.timeout.ms": min(ms, 30000),
        # Keyed records land where Confluent's (Java) proxy would put them.
        "partitioner": "murmur2_random",
        "queue.buffering.max.messages": 500000,
    }
