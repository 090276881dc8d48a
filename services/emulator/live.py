"""Random and stream modes: one event at a time, like the original emulator.

`random`: a random event (with replacement) to the batch topics, then a random 0-2 s
pause (the original's behaviour), forever or `count` events. `stream`: the same to the
streaming topics, in random or index order. `rate` replaces the random pause with a
steady pace.
"""

from __future__ import annotations

import logging
import random
import time

from services.emulator.errors import DeliveryError, EmulatorError
from services.emulator.kinesis_sender import sender_for
from services.emulator.progress import Reporter
from services.emulator.sender import RetryPolicy
from services.emulator.source import EventSource
from services.emulator.summary import INTERRUPTED, Summary
from services.runner.wait import sleep_until
from services.settings import TABLES, Settings

log = logging.getLogger(__name__)

MAX_PAUSE_S = 2.0


def run(
    settings: Settings,
    *,
    streaming: bool = False,
    order: str = "random",
    count: int | None = None,
    rate: float | None = None,
    start: int | None = None,
    target: str = "rest",
    max_retries: int | None = None,
    seed: int | None = None,
    progress: bool | None = None,
) -> Summary:
    if order not in ("random", "replay"):
        raise EmulatorError(f"--order {order!r}: use random or replay")
    if count is not None and count < 1:
        raise EmulatorError(f"--count {count}: must be at least 1")
    if rate is not None and rate <= 0:
        raise EmulatorError(f"--rate {rate}: must be a positive number of events per second")
    if streaming and target == "legacy":
        raise EmulatorError("the streaming topics are reachable with --target rest or kinesis")
    sender = sender_for(settings, target, RetryPolicy(max_retries))
    topic_of = settings.streaming_topic if streaming else settings.topic
    topics = {t: topic_of(t) for t in TABLES}
    summary = Summary(mode="stream" if streaming else "random", target=target)
    rng = random.Random(seed)
    source = EventSource(settings)
    began = time.monotonic()
    try:
        bounds = source.bounds()
        indices = list(source.indices())
        position = 0
        if start is not None:
            if order != "replay" or not bounds.first <= start <= bounds.last:
                raise EmulatorError(
                    f"--start {start} needs --order replay and an index in "
                    f"{bounds.first}..{bounds.last}"
                )
            position = next(k for k, i in enumerate(indices) if i >= start)
        total = count if order == "random" else min(count or len(indices), len(indices) - position)
        sender.preflight(list(topics.values()))
        with Reporter(summary.mode, total, tty=progress) as reporter:
            sender.on_retry = reporter.retried
            sent = 0
            while total is None or sent < total:
                index = rng.choice(indices) if order == "random" else indices[position + sent]
                event = source.fetch_event(index)
                summary.events_read += 1
                for table in TABLES:
                    row = event[table]
                    if row is None:
                        log.warning("event %d has no %s row", index, table)
                        continue
                    summary.acknowledged_by_table[table] += sender.send(table, topics[table], [row])
                sent += 1
                reporter.advance(1)
                if total is not None and sent >= total:
                    break
                # Pacing, not polling: a fixed rate waits for the moment the next event is
                # due (so slow sends are caught up); otherwise a random pause like a user's.
                if rate is not None:
                    sleep_until(began + sent / rate)
                else:
                    sleep_until(time.monotonic() + rng.uniform(0, MAX_PAUSE_S))
    except KeyboardInterrupt:
        sender.stopping.set()
        summary.error = INTERRUPTED
    except DeliveryError as exc:
        summary.error = str(exc)
        summary.failed += exc.failed
    finally:
        summary.records_sent = sender.records_sent
        summary.retried = sender.retries
        summary.elapsed_s = time.monotonic() - began
        source.close()
    return summary
