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
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import orjson
import pytest
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import NewTopic

from services.clients import clients_for
from services.demo import faults
from services.landing import wait_until_landed
from services.settings import Settings
from services.stack import connectors, definitions, standalone
from tests.conftest import SESSION

pytestmark = pytest.mark.integration

SETTLE_S = 60.0


class PrivateS3:
    """A SeaweedFS server on free ports, started from the stack's own `s3` definition (the
    same command line `make up` runs) with its own state folder and the stack's credentials."""

    def __init__(self, base: Settings, root: Path) -> None:
        self.settings = standalone.private_s3_settings(base, root)
        self.endpoint = self.settings.s3_endpoint
        self.child = standalone.child(
            definitions.s3(self.settings), self.settings, probe=self._writable
        )

    @property
    def running(self) -> bool:
        return self.child.alive()

    def start(self) -> None:
        self.child.start()

    def _writable(self) -> str:
        # Listening is not enough: a PUT needs the volume server registered with the master.
        import io

        s3 = clients_for(self.settings).s3()
        if not s3.bucket_exists("probe"):
            s3.make_bucket("probe")
        s3.put_object("probe", "ready", io.BytesIO(b"ok"), 2)
        return "writable"

    def stop(self) -> None:
        """Kill it: an S3 outage as abrupt as they come (what it stored is on disk)."""
        self.child.kill()


@pytest.fixture(scope="module")
def private_s3(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateS3]:
    server = PrivateS3(stack, tmp_path_factory.mktemp("seaweedfs"))
    server.start()  # a failed start stops the child itself (ChildProcess)
    try:
        yield server
    finally:
        server.stop()


def private_namespace(stack: Settings, private_s3: PrivateS3) -> Settings:
    """A fresh namespace whose topics are on the stack's Kafka and whose bucket is in the
    private S3 (the stack's S3 is not involved at all); no connector yet."""
    settings = stack.model_copy(
        update={"pipeline_user_id": f"t{uuid.uuid4().hex[:10]}", "s3_endpoint": private_s3.endpoint}
    )
    SESSION.user_ids.add(settings.pipeline_user_id)  # the session's sweep knows it as ours
    admin = clients_for(settings).kafka_admin()
    topics = [*settings.topics, settings.streaming_topic("pin")]
    futures = admin.create_topics([NewTopic(t, settings.kafka_topic_partitions, 1) for t in topics])
    for future in futures.values():
        future.result(30)
    clients_for(settings).s3().make_bucket(settings.bucket)
    return settings


def drop_private_namespace(settings: Settings, *extra_topics: str) -> None:
    """Its connector (if any: with its group and dead-letter topic) and its topics on the
    stack's Kafka. The private bucket goes with its server."""
    try:
        connectors.drop(settings)
    finally:
        admin = clients_for(settings).kafka_admin()
        existing = set(admin.list_topics(timeout=10).topics)
        mine = [*settings.topics, *settings.streaming_topics, *extra_topics]
        doomed = [t for t in mine if t in existing]
        for future in admin.delete_topics(doomed).values() if doomed else []:
            future.result(30)


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


def produce(
    settings: Settings,
    topic: str,
    values: Sequence[bytes | None],
    producer: Producer | None = None,
) -> list[int]:
    """Produce and return each value's offset; fails on any delivery error."""
    producer = producer or clients_for(settings).kafka_producer()
    offsets: list[int] = [-1] * len(values)
    errors: list[str] = []

    def delivered(i: int) -> Callable[[KafkaError | None, Message], None]:
        def cb(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                offsets[i] = msg.offset()

        return cb

    for i, value in enumerate(values):
        producer.produce(topic, value=value, key=str(i).encode(), on_delivery=delivered(i))
        producer.poll(0)
    assert producer.flush(30) == 0, "records still in flight after 30 s"
    assert not errors, errors
    return offsets


def values(n: int, tag: str) -> list[bytes]:
    # Compact JSON with non-ASCII text, escapes and spaces inside strings.
    return [
        orjson.dumps({"i": i, "tag": tag, "title": f'Pin {i} — café "q" \\ ok', "n": i * 1.5})
        for i in range(n)
    ]


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
