"""The landing verifier against real Kafka and a real S3 server.

Objects are written by hand into a private SeaweedFS (the one the sink tests use), for a
namespace that has no connector (and a topic `<user_id>.verify`), so each case (missing,
doubled, unparseable, stray) is exactly what the test made it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import orjson
import pytest
from confluent_kafka.admin import NewTopic

from services.clients import clients_for
from services.landing import verify, wait_until_landed
from services.landing.layout import dead_letter_key, object_key
from services.settings import PROJECT_ROOT, Settings
from tests.support.private_s3 import (
    PrivateS3,
    drop_private_namespace,
    private_namespace,
    private_s3,
)

pytestmark = pytest.mark.integration
__all__ = ["private_s3"]  # the module-scoped fixture, shared with the sink tests


@pytest.fixture
def target(stack: Settings, private_s3: PrivateS3) -> Iterator[Settings]:
    settings = private_namespace(stack, private_s3)
    yield settings
    drop_private_namespace(settings, f"{settings.pipeline_user_id}.verify")


def make_topic(settings: Settings) -> str:
    topic = f"{settings.pipeline_user_id}.verify"
    admin = clients_for(settings).kafka_admin()
    futures = admin.create_topics([NewTopic(topic, 1, 1)])
    futures[topic].result(30)
    return topic


def produce(settings: Settings, topic: str, n: int) -> None:
    producer = clients_for(settings).kafka_producer()
    for i in range(n):
        producer.produce(topic, value=orjson.dumps({"i": i}))
    assert producer.flush(30) == 0


def put(settings: Settings, key: str, body: bytes) -> None:
    clients_for(settings).s3().put_object(settings.bucket, key, io.BytesIO(body), len(body))


def lines(*values: bytes) -> bytes:
    return b"".join(v + b"\n" for v in values)


def test_verify_accounts_for_every_offset(target: Settings) -> None:
    topic = make_topic(target)
    produce(target, topic, 10)
    put(target, object_key(topic, 0, 0), lines(*(b'{"i":%d}' % i for i in range(4))))
    put(target, object_key(topic, 0, 3), lines(b'{"i":3}', b'{"i":4}', b'{"i":5}'))  # 3 doubled
    put(target, dead_letter_key(topic, 0, 6), b"not json")
    # offset 7 missing
    put(target, object_key(topic, 0, 8), lines(b'{"i":8}', b"{broken"))
    put(target, f"topics/{topic}/partition=0/notes.txt", b"stray")

    report = verify(target, topics=[topic])

    (t,) = report.topics
    (p,) = t.partitions
    assert (p.low, p.high, p.expected) == (0, 10, 10)
    assert (p.landed, p.dead_lettered, p.missing, p.doubled, p.unparseable) == (8, 1, 1, 1, 1)
    assert p.missing_ranges == [(7, 7)] and p.doubled_ranges == [(3, 3)]
    assert t.stray_keys == [f"topics/{topic}/partition=0/notes.txt"]
    assert not report.complete
    problems = "\n".join(report.problems())
    for expected in (
        "1 offsets missing, e.g. 7",
        "1 offsets in two objects, e.g. 3",
        "not valid JSON",
    ):
        assert expected in problems


def test_records_in_the_connectors_dead_letter_topic_are_accounted_for(target: Settings) -> None:
    topic = make_topic(target)
    produce(target, topic, 3)
    put(target, object_key(topic, 0, 0), lines(b'{"i":0}', b'{"i":1}'))
    before = verify(target, topics=[topic]).topics[0].partitions[0]
    assert (before.landed, before.missing, before.dead_lettered) == (2, 1, 0)

    # What Connect's errant record reporter writes to errors.deadletterqueue.topic.name.
    dlq = f"dlq-{target.pipeline_user_id}"
    admin = clients_for(target).kafka_admin()  # kept: the future needs the client alive
    admin.create_topics([NewTopic(dlq, 1, 1)])[dlq].result(30)
    context = [
        ("__connect.errors.topic", topic.encode()),
        ("__connect.errors.partition", b"0"),
        ("__connect.errors.offset", b"2"),
    ]
    producer = clients_for(target).kafka_producer()
    producer.produce(dlq, value=b"not json", headers=context)
    producer.produce(dlq, value=b"not json", headers=context)  # reported again after a restart
    producer.produce(dlq, value=b"no context headers")
    assert producer.flush(30) == 0

    report = verify(target, topics=[topic])
    (p,) = report.topics[0].partitions
    assert (p.landed, p.dead_lettered, p.missing, p.doubled) == (2, 1, 0, 0)
    assert report.complete, report.problems()


def test_wait_until_landed_returns_once_complete_or_at_the_deadline(target: Settings) -> None:
    topic = make_topic(target)
    produce(target, topic, 3)
    started = time.monotonic()
    late = wait_until_landed(target, 1.0, topics=[topic], interval=0.2)
    assert not late.complete and late.total("missing") == 3
    assert 1.0 <= time.monotonic() - started < 10

    writer = threading.Timer(
        1.0, put, (target, object_key(topic, 0, 0), lines(b"{}", b"{}", b"{}"))
    )
    writer.start()
    started = time.monotonic()
    report = wait_until_landed(target, 20, topics=[topic], interval=0.2)
    waited = time.monotonic() - started
    writer.join()
    assert report.complete and report.total("landed") == 3
    assert 0.9 <= waited < 10


def settings_env(settings: Settings) -> dict[str, str]:
    """What the CLI needs to reach the same Kafka and the private S3."""
    keys = ("kafka_bootstrap_servers", "s3_endpoint", "s3_access_key", "s3_secret_key")
    env = {}
    for key in keys:
        value = getattr(settings, key)
        env[key.upper()] = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return env


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.landing", "verify", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_exit_codes_and_json(target: Settings) -> None:
    empty = run_cli(target, "--user-id", target.pipeline_user_id, "--json")
    assert empty.returncode == 0, empty.stderr
    body = orjson.loads(empty.stdout)
    assert body["complete"] is True and body["expected"] == 0
    assert [t["topic"] for t in body["topics"]] == target.topics

    admin = clients_for(target).kafka_admin()
    admin.delete_topics([target.topic("user")])[target.topic("user")].result(30)
    gone = run_cli(target, "--user-id", target.pipeline_user_id)
    assert gone.returncode == 1
    assert f"{target.topic('user')}: topic does not exist" in gone.stdout


def test_cli_bad_input_is_one_clear_message(target: Settings) -> None:
    no_bucket = run_cli(target, "--user-id", f"nobucket{uuid.uuid4().hex[:8]}")
    assert no_bucket.returncode == 2
    assert "does not exist" in no_bucket.stderr and "make up" in no_bucket.stderr
    assert "Traceback" not in no_bucket.stderr

    bad_id = run_cli(target, "--user-id", "Not_Valid")
    assert bad_id.returncode == 2
    assert "PIPELINE_USER_ID" in bad_id.stderr and "Traceback" not in bad_id.stderr

    bad_wait = run_cli(target, "--wait", "-1")
    assert bad_wait.returncode == 2 and "--wait" in bad_wait.stderr
