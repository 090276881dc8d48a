"""The storage-neutral batch job: read landed events, quarantine, clean, answer, write.

Only PySpark and the standard library, so a Databricks notebook can import it (see
`spark/notebook/`); `spark.batch` adds the S3 bucket, the settings and the terminal report.
`run_job` reads `<source>/topics/<topic>/` (every `*.json` object below it, whatever the
partition layout) and writes `<target>/cleaned/<table>/`, `<target>/quarantine/<table>/`
and `<target>/analytics/<output>/`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from spark.clean import CLEANERS, split_corrupt
from spark.questions import QUESTIONS
from spark.schemas import CORRUPT_COLUMN, SOURCE, SOURCE_KEY, with_corrupt_column

#: The three tables, in the order the job reads them.
TABLES: tuple[str, ...] = ("pin", "geo", "user")
#: Objects the S3 sink writes; anything else under a topic (e.g. markers) is not data.
LANDED_GLOB = "*.json"
STAGES = ("startup", "read", "clean", "questions", "write")
#: Spark jobs submitted at once in the questions and write stages.
PARALLEL_JOBS = 4


class BatchError(RuntimeError):
    """The job cannot run as configured; the message says what to do."""


class NoLandedEvents(BatchError):
    pass


@dataclass
class RunSummary:
    """What one run read, dropped, wrote and how long each stage took."""

    source: str
    target: str
    master: str
    started_at: str
    rows_read: dict[str, int] = field(default_factory=dict)
    corrupt_lines: dict[str, int] = field(default_factory=dict)
    duplicates_removed: dict[str, int] = field(default_factory=dict)
    cleaned_rows: dict[str, int] = field(default_factory=dict)
    output_rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: Each question's rows (column -> value), in output order: small by construction.
    answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def answer(self, name: str) -> list[dict[str, Any]]:
        if name not in self.answers:
            raise KeyError(f"no output {name!r}; outputs: {', '.join(self.answers)}")
        return self.answers[name]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    @classmethod
    def from_json(cls, text: str) -> RunSummary:
        return cls(**json.loads(text))


# --- paths -------------------------------------------------------------------------------


def topic_path(root: str, topic: str) -> str:
    return f"{root.rstrip('/')}/topics/{topic}/"


def output_path(root: str, kind: str, name: str) -> str:
    return f"{root.rstrip('/')}/{kind}/{name}/"


# --- the stages --------------------------------------------------------------------------


def read_landed(spark: SparkSession, path: str, table: str) -> DataFrame:
    """Every JSON line below `path`, parsed with the table's schema, bad lines kept aside."""
    try:
        return (
            spark.read.schema(with_corrupt_column(SOURCE[table]))
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
            # Any layout below the topic: partition=N/, time-based folders, several objects.
            .option("recursiveFileLookup", "true")
            .option("pathGlobFilter", LANDED_GLOB)
            .json(path)
        )
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc) or "Path does not exist" in str(exc):
            raise NoLandedEvents(_no_events_message(path, table)) from None
        raise


def _no_events_message(path: str, table: str) -> str:
    return (
        f"no landed {table} events at {path}: the S3 sink has not written any objects for "
        "this topic yet. Run `make emulate` (and check `make status` shows the s3-sink up), "
        "or point PIPELINE_USER_ID at the namespace that holds the data."
    )


class _Clock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)


def run_job(
    spark: SparkSession,
    *,
    source: str,
    target: str,
    topics: Mapping[str, str],
    write_summary: Callable[[str], None] | None = None,
    startup_seconds: float = 0.0,
) -> RunSummary:
    """Run every stage with `spark`: topics under `source`, outputs under `target`.

    `source`/`target` are any Spark path roots (`s3a://bucket`, `/mnt/bucket`, `file:/tmp/x`);
    `topics` maps pin/geo/user to topic names.
    """
    clock = _Clock()
    clock.seconds["startup"] = round(startup_seconds, 3)
    summary = RunSummary(
        source=source,
        target=target,
        master=spark.sparkContext.master or "",
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    cached: list[DataFrame] = []
    try:
        with clock.stage("read"):
            good: dict[str, DataFrame] = {}
            bad: dict[str, DataFrame] = {}
            for table in TABLES:
                path = topic_path(source, topics[table])
                raw = read_landed(spark, path, table).cache()
                cached.append(raw)
                good[table], bad[table] = split_corrupt(raw, table)
                total, quarantined = _count_read(raw, table)
                if total == 0:
                    raise NoLandedEvents(_no_events_message(path, table))
                summary.rows_read[table] = total
                summary.corrupt_lines[table] = quarantined

        with clock.stage("clean"):
            cleaned: dict[str, DataFrame] = {}
            for table in TABLES:
                cleaned[table] = CLEANERS[table](good[table]).cache()
                cached.append(cleaned[table])
                rows = cleaned[table].count()
                parsed = summary.rows_read[table] - summary.corrupt_lines[table]
                summary.cleaned_rows[table] = rows
                summary.duplicates_removed[table] = parsed - rows

        with clock.stage("questions"):
            # Independent queries: run a few at once so one query's planning and code
            # generation on the driver overlaps another's tasks.
            with ThreadPoolExecutor(max_workers=PARALLEL_JOBS) as pool:
                computed = dict(
                    zip(
                        QUESTIONS,
                        pool.map(lambda q: _collect(q(cleaned)), QUESTIONS.values()),
                        strict=True,
                    )
                )
            for name, (_schema, rows_out) in computed.items():
                summary.answers[name] = [r.asDict() for r in rows_out]
                summary.output_rows[name] = len(rows_out)

        with clock.stage("write"):
            writes: list[Callable[[], None]] = []
            for table in TABLES:
                writes.append(
                    partial(_write_parquet, cleaned[table], output_path(target, "cleaned", table))
                )
                # Always written, even when empty, so an old run's quarantine never lingers.
                writes.append(
                    partial(
                        _write_json,
                        bad[table].coalesce(1),
                        output_path(target, "quarantine", table),
                    )
                )
            for name, (schema, rows_out) in computed.items():
                # Answers are already on the driver: write them without recomputing.
                answer = spark.createDataFrame(rows_out, schema).coalesce(1)
                writes.append(
                    partial(_write_parquet, answer, output_path(target, "analytics", name))
                )
            # Writes to S3 wait mostly on requests (commit = list, copy, delete): overlap them.
            with ThreadPoolExecutor(max_workers=PARALLEL_JOBS) as pool:
                for future in [pool.submit(w) for w in writes]:
                    future.result()
    finally:
        for df in cached:
            df.unpersist()

    summary.seconds = {**clock.seconds}
    summary.seconds["total"] = round(sum(clock.seconds[s] for s in STAGES), 3)
    if write_summary is not None:
        write_summary(summary.to_json())
    return summary


def _collect(df: DataFrame) -> tuple[StructType, list[Row]]:
    return df.schema, df.collect()


def _write_parquet(df: DataFrame, path: str) -> None:
    df.write.mode("overwrite").parquet(path)


def _write_json(df: DataFrame, path: str) -> None:
    df.write.mode("overwrite").json(path)


def _count_read(raw: DataFrame, table: str) -> tuple[int, int]:
    """(lines read, lines quarantined) in one pass."""
    bad = F.col(CORRUPT_COLUMN).isNotNull() | F.col(SOURCE_KEY[table]).isNull()
    row = raw.agg(
        F.count(F.lit(1)).alias("total"),
        F.sum(F.when(bad, 1).otherwise(0)).alias("bad"),
    ).first()
    assert row is not None
    return int(row["total"]), int(row["bad"] or 0)
