"""The S3 sink connector (connect/s3-sink) inside the stack's real Kafka Connect worker.

Each test registers its own connector through Connect's REST API for a fresh namespace, with
an explicit `s3.bucket.name` of a bucket the test creates: the stack's Python sink lands
`<id>.pin|geo|user` into `user-<id>-bucket`, so these topics (`<id>.events`, ...) and this
bucket keep the two sinks apart. Teardown deletes the connector, its consumer group, the
topics and the bucket, even when the test failed.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import requests
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import NewTopic
from minio.deleteobjects import DeleteObject

from services.clients import clients_for
from services.settings import Settings
from services.stack import connectors
from services.stack.probes import S3_SINK_CONNECTOR_CLASS
from tests.conftest import SESSION

pytestmark = pytest.mark.integration

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


@pytest.fixture
def landing(stack: Settings) -> Iterator[Landing]:
    user_id = f"t{uuid.uuid4().hex[:10]}"
    SESSION.user_ids.add(user_id)  # the session's sweep knows these names as ours
    land = Landing(stack, user_id, bucket=f"{user_id}-connect", dlq=f"{user_id}.dlq")
    try:
        clients_for(stack).s3().make_bucket(land.bucket)
        land.topic("dlq")  # created here so the test can read it at once
        land.topics.remove(f"{user_id}.dlq")
        yield land
    finally:
        land.teardown()


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


def test_secret_key_is_a_reference_nowhere_stored_and_the_connector_still_lands(
    landing: Landing,
) -> None:
    topic = landing.topic("secret")
    name = f"{landing.user_id}-secret"
    landing.put(name, landing.config(topic))
    landing.wait_state(name, "RUNNING", 1)
    secret = landing.settings.s3_secret_key.get_secret_value()
    stored = requests.get(f"{landing.connect}/connectors/{name}/config", timeout=10)
    assert stored.status_code == 200, stored.text
    assert secret not in stored.text
    path = connectors.secrets_file(landing.settings)
    assert stored.json()["aws.secret.access.key"] == f"${{file:{path}:aws.secret.access.key}}"
    assert path.stat().st_mode & 0o077 == 0, "the secrets file is readable by others"
    # Nor in what Connect stored in its config topic for this connector.
    consumer = Consumer(
        {
            "bootstrap.servers": landing.settings.kafka_bootstrap_servers,
            "group.id": f"{landing.user_id}-configs-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        configs_topic = "_connect-configs"
        _, high = consumer.get_watermark_offsets(TopicPartition(configs_topic, 0), timeout=10)
        consumer.assign([TopicPartition(configs_topic, 0, 0)])
        ours: list[bytes] = []
        position = 0
        while position < high:
            msg = consumer.poll(5)
            assert msg is not None, f"{configs_topic} stopped at {position} of {high}"
            assert msg.error() is None, msg.error()
            position = msg.offset() + 1
            if (msg.key() or b"").decode() == f"connector-{name}":
                ours.append(msg.value() or b"")
    finally:
        consumer.close()
    assert ours, f"no record of connector-{name} in {configs_topic}"
    assert not any(secret.encode() in v for v in ours)
    # The worker resolved the reference: the connector reaches S3 and lands.
    produce(landing.settings, topic, [(0, value(i, "s")) for i in range(12)])
    exactly_once(landing.wait_landed(topic, {0: 12}), {0: 12})


def test_worker_lists_the_plugin(stack: Settings) -> None:
    url = stack.kafka_connect_url.rstrip("/") + "/connector-plugins"
    plugins = requests.get(url, timeout=10).json()
    assert {"class": S3_SINK_CONNECTOR_CLASS, "type": "sink", "version": "0.1.0"} in plugins


def test_lands_layout_byte_identical_rotation_and_dead_letter(landing: Landing) -> None:
    topic = landing.topic("events")
    good = [value(i, "layout") for i in range(25)]
    spaced = b'{ "i" : 99,\n "s": "a  b" }'
    bad = b"not json {"
    # Offsets 0-11 good, 12 bad, 13 spaced JSON, 14-26 good: 27 records.
    records = [*good[:12], bad, spaced, *good[12:]]
    produce(landing.settings, topic, [(0, v) for v in records])

    name = f"{landing.user_id}-s3-sink"
    landing.put(name, landing.config(topic))
    status = landing.wait_state(name, "RUNNING", 1)
    assert status["type"] == "sink"

    counts = landing.wait_landed(topic, {0: 26})
    assert 12 not in counts[0], "the bad record landed"
    objects = landing.objects()
    keys = sorted(objects)
    prefix = f"topics/{topic}/partition=0/{topic}+0+"
    # flush.size 10 from 0; the bad record cuts 10-11; 13-22 by count; 23-26 by time.
    assert keys == [f"{prefix}{s:010d}.json" for s in (0, 10, 13, 23)], keys
    assert len(objects[f"{prefix}0000000023.json"].splitlines()) == 4, "rotation by time"
    lines = [line for k in keys for line in objects[k].split(b"\n")[:-1]]
    expected = [*good[:12], b'{"i":99,"s":"a  b"}', *good[12:]]
    assert lines == expected, "values are not byte-identical"

    # The bad record is in Connect's own dead-letter queue, with the reason in its headers.
    consumer = Consumer(
        {
            "bootstrap.servers": landing.settings.kafka_bootstrap_servers,
            "group.id": f"check-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(landing.dlq, 0, 0)])
        msg = wait_for(lambda: consumer.poll(1.0), f"a record in {landing.dlq}", timeout=30)
        assert msg.error() is None, msg.error()
        assert msg.value() == bad
        headers = dict(msg.headers() or [])
        assert headers["__connect.errors.topic"] == topic.encode()
        assert headers["__connect.errors.offset"] == b"12"
        assert b"not valid JSON" in headers["__connect.errors.exception.message"]
    finally:
        consumer.close()
    landing.wait_state(name, "RUNNING", 1)
    # `make status` counts it on the connector's line.
    state = {st.name: st for st in connectors.all_states(landing.settings)}[name]
    assert state.dlq == landing.dlq and state.dead_lettered == 1, state
    assert state.summary().endswith(f"dead-letter queue {landing.dlq}: 1 record")


def test_an_object_another_writer_stored_is_never_replaced(landing: Landing) -> None:
    """A writer that took the key first (a zombie's late PUT, looked at from the other side)."""
    topic = landing.topic("events")
    name = f"{landing.user_id}-s3-sink"
    landing.put(name, landing.config(topic, **{"rotate.schedule.interval.ms": "60000"}))
    landing.wait_state(name, "RUNNING", 1)
    records = [value(i, "fence") for i in range(20)]
    # After the task opened the partition: 0-5 under the key its first object (0-9) will want.
    key = f"topics/{topic}/partition=0/{topic}+0+{0:010d}.json"
    theirs = b"".join(v + b"\n" for v in records[:6])
    clients_for(landing.settings).s3().put_object(
        landing.bucket, key, io.BytesIO(theirs), len(theirs)
    )
    produce(landing.settings, topic, [(0, v) for v in records])
    exactly_once(landing.wait_landed(topic, {0: 20}), {0: 20})
    objects = landing.objects()
    assert objects[key] == theirs, "the connector replaced an object it did not write"
    assert sorted(objects) == [
        f"topics/{topic}/partition=0/{topic}+0+{s:010d}.json" for s in (0, 6, 10)
    ]


def test_recreated_connector_resumes_from_what_landed(landing: Landing) -> None:
    """Its consumer group gone, a new connector still neither repeats nor skips a record."""
    topic = landing.topic("events")
    produce(landing.settings, topic, [(0, value(i, "resume")) for i in range(30)])
    name = f"{landing.user_id}-s3-sink"
    config = landing.config(topic, **{"flush.size": "7"})
    landing.put(name, config)
    landing.wait_landed(topic, {0: 30})
    landing.delete_connector(name)
    group = f"connect-{name}"
    admin = clients_for(landing.settings).kafka_admin()

    def group_deleted() -> bool:
        try:
            admin.delete_consumer_groups([group])[group].result(10)
            return True
        except KafkaException as exc:
            return "GROUP_ID_NOT_FOUND" in str(exc)

    wait_for(group_deleted, f"{group} deleted", timeout=60)
    produce(landing.settings, topic, [(0, value(i, "resume")) for i in range(30, 45)])
    # Another flush.size: re-landing from offset 0 would now cut objects that overlap the
    # landed ones, so only resuming after what landed leaves each offset once.
    landing.put(name, {**config, "flush.size": "5"})
    counts = landing.wait_landed(topic, {0: 45})
    exactly_once(counts, {0: 45})
    assert sum(counts[0].values()) == 45, "records landed beyond the 45 produced"


def test_pause_resume_and_restart_during_production_lose_and_double_nothing(
    landing: Landing,
) -> None:
    topic = landing.topic("events")
    name = f"{landing.user_id}-s3-sink"
    landing.put(name, landing.config(topic, **{"flush.size": "50"}))
    landing.wait_state(name, "RUNNING", 1)
    total, chunk = 4000, 200
    failures: list[BaseException] = []

    def producing() -> None:
        try:
            for start in range(0, total, chunk):
                produce(
                    landing.settings,
                    topic,
                    [(0, value(i, "faults")) for i in range(start, start + chunk)],
                )
                time.sleep(0.05)
        except BaseException as exc:  # reported to the test thread below
            failures.append(exc)

    producer = threading.Thread(target=producing, daemon=True)
    producer.start()
    connect = landing.connect
    assert requests.put(f"{connect}/connectors/{name}/pause", timeout=10).status_code == 202
    landing.wait_state(name, "PAUSED", 1)
    assert requests.put(f"{connect}/connectors/{name}/resume", timeout=10).status_code == 202
    landing.wait_state(name, "RUNNING", 1)
    resp = requests.post(
        f"{connect}/connectors/{name}/restart?includeTasks=true&onlyFailed=false", timeout=30
    )
    assert resp.status_code in (202, 204), resp.text
    producer.join(120)
    assert not producer.is_alive() and not failures, failures
    counts = landing.wait_landed(topic, {0: total})
    exactly_once(counts, {0: total})
    landing.wait_state(name, "RUNNING", 1)


def test_two_tasks_over_four_partitions_each_offset_once(landing: Landing) -> None:
    topic = landing.topic("events", partitions=4)
    name = f"{landing.user_id}-s3-sink"
    landing.put(name, landing.config(topic, **{"tasks.max": "2", "flush.size": "25"}))
    status = landing.wait_state(name, "RUNNING", 2)
    assert len({t["worker_id"] for t in status["tasks"]}) == 1
    per_partition = 300
    produce(
        landing.settings,
        topic,
        [(i % 4, value(i, "tasks")) for i in range(4 * per_partition)],
    )
    expected = dict.fromkeys(range(4), per_partition)
    counts = landing.wait_landed(topic, expected)
    exactly_once(counts, expected)
    # Each partition's objects hold that partition's records, in the Confluent layout.
    for key, body in landing.objects().items():
        partition = int(key.split("/partition=")[1].split("/")[0])
        assert key.startswith(f"topics/{topic}/partition={partition}/{topic}+{partition}+")
        assert all(orjson.loads(line)["i"] % 4 == partition for line in io.BytesIO(body))
