"""The storage-neutral batch job: ingest what landed since the last run, answer, write.

Only PySpark, Delta and the standard library, so a Databricks notebook can import it (see
`spark/notebook/`); `spark.batch` adds the S3 bucket, the settings and the terminal report.
`run_job` reads the objects below `<source>/topics/<topic>/` that no earlier successful run
processed (`spark.ingest`) and keeps, under `<target>`:

    cleaned/<table>/             Delta tables, one row per event key, updated by MERGE
    quarantine/<table>/batch=N/  lines that did not parse or had no key, per ingest batch
    checkpoints/batch/<table>/   which landed objects are done (the file source's checkpoint)
    analytics/<output>/          the nine answers as Parquet, recomputed from cleaned/ each run
    analytics/_run.json          the run summary with every answer (written last)

`full=True` deletes cleaned/, quarantine/ and the checkpoints first and rebuilds from every
landed object; both give the same tables and answers on the same data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, Row, SparkSession

from spark.ingest import LANDED_GLOB, TableIngest, TablePaths, ingest
from spark.questions import COLUMNS_USED, FROM_JOINED, joined
from spark.schemas import CORRUPT_COLUMN, SOURCE, with_corrupt_column

#: The three tables, in the order the job reads them.
TABLES: tuple[str, ...] = ("pin", "geo", "user")
STAGES = ("startup", "read", "clean", "questions", "write")
#: Spark jobs submitted at once in the questions and write stages.
PARALLEL_JOBS = 4
#: The joined frames the job caches for the questions (`spark.questions.joined`).
CACHED_FRAMES = ("pin_geo", "pin_user")
#: The S3A statistics a run reports, by the name the summary gives them.
REQUEST_COUNTERS = {
    "list": "object_list_request",
    "head": "object_metadata_request",
    "get": "action_http_get_request",
    "put": "object_put_request",
    "delete": "object_delete_request",
}
#: Runtime settings for the run (the caller's values come back afterwards): tables of a few
#: thousand to a few million rows on two cores.
JOB_CONF = {
    # Delta rebuilds a table's state from its log with 50 tasks by default: a few files here.
    "spark.databricks.delta.snapshotPartitions": "2",
    # The caches (each parsed batch, the two joins) live for one run: building and scanning
    # them uncompressed saves CPU, and 1,000,000 events fit a 2 GB driver either way.
    # Measured full run at 1,010,000 events: executor CPU 99 s -> 87 s, no spill.
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
}


class BatchError(RuntimeError):
    """The job cannot run as configured; the message says what to do."""


class NoLandedEvents(BatchError):
    pass


@dataclass
class RunSummary:
    """What one run read, dropped, wrote and how long each stage took.

    `rows_read`, `corrupt_lines`, `duplicates_removed`, `new_rows` and `objects_read` count
    this run's new objects only; `cleaned_rows` is each cleaned table's size after the run.
    """

    source: str
    target: str
    master: str
    started_at: str
    #: "full" (rebuilt from every landed object) or "incremental" (only the new ones).
    mode: str = "full"
    objects_read: dict[str, int] = field(default_factory=dict)
    rows_read: dict[str, int] = field(default_factory=dict)
    corrupt_lines: dict[str, int] = field(default_factory=dict)
    duplicates_removed: dict[str, int] = field(default_factory=dict)
    new_rows: dict[str, int] = field(default_factory=dict)
    cleaned_rows: dict[str, int] = field(default_factory=dict)
    output_rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: Requests to the source's store during the run (S3A's statistics; empty elsewhere).
    requests: dict[str, int] = field(default_factory=dict)
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


def checkpoint_path(root: str, table: str) -> str:
    # Beside the streaming job's checkpoints/<table>/, never on them.
    return f"{root.rstrip('/')}/checkpoints/batch/{table}/"


def table_paths(source: str, target: str, topics: Mapping[str, str]) -> dict[str, TablePaths]:
    return {
        t: TablePaths(
            source=topic_path(source, topics[t]),
            cleaned=output_path(target, "cleaned", t),
            quarantine=output_path(target, "quarantine", t),
            checkpoint=checkpoint_path(target, t),
        )
        for t in TABLES
    }


class Files:
    """Existence checks, deletes and copies through Hadoop's FileSystem: s3a://, file:,
    dbfs: alike."""

    def __init__(self, spark: SparkSession) -> None:
        self._jvm: Any = spark._jvm
        self._conf: Any = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path: str) -> tuple[Any, Any]:
        p = self._jvm.org.apache.hadoop.fs.Path(path)
        return p.getFileSystem(self._conf), p

    def exists(self, path: str) -> bool:
        fs, p = self._fs(path)
        return bool(fs.exists(p))

    def delete(self, path: str) -> None:
        fs, p = self._fs(path)
        fs.delete(p, True)

    def copy_from_local(self, local: str, path: str) -> None:
        """A local folder (a file:// URL) copied to `path`, recursively."""
        fs, p = self._fs(path)
        fs.copyFromLocalFile(False, True, self._jvm.org.apache.hadoop.fs.Path(local), p)

    def request_counts(self, root: str) -> dict[str, int]:
        """The store's request counters so far (S3A keeps them per file-system instance)."""
        fs, _p = self._fs(root)
        try:
            stats = fs.getIOStatistics()
            counters = dict(stats.counters()) if stats is not None else {}
        except Exception:  # a file system without statistics (local files, DBFS): no figures
            return {}
        return {name: int(counters.get(key, 0)) for name, key in REQUEST_COUNTERS.items()}


# --- the stages --------------------------------------------------------------------------


def read_landed(spark: SparkSession, path: str, table: str) -> DataFrame:
    """Every JSON line below `path`, parsed with the table's schema, bad lines kept aside.

    The whole topic at once, for the notebook's step-by-step cells; the job itself reads
    only the new objects (`spark.ingest`).
    """
    try:
        return (
            spark.read.schema(with_corrupt_column(SOURCE[table]))
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
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
        "this topic yet. Run `make emulate` (and check that `make status` shows the "
        "namespace's S3 sink connector RUNNING), "
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
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + seconds, 3)


def run_job(
    spark: SparkSession,
    *,
    source: str,
    target: str,
    topics: Mapping[str, str],
    write_summary: Callable[[str], None] | None = None,
    startup_seconds: float = 0.0,
    full: bool = False,
) -> RunSummary:
    """Run every stage with `spark`: topics under `source`, outputs under `target`.

    `source`/`target` are any Spark path roots (`s3a://bucket`, `/mnt/bucket`, `file:/tmp/x`);
    `topics` maps pin/geo/user to topic names. Incremental unless `full` (or no earlier run
    left its checkpoints).
    """
    with _conf(spark, JOB_CONF):
        return _run(
            spark,
            source=source,
            target=target,
            topics=topics,
            write_summary=write_summary,
            startup_seconds=startup_seconds,
            full=full,
        )


@contextmanager
def _conf(spark: SparkSession, values: Mapping[str, str]) -> Iterator[None]:
    before: dict[str, str | None] = {k: spark.conf.get(k, None) for k in values}
    for key, value in values.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in before.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def _run(
    spark: SparkSession,
    *,
    source: str,
    target: str,
    topics: Mapping[str, str],
    write_summary: Callable[[str], None] | None,
    startup_seconds: float,
    full: bool,
) -> RunSummary:
    clock = _Clock()
    clock.seconds["startup"] = round(startup_seconds, 3)
    paths = table_paths(source, target, topics)
    files = Files(spark)
    requests_before = files.request_counts(source)
    full = full or not all(files.exists(p.checkpoint) for p in paths.values())
    summary = RunSummary(
        source=source,
        target=target,
        master=spark.sparkContext.master or "",
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        mode="full" if full else "incremental",
    )
    for table, p in paths.items():
        if not files.exists(p.source) and (full or not files.exists(p.cleaned)):
            raise NoLandedEvents(_no_events_message(p.source, table))
    if full:
        # A stale checkpoint would skip objects, stale quarantine folders would be counted
        # twice. The cleaned tables are replaced by each one's first batch instead (one Delta
        # commit): a rebuild that fails keeps the old tables readable.
        for p in paths.values():
            for path in (p.checkpoint, p.quarantine):
                files.delete(path)

    start = time.perf_counter()
    counts: dict[str, TableIngest] = ingest(spark, paths, replace=full)
    ingest_seconds = time.perf_counter() - start
    read_seconds = min(ingest_seconds, max(c.read_seconds for c in counts.values()))
    clock.add("read", read_seconds)
    clock.add("clean", ingest_seconds - read_seconds)
    for table, c in counts.items():
        summary.objects_read[table] = c.objects
        summary.rows_read[table] = c.lines
        summary.corrupt_lines[table] = c.quarantined
        summary.duplicates_removed[table] = c.duplicates
        summary.new_rows[table] = c.inserted
        if (full and c.lines == 0) or not files.exists(paths[table].cleaned):
            raise NoLandedEvents(_no_events_message(paths[table].source, table))

    cached: list[DataFrame] = []
    # Each answer's write starts as soon as its rows are on the driver, beside the questions
    # still running: a write waits mostly on S3 requests (commit = list, copy, delete), a
    # question on the cores. "write" is then the time after the last answer, not all writes.
    writer = ThreadPoolExecutor(max_workers=PARALLEL_JOBS, thread_name_prefix="answer-write")
    writes: list[Future[None]] = []
    answers: dict[str, Future[tuple[DataFrame, list[Row]]]] = {}
    try:
        with clock.stage("questions"):
            cleaned = {
                table: spark.read.format("delta")
                .load(paths[table].cleaned)
                .select(*COLUMNS_USED[table])
                for table in TABLES
            }
            # The two joins all nine questions read, made once and cached (only the columns
            # some question reads): each question is then a scan and a small aggregation.
            frames = joined(cleaned)
            for name in CACHED_FRAMES:
                frames[name] = frames[name].cache()
                cached.append(frames[name])
            with ThreadPoolExecutor(max_workers=PARALLEL_JOBS) as pool:
                # Table sizes (Delta answers a count from its log) and the cache fills at once.
                sizes = pool.map(lambda t: (t, cleaned[t].count()), TABLES)
                fills = [pool.submit(frames[name].count) for name in CACHED_FRAMES]
                summary.cleaned_rows.update(sizes)
                for fill in fills:
                    fill.result()
                # Independent queries: run a few at once so one query's planning and code
                # generation on the driver overlaps another's tasks.
                answers.update(
                    (name, pool.submit(_cached_answer, question, frames))
                    for name, question in FROM_JOINED.items()
                )
                for name, future in answers.items():
                    answer, rows_out = future.result()
                    summary.answers[name] = [r.asDict() for r in rows_out]
                    summary.output_rows[name] = len(rows_out)
                    path = output_path(target, "analytics", name)
                    writes.append(writer.submit(_write_parquet, answer.coalesce(1), path))

        with clock.stage("write"):
            for write in writes:
                write.result()
    finally:
        # After a failure: no new write starts, the running ones finish before the caches go.
        writer.shutdown(wait=True, cancel_futures=True)
        # Every answer's cache too, after a failure as well (the pool waited for each): a
        # long-lived driver (spark/service.py) must not keep a failed run's caches.
        done = [f.result()[0] for f in answers.values() if f.done() and not f.exception()]
        for df in cached + done:
            df.unpersist()

    summary.seconds = {**clock.seconds}
    summary.seconds["total"] = round(sum(clock.seconds[s] for s in STAGES), 3)
    requests_after = files.request_counts(source)
    summary.requests = {k: v - requests_before.get(k, 0) for k, v in requests_after.items()}
    if write_summary is not None:
        write_summary(summary.to_json())
    return summary


def _cached_answer(
    question: Callable[[dict[str, DataFrame]], DataFrame], frames: dict[str, DataFrame]
) -> tuple[DataFrame, list[Row]]:
    """The question's rows, and its frame cached so the write reads them instead of
    computing them again. Each question ends in a sort: the cache keeps its partitions in
    order, so `coalesce(1)` writes the rows in that order. (Building the frame again from the
    collected rows went through a Python worker, ~0.5 s per answer.)"""
    answer = question(frames).cache()
    try:
        return answer, answer.collect()
    except BaseException:
        answer.unpersist()  # the caller never sees it: nothing else would free it
        raise


def _write_parquet(df: DataFrame, path: str) -> None:
    df.write.mode("overwrite").parquet(path)
