"""The S3 sink connector (connect/s3-sink) inside the stack's real Kafka Connect worker.

Each test registers its own connector through Connect's REST API for a fresh namespace, with
an explicit `s3.bucket.name` of a bucket the test creates: the stack's Python sink lands
`<id>.pin|geo|user` into `user-<id>-bucket`, so these topics (`<id>.events`, ...) and this
bucket keep the two sinks apart. Teardown deletes the connector, its consumer group, the
topics and the bucket, even when the test failed.
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Iterator

import orjson
import pytest
import requests
from confluent_kafka import Consumer, KafkaException, TopicPartition

from services.clients import clients_for
from services.settings import Settings
from services.stack import connectors
from services.stack.probes import S3_SINK_CONNECTOR_CLASS
from tests.support.connect_landing import Landing, exactly_once, produce, value, wait_for
from tests.support.stack_state import SESSION

pytestmark = pytest.mark.integration


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
