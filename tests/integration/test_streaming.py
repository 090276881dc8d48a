"""The streaming job against real Kafka, S3 and Spark: exact counts, kill and restart, quarantine.

The job runs as `python -m spark.streaming` subprocesses, as `make stream` runs it; this
process only produces events and reads the Delta tables back.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from minio.deleteobjects import DeleteObject
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from services.clients import clients_for
from services.runner.wait import NotReady
from services.settings import TABLES, Settings
from spark.questions import QUESTIONS
from spark.streaming.job import streaming_session
from spark.streaming.layout import QUARANTINE
from spark.streaming.lease import LEASE_KEY, TTL_S, LeaseHeld, NamespaceLease
from spark.streaming.show import read_table, read_tables
from tests.support.streaming import (
    MALFORMED,
    exit_code,
    job,
    output,
    produce,
    run_once,
    run_once_with,
)

pytestmark = pytest.mark.integration

N = 200


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


def first_data_commit(settings: Settings) -> Callable[[], str]:
    """A probe: the pin table has its first micro-batch committed (Delta version 1)."""
    s3 = clients_for(settings).s3()
    key = "delta/pin/_delta_log/00000000000000000001.json"

    def committed() -> str:
        if not any(True for _ in s3.list_objects(settings.bucket, prefix=key)):
            raise NotReady(f"no micro-batch committed to {key} yet")
        return "committed"

    return committed


def test_killed_mid_stream_then_restarted_holds_exactly_n(
    stream_ns: Settings, spark: SparkSession
) -> None:
    produce(stream_ns, N)
    # Small micro-batches so the stream is still busy when it is killed.
    # Started = its first micro-batch committed; a job that exits first fails the start.
    proc = job(
        stream_ns,
        *("run", "--trigger-seconds", "1", "--max-events-per-trigger", "20"),
        ready=first_data_commit(stream_ns),
    )
    proc.kill()  # SIGKILL to its group: the JVM goes with Python
    assert proc.proc is not None
    assert proc.proc.returncode == -signal.SIGKILL, output(proc)

    killed = counts(spark, stream_ns)
    assert 0 < killed["pin"][0] < N, killed
    assert all(rows == distinct for rows, distinct in killed.values()), killed

    run_once(stream_ns)
    assert counts(spark, stream_ns) == {t: (N, N) for t in TABLES}


def test_a_namespace_that_was_never_created_is_one_clear_error(stack: Settings) -> None:
    missing = stack.model_copy(update={"pipeline_user_id": "never-created-ns"})
    proc = job(missing, "once")
    try:
        code = exit_code(proc, timeout=120)
    finally:
        proc.stop()
    text = output(proc)
    assert code == 1, text
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


def lease_taken(settings: Settings) -> Callable[[], str]:
    """A probe: the namespace's streaming lease object exists."""
    s3 = clients_for(settings).s3()

    def taken() -> str:
        if not any(True for _ in s3.list_objects(settings.bucket, prefix=LEASE_KEY)):
            raise NotReady(f"no lease at {LEASE_KEY} yet")
        return "taken"

    return taken


def test_a_second_job_on_the_namespace_exits_non_zero_with_a_message(
    stream_ns: Settings,
) -> None:
    produce(stream_ns, 20)
    first = job(stream_ns, "run", "--trigger-seconds", "1", ready=first_data_commit(stream_ns))
    try:
        second = job(stream_ns, "once")
        try:
            code = exit_code(second, timeout=120)
        finally:
            second.stop()
        text = output(second)
        assert code == 1, text
        ns = stream_ns.pipeline_user_id
        assert f"error: another streaming job is running for namespace {ns}: " in text
        assert f"pid {first.pid} on " in text
        assert "Traceback" not in text
        assert first.alive()  # the first job goes on
    finally:
        # As `make stream` stops: SIGTERM to the Python process alone, which stops its
        # queries and its JVM; the group is killed only if that takes over 120 s.
        assert first.pid is not None
        os.kill(first.pid, signal.SIGTERM)
        try:
            first_code = exit_code(first, timeout=120)
        finally:
            first.kill()
    assert first_code == 0, output(first)
    # A clean stop gives the lease back: the next job starts at once.
    s3 = clients_for(stream_ns).s3()
    assert not any(True for _ in s3.list_objects(stream_ns.bucket, prefix=LEASE_KEY))


def test_a_job_killed_by_sigkill_does_not_hold_the_namespace(
    stream_ns: Settings, spark: SparkSession
) -> None:
    produce(stream_ns, 20)
    proc = job(stream_ns, "run", "--trigger-seconds", "1", ready=lease_taken(stream_ns))
    proc.kill()
    assert proc.proc is not None
    assert proc.proc.returncode == -signal.SIGKILL, output(proc)
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
