"""The S3 sink connector across a Kafka restart: a private single-node KRaft broker (the
stack's own configuration, on free ports) with a private Connect worker on it is stopped for
~10 s mid-stream and started again; every record still lands exactly once, and the
connector runs again. The stack's Kafka and worker are never touched."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic

from services.clients import clients_for
from services.landing import wait_until_landed
from services.runner.child import free_port
from services.settings import Settings
from services.stack import connectors, definitions, standalone
from tests.support.private_connect import PrivateWorker
from tests.support.private_s3 import PrivateS3, private_s3, produce, values

pytestmark = pytest.mark.integration
__all__ = ["private_s3"]  # the module-scoped fixture, shared with the sink tests

SETTLE_S = 180.0


class PrivateKafka:
    def __init__(self, base: Settings, root: Path) -> None:
        (root / "logs").mkdir(parents=True, exist_ok=True)
        # The downloaded Kafka jars are the stack's; everything else lives under `root`.
        (root / "cache").symlink_to(base.cache_dir, target_is_directory=True)
        # A new object, not model_copy: Settings caches data_dir and logs_dir, and a copy
        # would keep pointing at the stack's Kafka data folder.
        self.settings = Settings(
            **{
                **base.model_dump(),
                "state_dir": root,
                "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
                "kafka_controller_port": free_port(),
            }
        )
        if self.settings.data_dir != root / "data":
            raise RuntimeError(f"private Kafka would use {self.settings.data_dir}: refusing")
        # The stack's own `kafka` definition (command line, probe, storage format) through
        # ChildProcess.
        self.child = standalone.child(definitions.kafka(self.settings), self.settings)

    def start(self) -> None:
        self.child.start()

    def stop(self) -> None:
        self.child.stop()


def test_kafka_down_mid_stream_loses_and_doubles_nothing(
    stack: Settings, private_s3: PrivateS3, tmp_path: Path
) -> None:
    kafka = PrivateKafka(stack, tmp_path / "kafka")
    (tmp_path / "worker").mkdir()
    private = kafka.settings.kafka_bootstrap_servers
    worker = PrivateWorker(stack, tmp_path / "worker", bootstrap=private)
    try:  # stopping a child that never started is a no-op
        kafka.start()
        worker.start()
        # The stack's settings (its secrets file, which the worker may read) aimed at the
        # private Kafka, S3 and worker.
        target = stack.model_copy(
            update={
                "pipeline_user_id": "restart",
                "kafka_bootstrap_servers": private,
                "kafka_connect_url": worker.url,
                "s3_endpoint": private_s3.endpoint,
                "sink_flush_records": 100,
                "sink_flush_seconds": 1.0,
            }
        )
        admin = clients_for(target).kafka_admin()
        for future in admin.create_topics([NewTopic(t, 1, 1) for t in target.topics]).values():
            future.result(30)
        clients_for(target).s3().make_bucket(target.bucket)
        topic = target.topic("pin")
        name = connectors.ensure(target)
        produce(target, topic, values(450, "before"))
        before = wait_until_landed(target, 60, topics=[topic], expect={topic: 450})
        assert before.complete, before.problems()
        kafka.stop()
        time.sleep(10.0)  # the outage itself: the worker and its task carry on without Kafka
        kafka.start()
        produce(target, topic, values(550, "after"))
        report = wait_until_landed(target, SETTLE_S, expect={topic: 1000})
        after = connectors.wait_running(target, name, timeout=120)
    finally:
        worker.stop()
        kafka.stop()
    t = report.topic(topic)
    assert (t.total("landed"), t.total("missing"), t.total("doubled")) == (1000, 0, 0), (
        report.problems()
    )
    assert after.running, after.summary()
