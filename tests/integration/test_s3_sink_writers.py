"""One writer per partition (issue 13, path 3): the sink against real Kafka and a private S3.

- a second sink of the same group is refused at start, with a message naming the member;
- the S3 server refuses to replace an object (conditional PUT), so sinks of two groups
  landing one bucket at once, with different rotations, lose and double nothing;
- a committed offset ahead of what landed is not trusted: the sink resumes from S3.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from services.clients import clients_for
from services.landing import wait_until_landed
from services.s3_sink.batches import Batch
from services.s3_sink.layout import object_key
from services.s3_sink.process import SinkProcess, free_port, settings_env
from services.s3_sink.store import LandingStore
from services.settings import PROJECT_ROOT, Settings
from tests.integration.test_s3_sink import (
    SETTLE_S,
    private_s3,
    produce,
    produce_steadily,
    sink_for,
    target,
    values,
)

pytestmark = pytest.mark.integration
__all__ = ["private_s3", "target"]  # fixtures shared with the other sink tests


def test_s3_refuses_to_replace_an_object(target: Settings) -> None:
    """What the sink's safety rests on: SeaweedFS honours `If-None-Match: *` on PUT."""
    topic = target.topic("pin")
    store = LandingStore(clients_for(target).s3(), "user-${user_id}-bucket", target.s3_endpoint)
    longer = Batch(topic, 0, 0, tuple(b'{"i":%d}' % i for i in range(5)))
    shorter = Batch(topic, 0, 0, (b'{"i":0}', b'{"i":1}'))
    first = store.put(longer)
    second = store.put(shorter)
    assert (first.existed, first.next_offset) == (False, 5)
    # The shorter batch does not replace the longer object; the answer says where it ends.
    assert (second.existed, second.next_offset) == (True, 5)
    body = clients_for(target).s3().get_object(target.bucket, object_key(topic, 0, 0)).read()
    assert body.count(b"\n") == 5


def test_a_second_sink_of_the_group_refuses_to_start(target: Settings, tmp_path: Path) -> None:
    topic = target.topic("geo")
    with sink_for(target, tmp_path).start(ready_partitions=3) as first:
        group = f"test-sink-{target.pipeline_user_id}"
        second = target.model_copy(update={"sink_health_port": free_port()})
        started = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "services.s3_sink",
                "--user-id",
                target.pipeline_user_id,
                "--group-id",
                group,
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, **settings_env(second), "PYTHONPATH": str(PROJECT_ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        waited = time.monotonic() - started
        # The first sink is untouched and still lands.
        produce(target, topic, values(20, "after"))
        report = wait_until_landed(target, SETTLE_S, expect={topic: 20})
        health = first.wait_for(lambda h: h["landed_records"] >= 20, 10, "counting")
    assert proc.returncode == 1, proc.stderr
    assert f"consumer group {group} already has 1 live member(s)" in proc.stderr
    assert "two writers of one partition are refused" in proc.stderr
    assert "Traceback" not in proc.stderr
    # It gave the member time to prove it is alive (a crashed one would have left).
    assert waited >= 15
    assert report.complete, report.problems()
    assert health["landed_records"] == 20


def test_sinks_of_two_groups_on_one_bucket_lose_and_double_nothing(
    target: Settings, tmp_path: Path
) -> None:
    """Two writers the group check cannot see: different groups, different rotations, the
    same partition and bucket. Unconditional PUTs keyed by start offset let one overwrite
    the other's longer object (its tail lost) or start inside it (offsets doubled)."""
    topic = target.topic("pin")
    n = 2000
    a = SinkProcess(
        target.model_copy(update={"sink_flush_records": 70}),
        tmp_path / "a.log",
        user_id=target.pipeline_user_id,
        group_id=f"a-{uuid.uuid4().hex[:6]}",
    )
    b = SinkProcess(
        target.model_copy(update={"sink_flush_records": 45, "sink_health_port": free_port()}),
        tmp_path / "b.log",
        user_id=target.pipeline_user_id,
        group_id=f"b-{uuid.uuid4().hex[:6]}",
    )
    with a.start(ready_partitions=3), b.start(ready_partitions=3):
        producer = produce_steadily(
            target, topic, [values(100, f"w{i}") for i in range(n // 100)], gap_s=0.1
        )
        producer.join(60)
        report = wait_until_landed(target, SETTLE_S, expect={topic: n})
        healths = [s.wait_for(lambda h: h["buffered_records"] == 0, 30, "idle") for s in (a, b)]
    t = report.topic(topic)
    assert (t.total("landed"), t.total("missing"), t.total("doubled")) == (n, 0, 0), (
        report.problems()
    )
    assert report.complete
    # Both wrote, and at least one found the other's object in its way and carried on.
    assert all(h["landed_records"] > 0 for h in healths), healths
    assert sum(h["found_landed"] for h in healths) > 0, healths
    assert sum(h["landed_records"] for h in healths) == n


def test_a_commit_ahead_of_s3_resumes_from_what_landed(target: Settings, tmp_path: Path) -> None:
    """A stray consumer of the sink's group commits offset 250 of 300 that never landed."""
    topic = target.topic("user")
    group = f"test-sink-{target.pipeline_user_id}"
    produce(target, topic, values(300, "early"))
    stray = clients_for(target).kafka_consumer(group)
    try:
        stray.commit(offsets=[TopicPartition(topic, 0, 250)], asynchronous=False)
        (committed,) = stray.committed([TopicPartition(topic, 0)], timeout=10)
    finally:
        stray.close()
    assert committed.offset == 250
    with sink_for(target, tmp_path).start(ready_partitions=3) as sink:
        report = wait_until_landed(target, SETTLE_S, expect={topic: 300})
        health = sink.wait_for(lambda h: h["buffered_records"] == 0, 10, "idle")
        log = sink.log_tail(200)
    assert report.complete, report.problems()
    t = report.topic(topic)
    assert (t.total("landed"), t.total("missing"), t.total("doubled")) == (300, 0, 0)
    assert health["landed_records"] == 300
    assert (
        f"assigned {topic}[0]: committed offset 250 is ahead of what landed in S3 (nothing); "
        "resuming from S3 at the earliest offset, not from the commit"
    ) in log
