"""The questions of the original notebook: one named function per output, DataFrames in, one out.

Inputs are the cleaned tables (`spark.clean`). Joins are inner joins on `ind`. Conventions,
from issue 6:
- Age groups `18-24`, `25-35`, `36-50`, `+50` (age > 50); younger users belong to no group
  and are left out of age-group results. Age groups sort in that (age) order.
- "Most" ties go to the smaller name (category, poster_name or country).
- Medians are exact (`median`, i.e. `percentile(.., 0.5)`) over the non-null values.
- Rows with a null in the column being grouped or ranked by are left out: a missing
  category is not a category.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

#: (label, lowest age, highest age or None), in the order results list them.
AGE_GROUPS: tuple[tuple[str, int, int | None], ...] = (
    ("18-24", 18, 24),
    ("25-35", 25, 35),
    ("36-50", 36, 50),
    ("+50", 51, None),
)
POST_YEARS = (2018, 2022)
JOIN_YEARS = (2015, 2020)


def age_group(age: Column) -> Column:
    """The group label of an age, or null for ages under 18 (and null ages)."""
    expr: Column | None = None
    for label, low, high in AGE_GROUPS:
        cond = age >= low if high is None else age.between(low, high)
        expr = F.when(cond, F.lit(label)) if expr is None else expr.when(cond, F.lit(label))
    assert expr is not None
    return expr


def age_group_order(label: Column) -> Column:
    expr: Column | None = None
    for rank, (name, _low, _high) in enumerate(AGE_GROUPS):
        cond = label == name
        expr = F.when(cond, F.lit(rank)) if expr is None else expr.when(cond, F.lit(rank))
    assert expr is not None
    return expr


def _top_per_group(
    df: DataFrame, keys: Sequence[str], score: str, name: str, columns: Sequence[str]
) -> DataFrame:
    """For each value of `keys`, the row with the highest `score`, ties to the smaller `name`.

    One aggregation, the smallest (-score, name) per group: partial aggregates per task and a
    shuffle of one row per group, where a window would sort every row (1,000,000 joined rows
    at scale). `score` is numeric and `name` never null here (callers filter nulls out).
    """
    best = F.min(F.struct((-F.col(score)).alias("neg_score"), F.col(name).alias("name")))
    top = df.groupBy(*keys).agg(best.alias("_best"))
    picked = {score: -F.col("_best.neg_score"), name: F.col("_best.name")}
    return top.select(*[picked[c].alias(c) if c in picked else F.col(c) for c in columns])


def _count_categories(df: DataFrame, keys: Sequence[str]) -> DataFrame:
    present = [F.col(k).isNotNull() for k in [*keys, "category"]]
    cond = present[0]
    for c in present[1:]:
        cond = cond & c
    return df.where(cond).groupBy(*keys, "category").agg(F.count(F.lit(1)).alias("category_count"))


def _with_post_year(pin_geo: DataFrame) -> DataFrame:
    low, high = POST_YEARS
    posts = pin_geo.withColumn("post_year", F.year("timestamp"))
    return posts.where(F.col("post_year").between(low, high))


def _with_join_year(pin_user: DataFrame) -> DataFrame:
    low, high = JOIN_YEARS
    posts = pin_user.withColumn("post_year", F.year("date_joined"))
    return posts.where(F.col("post_year").between(low, high))


def _with_age_group(df: DataFrame) -> DataFrame:
    return df.withColumn("age_group", age_group(F.col("age"))).where(F.col("age_group").isNotNull())


def _median_followers(df: DataFrame, keys: Sequence[str]) -> DataFrame:
    return (
        df.where(F.col("follower_count").isNotNull())
        .groupBy(*keys)
        .agg(F.median("follower_count").cast("double").alias("median_follower_count"))
    )


# --- the outputs ---------------------------------------------------------------------------
# Each question twice: on the joined frames (`pin_geo`, `pin_user`: see `joined`), which the
# job builds once and caches for all nine, and as a public function of the cleaned tables.


def _popular_category_by_country(pin_geo: DataFrame) -> DataFrame:
    counts = _count_categories(pin_geo, ["country"])
    top = _top_per_group(
        counts, ["country"], "category_count", "category", ["country", "category", "category_count"]
    )
    return top.orderBy("country")


def _popular_category_by_year(pin_geo: DataFrame) -> DataFrame:
    counts = _count_categories(_with_post_year(pin_geo), ["post_year"])
    top = _top_per_group(
        counts,
        ["post_year"],
        "category_count",
        "category",
        ["post_year", "category", "category_count"],
    )
    return top.orderBy("post_year")


def _most_followed_user_by_country(pin_geo: DataFrame) -> DataFrame:
    posts = pin_geo.where(
        F.col("country").isNotNull()
        & F.col("poster_name").isNotNull()
        & F.col("follower_count").isNotNull()
    )
    top = _top_per_group(
        posts,
        ["country"],
        "follower_count",
        "poster_name",
        ["country", "poster_name", "follower_count"],
    )
    return top.orderBy("country")


def _top_country_by_most_followed_user(pin_geo: DataFrame) -> DataFrame:
    per_country = _most_followed_user_by_country(pin_geo)
    return (
        per_country.orderBy(F.col("follower_count").desc(), F.col("country").asc())
        .limit(1)
        .select("country", "follower_count")
    )


def _popular_category_by_age_group(pin_user: DataFrame) -> DataFrame:
    counts = _count_categories(_with_age_group(pin_user), ["age_group"])
    top = _top_per_group(
        counts,
        ["age_group"],
        "category_count",
        "category",
        ["age_group", "category", "category_count"],
    )
    return top.orderBy(age_group_order(F.col("age_group")))


def _median_followers_by_age_group(pin_user: DataFrame) -> DataFrame:
    medians = _median_followers(_with_age_group(pin_user), ["age_group"])
    return medians.orderBy(age_group_order(F.col("age_group")))


def users_joined_by_year(user: DataFrame) -> DataFrame:
    low, high = JOIN_YEARS
    # A user is the triple (user_name, age, date_joined): one person may post many times.
    users = user.select("user_name", "age", "date_joined").distinct()
    return (
        users.withColumn("post_year", F.year("date_joined"))
        .where(F.col("post_year").between(low, high))
        .groupBy("post_year")
        .agg(F.count(F.lit(1)).alias("number_users_joined"))
        .orderBy("post_year")
    )


def _median_followers_by_join_year(pin_user: DataFrame) -> DataFrame:
    return _median_followers(_with_join_year(pin_user), ["post_year"]).orderBy("post_year")


def _median_followers_by_join_year_and_age_group(pin_user: DataFrame) -> DataFrame:
    posts = _with_age_group(_with_join_year(pin_user))
    medians = _median_followers(posts, ["age_group", "post_year"])
    return medians.orderBy(age_group_order(F.col("age_group")), "post_year")


def popular_category_by_country(pin: DataFrame, geo: DataFrame) -> DataFrame:
    return _popular_category_by_country(pin.join(geo, "ind"))


def popular_category_by_year(pin: DataFrame, geo: DataFrame) -> DataFrame:
    return _popular_category_by_year(pin.join(geo, "ind"))


def most_followed_user_by_country(pin: DataFrame, geo: DataFrame) -> DataFrame:
    return _most_followed_user_by_country(pin.join(geo, "ind"))


def top_country_by_most_followed_user(pin: DataFrame, geo: DataFrame) -> DataFrame:
    return _top_country_by_most_followed_user(pin.join(geo, "ind"))


def popular_category_by_age_group(pin: DataFrame, user: DataFrame) -> DataFrame:
    return _popular_category_by_age_group(pin.join(user, "ind"))


def median_followers_by_age_group(pin: DataFrame, user: DataFrame) -> DataFrame:
    return _median_followers_by_age_group(pin.join(user, "ind"))


def median_followers_by_join_year(pin: DataFrame, user: DataFrame) -> DataFrame:
    return _median_followers_by_join_year(pin.join(user, "ind"))


def median_followers_by_join_year_and_age_group(pin: DataFrame, user: DataFrame) -> DataFrame:
    return _median_followers_by_join_year_and_age_group(pin.join(user, "ind"))


Tables = dict[str, DataFrame]

#: The columns of each cleaned table that some question reads: the job caches only these
#: (the pin table's long text columns are most of its bytes).
COLUMNS_USED: dict[str, tuple[str, ...]] = {
    "pin": ("ind", "category", "poster_name", "follower_count"),
    "geo": ("ind", "country", "timestamp"),
    "user": ("ind", "user_name", "age", "date_joined"),
}


def joined(tables: Tables) -> Tables:
    """The frames the questions read: `pin_geo` and `pin_user` (inner joins on `ind`), `user`.

    Two joins for all nine questions: the job caches these and answers every question from
    them, instead of joining once per question.
    """
    pin = tables["pin"]
    return {
        "pin_geo": pin.join(tables["geo"], "ind"),
        "pin_user": pin.join(tables["user"], "ind"),
        "user": tables["user"],
    }


#: Output name -> how to compute it from the joined frames {"pin_geo", "pin_user", "user"}.
FROM_JOINED: dict[str, Callable[[Tables], DataFrame]] = {
    "popular_category_by_country": lambda j: _popular_category_by_country(j["pin_geo"]),
    "popular_category_by_year": lambda j: _popular_category_by_year(j["pin_geo"]),
    "most_followed_user_by_country": lambda j: _most_followed_user_by_country(j["pin_geo"]),
    "top_country_by_most_followed_user": lambda j: _top_country_by_most_followed_user(j["pin_geo"]),
    "popular_category_by_age_group": lambda j: _popular_category_by_age_group(j["pin_user"]),
    "median_followers_by_age_group": lambda j: _median_followers_by_age_group(j["pin_user"]),
    "users_joined_by_year": lambda j: users_joined_by_year(j["user"]),
    "median_followers_by_join_year": lambda j: _median_followers_by_join_year(j["pin_user"]),
    "median_followers_by_join_year_and_age_group": (
        lambda j: _median_followers_by_join_year_and_age_group(j["pin_user"])
    ),
}


def _from_tables(name: str) -> Callable[[Tables], DataFrame]:
    return lambda t: FROM_JOINED[name](joined(t))


#: Output name -> how to compute it from the cleaned tables {"pin", "geo", "user"}.
QUESTIONS: dict[str, Callable[[Tables], DataFrame]] = {
    name: _from_tables(name) for name in FROM_JOINED
}
