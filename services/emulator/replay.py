"""Replay mode: every event exactly once, in index order, batched, resumable.

Batches are index ranges `[lo, lo + batch_size)`. The next batch is read from MySQL while
the current one is posted, and the three tables of a batch are posted in parallel. The
checkpoint moves past a batch only when all three topics acknowledged every record of it.

    from services.emulator import replay
    summary = replay.run(settings)            # -> ReplaySummary
    summary.acknowledged_by_table             # {"pin": 11153, "geo": 11153, "user": 11153}
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from services.emulator import checkpoint as ckpt
from services.emulator.errors import DeliveryError, EmulatorError
from services.emulator.kinesis_sender import sender_for
from services.emulator.progress import Reporter
from services.emulator.sender import RetryPolicy, Sender
from services.emulator.source import INDEX_COLUMNS, Bounds, EventSource, Row
from services.emulator.summary import INTERRUPTED, ReplaySummary
from services.settings import TABLES, Settings

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500


def run(
    settings: Settings,
    *,
    start: int | None = None,
    count: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    target: str = "rest",
    streaming: bool = False,
    checkpoint: Path | None = None,
    restart: bool = False,
    max_retries: int | None = None,
    rate: float | None = None,
    progress: bool | None = None,
) -> ReplaySummary:
    """Send events `start ..` (or from the checkpoint) once each; raises only on bad input.

    Delivery failures end the run early and are reported in the summary (`error`,
    `failed`, `next_index`), so callers can always report what was acknowledged.
    """
    if batch_size < 1:
        raise EmulatorError(f"--batch-size {batch_size}: must be at least 1")
    if count is not None and count < 1:
        raise EmulatorError(f"--count {count}: must be at least 1")
    if rate is not None and rate <= 0:
        raise EmulatorError(f"--rate {rate}: must be a positive number of events per second")
    if streaming and target == "legacy":
        raise EmulatorError("the streaming topics are reachable with --target rest or kinesis")
    sender = sender_for(settings, target, RetryPolicy(max_retries))
    topic_of = settings.streaming_topic if streaming else settings.topic
    topics = {t: topic_of(t) for t in TABLES}
    summary = ReplaySummary(mode="replay", target=target)
    source = EventSource(settings)
    began = time.monotonic()
    try:
        bounds = source.bounds()
        previous = None if checkpoint is None or restart else ckpt.load(checkpoint)
        begin = _first_index(settings, bounds, start, previous, target, checkpoint)
        end = bounds.last + 1 if count is None else min(bounds.last + 1, begin + count)
        summary.start_index = summary.next_index = begin
        summary.last_index = end - 1
        if begin > bounds.last:
            summary.already_complete = summary.complete = True
            return summary
        sender.preflight(list(topics.values()))
        if rate is not None:
            # Keep bursts to about a second's worth of events.
            batch_size = max(1, min(batch_size, int(rate)))
        with Reporter("replay", end - begin, tty=progress) as reporter:
            sender.on_retry = reporter.retried
            _Run(
                settings,
                source,
                sender,
                topics,
                bounds,
                target,
                checkpoint,
                rate,
                summary,
                reporter,
            ).replay(begin, end, batch_size)
    except KeyboardInterrupt:
        sender.stopping.set()
        summary.error = INTERRUPTED
    finally:
        summary.records_sent = sender.records_sent
        # Reads from MySQL retried after a restart count too: both are retriable failures.
        summary.retried = sender.retries + source.retries
        summary.elapsed_s = time.monotonic() - began
        source.close()
    return summary


def _first_index(
    settings: Settings,
    bounds: Bounds,
    start: int | None,
    previous: ckpt.Checkpoint | None,
    target: str,
    path: Path | None,
) -> int:
    if start is not None:
        if start < 0 or start > bounds.last:
            raise EmulatorError(
                f"--start {start} is outside the events in {settings.mysql_database} "
                f"(indexes {bounds.first}..{bounds.last}): pick a start in that range"
            )
        return start
    if previous is None:
        return bounds.first
    if (previous.database, previous.user_id, previous.target, previous.last_index) != (
        settings.mysql_database,
        settings.pipeline_user_id,
        target,
        bounds.last,
    ):
        raise EmulatorError(
            f"checkpoint {path} belongs to another run (database {previous.database} up to "
            f"index {previous.last_index}, user {previous.user_id}, target {previous.target}): "
            "pass --restart to replay from the start, or another --checkpoint"
        )
    if previous.complete:
        log.info("checkpoint %s: replay already complete; --restart replays again", path)
    else:
        log.info("resuming from checkpoint %s at index %d", path, previous.next_index)
    return max(previous.next_index, bounds.first)


def _event_count(rows: dict[str, list[Row]]) -> int:
    seen: set[int] = set()
    for table, table_rows in rows.items():
        col = INDEX_COLUMNS[table]
        seen.update(row[col] for row in table_rows)
    return len(seen)


@dataclass
class _Run:
    settings: Settings
    source: EventSource
    sender: Sender
    topics: dict[str, str]
    bounds: Bounds
    target: str
    path: Path | None
    rate: float | None
    summary: ReplaySummary
    reporter: Reporter

    def replay(self, begin: int, end: int, batch_size: int) -> None:
        ranges = [(lo, min(lo + batch_size, end)) for lo in range(begin, end, batch_size)]
        with ThreadPoolExecutor(len(TABLES) + 1, thread_name_prefix="emulator") as pool:
            try:
                self._batches(pool, ranges)
            except BaseException:
                # Ctrl-C or a crash: end retry loops now instead of waiting for them.
                self.sender.stopping.set()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        self.summary.complete = self.summary.next_index > self.bounds.last

    def _batches(self, pool: ThreadPoolExecutor, ranges: list[tuple[int, int]]) -> None:
        summary, sender = self.summary, self.sender
        paced_start = time.monotonic()
        fetch = self.source.fetch_range
        prefetch: Future[dict[str, list[Row]]] | None = (
            pool.submit(fetch, *ranges[0]) if ranges else None
        )
        for k, (_lo, hi) in enumerate(ranges):
            assert prefetch is not None
            rows = prefetch.result()
            prefetch = pool.submit(fetch, *ranges[k + 1]) if k + 1 < len(ranges) else None
            events = _event_count(rows)
            summary.events_read += events
            sends = {
                t: pool.submit(sender.send, t, self.topics[t], rows[t]) for t in TABLES if rows[t]
            }
            failure: DeliveryError | None = None
            for table, future in sends.items():
                try:
                    summary.acknowledged_by_table[table] += future.result()
                except DeliveryError as exc:
                    failure = failure or exc
                    summary.failed += exc.failed
            if failure is not None:
                summary.error = str(failure)
                return
            summary.next_index = hi
            self._save(hi)
            self.reporter.advance(events)
            if self.rate is not None:
                ahead = summary.events_read / self.rate - (time.monotonic() - paced_start)
                if ahead > 0:
                    sender.stopping.wait(ahead)

    def _save(self, next_index: int) -> None:
        if self.path is None:
            return
        ckpt.save(
            self.path,
            ckpt.Checkpoint(
                next_index=next_index,
                last_index=self.bounds.last,
                database=self.settings.mysql_database,
                user_id=self.settings.pipeline_user_id,
                target=self.target,
                complete=next_index > self.bounds.last,
            ),
        )
