"""The S3 sink connector (each namespace's, in the stack's Connect worker) against a private
S3 server the test can stop.

A module-scoped SeaweedFS on free ports stands in for S3; each test makes a fresh namespace
whose topics are on the stack's Kafka and whose connector, registered in the stack's worker
as `make up` registers it, has its `store.url` pointed at the private server: the tests can
cut S3 off without touching the shared stack's. Teardown deletes the connector (with its
consumer group and dead-letter topic) and the topics, even when the test failed.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from services.clients import clients_for
from services.demo import faults
from services.landing import wait_until_landed
from services.settings import Settings
from services.stack import connectors
from tests.support.private_s3 import (
    PrivateS3,
    drop_private_namespace,
    private_namespace,
    private_s3,
    produce,
    values,
)

pytestmark = pytest.mark.integration
__all__ = ["private_s3"]  # the module-scoped fixture, shared with the sink tests

SETTLE_S = 60.0


@pytest.fixture
def target(stack: Settings, private_s3: PrivateS3) -> Iterator[Settings]:
    """The test's namespace with its connector landing into the private S3, fast rotation."""
    settings = private_namespace(stack, private_s3).model_copy(
        update={"sink_flush_records": 100, "sink_flush_seconds": 1.0}
    )
    try:
        connectors.ensure(settings)
        yield settings
    finally:
        drop_private_namespace(settings)


def write_failures(settings: Settings) -> int:
    """How often the worker logged a refused write into the namespace's bucket."""
    pattern = re.compile(rb"cannot write s3://" + re.escape(settings.bucket.encode()) + rb"/")
    with faults.connect_log(settings).open("rb") as log:
        return sum(len(pattern.findall(line)) for line in log)


def produce_steadily(
    settings: Settings, topic: str, batches: list[list[bytes]], gap_s: float
) -> threading.Thread:
    """Produce one batch every `gap_s` seconds in the background, like a live source."""
    producer = clients_for(settings).kafka_producer()

    def run() -> None:
        for batch in batches:
            produce(settings, topic, batch, producer)
            time.sleep(gap_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_namespace_connector_lands_into_the_private_s3(target: Settings) -> None:
    topic = target.topic("geo")
    produce(target, topic, values(250, "a"))
    report = wait_until_landed(target, SETTLE_S, expect={topic: 250})
    t = report.topic(topic)
    assert (t.total("landed"), t.total("missing"), t.total("doubled")) == (250, 0, 0), (
        report.problems()
    )
    # flush.size 100: two full objects and a rest that the 1 s rotation wrote.
    assert [p.objects for p in t.partitions] == [3]


def test_s3_down_for_ten_seconds_mid_stream_loses_nothing(
    target: Settings, private_s3: PrivateS3
) -> None:
    topic = target.topic("pin")
    name, _config = connectors.local_connector_config(target)
    failures_before = write_failures(target)
    batches = [values(50, f"o{b}") for b in range(30)]  # 1,500 records over ~15 s
    producer = produce_steadily(target, topic, batches, gap_s=0.5)
    try:
        first = wait_until_landed(target, 30, topics=[topic], expect={topic: 100})
        assert first.topic(topic).total("landed") >= 100, first.problems()
        private_s3.stop()
        down_at = time.monotonic()
        noticed = wait_for_true(
            lambda: write_failures(target) > failures_before, 30, "the connector noticing"
        )
        time.sleep(max(0.0, 10.0 - (time.monotonic() - down_at)))  # the outage itself
        during = connectors.connector_state(target, name)
        private_s3.start()
        producer.join(60)
        report = wait_until_landed(target, SETTLE_S, expect={topic: 1500})
    finally:
        if not private_s3.running:
            private_s3.start()
    t = report.topic(topic)
    # A PUT cut off by the outage may have been stored all the same: its retry then finds the
    # key taken (If-None-Match) and carries on after that object instead of landing it twice.
    assert (t.total("landed"), t.total("missing"), t.total("doubled")) == (1500, 0, 0), (
        report.problems()
    )
    assert noticed, "the outage never reached the connector"
    # A refused write is retried, never a failed task: the connector ran through the outage.
    assert not during.failed, during.summary()
    assert connectors.connector_state(target, name).running


def wait_for_true(check: Callable[[], bool], timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.25)
    return True
