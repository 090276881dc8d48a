"""Parsing Kafka values with the batch schemas, on static frames (local Spark, no services)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pyspark.sql import DataFrame, SparkSession

from services.settings import TABLES, load_settings
from spark.clean import CLEANERS, split_corrupt
from spark.streaming.job import streaming_session
from spark.streaming.sink import count_split
from spark.streaming.source import parse_events
from spark.streaming.tables import QUARANTINE_SCHEMA, cleaned_schema

pytestmark = pytest.mark.integration  # starts a local Spark (a JVM)


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    yield streaming_session(load_settings())


def kafka_rows(spark: SparkSession, values: list[bytes | None]) -> DataFrame:
    # The Kafka source's `value` column is binary.
    return spark.createDataFrame([(v,) for v in values], "value binary")


def test_good_bad_and_keyless_values_are_told_apart(spark: SparkSession) -> None:
    values: list[bytes | None] = [
        json.dumps({"ind": 1, "first_name": "A", "last_name": "B", "age": 30}).encode(),
        b"{not json",
        json.dumps({"ind": "one", "age": 30}).encode(),
        json.dumps({"first_name": "no key"}).encode(),
        None,  # a tombstone
    ]
    good, bad = split_corrupt(parse_events(kafka_rows(spark, values), "user"), "user")
    assert count_split(good, bad) == (5, 4)
    assert [r["ind"] for r in good.collect()] == [1]
    reasons = sorted((r["reason"], r["raw_line"]) for r in bad.collect())
    assert reasons == [
        ("missing ind", '{"first_name":"no key"}'),
        ("missing ind", "{}"),
        ("unparseable", '{"ind": "one", "age": 30}'),
        ("unparseable", "{not json"),
    ]


def test_a_parsed_batch_cleans_like_the_batch_job(spark: SparkSession) -> None:
    pin = {
        "index": 7,
        "follower_count": "6M",
        "save_location": "Local save in /data/x",
        "title": "No Title Data Available",
    }
    batch = kafka_rows(spark, [json.dumps(pin).encode(), json.dumps(pin).encode()])
    good, _bad = split_corrupt(parse_events(batch, "pin"), "pin")
    rows = CLEANERS["pin"](good).collect()
    # The cleaning's de-duplication by `ind` applies within a micro-batch.
    assert len(rows) == 1
    assert (rows[0]["ind"], rows[0]["follower_count"], rows[0]["save_location"]) == (
        7,
        6_000_000,
        "/data/x",
    )
    assert rows[0]["title"] is None


def test_table_schemas_are_the_cleaned_columns_all_nullable(spark: SparkSession) -> None:
    for table in TABLES:
        schema = cleaned_schema(spark, table)
        assert schema.fieldNames()[0] == "ind"
        assert all(f.nullable for f in schema.fields)
    assert cleaned_schema(spark, "geo").fieldNames() == [
        "ind",
        "country",
        "coordinates",
        "timestamp",
    ]
    assert QUARANTINE_SCHEMA.fieldNames()[:3] == ["table", "raw_line", "reason"]
