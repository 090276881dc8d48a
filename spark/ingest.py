"""Incremental ingest: only the objects landed since the last successful run, merged by key.

Each table is one Structured Streaming query over `<source>/topics/<topic>/` with Spark's file
source, an available-now trigger and a checkpoint (the pattern Databricks calls Auto Loader):
the checkpoint records every object a finished run processed, so the next run reads only the
new ones and stops. Each micro-batch is parsed once (cached), its bad lines go to
`quarantine/<table>/batch=<id>/`, its good lines are cleaned (`spark.clean`) and merged into
the Delta table `cleaned/<table>/` on the event key `ind`: a re-delivered event matches the row
it already has and adds nothing.

A batch that fails is not committed to the checkpoint, so the next run reads its objects
again; the merge and the per-batch quarantine folder (overwritten) make that replay harmless.
Only PySpark, Delta and the standard library (and `services.contracts`, standard library
too): a Databricks notebook imports this.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from services.contracts.keys import OBJECT_SUFFIX
from spark.clean import ROW_CLEANERS, drop_duplicate_events, split_corrupt
from spark.schemas import CORRUPT_COLUMN, SOURCE, SOURCE_KEY, with_corrupt_column

#: Objects the S3 sink writes; anything else under a topic (e.g. markers) is not data.
LANDED_GLOB = f"*{OBJECT_SUFFIX}"
#: The cleaned tables' key: one row per event.
KEY = "ind"
#: The object a line came from, while a batch is counted.
OBJECT_COLUMN = "_object"


@dataclass
class TableIngest:
    """What one table's run read and changed (all batches of the run added up)."""

    objects: int = 0
    lines: int = 0
    quarantined: int = 0
    inserted: int = 0
    #: Seconds spent parsing the new objects (the cache fill), inside the ingest.
    read_seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        """Parsed lines that added no row: repeats in the batch or events already cleaned."""
        return self.lines - self.quarantined - self.inserted


@dataclass(frozen=True)
class TablePaths:
    source: str
    cleaned: str
    quarantine: str
    checkpoint: str


def landed_stream(spark: SparkSession, path: str, table: str) -> DataFrame:
    """Every JSON line of the objects below `path` not yet in the query's checkpoint."""
    return (
        spark.readStream.schema(with_corrupt_column(SOURCE[table]))
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        # Any layout below the topic: partition=N/, time-based folders, several objects.
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", LANDED_GLOB)
        .json(path)
    )


def count_read(raw: DataFrame, table: str) -> tuple[int, int, int]:
    """(objects, lines read, lines to quarantine) of a frame with an `_object` column."""
    bad = F.col(CORRUPT_COLUMN).isNotNull() | F.col(SOURCE_KEY[table]).isNull()
    # One small row per object (a few thousand at most): the sums are the driver's.
    per_object = (
        raw.groupBy(OBJECT_COLUMN)
        .agg(F.count(F.lit(1)).alias("lines"), F.sum(F.when(bad, 1).otherwise(0)).alias("bad"))
        .collect()
    )
    lines = sum(int(r["lines"]) for r in per_object)
    return len(per_object), lines, sum(int(r["bad"] or 0) for r in per_object)


def count_repeats(good: DataFrame, table: str) -> int:
    """Parsed lines whose key an earlier line of the same frame already has.

    Only the key column is shuffled (a few MB at 1,000,000 lines), so the job checks this
    first and de-duplicates, a shuffle of every column, only when it finds repeats.
    """
    # The key as the cleaned table holds it (`ind`, an int): repeats by the same rule.
    key = F.col(SOURCE_KEY[table]).cast("int").alias(KEY)
    extra = (
        good.select(key)
        .groupBy(KEY)
        .count()
        .where(F.col("count") > 1)
        .agg(F.sum(F.col("count") - 1))
        .first()
    )
    return int(extra[0] or 0) if extra is not None else 0


def merge_by_key(
    spark: SparkSession, rows: DataFrame, path: str, replace: bool = False
) -> int | None:
    """Insert the rows whose `ind` the Delta table at `path` lacks; returns how many.

    `replace` overwrites the table's rows instead (a rebuild's first batch): one Delta
    commit, so until it lands readers see the old table whole. Returns None then: every row
    was written, the caller knows how many.
    """
    if replace or not DeltaTable.isDeltaTable(spark, path):
        rows.write.format("delta").mode("overwrite").save(path)
        return None
    result = (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(rows.alias("s"), f"t.{KEY} = s.{KEY}")
        .whenNotMatchedInsertAll()
        .execute()
        .first()
    )
    assert result is not None
    return int(result["num_inserted_rows"])


class _Batches:
    """The foreachBatch function of one table's query; adds each batch into `counts`."""

    def __init__(self, spark: SparkSession, table: str, paths: TablePaths, replace: bool) -> None:
        self.spark = spark
        self.table = table
        self.paths = paths
        self.replace = replace
        self.counts = TableIngest()
        self.lock = threading.Lock()

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        start = time.perf_counter()
        # Parsed once: the counts, the quarantine and the merge all read this cache.
        raw = batch.withColumn(OBJECT_COLUMN, F.input_file_name()).cache()
        try:
            objects, total, bad_lines = count_read(raw, self.table)
            read = time.perf_counter() - start
            if total == 0:
                return
            good, bad = split_corrupt(raw.drop(OBJECT_COLUMN), self.table)
            if bad_lines:
                # Overwritten, not appended: a replayed batch writes the same folder again.
                bad.coalesce(1).write.mode("overwrite").json(
                    f"{self.paths.quarantine.rstrip('/')}/batch={batch_id}"
                )
            repeats = count_repeats(good, self.table)
            rows = ROW_CLEANERS[self.table](good)
            if repeats:
                rows = drop_duplicate_events(rows)
            merged = merge_by_key(self.spark, rows, self.paths.cleaned, self.replace)
            # Written whole (a rebuild's first batch, a new table): one row per distinct key.
            inserted = total - bad_lines - repeats if merged is None else merged
            self.replace = False
        finally:
            raw.unpersist()
        with self.lock:
            c = self.counts
            c.objects += objects
            c.lines += total
            c.quarantined += bad_lines
            c.inserted += inserted
            c.read_seconds += read


def start_query(
    spark: SparkSession, table: str, paths: TablePaths, replace: bool = False
) -> tuple[StreamingQuery, _Batches]:
    handler = _Batches(spark, table, paths, replace)
    query = (
        landed_stream(spark, paths.source, table)
        .writeStream.queryName(f"batch-ingest-{table}")
        .foreachBatch(handler)
        .option("checkpointLocation", paths.checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    return query, handler


def ingest(
    spark: SparkSession, tables: Mapping[str, TablePaths], replace: bool = False
) -> dict[str, TableIngest]:
    """Run every table's query to the end of what has landed, at once; raise the first error.

    `replace`: each table's first batch replaces the cleaned table's rows (a full rebuild).

    The queries run side by side: on two cores one table's driver work (listing, planning,
    the Delta commit) overlaps another's tasks.
    """
    started = [
        (table, *start_query(spark, table, paths, replace)) for table, paths in tables.items()
    ]
    errors: list[BaseException] = []
    for _table, query, _handler in started:
        try:
            query.awaitTermination()
        except Exception as exc:  # a failed query: let the others finish, then raise
            errors.append(exc)
    if errors:
        raise errors[0]
    return {table: handler.counts for table, _query, handler in started}
