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
    """Results of one request; resolves its future when the last record is settled."""

    __slots__ = ("future", "lock", "loop", "pending", "results")

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.results: list[RecordResult | None] = [None] * n
        self.pending = n
        # Settled from the poll thread (delivery) and the event loop (enqueue failures).
        self.lock = threading.Lock()

    def settle(self, i: int, result: RecordResult) -> None:
        with self.lock:
            if self.results[i] is not None:
                return
            self.results[i] = result
            self.pending -= 1
            last = self.pending == 0
        if last:
            self.loop.call_soon_threadsafe(_resolve, self.future)

    def callback(self, i: int) -> Any:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                self.settle(i, RecordResult(msg.partition(), msg.offset(), None, None))
            else:
                self.settle(i, _failed(err))

        return on_delivery


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

    async def produce(self, topic: str, records: Sequence[OutRecord]) -> list[RecordResult]:
        loop = asyncio.get_running_loop()
        batch = _Batch(loop, len(records))
        deadline = time.monotonic() + self._timeout_s
        produce = self._producer.produce
        for i, (key, value, partition) in enumerate(records):
            cb = batch.callback(i)
            while True:
                try:
                    if partition is None:
                        produce(topic, value, key, on_delivery=cb)
                    else:
                        produce(topic, value, key, partition, on_delivery=cb)
                    break
                except BufferError:
                    # The local queue is full: give the poll thread time to drain it.
                    if time.monotonic() > deadline:
                        batch.settle(i, _failed(KafkaError(KafkaError._QUEUE_FULL)))
                        break
                    await asyncio.sleep(0.005)
                except KafkaException as exc:
                    batch.settle(i, _failed(exc.args[0]))
                    break
        # librdkafka's message.timeout.ms guarantees every callback fires; the extra
        # margin only guards against a wedged client so no request waits forever.
        try:
            await asyncio.wait_for(asyncio.shield(batch.future), self._timeout_s + 5.0)
        except TimeoutError:
            timeout = RecordResult(None, None, KAFKA_RETRIABLE_ERROR, "Delivery timed out", None)
            for i in range(len(records)):
                batch.settle(i, timeout)
        return [r if r is not None else _missing() for r in batch.results]


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
