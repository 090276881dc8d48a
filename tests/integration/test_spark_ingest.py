"""The ingest's counting: repeated keys found from the key column alone, bad lines apart.

The job writes a batch without de-duplicating when `count_repeats` finds no repeated key, so
a repeat it missed would land twice: these pin it down on hand-made frames.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from spark.clean import ROW_CLEANERS, clean_geo, clean_pin, split_corrupt
from spark.ingest import count_repeats
from spark.schemas import SOURCE, with_corrupt_column
from tests.support.spark_session import spark_session

pytestmark = pytest.mark.integration  # starts a local Spark (a JVM)
__all__ = ["spark_session"]


def geo(ind: int | None, country: str = "Aruba") -> dict[str, Any]:
    return {
        "ind": ind,
        "timestamp": "2020-01-02 03:04:05",
        "latitude": 1.5,
        "longitude": -2.5,
        "country": country,
        "_corrupt_record": None,
    }


def pin(index: int) -> dict[str, Any]:
    text = ("unique_id", "title", "description", "poster_name", "follower_count", "tag_list")
    more = ("is_image_or_video", "image_src", "save_location", "category")
    row: dict[str, Any] = dict.fromkeys((*text, *more), "x")
    return {**row, "index": index, "downloaded": 1, "_corrupt_record": None}


def _good(spark: SparkSession, rows: list[dict[str, Any]], table: str = "geo") -> Any:
    raw = spark.createDataFrame(rows, with_corrupt_column(SOURCE[table]))
    good, _bad = split_corrupt(raw, table)
    return good


def test_no_repeated_key_counts_zero(spark_session: SparkSession) -> None:
    good = _good(spark_session, [geo(i) for i in range(1, 6)])
    assert count_repeats(good, "geo") == 0
    # ...and the rows the job then writes as they are: one per line.
    assert ROW_CLEANERS["geo"](good).count() == 5


def test_repeats_count_every_extra_line_of_a_key(spark_session: SparkSession) -> None:
    rows = [geo(1), geo(1), geo(1, "Chad"), geo(2), geo(3), geo(3)]
    good = _good(spark_session, rows)
    assert count_repeats(good, "geo") == 3
    assert clean_geo(good).count() == len(rows) - 3


def test_lines_without_a_key_are_not_repeats(spark_session: SparkSession) -> None:
    # Two keyless lines go to quarantine (split_corrupt), not into the repeat count.
    good = _good(spark_session, [geo(None), geo(None), geo(7)])
    assert count_repeats(good, "geo") == 0


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(keys=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=30))
def test_repeats_plus_distinct_keys_is_the_line_count(
    spark_session: SparkSession, keys: list[int]
) -> None:
    good = _good(spark_session, [geo(k) for k in keys])
    assert count_repeats(good, "geo") == len(keys) - len(set(keys))


def test_pin_repeats_are_counted_on_its_index_column(spark_session: SparkSession) -> None:
    # The pin table's key is `index` before cleaning (`ind` after): the same rule applies.
    good = _good(spark_session, [pin(i) for i in (4, 4, 5, 6, 6, 6)], "pin")
    assert count_repeats(good, "pin") == 3
    assert clean_pin(good).count() == 3
