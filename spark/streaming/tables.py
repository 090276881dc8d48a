"""The Delta tables the streaming job writes: their schemas, creation and catalog names."""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql.types import (
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from services.settings import Settings
from spark.clean import CLEANERS
from spark.schemas import SOURCE
from spark.streaming.layout import QUARANTINE, quoted, table_name, table_path

#: One row per event the job could not use: which table's topic it came from, the raw
#: value as text, why, and in which micro-batch of that table's query.
QUARANTINE_SCHEMA = StructType(
    [
        StructField("table", StringType()),
        StructField("raw_line", StringType()),
        StructField("reason", StringType()),
        StructField("batch_id", LongType()),
        StructField("quarantined_at", TimestampType()),
    ]
)


def cleaned_schema(spark: SparkSession, table: str) -> StructType:
    """The columns the batch job's cleaning produces for `table`, all nullable.

    Derived by running the cleaner on an empty frame, so the two can never disagree.
    """
    empty = spark.createDataFrame([], SOURCE[table])
    fields = CLEANERS[table](empty).schema.fields
    return StructType([StructField(f.name, f.dataType, nullable=True) for f in fields])


def schema_of(spark: SparkSession, table: str) -> StructType:
    return QUARANTINE_SCHEMA if table == QUARANTINE else cleaned_schema(spark, table)


def ensure_table(spark: SparkSession, settings: Settings, table: str) -> None:
    """Create the Delta table at its path if missing, and name it in this session's catalog.

    Creating up front (rather than on the first append) lets `show` and the batch job read
    an empty table before any event arrives, and fixes the schema the appends must match.
    """
    # IF NOT EXISTS on an existing table only names it, after checking that its schema is
    # the one given: a table written by an older cleaning fails here, not mid-stream.
    # The local catalog lives as long as the session, so the name is registered each time.
    (
        DeltaTable.createIfNotExists(spark)
        .tableName(quoted(table_name(settings, table)))
        .location(table_path(settings, table))
        .addColumns(schema_of(spark, table))
        .execute()
    )
