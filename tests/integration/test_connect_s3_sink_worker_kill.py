"""SIGKILL of the Kafka Connect worker mid-landing, then a new worker: nothing lost or doubled.

The stack's worker is shared, so this test runs a private one (its own group and internal
topics, a free port) from the stack's jars and plugin.path, on the stack's Kafka and S3.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException

from services.clients import clients_for
from services.settings import Settings
from tests.support.connect_landing import Landing, exactly_once, produce, value, wait_for
from tests.support.private_connect import PrivateWorker
from tests.support.stack_state import SESSION

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_landing(stack: Settings, tmp_path: Path) -> Iterator[tuple[PrivateWorker, Landing]]:
    worker = PrivateWorker(stack, tmp_path)
    user_id = f"t{uuid.uuid4().hex[:10]}"
    SESSION.user_ids.add(user_id)
    land = Landing(
        stack.model_copy(update={"kafka_connect_url": worker.url}),
        user_id,
        bucket=f"{user_id}-connect",
        dlq=f"{user_id}.dlq",
    )
    try:
        clients_for(stack).s3().make_bucket(land.bucket)
        worker.start()
        yield worker, land
    finally:
        try:
            land.teardown()  # through the private worker's REST API, while it still runs
        finally:
            worker.stop()
            admin = clients_for(stack).kafka_admin()
            existing = set(admin.list_topics(timeout=10).topics)
            doomed = [t for t in worker.internal if t in existing]
            for future in admin.delete_topics(doomed).values() if doomed else []:
                with contextlib.suppress(KafkaException):
                    future.result(30)


def test_sigkill_of_the_worker_mid_landing_loses_and_doubles_nothing(
    worker_landing: tuple[PrivateWorker, Landing],
) -> None:
    worker, landing = worker_landing
    topic = landing.topic("events", partitions=2)
    name = f"{landing.user_id}-s3-sink"
    landing.put(
        name, landing.config(topic, **{"flush.size": "50", "rotate.schedule.interval.ms": "1000"})
    )
    landing.wait_state(name, "RUNNING", 1)
    total, chunk = 6000, 300
    failures: list[BaseException] = []

    def producing() -> None:
        try:
            for start in range(0, total, chunk):
                produce(
                    landing.settings,
                    topic,
                    [(i % 2, value(i, "kill")) for i in range(start, start + chunk)],
                )
                time.sleep(0.2)
        except BaseException as exc:  # reported to the test thread below
            failures.append(exc)

    producer = threading.Thread(target=producing, daemon=True)
    producer.start()

    def some_landed() -> int:
        return sum(len(c) for c in landing.landed(topic).values())

    landed_before = wait_for(lambda: some_landed() >= 300, "some records in S3", timeout=60)
    assert landed_before
    assert worker.kill() == -9, "the worker was not SIGKILLed"
    at_kill = some_landed()
    assert at_kill < total, "everything had landed before the kill: nothing was tested"
    worker.start()
    producer.join(120)
    assert not producer.is_alive() and not failures, failures
    expected = {0: total // 2, 1: total // 2}
    counts = landing.wait_landed(topic, expected)
    exactly_once(counts, expected)
    landing.wait_state(name, "RUNNING", 1)
