"""The Kafka side: read a streaming topic and parse its values with the batch job's schemas."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from services.clients import clients_for
from services.settings import Settings
from spark.schemas import CORRUPT_COLUMN, SOURCE, with_corrupt_column


class StreamingConfigError(ValueError):
    """The streaming job cannot be configured as asked; the message names the fix."""


def kafka_options(settings: Settings) -> dict[str, str]:
    """Spark's Kafka source options, from the one client factory's Kafka settings."""
    return spark_kafka_options(clients_for(settings).kafka_config(), settings.kafka_auth)


def spark_kafka_options(conf: Mapping[str, object], auth: str) -> dict[str, str]:
    """librdkafka settings -> the Java client's, as `kafka.`-prefixed source options.

    The two clients share names for the plain settings (servers, security protocol); SASL
    callbacks and credentials (MSK IAM, SCRAM) do not translate, so those are refused.
    """
    unsupported = sorted(k for k in conf if k.startswith(("sasl.", "oauth")))
    if unsupported:
        raise StreamingConfigError(
            f"the streaming job cannot pass KAFKA_AUTH={auth} to Spark's Kafka source yet "
            f"({', '.join(unsupported)} have no Java equivalent here): run it with "
            "KAFKA_AUTH=none against a plaintext or TLS listener, or add a Java-side "
            "`kafka.sasl.jaas.config` to services/clients for this target."
        )
    return {f"kafka.{key}": str(value) for key, value in conf.items()}


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
        .options(**kafka_options(settings))
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
