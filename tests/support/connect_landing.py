"""Landing records through a Connect S3 sink connector on a topic of its own:
produce, wait, count."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import NewTopic
from minio.deleteobjects import DeleteObject

from services.clients import clients_for
from services.settings import Settings
from services.stack import connectors
from services.stack.probes import S3_SINK_CONNECTOR_CLASS

BYTES = "org.apache.kafka.connect.converters.ByteArrayConverter"


LAND_TIMEOUT_S = 90.0


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


@dataclass
class Landing:
    """A fresh namespace: its topics on the stack's Kafka, its own bucket, its connectors."""

    settings: Settings
    user_id: str
    bucket: str
    dlq: str
    topics: list[str] = field(default_factory=list)
    connectors: list[str] = field(default_factory=list)

    @property
    def connect(self) -> str:
        return self.settings.kafka_connect_url.rstrip("/")

    def topic(self, table: str, partitions: int = 1) -> str:
        name = f"{self.user_id}.{table}"
        admin = clients_for(self.settings).kafka_admin()
        for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            future.result(30)
        self.topics.append(name)
        return name

    def config(self, topic: str, **overrides: str) -> dict[str, str]:
        s = self.settings
        connectors.write_secrets(s)
        config = {
            "connector.class": S3_SINK_CONNECTOR_CLASS,
            "tasks.max": "1",
            "topics": topic,
            # Raw bytes in: the connector writes values byte-identical.
            "key.converter": BYTES,
            "value.converter": BYTES,
            "s3.bucket.name": self.bucket,
            "s3.region": s.s3_region,
            "store.url": s.s3_endpoint,
            "s3.path.style.access.enabled": "true",
            # References the worker resolves from a 0600 file, as `make up` registers them.
            **connectors.secret_refs(s),
            "flush.size": "10",
            "rotate.schedule.interval.ms": "1500",
            "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": self.dlq,
            "errors.deadletterqueue.topic.replication.factor": "1",
            "errors.deadletterqueue.context.headers.enable": "true",
        }
        config.update(overrides)
        return config

    def put(self, name: str, config: dict[str, str]) -> None:
        if name not in self.connectors:
            self.connectors.append(name)
        resp = requests.put(f"{self.connect}/connectors/{name}/config", json=config, timeout=30)
        assert resp.status_code in (200, 201), resp.text

    def status(self, name: str) -> dict[str, Any]:
        resp = requests.get(f"{self.connect}/connectors/{name}/status", timeout=10)
        return dict(resp.json()) if resp.status_code == 200 else {}

    def wait_state(self, name: str, state: str, tasks: int) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            st = self.status(name)
            states = [t.get("state") for t in st.get("tasks", [])]
            if st.get("connector", {}).get("state") == state and states == [state] * tasks:
                return st
            failed = [t.get("trace", "")[:2000] for t in st.get("tasks", []) if t.get("trace")]
            assert not failed, f"{name}: a task failed:\n{failed[0]}"
            return None

        return dict(wait_for(reached, f"{name} {state} with {tasks} task(s)", timeout=90))

    def objects(self) -> dict[str, bytes]:
        s3 = clients_for(self.settings).s3()
        out = {}
        for o in s3.list_objects(self.bucket, recursive=True):
            assert o.object_name
            resp = s3.get_object(self.bucket, o.object_name)
            try:
                out[o.object_name] = resp.read()
            finally:
                resp.close()
                resp.release_conn()
        return out

    def landed(self, topic: str) -> dict[int, Counter[int]]:
        """Per partition: how many times each offset is in S3 (from object names and lines)."""
        counts: dict[int, Counter[int]] = {}
        prefix = f"topics/{topic}/partition="
        for key, body in self.objects().items():
            if not key.startswith(prefix):
                continue
            partition = int(key[len(prefix) :].split("/", 1)[0])
            start = int(key.rsplit("+", 1)[1].removesuffix(".json"))
            lines = body.split(b"\n")
            assert lines[-1] == b"", f"{key} does not end with a newline"
            c = counts.setdefault(partition, Counter())
            c.update(range(start, start + len(lines) - 1))
        return counts

    def wait_landed(self, topic: str, expected: dict[int, int]) -> dict[int, Counter[int]]:
        """Until every partition holds `expected[p]` distinct offsets; returns the counts."""

        def done() -> dict[int, Counter[int]] | None:
            counts = self.landed(topic)
            have = {p: len(counts.get(p, ())) for p in expected}
            return counts if have == expected else None

        return dict(wait_for(done, f"{expected} offsets of {topic} in S3", LAND_TIMEOUT_S))

    def delete_connector(self, name: str) -> None:
        requests.delete(f"{self.connect}/connectors/{name}", timeout=30)
        wait_for(lambda: not self.status(name), f"{name} deleted", timeout=30)

    def teardown(self) -> None:
        admin = clients_for(self.settings).kafka_admin()
        for name in self.connectors:
            try:
                self.delete_connector(name)
            except Exception as exc:  # cleanup goes on; the test's own result stands
                print(f"could not delete connector {name}: {exc}")
        groups = [f"connect-{name}" for name in self.connectors]

        def groups_deleted() -> bool:
            existing = {g.group_id for g in admin.list_consumer_groups().result().valid}
            doomed = [g for g in groups if g in existing]
            if not doomed:
                return True
            for future in admin.delete_consumer_groups(doomed).values():
                # Still has members that are leaving: the next round tries again.
                with contextlib.suppress(KafkaException):
                    future.result(10)
            return False

        try:
            wait_for(groups_deleted, f"consumer groups {groups} deleted", timeout=60)
        except AssertionError as exc:
            print(exc)
        existing = set(admin.list_topics(timeout=10).topics)
        doomed = [t for t in [*self.topics, self.dlq] if t in existing]
        for future in admin.delete_topics(doomed).values() if doomed else []:
            future.result(30)
        s3 = clients_for(self.settings).s3()
        if s3.bucket_exists(self.bucket):
            objects = (
                DeleteObject(o.object_name)
                for o in s3.list_objects(self.bucket, recursive=True)
                if o.object_name
            )
            for error in s3.remove_objects(self.bucket, objects):
                print(f"could not delete {error.name}: {error}")
            s3.remove_bucket(self.bucket)


def produce(settings: Settings, topic: str, records: list[tuple[int, bytes | None]]) -> None:
    """(partition, value) pairs; fails on any delivery error."""
    producer: Producer = clients_for(settings).kafka_producer()
    errors: list[str] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(str(err))

    for i, (partition, value) in enumerate(records):
        producer.produce(
            topic, value=value, key=str(i).encode(), partition=partition, on_delivery=delivered
        )
        producer.poll(0)
    assert producer.flush(30) == 0, "records still in flight after 30 s"
    assert not errors, errors


def value(i: int, tag: str) -> bytes:
    # Compact JSON with non-ASCII text, escapes and spaces inside strings.
    return orjson.dumps({"i": i, "tag": tag, "title": f'Pin {i} — café "q" \\ ok', "n": i * 1.5})


def exactly_once(counts: dict[int, Counter[int]], expected: dict[int, int]) -> None:
    for partition, n in expected.items():
        c = counts.get(partition, Counter())
        doubled = sorted(o for o, k in c.items() if k > 1)
        assert not doubled, f"partition {partition}: offsets landed twice: {doubled[:20]}"
        missing = sorted(set(range(n)) - set(c))
        assert not missing, f"partition {partition}: offsets not landed: {missing[:20]}"
