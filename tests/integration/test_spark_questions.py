"""Every question of issue 6 on small hand-made cleaned tables: ties, medians, age edges, years."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark import questions as q
from tests.support.spark_session import spark_session

pytestmark = pytest.mark.integration  # starts a local Spark (a JVM)
__all__ = ["spark_session"]

PIN_DDL = "ind int, category string, follower_count long, poster_name string"
GEO_DDL = "ind int, country string, timestamp timestamp"
USER_DDL = "ind int, user_name string, age int, date_joined timestamp"


def ts(year: int, month: int = 6, day: int = 1) -> dt.datetime:
    return dt.datetime(year, month, day, 12, 0, 0)


def rows(df: DataFrame) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in df.collect()]


def pins(spark: SparkSession, data: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(data, PIN_DDL)


def geos(spark: SparkSession, data: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(data, GEO_DDL)


def users(spark: SparkSession, data: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(data, USER_DDL)


def test_the_nine_outputs_are_registered() -> None:
    assert list(q.QUESTIONS) == [
        "popular_category_by_country",
        "popular_category_by_year",
        "most_followed_user_by_country",
        "top_country_by_most_followed_user",
        "popular_category_by_age_group",
        "median_followers_by_age_group",
        "users_joined_by_year",
        "median_followers_by_join_year",
        "median_followers_by_join_year_and_age_group",
    ]


def test_age_group_edges(spark_session: SparkSession) -> None:
    ages = [17, 18, 24, 25, 35, 36, 50, 51, 90, None]
    df = spark_session.createDataFrame([(a,) for a in ages], "age int")
    got = dict(rows(df.select("age", q.age_group(F.col("age")))))
    assert got == {
        17: None,
        18: "18-24",
        24: "18-24",
        25: "25-35",
        35: "25-35",
        36: "36-50",
        50: "36-50",
        51: "+50",
        90: "+50",
        None: None,
    }


def test_popular_category_by_country_breaks_ties_by_name(spark_session: SparkSession) -> None:
    pin = pins(
        spark_session,
        [
            (1, "beauty", 1, "a"),
            (2, "art", 1, "a"),
            (3, "beauty", 1, "a"),
            (4, "art", 1, "a"),
            (5, "diy", 1, "a"),
            (6, "travel", 1, "a"),
            (7, "travel", 1, "a"),
            (8, "travel", 1, "a"),
            (9, "art", 1, "a"),
            (10, None, 1, "a"),
            (11, None, 1, "a"),
            (12, None, 1, "a"),
            (13, None, 1, "a"),
            (99, "quotes", 1, "a"),  # no geo row: not joined
        ],
    )
    chile = [(i, "Chile", ts(2020)) for i in (1, 2, 3, 4, 5)]
    peru = [(i, "Peru", ts(2020)) for i in (6, 7, 8, 9, 10, 11, 12, 13)]
    out = q.popular_category_by_country(pin, geos(spark_session, chile + peru))
    assert out.columns == ["country", "category", "category_count"]
    assert rows(out) == [("Chile", "art", 2), ("Peru", "travel", 3)]


def test_popular_category_by_year_keeps_2018_to_2022(spark_session: SparkSession) -> None:
    data = [
        (1, "quotes", 2017),
        (2, "quotes", 2017),
        (3, "quotes", 2018),
        (4, "quotes", 2018),
        (5, "art", 2018),
        (6, "art", 2018),
        (7, "travel", 2022),
        (8, "beauty", 2023),
    ]
    pin = pins(spark_session, [(i, c, 1, "a") for i, c, _ in data])
    geo = geos(spark_session, [(i, "Chile", ts(y)) for i, _, y in data])
    out = q.popular_category_by_year(pin, geo)
    assert out.columns == ["post_year", "category", "category_count"]
    assert rows(out) == [(2018, "art", 2), (2022, "travel", 1)]


def test_most_followed_user_by_country(spark_session: SparkSession) -> None:
    pin = pins(
        spark_session,
        [
            (1, "art", 100, "A"),
            (2, "art", 500, "C"),
            (3, "art", 500, "B"),
            (4, "art", None, "D"),
            (5, "art", 10, "E"),
            (6, "art", 900, None),
        ],
    )
    geo = geos(
        spark_session,
        [(i, "Chile", ts(2020)) for i in (1, 2, 3)] + [(i, "Peru", ts(2020)) for i in (4, 5, 6)],
    )
    out = q.most_followed_user_by_country(pin, geo)
    assert out.columns == ["country", "poster_name", "follower_count"]
    assert rows(out) == [("Chile", "B", 500), ("Peru", "E", 10)]


def test_top_country_by_most_followed_user_breaks_ties_by_country(
    spark_session: SparkSession,
) -> None:
    pin = pins(spark_session, [(1, "art", 500, "B"), (2, "art", 500, "X"), (3, "art", 10, "E")])
    geo = geos(
        spark_session, [(1, "Chile", ts(2020)), (2, "Argentina", ts(2020)), (3, "Peru", ts(2020))]
    )
    out = q.top_country_by_most_followed_user(pin, geo)
    assert out.columns == ["country", "follower_count"]
    assert rows(out) == [("Argentina", 500)]


def test_popular_category_by_age_group(spark_session: SparkSession) -> None:
    data = [
        (1, "zzz", 17),
        (2, "zzz", 17),
        (3, "zzz", 17),
        (4, "art", 18),
        (5, "art", 24),
        (6, "beauty", 24),
        (7, "travel", 25),
        (8, "travel", 35),
        (9, "quotes", 36),
        (10, "diy", 50),
        (11, "art", 51),
    ]
    pin = pins(spark_session, [(i, c, 1, "a") for i, c, _ in data])
    user = users(spark_session, [(i, f"u{i}", a, ts(2016)) for i, _, a in data])
    out = q.popular_category_by_age_group(pin, user)
    assert out.columns == ["age_group", "category", "category_count"]
    assert rows(out) == [
        ("18-24", "art", 2),
        ("25-35", "travel", 2),
        ("36-50", "diy", 1),
        ("+50", "art", 1),
    ]


def test_median_followers_by_age_group_is_exact(spark_session: SparkSession) -> None:
    data = [
        (1, 10, 18),
        (2, 30, 20),
        (3, 20, 24),  # 18-24: 10, 20, 30 -> odd count, 20
        (4, 10, 25),
        (5, 20, 30),
        (6, 30, 33),
        (7, 45, 35),  # 25-35: 10, 20, 30, 45 -> even count, (20 + 30) / 2
        (8, 1, 36),
        (9, 2, 50),
        (10, None, 40),  # 36-50: 1, 2 (null ignored) -> 1.5
        (11, 7, 51),
        (12, 1000, 17),  # under 18: no group
    ]
    pin = pins(spark_session, [(i, "art", f, "a") for i, f, _ in data])
    user = users(spark_session, [(i, f"u{i}", a, ts(2016)) for i, _, a in data])
    out = q.median_followers_by_age_group(pin, user)
    assert out.columns == ["age_group", "median_follower_count"]
    assert rows(out) == [("18-24", 20.0), ("25-35", 25.0), ("36-50", 1.5), ("+50", 7.0)]


def test_users_joined_by_year_counts_distinct_users(spark_session: SparkSession) -> None:
    user = users(
        spark_session,
        [
            (1, "Ann Lee", 20, ts(2015, 3, 1)),
            (2, "Ann Lee", 20, ts(2015, 3, 1)),  # the same user posting twice
            (3, "Bo Chan", 30, ts(2015, 7, 9)),
            (4, "Cy Diaz", 40, ts(2020, 12, 31)),
            (5, "Di Eng", 50, ts(2014, 12, 31)),
            (6, "Ed Fox", 60, ts(2021, 1, 1)),
        ],
    )
    out = q.users_joined_by_year(user)
    assert out.columns == ["post_year", "number_users_joined"]
    assert rows(out) == [(2015, 2), (2020, 1)]


def test_median_followers_by_join_year(spark_session: SparkSession) -> None:
    data = [
        (1, 10, 2015),
        (2, 30, 2015),  # even: 20
        (3, 5, 2016),
        (4, 100, 2016),
        (5, 6, 2016),  # odd: 6
        (6, None, 2016),
        (7, 1, 2014),
        (8, 1, 2021),
    ]
    pin = pins(spark_session, [(i, "art", f, "a") for i, f, _ in data])
    user = users(spark_session, [(i, f"u{i}", 30, ts(y)) for i, _, y in data])
    out = q.median_followers_by_join_year(pin, user)
    assert out.columns == ["post_year", "median_follower_count"]
    assert rows(out) == [(2015, 20.0), (2016, 6.0)]


def test_median_followers_by_join_year_and_age_group(spark_session: SparkSession) -> None:
    data = [
        (1, 10, 18, 2015),
        (2, 20, 24, 2015),  # 18-24 / 2015: 15
        (3, 3, 20, 2016),  # 18-24 / 2016: 3
        (4, 7, 60, 2015),  # +50 / 2015: 7
        (5, 99, 17, 2015),  # under 18
        (6, 99, 30, 2014),  # outside the years
        (7, 4, 36, 2020),
        (8, 5, 50, 2020),
        (9, 9, 40, 2020),  # 36-50 / 2020: 5
    ]
    pin = pins(spark_session, [(i, "art", f, "a") for i, f, _, _ in data])
    user = users(spark_session, [(i, f"u{i}", a, ts(y)) for i, _, a, y in data])
    out = q.median_followers_by_join_year_and_age_group(pin, user)
    assert out.columns == ["age_group", "post_year", "median_follower_count"]
    assert rows(out) == [
        ("18-24", 2015, 15.0),
        ("18-24", 2016, 3.0),
        ("36-50", 2020, 5.0),
        ("+50", 2015, 7.0),
    ]
