"""Streams over Kafka: create/describe/delete topics, produce records, read a partition.

One backend per REST proxy process, sharing its producer and metadata cache, so records
put through Kinesis, the Confluent API and the legacy API all take the same path to Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic

from services.kinesis import names
from services.kinesis.errors import (
    KinesisError,
    denied,
    in_use,
    invalid,
    not_found,
    unavailable,
    validation,
)
from services.rest_proxy.errors import KAFKA_RETRIABLE_ERROR, ProxyError
from services.rest_proxy.produce import is_internal
from services.rest_proxy.producer import UNKNOWN_TOPIC_CODES, OutRecord, RecordResult
from services.rest_proxy.state import ProxyState

log = logging.getLogger(__name__)

#: How long one GetRecords may spend fetching from Kafka before answering what it has.
READ_BUDGET_S = 2.0
#: Kinesis answers at most 10 MiB per GetRecords call.
MAX_GET_BYTES = 10 * 1024 * 1024
_MAX_SHARDS = 1000


@contextlib.contextmanager
def kafka_errors(stream: str) -> Iterator[None]:
    """The proxy's metadata errors in Kinesis' words."""
    try:
        yield
    except ProxyError as exc:
        if exc.status == 404:
            raise not_found(stream) from None
        raise unavailable(exc.message) from None


@dataclass
class PutRequest:
    partition_key: str
    data: bytes
    explicit_hash_key: str | None = None


@dataclass
class PutResult:
    sequence_number: str | None = None
    shard_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    def raise_if_failed(self) -> None:
        """PutRecord's answer to a failed record: 503 when a retry may succeed, else 400."""
        if self.error_code is None:
            return
        message = self.error_message or "Kafka did not accept the record"
        if self.error_code == "ProvisionedThroughputExceededException":
            raise unavailable(message)
        raise invalid(f"{message} (refused for good: sending it again will not help)")

    def as_dict(self) -> dict[str, str]:
        if self.error_code is not None:
            return {"ErrorCode": self.error_code, "ErrorMessage": self.error_message or ""}
        assert self.sequence_number is not None and self.shard_id is not None
        return {"SequenceNumber": self.sequence_number, "ShardId": self.shard_id}


@dataclass
class ShardInfo:
    partition: int
    low: int  # first offset still in the log
    high: int  # the offset the next record will get


@dataclass
class ReadResult:
    records: list[dict[str, Any]]
    next_offset: int
    millis_behind: int


class _Reader:
    """One Kafka consumer used by assignment only (no group membership, no commits)."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        # (topic, partition, next offset) when the consumer's fetch queue continues there:
        # consecutive GetRecords calls then skip the re-assignment and its round trip.
        self.position: tuple[str, int, int] | None = None


class KinesisBackend:
    def __init__(self, state: ProxyState, readers: int = 4) -> None:
        self.state = state
        self.settings = state.settings
        self.region = state.settings.s3_region
        self._started = time.time()
        self._created: dict[str, float] = {}
        self._idle: list[_Reader] = []
        self._slots = asyncio.Semaphore(readers)
        self._group = f"kinesis-reader-{os.getpid()}"
        # The batch pipeline's topics (`<id>.pin|geo|user`) are the S3 sink's, by the
        # sink's own subscription rule: not streams, so Kinesis cannot write or drop them.
        self._batch = state.sink_topics
        self._dead_letter = state.dead_letter_topics

    def is_stream(self, name: str) -> bool:
        """Streams are the `streaming-*` topics and other user-created names; never an
        internal topic (Kafka's, Connect's: anything `_`-prefixed), a batch topic nor an S3
        sink connector's dead-letter topic."""
        return (
            not is_internal(name)
            and self._batch.match(name) is None
            and self._dead_letter.match(name) is None
        )

    def check_stream(self, name: str) -> str:
        if is_internal(name):
            raise denied(
                f"{name} is an internal topic of Kafka or Connect, not a stream: writing to "
                "or deleting it could corrupt the cluster; use a stream of your own "
                "(streaming-<user_id>-pin|geo|user)."
            )
        if self._dead_letter.match(name) is not None:
            raise denied(
                f"{name} is the dead-letter topic of an S3 sink connector (Connect writes the "
                "records it could not land there), not a stream: read it with a Kafka "
                "consumer or `python -m services.landing verify`; streams are named "
                "streaming-<user_id>-pin|geo|user."
            )
        if self._batch.match(name) is not None:
            raise denied(
                f"{name} is a topic of the batch pipeline (the S3 sink lands it), not a "
                "stream: produce to it through the Confluent API (POST /topics/{name}); "
                "streams are named streaming-<user_id>-pin|geo|user."
            )
        return name

    async def close(self) -> None:
        readers, self._idle = self._idle, []
        for reader in readers:
            await asyncio.to_thread(reader.consumer.close)

    # --- readers ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _reader(self, want: tuple[str, int, int] | None = None) -> AsyncIterator[_Reader]:
        async with self._slots:
            reader = next((r for r in self._idle if want and r.position == want), None)
            if reader is None and self._idle:
                reader = self._idle[-1]
            if reader is not None:
                self._idle.remove(reader)
            else:
                consumer = await asyncio.to_thread(
                    self.state.clients.kafka_consumer,
                    self._group,
                    **{"enable.auto.commit": False, "queued.max.messages.kbytes": 16384},
                )
                reader = _Reader(consumer)
            try:
                yield reader
            except BaseException:
                reader.position = None
                raise
            finally:
                self._idle.append(reader)

    # --- streams ------------------------------------------------------------------------
    async def list_streams(self) -> list[str]:
        with kafka_errors(""):
            metadata = await self.state.topics.metadata()
        return sorted(name for name in metadata.topics if self.is_stream(name))

    async def shard_count(self, stream: str) -> int:
        # Every action on a stream (describe, put, read) starts here.
        self.check_stream(stream)
        with kafka_errors(stream):
            return await self.state.topics.partitions(stream)

    async def shards(self, stream: str) -> list[ShardInfo]:
        count = await self.shard_count(stream)
        async with self._reader() as reader:
            marks = await asyncio.to_thread(_watermarks, reader, stream, range(count))
        return [ShardInfo(p, low, high) for p, (low, high) in enumerate(marks)]

    def created_at(self, stream: str) -> float:
        # Kafka keeps no creation time; streams created here remember theirs.
        return self._created.get(stream, self._started)

    async def create(self, stream: str, shards: int | None) -> None:
        self.check_stream(stream)
        count = self.settings.kafka_topic_partitions if shards is None else shards
        if type(count) is not int or not 1 <= count <= _MAX_SHARDS:
            raise validation(
                f"ShardCount must be an integer from 1 to {_MAX_SHARDS}, not {count!r}."
            )
        topic = NewTopic(stream, num_partitions=count, replication_factor=1)
        await asyncio.to_thread(self._admin_call, "create_topics", stream, [topic])
        self._created[stream] = time.time()
        with contextlib.suppress(ProxyError):
            await self.state.topics.refresh()

    async def delete(self, stream: str) -> None:
        self.check_stream(stream)
        await asyncio.to_thread(self._admin_call, "delete_topics", stream, [stream])
        self.state.topics.forget(stream)
        self._created.pop(stream, None)

    def _admin_call(self, method: str, stream: str, arg: list[Any]) -> None:
        timeout = self.settings.rest_proxy_produce_timeout_s
        try:
            futures = getattr(self.state.admin, method)(arg, operation_timeout=timeout)
            for future in futures.values():
                future.result(timeout=timeout + 5)
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                raise in_use(stream) from None
            if err.code() in UNKNOWN_TOPIC_CODES:
                raise not_found(stream) from None
            if err.code() in (KafkaError.INVALID_TOPIC_EXCEPTION, KafkaError.INVALID_PARTITIONS):
                raise invalid(f"Kafka refused stream {stream}: {err.str()}") from None
            raise unavailable(f"Kafka could not {method.replace('_', ' ')}: {err.str()}") from None
        except TimeoutError:
            raise unavailable(f"Kafka did not answer {method} for {stream} in time") from None

    # --- writing ------------------------------------------------------------------------
    async def produce(
        self,
        stream: str,
        keys: list[str],
        values: list[bytes],
        explicit_hash_keys: list[str | None] | None = None,
    ) -> list[RecordResult]:
        """Produce records keyed by their partition keys, each to the shard Kinesis picks."""
        count = await self.shard_count(stream)
        out: list[OutRecord]
        if explicit_hash_keys is None and count == 1:
            out = [(k.encode(), v, 0) for k, v in zip(keys, values, strict=True)]
        else:
            hashes = explicit_hash_keys or [None] * len(keys)
            where = names.partition_for
            out = [
                (k.encode(), v, where(k, count, h))
                for k, v, h in zip(keys, values, hashes, strict=True)
            ]
        results = await self.state.producer.produce(stream, out, count)
        failed = [r for r in results if r.error_code is not None]
        if len(failed) == len(results) and all(r.kafka_code in UNKNOWN_TOPIC_CODES for r in failed):
            # The topic vanished after the metadata cache saw it.
            self.state.topics.forget(stream)
            raise not_found(stream)
        return results

    async def put(self, stream: str, requests: list[PutRequest]) -> list[PutResult]:
        hashes = [r.explicit_hash_key for r in requests]
        results = await self.produce(
            stream,
            [r.partition_key for r in requests],
            [r.data for r in requests],
            hashes if any(h is not None for h in hashes) else None,
        )
        return [put_result(r) for r in results]

    # --- reading ------------------------------------------------------------------------
    async def iterator(
        self,
        stream: str,
        shard: object,
        kind: object,
        sequence: object = None,
        timestamp: object = None,
    ) -> str:
        count = await self.shard_count(stream)
        partition = names.partition_of_shard(shard, stream, count)
        if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            p, offset = names.parse_sequence_number(sequence)
            if p != partition:
                raise invalid(
                    f"StartingSequenceNumber {sequence} used in GetShardIterator on shard "
                    f"{shard} in stream {stream} under account 000000000000 is invalid "
                    f"because it did not come from this stream and shard ({names.shard_id(p)})."
                )
            return names.encode_iterator(
                stream, partition, offset + (kind == "AFTER_SEQUENCE_NUMBER")
            )
        if kind not in ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
            raise validation(
                f"ShardIteratorType {kind!r} is not one of TRIM_HORIZON, LATEST, "
                "AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP."
            )
        async with self._reader() as reader:
            if kind == "AT_TIMESTAMP":
                if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
                    raise invalid("AT_TIMESTAMP needs Timestamp (seconds since the epoch).")
                offset = await asyncio.to_thread(
                    _offset_for_time, reader, stream, partition, int(timestamp * 1000)
                )
            else:
                ((low, high),) = await asyncio.to_thread(_watermarks, reader, stream, [partition])
                offset = low if kind == "TRIM_HORIZON" else high
        return names.encode_iterator(stream, partition, offset)

    async def read(self, it: names.Iterator, limit: int) -> ReadResult:
        count = await self.shard_count(it.stream)
        if it.partition >= count:
            raise not_found(it.stream)
        async with self._reader((it.stream, it.partition, it.offset)) as reader:
            return await asyncio.to_thread(_read, reader, it.stream, it.partition, it.offset, limit)


def put_result(r: RecordResult) -> PutResult:
    if r.error_code is None and r.partition is not None and r.offset is not None:
        return PutResult(names.sequence_number(r.partition, r.offset), names.shard_id(r.partition))
    return PutResult(
        error_code=(
            "ProvisionedThroughputExceededException"
            if r.error_code == KAFKA_RETRIABLE_ERROR
            else "InternalFailure"
        ),
        error_message=f"Kafka: {r.error}",
    )


def put_records_entries(results: list[RecordResult]) -> tuple[int, list[dict[str, str]]]:
    """PutRecords' per-record entries and failure count, straight from Kafka's results.

    The hot path of a 500-record call: one dict per record, no intermediate objects."""
    shards: dict[int, str] = {}
    entries: list[dict[str, str]] = []
    failed = 0
    for r in results:
        p, offset = r.partition, r.offset
        if r.error_code is None and p is not None and offset is not None:
            shard = shards.get(p) or shards.setdefault(p, names.shard_id(p))
            entries.append({"SequenceNumber": f"49{p:010d}{offset:020d}", "ShardId": shard})
        else:
            failed += 1
            entries.append(put_result(r).as_dict())
    return failed, entries


_BACKENDS: weakref.WeakKeyDictionary[ProxyState, KinesisBackend] = weakref.WeakKeyDictionary()


def backend_for(state: ProxyState) -> KinesisBackend:
    """The one backend of a proxy process (both faces share it, and its readers)."""
    backend = _BACKENDS.get(state)
    if backend is None:
        backend = _BACKENDS[state] = KinesisBackend(state)
    return backend


def _fail(stream: str, err: KafkaError) -> KinesisError:
    if err.code() in UNKNOWN_TOPIC_CODES:
        return not_found(stream)
    return unavailable(f"Kafka: {err.str()}")


def _watermarks(reader: _Reader, topic: str, partitions: Any) -> list[tuple[int, int]]:
    out = []
    for p in partitions:
        try:
            low, high = reader.consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=5.0, cached=False
            )
        except KafkaException as exc:
            raise _fail(topic, exc.args[0]) from None
        out.append((int(low), int(high)))
    return out


def _offset_for_time(reader: _Reader, topic: str, partition: int, ms: int) -> int:
    try:
        (found,) = reader.consumer.offsets_for_times(
            [TopicPartition(topic, partition, ms)], timeout=5.0
        )
        if found.offset >= 0:
            return int(found.offset)
        # No record at or after that time: the iterator waits at the end of the shard.
        ((_low, high),) = _watermarks(reader, topic, [partition])
        return high
    except KafkaException as exc:
        raise _fail(topic, exc.args[0]) from None


def _read(reader: _Reader, topic: str, partition: int, offset: int, limit: int) -> ReadResult:
    ((low, high),) = _watermarks(reader, topic, [partition])
    # Records older than the retention are gone; Kinesis too resumes at the trim horizon.
    offset = max(offset, low)
    if offset >= high:
        return ReadResult([], offset, 0)
    consumer = reader.consumer
    if reader.position != (topic, partition, offset):
        consumer.assign([TopicPartition(topic, partition, offset)])
    reader.position = None
    records: list[dict[str, Any]] = []
    size = 0
    next_offset = offset
    last_ms = 0
    deadline = time.monotonic() + READ_BUDGET_S
    # Ask for no more than still fits, so no fetched message is dropped and the consumer
    # stays positioned for the next call, unless the byte budget cuts a batch short.
    whole = True
    while next_offset < high and len(records) < limit and time.monotonic() < deadline:
        messages = consumer.consume(num_messages=min(limit - len(records), 1000), timeout=0.2)
        for i, msg in enumerate(messages):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise _fail(topic, err)
            if msg.topic() != topic or msg.partition() != partition or msg.offset() < next_offset:
                continue  # left over from an earlier assignment
            value = msg.value() or b""
            key = msg.key()
            last_ms = msg.timestamp()[1]
            records.append(
                {
                    "SequenceNumber": names.sequence_number(partition, msg.offset()),
                    "ApproximateArrivalTimestamp": last_ms / 1000,
                    "Data": value,
                    "PartitionKey": key.decode(errors="replace") if key else "",
                }
            )
            next_offset = msg.offset() + 1
            size += len(value)
            if size >= MAX_GET_BYTES:
                whole = i == len(messages) - 1
                break
        if size >= MAX_GET_BYTES:
            break
    if whole:
        reader.position = (topic, partition, next_offset)
    behind = 0 if next_offset >= high else max(0, int(time.time() * 1000) - last_ms)
    return ReadResult(records, next_offset, behind)
