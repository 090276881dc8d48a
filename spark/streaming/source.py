"""The Kafka side: read a streaming topic and parse its values with the batch job's schemas."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from services.clients import ClientFactory, clients_for
from services.clients.base import SparkOptions
from services.settings import Settings
from spark.schemas import CORRUPT_COLUMN, SOURCE, with_corrupt_column

log = logging.getLogger("spark.streaming")


class StreamingConfigError(ValueError):
    """The streaming job cannot be configured as asked; the message names the fix."""


def kafka_options(clients: ClientFactory) -> SparkOptions:
    """Spark's Kafka source options for this target, from the one client factory.

    Logged with credentials hidden: a SCRAM password sits inside the JAAS line.
    """
    options = clients.spark_kafka_options()
    log.info("Kafka source options: %s", options)
    return options


def read_topic(
    spark: SparkSession,
    settings: Settings,
    table: str,
    *,
    max_events_per_trigger: int | None = None,
) -> DataFrame:
    """The raw Kafka stream of `streaming-<user_id>-<table>`, from its earliest offset.

    `startingOffsets` matters only for a new checkpoint: a restarted query resumes from the
    offsets its checkpoint committed, which is what makes a restart neither skip nor repeat.
    """
    reader = (
        spark.readStream.format("kafka")
        .options(**kafka_options(clients_for(settings)))
        .option("subscribe", settings.streaming_topic(table))
        .option("startingOffsets", "earliest")
    )
    if max_events_per_trigger is not None:
        if max_events_per_trigger < 1:
            raise StreamingConfigError(
                f"--max-events-per-trigger={max_events_per_trigger} must be at least 1 "
                "(leave it out to take everything available in each micro-batch)"
            )
        reader = reader.option("maxOffsetsPerTrigger", str(max_events_per_trigger))
    return reader.load()


def parse_events(kafka: DataFrame, table: str) -> DataFrame:
    """Kafka rows -> the table's source columns plus `_corrupt_record`.

    Works on a stream or a micro-batch alike. PERMISSIVE parsing never fails the query:
    text that is not JSON, or JSON of the wrong type for a field, leaves the raw value in
    `_corrupt_record` for `spark.clean.split_corrupt` to quarantine.
    """
    schema = with_corrupt_column(SOURCE[table])
    parsed = F.from_json(
        F.col("value").cast("string"),
        schema,
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_COLUMN},
    )
    return kafka.select(parsed.alias("event")).select("event.*")
