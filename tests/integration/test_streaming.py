"""The streaming job against real Kafka, S3 and Spark: exact counts, kill and restart, quarantine.

The job runs as `python -m spark.streaming` subprocesses, as `make stream` runs it; this
process only produces events and reads the Delta tables back.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from minio.deleteobjects import DeleteObject
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from services.clients import clients_for
from services.settings import PROJECT_ROOT, TABLES, Settings
from spark.questions import QUESTIONS
from spark.streaming.job import streaming_session
from spark.streaming.layout import QUARANTINE
from spark.streaming.lease import LEASE_KEY, TTL_S, LeaseHeld, NamespaceLease
from spark.streaming.show import read_table, read_tables

pytestmark = pytest.mark.integration

N = 200
JOB_TIMEOUT_S = 300


def pin_event(i: int) -> dict[str, object]:
    return {
        "index": i,
        "unique_id": f"uid-{i}",
        "title": "No Title Data Available" if i % 10 == 0 else f"title {i}",
        "description": f"description {i}",
        "poster_name": f"poster {i % 7}",
        "follower_count": "51k" if i % 2 else "1M",
        "tag_list": "a,b",
        "is_image_or_video": "image",
        "image_src": f"https://example.invalid/{i}.jpg",
        "downloaded": 1,
        "save_location": f"Local save in /data/c{i % 3}",
        "category": f"c{i % 3}",
    }


def geo_event(i: int) -> dict[str, object]:
    return {
        "ind": i,
        "timestamp": "2020-01-02 03:04:05",
        "latitude": -45.5 + i / 1000,
        "longitude": 120.25,
        "country": f"Country {i % 5}",
    }


def user_event(i: int) -> dict[str, object]:
    return {
        "ind": i,
        "first_name": "Ada",
        "last_name": f"L{i}",
        "age": 20 + i % 40,
        "date_joined": "2016-05-06 07:08:09",
    }


EVENTS = {"pin": pin_event, "geo": geo_event, "user": user_event}

#: One bad event per topic, each a different way of being bad.
MALFORMED: dict[str, bytes] = {
    "pin": json.dumps({"title": "an event with no index"}).encode(),
    "geo": b"this is not json {",
    "user": json.dumps({"ind": "seven", "first_name": "A", "age": 3}).encode(),
}


def produce(settings: Settings, n: int, *, malformed: bool = False) -> None:
    producer = clients_for(settings).kafka_producer()
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for i in range(n):
        for table in TABLES:
            value = json.dumps(EVENTS[table](i)).encode()
            producer.produce(settings.streaming_topic(table), value, on_delivery=on_delivery)
        producer.poll(0)
    if malformed:
        for table, value in MALFORMED.items():
            producer.produce(settings.streaming_topic(table), value, on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert failures == []


def job(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PIPELINE_USER_ID": settings.pipeline_user_id}
    # Its own process group: a SIGKILL to the group takes the JVM down with Python.
    return subprocess.Popen(
        [sys.executable, "-m", "spark.streaming", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def run_once(settings: Settings) -> str:
    return run_once_with(settings)


def run_once_with(settings: Settings, *args: str) -> str:
    proc = job(settings, "once", *args)
    out, _ = proc.communicate(timeout=JOB_TIMEOUT_S)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    return text


@pytest.fixture
def stream_ns(ns: Settings) -> Iterator[Settings]:
    """`ns`, whose bucket and topics are dropped afterwards: each bucket holds S3 volumes."""
    yield ns
    clients = clients_for(ns)
    s3 = clients.s3()
    objects = (
        DeleteObject(o.object_name or "") for o in s3.list_objects(ns.bucket, recursive=True)
    )
    assert list(s3.remove_objects(ns.bucket, objects)) == []
    s3.remove_bucket(ns.bucket)
    admin = clients.kafka_admin()
    # Wait for each deletion: the request is lost if the client goes away first.
    for future in admin.delete_topics([*ns.streaming_topics, *ns.topics]).values():
        future.result()


@pytest.fixture(scope="module")
def spark(stack: Settings) -> Iterator[SparkSession]:
    yield streaming_session(stack)


def counts(spark: SparkSession, settings: Settings) -> dict[str, tuple[int, int]]:
    """(rows, distinct ind) per table."""
    out = {}
    for table in TABLES:
        df = read_table(spark, settings, table)
        row = df.agg(F.count(F.lit(1)), F.countDistinct("ind")).first()
        assert row is not None
        out[table] = (int(row[0]), int(row[1]))
    return out


def test_once_writes_exactly_n_cleaned_rows_and_quarantines_the_bad(
    stream_ns: Settings, spark: SparkSession
) -> None:
    produce(stream_ns, N, malformed=True)
    out = run_once(stream_ns)
    assert "quarantined" in out

    assert counts(spark, stream_ns) == {t: (N, N) for t in TABLES}

    pin = read_table(spark, stream_ns, "pin")
    assert pin.where("ind = 3").select("follower_count", "save_location").first() == (
        51000,
        "/data/c0",
    )
    # The cleaning's placeholder rule: "No Title Data Available" became null.
    assert pin.where(F.col("title").isNull()).count() == N // 10
    geo = read_table(spark, stream_ns, "geo").where("ind = 0").first()
    assert geo is not None and geo["coordinates"] == [-45.5, 120.25]
    user = read_table(spark, stream_ns, "user").where("ind = 1").first()
    assert user is not None and user["user_name"] == "Ada L1" and user["age"] == 21

    bad = {
        (r["table"], r["reason"]): r["raw_line"]
        for r in read_table(spark, stream_ns, QUARANTINE).collect()
    }
    assert set(bad) == {
        ("pin", "missing index"),
        ("geo", "unparseable"),
        ("user", "unparseable"),
    }
    assert bad[("geo", "unparseable")] == MALFORMED["geo"].decode()

    # The batch job's questions read the streaming tables as they are.
    answer = QUESTIONS["popular_category_by_country"](read_tables(spark, stream_ns)).collect()
    expected = []
    for k in range(5):
        per_category = Counter(f"c{i % 3}" for i in range(N) if i % 5 == k)
        top = min(per_category, key=lambda c: (-per_category[c], c))
        expected.append((f"Country {k}", top, per_category[top]))
    assert [tuple(r) for r in answer] == expected


def _first_data_commit(settings: Settings, proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Wait until the pin table has its first micro-batch committed (Delta version 1)."""
    s3 = clients_for(settings).s3()
    key = "delta/pin/_delta_log/00000000000000000001.json"
    while time.monotonic() < deadline and proc.poll() is None:
        if any(True for _ in s3.list_objects(settings.bucket, prefix=key)):
            return
        time.sleep(0.2)
    raise AssertionError(f"no micro-batch committed to {key} (job exit code {proc.poll()})")


def test_killed_mid_stream_then_restarted_holds_exactly_n(
    stream_ns: Settings, spark: SparkSession
) -> None:
    produce(stream_ns, N)
    # Small micro-batches so the stream is still busy when it is killed.
    proc = job(stream_ns, "run", "--trigger-seconds", "1", "--max-events-per-trigger", "20")
    try:
        _first_data_commit(stream_ns, proc, time.monotonic() + JOB_TIMEOUT_S)
    finally:
        # If it died on its own, the return code below says how.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, out.decode(errors="replace")

    killed = counts(spark, stream_ns)
    assert 0 < killed["pin"][0] < N, killed
    assert all(rows == distinct for rows, distinct in killed.values()), killed

    run_once(stream_ns)
    assert counts(spark, stream_ns) == {t: (N, N) for t in TABLES}


def test_a_namespace_that_was_never_created_is_one_clear_error(stack: Settings) -> None:
    missing = stack.model_copy(update={"pipeline_user_id": "never-created-ns"})
    proc = job(missing, "once")
    out, _ = proc.communicate(timeout=120)
    text = out.decode(errors="replace")
    assert proc.returncode == 1, text
    assert "error: bucket user-never-created-ns-bucket does not exist: `make up`" in text
    assert "Traceback" not in text


def test_the_same_events_produced_twice_give_exactly_n_rows(
    stream_ns: Settings, spark: SparkSession
) -> None:
    """At-least-once upstream: every event delivered twice, the copies in other
    micro-batches than the originals (at most 150 events per batch)."""
    produce(stream_ns, N)
    produce(stream_ns, N)
    out = run_once_with(stream_ns, "--max-events-per-trigger", "150")
    assert "pin: 3 micro-batches" in out, out  # 400 offsets: the copies span batches
    assert counts(spark, stream_ns) == {t: (N, N) for t in TABLES}
    # A later retry of the same events, in a new run, adds nothing either.
    produce(stream_ns, N // 2)
    run_once(stream_ns)
    assert counts(spark, stream_ns) == {t: (N, N) for t in TABLES}


def _lease_taken(settings: Settings, proc: subprocess.Popen[bytes], deadline: float) -> None:
    s3 = clients_for(settings).s3()
    while time.monotonic() < deadline and proc.poll() is None:
        if any(True for _ in s3.list_objects(settings.bucket, prefix=LEASE_KEY)):
            return
        time.sleep(0.2)
    raise AssertionError(f"no lease at {LEASE_KEY} (job exit code {proc.poll()})")


def test_a_second_job_on_the_namespace_exits_non_zero_with_a_message(
    stream_ns: Settings,
) -> None:
    produce(stream_ns, 20)
    first = job(stream_ns, "run", "--trigger-seconds", "1")
    try:
        _first_data_commit(stream_ns, first, time.monotonic() + JOB_TIMEOUT_S)
        second = job(stream_ns, "once")
        out, _ = second.communicate(timeout=120)
        text = out.decode(errors="replace")
        assert second.returncode == 1, text
        ns = stream_ns.pipeline_user_id
        assert f"error: another streaming job is running for namespace {ns}: " in text
        assert f"pid {first.pid} on " in text
        assert "Traceback" not in text
        assert first.poll() is None  # the first job goes on
    finally:
        # As `make stream` stops: SIGTERM to the Python process, which stops its queries.
        first.send_signal(signal.SIGTERM)
        try:
            first_out, _ = first.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(first.pid, signal.SIGKILL)
            first_out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, first_out.decode(errors="replace")
    # A clean stop gives the lease back: the next job starts at once.
    s3 = clients_for(stream_ns).s3()
    assert not any(True for _ in s3.list_objects(stream_ns.bucket, prefix=LEASE_KEY))


def test_a_job_killed_by_sigkill_does_not_hold_the_namespace(
    stream_ns: Settings, spark: SparkSession
) -> None:
    produce(stream_ns, 20)
    proc = job(stream_ns, "run", "--trigger-seconds", "1")
    try:
        _lease_taken(stream_ns, proc, time.monotonic() + JOB_TIMEOUT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    s3 = clients_for(stream_ns).s3()
    assert any(True for _ in s3.list_objects(stream_ns.bucket, prefix=LEASE_KEY))
    out = run_once(stream_ns)  # its process is gone: the lease is taken over, not waited for
    assert "took over the streaming lease" in out
    assert counts(spark, stream_ns) == {t: (20, 20) for t in TABLES}


def test_the_lease_goes_to_one_job_and_frees_itself_after_a_crash(ns: Settings) -> None:
    """The lease alone against the real S3 (no Spark), with a clock the test moves."""
    now = [1_000_000.0]
    s3 = clients_for(ns).s3()

    def lease() -> NamespaceLease:
        return NamespaceLease(
            s3, ns.bucket, ns.pipeline_user_id, clock=lambda: now[0], gone=lambda _pid: False
        )

    first, second = lease(), lease()
    first.acquire()
    with pytest.raises(
        LeaseHeld,
        match=f"another streaming job is running for namespace {ns.pipeline_user_id}: pid",
    ):
        second.acquire()
    now[0] += TTL_S - 1
    first.renew()  # renewed in time: still held
    now[0] += TTL_S - 1
    with pytest.raises(LeaseHeld):
        second.acquire()
    now[0] += 2  # first stopped renewing (crashed, or cut off from S3) a full TTL ago
    second.acquire()
    assert not first.lost.is_set()
    first.renew()  # comes back: finds the lease taken over and must stop
    assert first.lost.is_set() and "was taken over" in first.lost_reason
    first.release()  # a lost lease is not deleted: it is the other job's now
    assert any(True for _ in s3.list_objects(ns.bucket, prefix=LEASE_KEY))
    second.release()
    assert not any(True for _ in s3.list_objects(ns.bucket, prefix=LEASE_KEY))
