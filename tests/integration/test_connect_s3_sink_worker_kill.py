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
import requests
from confluent_kafka import KafkaException

from services.clients import clients_for
from services.runner.child import ChildProcess, free_port
from services.runner.wait import NotReady
from services.settings import Settings
from services.stack import configs, connectors, install
from services.stack.probes import S3_SINK_CONNECTOR_CLASS
from tests.conftest import SESSION
from tests.integration.test_connect_s3_sink import Landing, exactly_once, produce, value, wait_for

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 240.0


class PrivateWorker:
    """A distributed Connect worker of its own group; start, SIGKILL, start again."""

    def __init__(self, stack: Settings, root: Path, *, bootstrap: str | None = None) -> None:
        """The stack's jars, plugin.path and secrets; `bootstrap` another Kafka than its."""
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        tag = uuid.uuid4().hex[:10]
        self.internal = [f"_connect-test-{tag}-{k}" for k in ("configs", "offsets", "status")]
        private = stack.model_copy(update={"state_dir": root})
        self.log4j = configs.log4j2_properties(private)
        self.props = root / "connect.properties"
        self.props.write_text(
            f"""bootstrap.servers={bootstrap or stack.kafka_bootstrap_servers}
group.id=test-connect-{tag}
key.converter=org.apache.kafka.connect.converters.ByteArrayConverter
value.converter=org.apache.kafka.connect.converters.ByteArrayConverter
config.storage.topic={self.internal[0]}
offset.storage.topic={self.internal[1]}
status.storage.topic={self.internal[2]}
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=1
status.storage.partitions=1
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:{self.port}
rest.advertised.host.name=127.0.0.1
rest.advertised.port={self.port}
plugin.path={install.connect_plugins(stack)}
# A killed worker's tasks move at once, and its dead consumer leaves the group in 10 s.
scheduled.rebalance.max.delay.ms=0
consumer.session.timeout.ms=10000
consumer.heartbeat.interval.ms=2000
"""
            + connectors.worker_config_providers(stack)
        )
        tmp = self.root / "java-tmp"
        tmp.mkdir(exist_ok=True)
        libs = install.kafka_libs(stack)
        cmd = [
            "java",
            "-Xms64m",
            "-Xmx384m",
            "-XX:+UseG1GC",
            "-XX:-UsePerfData",
            f"-Djava.io.tmpdir={tmp}",
            f"-Dlog4j2.configurationFile={self.log4j}",
            "-cp",
            f"{libs}/*",
            "org.apache.kafka.connect.cli.ConnectDistributed",
            str(self.props),
        ]
        self.child = ChildProcess(
            "private-connect",
            cmd,
            log=self.root / "connect.log",
            probe=self._plugin_listed,
            start_timeout=START_TIMEOUT_S,
            stop_timeout=30,
        )

    def _plugin_listed(self) -> str:
        plugins = requests.get(f"{self.url}/connector-plugins", timeout=2).json()
        if not any(p.get("class") == S3_SINK_CONNECTOR_CLASS for p in plugins):
            raise NotReady(f"{S3_SINK_CONNECTOR_CLASS} not listed yet")
        return "plugin listed"

    def start(self) -> None:
        self.child.start()

    def kill(self) -> int:
        """SIGKILL: the worker's exit code (-9)."""
        self.child.kill()
        assert self.child.proc is not None
        return self.child.proc.wait(30)

    def stop(self) -> None:
        self.child.stop()

    def log_tail(self) -> str:
        log = self.root / "connect.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else "no log"


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
