"""A private SeaweedFS (the stack's own `s3` definition on free ports) and namespaces
that land into it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import orjson
import pytest
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import NewTopic

from services.clients import clients_for
from services.settings import Settings
from services.stack import connectors, definitions, standalone
from tests.support.stack_state import SESSION


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
