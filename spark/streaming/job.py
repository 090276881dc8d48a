"""Start, run and stop the streaming queries: one per table, each with its own checkpoint."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from services.clients import clients_for
from services.settings import TABLES, Settings
from spark.session import CONNECTORS, build_session
from spark.streaming.layout import QUARANTINE, checkpoint_path, query_name
from spark.streaming.lease import NamespaceLease, lease_for
from spark.streaming.preflight import check_bucket, check_topics
from spark.streaming.sink import MicroBatchWriter, TableProgress
from spark.streaming.source import StreamingConfigError, read_topic
from spark.streaming.tables import ensure_table

log = logging.getLogger("spark.streaming")

DEFAULT_TRIGGER_SECONDS = 2.0

#: Delta's SQL extension and catalog. Static confs: they take effect only in the first
#: session of a JVM, which is why spark/session.py should set them for every session.
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

#: Streaming-specific settings, sized for micro-batches of a few thousand rows on two cores:
#: each one removes a Spark job that every append would otherwise run (measured with the
#: Spark UI's job list: five jobs per append down to two).
STREAMING_CONF = {
    # Delta rebuilds a table's state with this many tasks; 50 by default is far too many
    # for tables of a few thousand rows.
    "spark.databricks.delta.snapshotPartitions": "2",
    # The per-commit checksum file costs two extra state jobs per append; Delta reads the
    # tables correctly without it (it only speeds up opening a table with a long log).
    "spark.databricks.delta.writeChecksumFile.enabled": "false",
    # Adaptive execution re-plans after each shuffle stage: a whole extra job for data this
    # small, with nothing to gain.
    "spark.sql.adaptive.enabled": "false",
}


@dataclass(frozen=True)
class StreamOptions:
    tables: tuple[str, ...] = TABLES
    trigger_seconds: float = DEFAULT_TRIGGER_SECONDS
    max_events_per_trigger: int | None = None

    def __post_init__(self) -> None:
        if self.trigger_seconds <= 0:
            raise StreamingConfigError(
                f"--trigger-seconds={self.trigger_seconds} must be above 0 "
                f"(default {DEFAULT_TRIGGER_SECONDS:g}: one micro-batch every 2 s)"
            )
        unknown = [t for t in self.tables if t not in TABLES]
        if unknown or not self.tables:
            raise StreamingConfigError(
                f"--tables={','.join(self.tables)}: expected a comma-separated subset of "
                f"{','.join(TABLES)}"
            )


def streaming_session(settings: Settings) -> SparkSession:
    # A long-running job: the full JIT pays off (quick_jit is for one-minute batch runs).
    # The target may need a jar beside Spark's Kafka connector (MSK IAM's login module).
    return build_session(
        settings,
        "pinterest-streaming",
        connectors=(*CONNECTORS, *clients_for(settings).spark_kafka_jars()),
        extra_conf={**DELTA_CONF, **STREAMING_CONF},
        quick_jit=False,
    )


def start_queries(
    spark: SparkSession,
    settings: Settings,
    options: StreamOptions,
    *,
    available_now: bool,
) -> list[tuple[StreamingQuery, MicroBatchWriter]]:
    """Start one query per table; with `available_now`, each stops once it has caught up."""
    for table in (*options.tables, QUARANTINE):
        ensure_table(spark, settings, table)
    started: list[tuple[StreamingQuery, MicroBatchWriter]] = []
    for table in options.tables:
        writer = MicroBatchWriter(settings, table)
        stream = read_topic(
            spark, settings, table, max_events_per_trigger=options.max_events_per_trigger
        )
        builder = (
            stream.writeStream.queryName(query_name(settings, table))
            .foreachBatch(writer)
            .option("checkpointLocation", checkpoint_path(settings, table))
        )
        if available_now:
            builder = builder.trigger(availableNow=True)
        else:
            builder = builder.trigger(processingTime=f"{options.trigger_seconds:g} seconds")
        started.append((builder.start(), writer))
    return started


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def _job(
    settings: Settings, options: StreamOptions
) -> Iterator[tuple[SparkSession, NamespaceLease]]:
    """Preflight, then the namespace's lease (before Spark: a refusal takes a second), then
    the session; the lease is given back however the job ends."""
    check_bucket(settings)
    check_topics(settings, options.tables)
    lease = lease_for(settings)
    lease.acquire()
    try:
        lease.start_renewing()
        yield streaming_session(settings), lease
    finally:
        lease.release()


def _check_lease(lease: NamespaceLease) -> None:
    if lease.lost.is_set():
        raise StreamingJobError(lease.lost_reason)


def run(settings: Settings, options: StreamOptions) -> list[TableProgress]:
    """Stream until SIGINT/SIGTERM or until a query fails (then raise its error)."""
    with _job(settings, options) as (spark, lease):
        queries = start_queries(spark, settings, options, available_now=False)
        log.info(
            "streaming %s every %g s; stop with Ctrl-C",
            ", ".join(settings.streaming_topic(t) for t in options.tables),
            options.trigger_seconds,
        )
        try:
            with _stop_on_signals() as stop:
                # A short timeout so a signal (or a lost lease) is noticed within a second.
                while not stop.is_set():
                    _check_lease(lease)
                    if spark.streams.awaitAnyTermination(1):
                        _raise_failures(queries)
                        break
        except StreamingQueryException:
            _raise_failures(queries)
            raise
        finally:
            for query, _writer in queries:
                query.stop()
        return [writer.progress for _query, writer in queries]


def once(settings: Settings, options: StreamOptions) -> list[TableProgress]:
    """Process everything the topics hold now, then stop (Spark's available-now trigger)."""
    with _job(settings, options) as (spark, lease):
        queries = start_queries(spark, settings, options, available_now=True)
        try:
            for query, _writer in queries:
                while not query.awaitTermination(1):
                    _check_lease(lease)
        except StreamingQueryException:
            _raise_failures(queries)
            raise
        finally:
            for query, _writer in queries:
                query.stop()
        return [writer.progress for _query, writer in queries]


class StreamingJobError(RuntimeError):
    """A streaming query failed; the message names the table and Spark's reason."""


def _raise_failures(queries: Sequence[tuple[StreamingQuery, MicroBatchWriter]]) -> None:
    for query, writer in queries:
        error = query.exception()
        if error is not None:
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise StreamingJobError(
                f"the {writer.table} stream stopped: {first}. Its checkpoint "
                f"{checkpoint_path(writer.settings, writer.table)} keeps the committed offsets, "
                "so fixing the cause and running again resumes without loss or duplicates."
            ) from None
