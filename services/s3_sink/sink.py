"""The sink's main loop: consume the batch topics of every namespace, land them in S3.

Delivery is at-least-once with idempotent names, and no offset is ever written twice:
- an offset is committed to Kafka only after the object holding it is stored;
- on assignment, the sink lists what already landed for the partition and resumes after it,
  so a replay after a crash never starts an object inside an existing one;
- S3 failures are retried with back-off while the partitions are paused (memory stays
  bounded, the consumer keeps its group membership); nothing is committed meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import urllib3
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as TP
from minio.error import MinioException

from services.clients import clients_for
from services.s3_sink.batches import Batch, PartitionState
from services.s3_sink.config import SinkConfig
from services.s3_sink.health import HealthBoard, SinkCounters
from services.s3_sink.store import LandingStore
from services.settings import Settings

log = logging.getLogger(__name__)

Key = tuple[str, int]

#: What a failed S3 call can raise: an S3 error response, or the network under it.
S3_FAILURES = (MinioException, urllib3.exceptions.HTTPError, OSError)

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 8.0
MAX_POLL_S = 0.5
PUBLISH_EVERY_S = 0.5
CONSUME_BATCH = 1000


class SinkError(RuntimeError):
    """The sink cannot continue (a fatal Kafka error); supervisord restarts it."""


class S3Sink:
    def __init__(self, settings: Settings, config: SinkConfig, board: HealthBoard) -> None:
        self.settings = settings
        self.config = config
        self.board = board
        clients = clients_for(settings)
        self.store = LandingStore(clients.s3(), config.bucket_template)
        self.consumer: Consumer = clients.kafka_consumer(
            config.group_id,
            **{
                "client.id": config.name,
                # A new namespace's topics match the regex within a couple of seconds.
                "topic.metadata.refresh.interval.ms": config.metadata_refresh_ms,
                # New namespaces join without revoking the partitions already being landed.
                "partition.assignment.strategy": "cooperative-sticky",
                # Bound what librdkafka prefetches while partitions wait for S3.
                "queued.max.messages.kbytes": 16384,
            },
        )
        self.counters = SinkCounters()
        self.states: dict[Key, PartitionState] = {}
        self.paused: set[Key] = set()
        self.to_commit: dict[Key, int] = {}
        self.stop_event = threading.Event()
        self._retry_at = 0.0
        self._backoff = BACKOFF_FIRST_S
        self._s3_ok = True
        self._next_publish = 0.0
        self._commit_retry_at = 0.0
        self._kafka_error_logged_at = 0.0

    # --- lifecycle ------------------------------------------------------------------------
    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        log.info(
            "subscribing to %s as group %s; flush %d records or %.1f s",
            self.config.subscription,
            self.config.group_id,
            self.config.flush_records,
            self.config.flush_seconds,
        )
        self.consumer.subscribe(
            [self.config.subscription],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            while not self.stop_event.is_set():
                self._step()
        finally:
            self._shutdown()

    def _step(self) -> None:
        messages = self.consumer.consume(CONSUME_BATCH, timeout=self._poll_timeout())
        now = time.monotonic()
        for message in messages:
            self._on_message(message, now)
        for state in self.states.values():
            state.tick(now)
        if now >= self._retry_at:
            self._drain_all()
        self._commit()
        self._flow_control()
        if now >= self._next_publish:
            self._publish()
            self._next_publish = now + PUBLISH_EVERY_S

    def _shutdown(self) -> None:
        log.info("stopping: landing what is buffered")
        for state in self.states.values():
            state.seal()
        if self._s3_ok:
            self._drain_all()
        self._commit(force=True)
        self.consumer.close()
        self._publish()
        log.info(
            "stopped: %d records in %d objects landed, %d dead-lettered",
            self.counters.landed_records.total(),
            self.counters.landed_objects.total(),
            self.counters.dead_lettered.total(),
        )

    # --- consuming ------------------------------------------------------------------------
    def _poll_timeout(self) -> float:
        now = time.monotonic()
        wake = now + MAX_POLL_S
        for state in self.states.values():
            due = state.deadline()
            if due is not None:
                wake = min(wake, due)
        if self._retry_at > now:
            wake = min(wake, self._retry_at)
        return max(0.01, wake - now)

    def _on_message(self, message: Message, now: float) -> None:
        error = message.error()
        if error is not None:
            self._on_kafka_error(error)
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is None or partition is None or offset is None:
            return
        key = (topic, partition)
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = self._new_state(topic, partition)
        state.add(offset, message.value(), now)

    def _on_kafka_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise SinkError(f"fatal Kafka error, restarting: {error.str()}")
        self.counters.kafka_errors += 1
        self.counters.last_error = f"kafka: {error.str()}"
        # librdkafka reconnects by itself; while the broker is down it reports every few
        # hundred milliseconds, so log at most every 10 s.
        now = time.monotonic()
        if now - self._kafka_error_logged_at >= 10:
            log.warning(
                "Kafka at %s: %s (reconnecting)", self.settings.kafka_bootstrap_servers, error.str()
            )
            self._kafka_error_logged_at = now

    def _new_state(self, topic: str, partition: int) -> PartitionState:
        return PartitionState(
            topic, partition, self.config.flush_records, self.config.flush_seconds
        )

    # --- storing and committing -----------------------------------------------------------
    def _drain_all(self) -> None:
        for key, state in list(self.states.items()):
            if not self._drain(key, state):
                return
        if not self._s3_ok:
            log.info("S3 at %s is back: landing resumed", self.settings.s3_endpoint)
        self._s3_ok = True
        self._backoff = BACKOFF_FIRST_S

    def _drain(self, key: Key, state: PartitionState) -> bool:
        """Store the partition's sealed items in order; False (and back off) on a failure."""
        while state.pending:
            item = state.pending[0]
            try:
                object_name = self.store.put(item)
            except S3_FAILURES as exc:
                self._on_s3_failure(exc)
                return False
            state.pending.popleft()
            self.to_commit[key] = item.next_offset
            if isinstance(item, Batch):
                self.counters.landed_records[item.topic] += len(item.lines)
                self.counters.landed_objects[item.topic] += 1
                self.counters.last_landed_at = time.time()
                log.info("landed %s (%d records)", object_name, len(item.lines))
            else:
                self.counters.dead_lettered[item.topic] += 1
                log.warning(
                    "dead-lettered %s offset %d to %s: %s",
                    item.topic,
                    item.offset,
                    object_name,
                    item.reason,
                )
        return True

    def _on_s3_failure(self, exc: BaseException) -> None:
        self.counters.s3_failures += 1
        self.counters.last_error = f"s3: {exc}"
        log.warning(
            "cannot store in S3 at %s (S3_ENDPOINT): %s; retrying in %.1f s, nothing committed",
            self.settings.s3_endpoint,
            exc,
            self._backoff,
        )
        self._s3_ok = False
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)

    def _commit(self, *, force: bool = False) -> None:
        if not self.to_commit or (not force and time.monotonic() < self._commit_retry_at):
            return
        offsets = [TP(t, p, o) for (t, p), o in self.to_commit.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # The objects are stored; a replay of these offsets resumes after them anyway.
            self.counters.commit_failures += 1
            self.counters.last_error = f"commit: {exc}"
            log.warning("offset commit failed (will retry): %s", exc)
            self._commit_retry_at = time.monotonic() + 1.0
            return
        self.to_commit.clear()

    def _flow_control(self) -> None:
        pause: list[TP] = []
        resume: list[TP] = []
        for key, state in self.states.items():
            # Sealed data waits only while S3 fails or lags: stop fetching until it drains.
            backlog = state.pending_records >= self.config.flush_records or (
                not self._s3_ok and state.pending
            )
            if backlog and key not in self.paused:
                pause.append(TP(*key))
                self.paused.add(key)
            elif not state.pending and key in self.paused:
                resume.append(TP(*key))
                self.paused.discard(key)
        if pause:
            self.consumer.pause(pause)
        if resume:
            self.consumer.resume(resume)

    # --- rebalancing ----------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TP]) -> None:
        committed: dict[Key, int] = {}
        try:
            for tp in consumer.committed(partitions, timeout=10):
                if tp.offset >= 0:
                    committed[(tp.topic, tp.partition)] = tp.offset
        except KafkaException as exc:
            log.warning("cannot read committed offsets, resuming from S3 alone: %s", exc)
        for tp in partitions:
            key = (tp.topic, tp.partition)
            landed = self._landed_next(key)
            starts = [o for o in (committed.get(key), landed) if o is not None]
            if starts:
                tp.offset = max(starts)
            else:
                tp.offset = OFFSET_INVALID  # no commit, nothing landed: auto.offset.reset
            self.states[key] = self._new_state(*key)
            log.info(
                "assigned %s[%d]: committed %s, landed up to %s, starting at %s",
                tp.topic,
                tp.partition,
                committed.get(key),
                landed,
                tp.offset if starts else "the earliest offset",
            )
        consumer.incremental_assign(partitions)

    def _landed_next(self, key: Key) -> int | None:
        while True:
            try:
                return self.store.landed_next(*key)
            except S3_FAILURES as exc:
                if self.stop_event.is_set():
                    raise SinkError("stopping while S3 is unreachable") from exc
                self._on_s3_failure(exc)
                self._publish()
                # Inside the rebalance callback: nothing can be consumed until this is known.
                self.stop_event.wait(max(0.0, self._retry_at - time.monotonic()))

    def _on_revoke(self, consumer: Consumer, partitions: list[TP]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            state = self.states.pop(key, None)
            if state is not None and self._s3_ok:
                # Land what we hold before another member takes over; if this fails, that
                # member replays it (and resumes after whatever did land).
                state.seal()
                self._drain(key, state)
        self._commit(force=True)
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self.to_commit.pop(key, None)
            self.paused.discard(key)

    def _on_lost(self, consumer: Consumer, partitions: list[TP]) -> None:
        # Another member may own these already: do not write or commit for them.
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self.states.pop(key, None)
            self.to_commit.pop(key, None)
            self.paused.discard(key)
        log.warning("lost %d partitions (session timed out); buffers dropped", len(partitions))

    # --- health ---------------------------------------------------------------------------
    def _publish(self) -> None:
        topics: dict[str, dict[str, Any]] = {}
        total_lag = 0
        for key, state in self.states.items():
            lag = self._lag(key, state)
            entry = topics.setdefault(key[0], {"lag": 0, "buffered_records": 0})
            entry["buffered_records"] += state.buffered_records
            if lag is not None:
                entry["lag"] += lag
                total_lag += lag
        c = self.counters
        for topic, entry in topics.items():
            entry["landed_records"] = c.landed_records[topic]
            entry["dead_lettered"] = c.dead_lettered[topic]
        self.board.publish(
            {
                "service": "s3-sink",
                "status": "ok" if self._s3_ok else "s3-unavailable",
                "group_id": self.config.group_id,
                "subscription": self.config.subscription,
                "assigned_partitions": len(self.states),
                "paused_partitions": len(self.paused),
                "lag": total_lag,
                "buffered_records": sum(s.buffered_records for s in self.states.values()),
                "landed_records": c.landed_records.total(),
                "landed_objects": c.landed_objects.total(),
                "dead_lettered": c.dead_lettered.total(),
                "s3_failures": c.s3_failures,
                "commit_failures": c.commit_failures,
                "kafka_errors": c.kafka_errors,
                "last_error": c.last_error,
                "last_landed_at": c.last_landed_at,
                "topics": topics,
            }
        )

    def _lag(self, key: Key, state: PartitionState) -> int | None:
        """Records in Kafka not yet stored in S3 (from cached watermarks: no network call)."""
        tp = TP(*key)
        try:
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            (position,) = self.consumer.position([tp])
        except KafkaException:
            return None
        if high < 0 or position.offset < 0:
            return None
        return max(0, high - position.offset) + state.buffered_records
