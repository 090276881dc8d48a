"""The S3 sink against real Kafka and a real S3 server.

Every test runs its own sink process, restricted to a fresh namespace, writing into a private
SeaweedFS started for this module: the tests can crash the sink and stop S3 without touching
the shared stack. (The stack's own sink lands these namespaces too, into the stack's S3,
where these tests never look.)
"""

from __future__ import annotations

import signal
import subprocess
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
from services.landing import LandingVerifier, wait_until_landed
from services.s3_sink.layout import dead_letter_key, object_key, parse_key
from services.s3_sink.process import SinkProcess, free_port
from services.settings import Settings
from services.stack import configs, install

pytestmark = pytest.mark.integration

SETTLE_S = 60.0


class PrivateS3:
    """A SeaweedFS server on free ports, with the same credentials as the stack's."""

    def __init__(self, base: Settings, root: Path) -> None:
        self.root = root
        self.ports = {name: free_port() for name in ("s3", "s3g", "m", "mg", "v", "vg", "f", "fg")}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.settings = base.model_copy(update={"s3_endpoint": self.endpoint})
        self.identities = configs.s3_identities(base.model_copy(update={"state_dir": root}))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        p = self.ports
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(install.weed_binary()),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            f"-master.port={p['m']}",
            f"-master.port.grpc={p['mg']}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={p['v']}",
            f"-volume.port.grpc={p['vg']}",
            "-volume.max=0",
            "-filer",
            f"-filer.port={p['f']}",
            f"-filer.port.grpc={p['fg']}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3g']}",
            f"-s3.config={self.identities}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-metricsPort=0",
        ]
        with (self.root / "weed.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self._wait_writable(timeout)

    def _wait_writable(self, timeout: float) -> None:
        # Listening is not enough: a PUT needs the volume server registered with the master.
        import io

        s3 = clients_for(self.settings).s3()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if not s3.bucket_exists("probe"):
                    s3.make_bucket("probe")
                s3.put_object("probe", "ready", io.BytesIO(b"ok"), 2)
                return
            except Exception as exc:
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"private SeaweedFS not writable after {timeout} s: {exc}"
                    ) from exc
            time.sleep(0.2)

    def stop(self) -> None:
        """Kill it: an S3 outage as abrupt as they come (what it stored is on disk)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def private_s3(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateS3]:
    server = PrivateS3(stack, tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    yield server
    server.stop()


def private_namespace(stack: Settings, private_s3: PrivateS3) -> Settings:
    """A fresh namespace whose topics are on the stack's Kafka and whose bucket is in the
    private S3 (the stack's S3 is not involved at all)."""
    settings = stack.model_copy(
        update={"pipeline_user_id": f"t{uuid.uuid4().hex[:10]}", "s3_endpoint": private_s3.endpoint}
    )
    admin = clients_for(settings).kafka_admin()
    topics = [*settings.topics, settings.streaming_topic("pin")]
    futures = admin.create_topics([NewTopic(t, settings.kafka_topic_partitions, 1) for t in topics])
    for future in futures.values():
        future.result(30)
    clients_for(settings).s3().make_bucket(settings.bucket)
    return settings


def drop_private_namespace(stack: Settings, user_id: str, *extra_topics: str) -> None:
    """Its topics (and `extra_topics`) on the stack's Kafka, and the bucket the stack's own
    sink made for them in the stack's S3. The private S3 goes with its server."""
    from tests.conftest import drop_namespace

    shared = stack.model_copy(update={"pipeline_user_id": user_id})
    if extra_topics:
        admin = clients_for(shared).kafka_admin()
        existing = set(admin.list_topics(timeout=10).topics)
        doomed = [t for t in extra_topics if t in existing]
        for future in admin.delete_topics(doomed).values() if doomed else []:
            future.result(30)
    drop_namespace(shared)


@pytest.fixture
def target(stack: Settings, private_s3: PrivateS3) -> Iterator[Settings]:
    """The test's namespace, landing into the private S3, with a fast rotation."""
    settings = private_namespace(stack, private_s3).model_copy(
        update={
            "sink_health_port": free_port(),
            "sink_flush_records": 100,
            "sink_flush_seconds": 1.0,
        }
    )
    yield settings
    drop_private_namespace(stack, settings.pipeline_user_id)


def sink_for(settings: Settings, tmp_path: Path, **overrides: object) -> SinkProcess:
    s = settings.model_copy(update=overrides)
    return SinkProcess(
        s,
        tmp_path / "sink.log",
        user_id=s.pipeline_user_id,
        group_id=f"test-sink-{s.pipeline_user_id}",
    )


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


def test_every_record_lands_once_in_the_connector_layout(target: Settings, tmp_path: Path) -> None:
    n = 250
    sent = {topic: values(n, topic) for topic in target.topics}
    with sink_for(target, tmp_path).start(ready_partitions=3):
        offsets = {topic: produce(target, topic, vals) for topic, vals in sent.items()}
        # The streaming topics are not the sink's: they must never appear in the bucket.
        produce(target, target.streaming_topic("pin"), [b'{"streaming":true}'])
        report = wait_until_landed(target, SETTLE_S, expect=dict.fromkeys(target.topics, n))
    assert report.complete, report.problems()
    s3 = clients_for(target).s3()
    keys = [o.object_name or "" for o in s3.list_objects(target.bucket, recursive=True)]
    assert keys and all(k.startswith("topics/") for k in keys), keys
    with LandingVerifier(target) as verifier:
        for topic in target.topics:
            t = report.topic(topic)
            assert (t.total("landed"), t.total("doubled"), t.total("missing")) == (n, 0, 0)
            landed = {line.offset: line.value for line in verifier.landed_lines(topic)}
            expected = dict(zip(offsets[topic], sent[topic], strict=True))
            assert landed == expected  # byte-identical, at the offsets Kafka gave them
    for key in keys:
        name = parse_key(key)
        assert name is not None and key == object_key(name.topic, name.partition, name.start_offset)
        body = s3.get_object(target.bucket, key).read()
        assert body.endswith(b"\n") and b"\r" not in body
        assert 1 <= body.count(b"\n") <= target.sink_flush_records
    assert len(keys) >= 3 * (n // target.sink_flush_records)


def test_time_rotation_lands_a_three_record_run_within_seconds(
    target: Settings, tmp_path: Path
) -> None:
    settings = target.model_copy(update={"sink_flush_records": 1000, "sink_flush_seconds": 2.0})
    topic = settings.topic("geo")
    with sink_for(settings, tmp_path).start(ready_partitions=3):
        produce(settings, topic, values(3, "small"))
        produced_at = time.monotonic()
        report = wait_until_landed(settings, SETTLE_S, expect={topic: 3}, interval=0.1)
        elapsed = time.monotonic() - produced_at
    assert report.complete, report.problems()
    assert elapsed < 2.0 + 3.0, f"3 records took {elapsed:.1f} s to land with a 2 s rotation"
    s3 = clients_for(settings).s3()
    (key,) = [o.object_name for o in s3.list_objects(settings.bucket, recursive=True)]
    assert key == object_key(topic, 0, 0)


def test_crash_and_restart_mid_stream_land_exactly_once(target: Settings, tmp_path: Path) -> None:
    topic = target.topic("pin")
    batches = [values(100, f"b{b}") for b in range(40)]  # 4,000 records over ~4 s
    sink = sink_for(target, tmp_path).start(ready_partitions=3)
    producer = produce_steadily(target, topic, batches, gap_s=0.1)
    sink.wait_for(lambda h: h["landed_records"] >= 300, 30, "landing")
    assert sink.kill() == -signal.SIGKILL  # a crash: nothing flushed or committed on the way out
    sink.start(ready_partitions=3)
    sink.wait_for(lambda h: h["landed_records"] >= 300, 30, "landing after the crash")
    assert sink.stop() == 0  # a clean restart too
    sink.start(ready_partitions=3)
    producer.join(60)
    try:
        report = wait_until_landed(target, SETTLE_S, expect={topic: 4000})
    finally:
        sink.stop()
    t = report.topic(topic)
    assert (t.total("landed"), t.total("missing"), t.total("doubled")) == (4000, 0, 0), (
        report.problems()
    )
    assert report.complete


def test_a_sink_without_commits_resumes_after_what_already_landed(
    target: Settings, tmp_path: Path
) -> None:
    """The worst crash: objects stored, offsets never committed. A sink of a brand-new group
    (no commits at all) and a different flush size must not start an object inside one
    that already landed, which would make offsets visible twice."""
    topic = target.topic("user")
    with sink_for(target, tmp_path, sink_flush_records=70).start(ready_partitions=3):
        produce(target, topic, values(500, "first"))
        assert wait_until_landed(target, SETTLE_S, expect={topic: 500}).complete
    s3 = clients_for(target).s3()
    before = {o.object_name: o.etag for o in s3.list_objects(target.bucket, recursive=True)}
    fresh_group = SinkProcess(
        target.model_copy(update={"sink_flush_records": 45}),
        tmp_path / "sink2.log",
        user_id=target.pipeline_user_id,
        group_id=f"other-{uuid.uuid4().hex[:6]}",
    )
    with fresh_group.start(ready_partitions=3):
        produce(target, topic, values(100, "second"))
        report = wait_until_landed(target, SETTLE_S, expect={topic: 600})
        health = fresh_group.wait_for(
            lambda h: h["buffered_records"] == 0 and h["landed_records"] >= 100, 10, "idle"
        )
    assert report.complete, report.problems()
    assert health["landed_records"] == 100  # only the new records: nothing re-landed
    after = {o.object_name: o.etag for o in s3.list_objects(target.bucket, recursive=True)}
    assert {k: after[k] for k in before} == before  # no object rewritten


def test_s3_down_for_ten_seconds_mid_stream_loses_nothing(
    target: Settings, private_s3: PrivateS3, tmp_path: Path
) -> None:
    topic = target.topic("pin")
    batches = [values(50, f"o{b}") for b in range(30)]  # 1,500 records over ~15 s
    sink = sink_for(target, tmp_path).start(ready_partitions=3)
    try:
        producer = produce_steadily(target, topic, batches, gap_s=0.5)
        sink.wait_for(lambda h: h["landed_records"] >= 100, 30, "landing")
        private_s3.stop()
        down_at = time.monotonic()
        sink.wait_for(lambda h: h["status"] == "s3-unavailable", 30, "noticing S3 is down")
        time.sleep(max(0.0, 10.0 - (time.monotonic() - down_at)))  # the outage itself
        private_s3.start()
        producer.join(60)
        report = wait_until_landed(target, SETTLE_S, expect={topic: 1500})
        # A PUT cut off by the outage may have been stored all the same: its retry then finds
        # the key taken (`found_landed`) rather than landing it again, so the sink's own
        # landed count can be short of 1,500 while S3, counted above, holds every record.
        health = sink.wait_for(
            lambda h: h["status"] == "ok" and h["lag"] == 0 and h["buffered_records"] == 0,
            60,
            "recovering",
        )
    finally:
        sink.stop()
        if private_s3.proc is None:
            private_s3.start()
    t = report.topic(topic)
    assert (t.total("landed"), t.total("missing"), t.total("doubled")) == (1500, 0, 0), (
        report.problems()
    )
    assert health["s3_failures"] > 0, "the outage never reached the sink"
    assert health["landed_records"] <= 1500 and health["dead_lettered"] == 0


def test_invalid_records_are_dead_lettered_and_counted(target: Settings, tmp_path: Path) -> None:
    topic = target.topic("pin")
    sent: list[bytes | None] = [b'{"ok":0}', b"not json", b'{"ok":2}', None, b'{"ok":4}']
    with sink_for(target, tmp_path).start(ready_partitions=3) as sink:
        produce(target, topic, sent)
        report = wait_until_landed(target, SETTLE_S, expect={topic: 5})
        health = sink.wait_for(lambda h: h["dead_lettered"] >= 2, 10, "counting dead letters")
    assert report.complete, report.problems()
    t = report.topic(topic)
    assert (t.total("landed"), t.total("dead_lettered")) == (3, 2)
    assert health["dead_lettered"] == 2 and health["topics"][topic]["dead_lettered"] == 2
    s3 = clients_for(target).s3()
    assert s3.get_object(target.bucket, dead_letter_key(topic, 0, 1)).read() == b"not json"
    assert s3.get_object(target.bucket, dead_letter_key(topic, 0, 3)).read() == b""
    meta = s3.stat_object(target.bucket, dead_letter_key(topic, 0, 1)).metadata or {}
    assert "not valid JSON" in str(meta.get("x-amz-meta-error"))
    # Objects are cut around dead letters, so line i is still offset start + i.
    for offset in (0, 2, 4):
        body = s3.get_object(target.bucket, object_key(topic, 0, offset)).read()
        assert body == (sent[offset] or b"") + b"\n"


def test_a_namespace_created_after_the_sink_started_is_picked_up(
    stack: Settings, private_s3: PrivateS3, tmp_path: Path
) -> None:
    """The regex subscription finds new topics by itself (metadata refresh every 2 s)."""
    user_id = f"t{uuid.uuid4().hex[:10]}"
    later = stack.model_copy(
        update={
            "pipeline_user_id": user_id,
            "s3_endpoint": private_s3.endpoint,
            "sink_health_port": free_port(),
        }
    )
    clients_for(later).s3().make_bucket(later.bucket)
    with sink_for(later, tmp_path).start(ready_partitions=0) as sink:
        before = sink.health()
        assert before is not None and before["assigned_partitions"] == 0
        admin = clients_for(later).kafka_admin()
        try:
            futures = admin.create_topics([NewTopic(t, 1, 1) for t in later.topics])
            for future in futures.values():
                future.result(30)
            created = time.monotonic()
            sink.wait_for(lambda h: h["assigned_partitions"] == 3, 30, "assigned the new topics")
            picked_up = time.monotonic() - created
            produce(later, later.topic("pin"), values(5, "late"))
            report = wait_until_landed(later, SETTLE_S, expect={later.topic("pin"): 5})
        finally:
            drop_private_namespace(stack, user_id)
    assert report.complete, report.problems()
    assert picked_up < 15, f"new topics took {picked_up:.1f} s to be assigned"
