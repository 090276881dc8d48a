"""Every cleaning rule of issue 6 on small hand-made rows, plus reading and quarantining."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.types import ArrayType, DoubleType, IntegerType, LongType, TimestampType

from spark.batch import read_landed
from spark.clean import (
    GEO_COLUMNS,
    PIN_COLUMNS,
    PIN_PLACEHOLDERS,
    USER_COLUMNS,
    clean_geo,
    clean_pin,
    clean_user,
    split_corrupt,
)
from spark.schemas import GEO, PIN, USER
from tests.support.spark_session import spark_session

pytestmark = pytest.mark.integration  # starts a local Spark (a JVM)
__all__ = ["spark_session"]


def pin_row(index: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "index": index,
        "unique_id": f"uid-{index}",
        "title": "A title",
        "description": "A description",
        "poster_name": "Poster",
        "follower_count": "10",
        "tag_list": "a,b",
        "is_image_or_video": "image",
        "image_src": "https://example.invalid/x.jpg",
        "downloaded": 1,
        "save_location": "Local save in /data/art",
        "category": "art",
    }
    row.update(values)
    return row


PLACEHOLDER_CASES = [(col, value) for col, values in PIN_PLACEHOLDERS.items() for value in values]
EMPTY_CASES = ["title", "description", "poster_name", "follower_count", "tag_list", "category"]
FOLLOWER_CASES: list[tuple[str | None, int | None]] = [
    ("51k", 51_000),
    ("6M", 6_000_000),
    ("437", 437),
    ("0", 0),
    ("1.5k", 1_500),
    ("2.25M", 2_250_000),
    ("12K", 12_000),
    ("User Info Error", None),
    ("", None),
    ("lots", None),
    (None, None),
]
SAVE_CASES = [("Local save in /data/mens-fashion", "/data/mens-fashion"), ("/data/x", "/data/x")]
# Row numbers per case family, so one Spark job cleans every case.
_PLACEHOLDER, _EMPTY, _FOLLOWERS, _SAVE = 100, 200, 300, 400


@pytest.fixture(scope="module")
def cleaned(spark_session: SparkSession) -> dict[int, dict[str, Any]]:
    rows = [pin_row(1), pin_row(2, title="Untitled")]
    rows += [pin_row(_PLACEHOLDER + i, **{c: v}) for i, (c, v) in enumerate(PLACEHOLDER_CASES)]
    rows += [pin_row(_EMPTY + i, **{c: ""}) for i, c in enumerate(EMPTY_CASES)]
    rows += [pin_row(_FOLLOWERS + i, follower_count=t) for i, (t, _) in enumerate(FOLLOWER_CASES)]
    rows += [pin_row(_SAVE + i, save_location=raw) for i, (raw, _) in enumerate(SAVE_CASES)]
    df = clean_pin(spark_session.createDataFrame(rows, PIN))
    return {r["ind"]: r.asDict() for r in df.collect()}


@pytest.mark.parametrize(
    ("case", "column", "placeholder"), [(i, c, v) for i, (c, v) in enumerate(PLACEHOLDER_CASES)]
)
def test_each_placeholder_becomes_null(
    cleaned: dict[int, dict[str, Any]], case: int, column: str, placeholder: str
) -> None:
    assert cleaned[_PLACEHOLDER + case][column] is None, placeholder
    # The same column keeps a real value in an ordinary row.
    assert cleaned[1][column] is not None


@pytest.mark.parametrize(("case", "column"), list(enumerate(EMPTY_CASES)))
def test_empty_strings_become_null(
    cleaned: dict[int, dict[str, Any]], case: int, column: str
) -> None:
    assert cleaned[_EMPTY + case][column] is None


def test_placeholder_only_nulls_its_own_column(cleaned: dict[int, dict[str, Any]]) -> None:
    # "Untitled" is a description placeholder, not a title one.
    assert cleaned[2]["title"] == "Untitled"


@pytest.mark.parametrize(
    ("case", "text", "expected"), [(i, t, e) for i, (t, e) in enumerate(FOLLOWER_CASES)]
)
def test_follower_count_becomes_a_whole_number(
    cleaned: dict[int, dict[str, Any]], case: int, text: str | None, expected: int | None
) -> None:
    assert cleaned[_FOLLOWERS + case]["follower_count"] == expected, text


@pytest.mark.parametrize(("case", "expected"), [(i, e) for i, (_, e) in enumerate(SAVE_CASES)])
def test_save_location_loses_its_prefix(
    cleaned: dict[int, dict[str, Any]], case: int, expected: str
) -> None:
    assert cleaned[_SAVE + case]["save_location"] == expected


def test_follower_count_is_64_bit(spark_session: SparkSession) -> None:
    df = clean_pin(spark_session.createDataFrame([pin_row(1, follower_count="9000M")], PIN))
    assert df.schema["follower_count"].dataType == LongType()
    assert df.first()["follower_count"] == 9_000_000_000  # type: ignore[index]


def test_pin_columns_types_and_order(spark_session: SparkSession) -> None:
    df = clean_pin(spark_session.createDataFrame([pin_row(7)], PIN))
    assert tuple(df.columns) == PIN_COLUMNS
    assert df.columns[0] == "ind"
    assert df.schema["ind"].dataType == IntegerType()
    assert df.first()["ind"] == 7  # type: ignore[index]


def test_geo_cleaning(spark_session: SparkSession) -> None:
    raw = spark_session.createDataFrame(
        [
            {
                "ind": 3,
                "timestamp": "2019-04-01 12:30:05",
                "latitude": -12.5,
                "longitude": 45.25,
                "country": "Chile",
            }
        ],
        GEO,
    )
    df = clean_geo(raw)
    assert tuple(df.columns) == GEO_COLUMNS
    assert df.schema["coordinates"].dataType == ArrayType(DoubleType())
    assert df.schema["timestamp"].dataType == TimestampType()
    assert df.schema["ind"].dataType == IntegerType()
    row = df.first()
    assert row is not None
    assert row["coordinates"] == [-12.5, 45.25]
    assert row["timestamp"] == dt.datetime(2019, 4, 1, 12, 30, 5)
    assert row["country"] == "Chile"


def test_user_cleaning(spark_session: SparkSession) -> None:
    raw = spark_session.createDataFrame(
        [
            {
                "ind": 4,
                "first_name": "Ada",
                "last_name": "Lovelace",
                "age": 36,
                "date_joined": "2016-02-29 08:00:00",
            }
        ],
        USER,
    )
    df = clean_user(raw)
    assert tuple(df.columns) == USER_COLUMNS
    assert df.schema["age"].dataType == IntegerType()
    assert df.schema["date_joined"].dataType == TimestampType()
    row = df.first()
    assert row is not None
    assert row["user_name"] == "Ada Lovelace"
    assert row["age"] == 36
    assert row["date_joined"] == dt.datetime(2016, 2, 29, 8, 0, 0)


def test_duplicate_events_are_kept_once(spark_session: SparkSession) -> None:
    pins = clean_pin(spark_session.createDataFrame([pin_row(1), pin_row(1), pin_row(2)], PIN))
    geo_row = {"ind": 1, "timestamp": "2020-01-01 00:00:00", "latitude": 1.0, "longitude": 2.0}
    geos = clean_geo(spark_session.createDataFrame([geo_row, geo_row], GEO))
    user_row = {"ind": 1, "first_name": "A", "last_name": "B", "age": 20}
    users = clean_user(spark_session.createDataFrame([user_row, user_row, user_row], USER))
    assert sorted(r["ind"] for r in pins.collect()) == [1, 2]
    assert geos.count() == 1
    assert users.count() == 1


def _write_lines(folder: Path, name: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")


def test_read_quarantines_corrupt_and_keyless_lines(
    spark_session: SparkSession, tmp_path: Path
) -> None:
    topic = tmp_path / "topics" / "x.user"
    _write_lines(
        topic / "partition=0",
        "x.user+0+0000000000.json",
        [
            '{"ind": 1, "first_name": "A", "last_name": "B", "age": 30}',
            "{this is not json",
            '{"ind": "one", "first_name": "C"}',  # wrong type for ind
            '{"first_name": "no key"}',
        ],
    )
    # A second partition, an odd folder layout and a non-JSON object that must be ignored.
    _write_lines(
        topic / "partition=1" / "2024",
        "x.user+1+0000000005.json",
        ['{"ind": 2, "first_name": "D", "last_name": "E", "age": 40}'],
    )
    _write_lines(topic / "partition=0", "notes.txt", ["{not data"])

    raw = read_landed(spark_session, f"file:{topic}", "user")
    good, bad = split_corrupt(raw, "user")
    assert sorted(r["ind"] for r in good.collect()) == [1, 2]
    reasons = {r["raw_line"]: r["reason"] for r in bad.collect()}
    assert reasons["{this is not json"] == "unparseable"
    assert reasons['{"ind": "one", "first_name": "C"}'] == "unparseable"
    keyless = [line for line, why in reasons.items() if why == "missing ind"]
    assert len(keyless) == 1 and "no key" in keyless[0]
    assert len(reasons) == 3
