"""The sink's main loop: consume the batch topics of every namespace, land them in S3.

Delivery is at-least-once with idempotent names, and no offset is ever written twice:
- one sink per consumer group: a sink refuses to start while the group has live members
  (a crashed sink drops out after its 10 s session timeout, so it cannot hold the group);
- every PUT is conditional: an existing object is never replaced, so even two writers of one
  bucket (say, sinks of two groups) cannot overwrite a longer object with a shorter one;
- an offset is committed to Kafka only after the object holding it is stored;
- on assignment, the sink lists what already landed for the partition and resumes right
  after it, whatever the committed offset says (a commit ahead of S3 is logged), so a replay
  never starts an object inside an existing one and never skips what did not land;
- on revocation, the partition's uploads finish (or are cancelled before they start) before
  it is released;
- failed uploads are retried with back-off while the affected partitions are paused (memory
  stays bounded, the consumer keeps its group membership); nothing is committed meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as TP

from services.clients import clients_for
from services.s3_sink.batches import Batch, PartitionState, Pending
from services.s3_sink.config import SinkConfig
from services.s3_sink.group import GroupTaken, claim_group
from services.s3_sink.health import HealthBoard, SinkCounters
from services.s3_sink.store import LandingStore, Stored
from services.s3_sink.uploads import S3_FAILURES, Backoff, Key, Outcome, Uploader
from services.settings import Settings

log = logging.getLogger(__name__)

MAX_POLL_S = 0.5
# While uploads are in flight, look for their outcome this often.
INFLIGHT_POLL_S = 0.02
PUBLISH_EVERY_S = 0.5
CONSUME_BATCH = 1000
UPLOAD_WORKERS = 4
# How long a revocation or a shutdown waits for what is buffered to land.
HANDOVER_S = 20.0
# How long a revoked partition's running PUT is waited for before it is abandoned.
RELEASE_S = 30.0


class SinkError(RuntimeError):
    """The sink cannot continue (a fatal Kafka error); supervisord restarts it."""


class S3Sink:
    def __init__(self, settings: Settings, config: SinkConfig, board: HealthBoard) -> None:
        self.settings = settings
        self.config = config
        self.board = board
        clients = self.clients = clients_for(settings)
        self.store = LandingStore(clients.s3(), config.bucket_template, settings.s3_endpoint)
        self.uploads = Uploader(self.store, UPLOAD_WORKERS)
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
                # After a crash, the partitions move to the restarted sink within 10 s
                # rather than the default 45 s.
                "session.timeout.ms": 10000,
            },
        )
        self.counters = SinkCounters()
        self.states: dict[Key, PartitionState] = {}
        self.paused: set[Key] = set()
        self.to_commit: dict[Key, int] = {}
        self.stop_event = threading.Event()
        self._next_publish = 0.0
        self._commit_retry_at = 0.0
        self._kafka_error_logged_at = 0.0
        self._listing_error = ""

    # --- lifecycle ------------------------------------------------------------------------
    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        self.board.publish({"status": "starting", "service": "s3-sink", "claiming": True})
        try:
            claim_group(self.clients.kafka_admin(), self.config.group_id, self.stop_event)
        except GroupTaken as exc:
            self.consumer.close()
            self.uploads.close()
            raise SinkError(str(exc)) from None
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
        self._land()
        self._commit()
        self._flow_control()
        if now >= self._next_publish:
            self._publish()
            self._next_publish = now + PUBLISH_EVERY_S

    def _shutdown(self) -> None:
        log.info("stopping: landing what is buffered")
        for state in self.states.values():
            state.seal()
        self._hand_over(set(self.states))
        self._apply(self.uploads.release(set(self.uploads.inflight), RELEASE_S))
        self._commit(force=True)
        self.consumer.close()
        self.uploads.close()
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
        wake = now + (INFLIGHT_POLL_S if self.uploads.inflight else MAX_POLL_S)
        for state in self.states.values():
            due = state.deadline()
            if due is not None:
                wake = min(wake, due)
        retry = self.uploads.next_retry(now)
        if retry is not None:
            wake = min(wake, retry)
        return max(0.005, wake - now)

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
    def _land(self, keys: set[Key] | None = None, timeout: float = 0.0) -> None:
        """Take in finished uploads, then start the next one of each partition that may."""
        self._apply(self.uploads.collect(keys, timeout))
        now = time.monotonic()
        for key, state in self.states.items():
            if not state.pending or (keys is not None and key not in keys):
                continue
            if self.uploads.can_submit(key, now):
                self.uploads.submit(key, state.pending[0])

    def _apply(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.error is not None:
                self.counters.last_error = f"s3: {outcome.error}"
                continue
            state = self.states.get(outcome.key)
            if state is None or not state.pending or state.pending[0] is not outcome.item:
                continue  # revoked meanwhile: the new owner resumes after what landed
            item = state.pending.popleft()
            stored = outcome.stored
            assert stored is not None
            self.to_commit[outcome.key] = stored.next_offset
            if stored.existed:
                self._found_landed(state, item, stored)
                continue
            if isinstance(item, Batch):
                self.counters.landed_records[item.topic] += len(item.lines)
                self.counters.landed_objects[item.topic] += 1
                self.counters.last_landed_at = time.time()
                log.info("landed %s (%d records)", outcome.object_name, len(item.lines))
            else:
                self.counters.dead_lettered[item.topic] += 1
                log.warning(
                    "dead-lettered %s offset %d to %s: %s",
                    item.topic,
                    item.offset,
                    outcome.object_name,
                    item.reason,
                )

    def _found_landed(self, state: PartitionState, item: Pending, stored: Stored) -> None:
        """The key was taken: carry on right after what the object there covers."""
        if isinstance(item, Batch) and stored.next_offset < item.next_offset:
            # A shorter object (another writer's rotation): land the rest under a new name.
            state.pending.appendleft(item.from_offset(stored.next_offset))
        dropped = state.skip_below(stored.next_offset)
        self.counters.found_landed += 1
        log.warning(
            "%s already exists (another writer, or a retry of ours): it covers %s[%d] up to "
            "offset %d; not replacing it, carrying on from there (%d buffered records dropped)",
            stored.key,
            item.topic,
            item.partition,
            stored.next_offset - 1,
            dropped,
        )

    def _hand_over(self, keys: set[Key]) -> None:
        """Land what these partitions hold (bounded wait), then commit it."""
        deadline = time.monotonic() + HANDOVER_S
        while time.monotonic() < deadline:
            waiting = [k for k in keys if k in self.states and self.states[k].pending]
            if not waiting or self.uploads.server_down:
                break
            self._land(keys, timeout=0.2)
            if not any(k in self.uploads.inflight for k in keys):
                retry = self.uploads.next_retry(time.monotonic())
                if retry is None or retry > deadline:
                    break
                time.sleep(max(0.0, retry - time.monotonic()))
        # Whatever is still uploading finishes (or is cancelled) before the partitions go.
        self._apply(self.uploads.release(keys, RELEASE_S))
        self._commit(force=True)

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
        now = time.monotonic()
        pause: list[TP] = []
        resume: list[TP] = []
        limit = self.config.flush_records
        for key, state in self.states.items():
            blocked = bool(state.pending) and self.uploads.blocked(self.store.bucket(key[0]), now)
            # Sealed data piles up only while S3 fails or lags: stop fetching until it drains.
            if (blocked or state.pending_records >= 2 * limit) and key not in self.paused:
                pause.append(TP(*key))
                self.paused.add(key)
            elif key in self.paused and not blocked and state.pending_records < limit:
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
            done = committed.get(key)
            # S3 is the truth: a commit can run ahead of it (a stray consumer of the group,
            # a commit by a sink whose PUT was then lost), and trusting it skips records.
            tp.offset = OFFSET_BEGINNING if landed is None else landed
            self.states[key] = self._new_state(*key)
            start = "the earliest offset" if landed is None else f"offset {landed}"
            if done is not None and done > (landed or 0):
                log.warning(
                    "assigned %s[%d]: committed offset %d is ahead of what landed in S3 (%s); "
                    "resuming from S3 at %s, not from the commit",
                    tp.topic,
                    tp.partition,
                    done,
                    "nothing" if landed is None else f"up to offset {landed - 1}",
                    start,
                )
            else:
                log.info(
                    "assigned %s[%d]: committed %s, landed up to %s, starting at %s",
                    tp.topic,
                    tp.partition,
                    done,
                    landed,
                    start,
                )
        consumer.incremental_assign(partitions)

    def _landed_next(self, key: Key) -> int | None:
        backoff = Backoff()
        while True:
            try:
                landed = self.store.landed_next(*key)
                self._listing_error = ""
                return landed
            except S3_FAILURES as exc:
                if self.stop_event.is_set():
                    raise SinkError("stopping while S3 cannot be listed") from exc
                self.counters.last_error = self._listing_error = f"s3: {exc}"
                wait_s = backoff.failed(time.monotonic())
                log.warning(
                    "cannot list what landed for %s[%d] in S3 at %s: %s; retrying in %.1f s "
                    "(the partition cannot start before it knows)",
                    *key,
                    self.settings.s3_endpoint,
                    exc,
                    wait_s,
                )
                self._publish()
                self.stop_event.wait(wait_s)

    def _on_revoke(self, consumer: Consumer, partitions: list[TP]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        for key in keys:
            if key in self.states:
                self.states[key].seal()
        # Land what we hold before another member takes over; what does not land in time,
        # that member replays (and resumes after whatever did land).
        self._hand_over(keys)
        self._forget(keys)

    def _on_lost(self, consumer: Consumer, partitions: list[TP]) -> None:
        # Another member may own these already: do not write or commit for them.
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self.uploads.release(keys, RELEASE_S)  # outcomes dropped: nothing committed for them
        self._forget(keys)
        log.warning("lost %d partitions (session timed out); buffers dropped", len(partitions))

    def _forget(self, keys: set[Key]) -> None:
        for key in keys:
            self.states.pop(key, None)
            self.to_commit.pop(key, None)
            self.paused.discard(key)

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
        if self.uploads.server_down or self._listing_error:
            status = "s3-unavailable"
        elif self.uploads.failing:
            status = "degraded"
        else:
            status = "ok"
        # The first four scalars are what `make status` shows.
        self.board.publish(
            {
                "status": status,
                "lag": total_lag,
                "landed_records": c.landed_records.total(),
                "dead_lettered": c.dead_lettered.total(),
                "service": "s3-sink",
                "group_id": self.config.group_id,
                "subscription": self.config.subscription,
                "assigned_partitions": len(self.states),
                "paused_partitions": len(self.paused),
                "buffered_records": sum(s.buffered_records for s in self.states.values()),
                "landed_objects": c.landed_objects.total(),
                "s3_failures": self.uploads.failures,
                "failing_buckets": {b: e[:200] for b, e in self.uploads.failing.items()},
                "commit_failures": c.commit_failures,
                "found_landed": c.found_landed,
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
