"""Look at the streaming tables: row count, Delta version and the latest rows of each."""

from __future__ import annotations

from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from services.settings import TABLES, Settings
from spark.streaming.layout import QUARANTINE, all_tables, table_name, table_path


@dataclass(frozen=True)
class TableSummary:
    table: str
    name: str
    path: str
    exists: bool
    rows: int
    version: int | None


def read_table(spark: SparkSession, settings: Settings, table: str) -> DataFrame:
    """A streaming table as a DataFrame: the batch job's questions can take it as is."""
    return spark.read.format("delta").load(table_path(settings, table))


def read_tables(spark: SparkSession, settings: Settings) -> dict[str, DataFrame]:
    """{"pin", "geo", "user"} -> the cleaned streaming tables, the batch questions' input."""
    return {t: read_table(spark, settings, t) for t in TABLES}


def summarize(spark: SparkSession, settings: Settings, table: str) -> TableSummary:
    path = table_path(settings, table)
    name = table_name(settings, table)
    if not DeltaTable.isDeltaTable(spark, path):
        return TableSummary(table, name, path, False, 0, None)
    history = DeltaTable.forPath(spark, path).history(1).select("version").first()
    version = None if history is None else int(history["version"])
    return TableSummary(
        table, name, path, True, read_table(spark, settings, table).count(), version
    )


def quarantine_counts(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """Quarantined events per source table (tables with none are left out)."""
    path = table_path(settings, QUARANTINE)
    if not DeltaTable.isDeltaTable(spark, path):
        return {}
    rows = read_table(spark, settings, QUARANTINE).groupBy("table").count().collect()
    return {str(r["table"]): int(r["count"]) for r in rows}


def latest_rows(spark: SparkSession, settings: Settings, table: str, n: int) -> DataFrame:
    """The `n` rows of the most recently written files (newest micro-batches first)."""
    df = read_table(spark, settings, table)
    newest = F.col("_metadata.file_modification_time").desc()
    then = F.col("quarantined_at") if table == QUARANTINE else F.col("ind")
    order = [newest, then.desc()]
    return df.orderBy(*order).limit(n)


def show(spark: SparkSession, settings: Settings, rows: int) -> list[TableSummary]:
    summaries = [summarize(spark, settings, t) for t in all_tables()]
    for s in summaries:
        if not s.exists:
            print(f"{s.name}: no Delta table at {s.path} yet (run `make stream-once`)")
            continue
        print(f"{s.name}: {s.rows} rows, Delta version {s.version}, {s.path}")
        if s.rows and rows:
            latest_rows(spark, settings, s.table, rows).show(rows, truncate=40)
    counts = quarantine_counts(spark, settings)
    total = sum(counts.values())
    detail = ", ".join(f"{t}: {c}" for t, c in sorted(counts.items())) or "none"
    print(f"quarantined events: {total} ({detail})")
    return summaries
