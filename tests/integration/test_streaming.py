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
    proc = job(settings, "once")
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
