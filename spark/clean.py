"""Cleaning: pure DataFrame -> DataFrame functions, one per table plus the shared steps.

No actions and no side effects here, so the streaming job applies the same functions to
micro-batches. The rules are the original Databricks notebook's, written down in issue 6.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from spark.schemas import CORRUPT_COLUMN, SOURCE_KEY

#: Values the source uses for "missing"; each becomes null in its column.
PIN_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "title": ("No Title Data Available",),
    "description": (
        "No description available Story format",
        "No description available",
        "Untitled",
    ),
    "poster_name": ("User Info Error",),
    "follower_count": ("User Info Error",),
    "tag_list": ("N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",),
    "image_src": ("Image src error.",),
}

SAVE_LOCATION_PREFIX = "Local save in "

PIN_COLUMNS: tuple[str, ...] = (
    "ind",
    "unique_id",
    "title",
    "description",
    "follower_count",
    "poster_name",
    "tag_list",
    "is_image_or_video",
    "image_src",
    "save_location",
    "category",
)
GEO_COLUMNS: tuple[str, ...] = ("ind", "country", "coordinates", "timestamp")
USER_COLUMNS: tuple[str, ...] = ("ind", "user_name", "age", "date_joined")

# "51k", "6M", "437", also "1.5k"; anything else is not a count.
_FOLLOWERS = r"^(\d+(?:\.\d+)?)([kKmM]?)$"


def split_corrupt(raw: DataFrame, table: str) -> tuple[DataFrame, DataFrame]:
    """(parsed rows, quarantined rows) of a table read with `with_corrupt_column`.

    A line is quarantined when Spark could not parse it against the schema, or when it has
    no key (`index`/`ind`): such a row can be neither de-duplicated nor joined. Quarantined
    rows keep the original text in `raw_line` and say why in `reason`.
    """
    key = SOURCE_KEY[table]
    corrupt = F.col(CORRUPT_COLUMN).isNotNull()
    no_key = F.col(key).isNull()
    fields = [c for c in raw.columns if c != CORRUPT_COLUMN]
    good = raw.where(~corrupt & ~no_key).select(*fields)
    bad = raw.where(corrupt | no_key).select(
        F.coalesce(F.col(CORRUPT_COLUMN), F.to_json(F.struct(*fields))).alias("raw_line"),
        F.when(corrupt, F.lit("unparseable")).otherwise(F.lit(f"missing {key}")).alias("reason"),
    )
    return good, bad


def drop_duplicate_events(df: DataFrame) -> DataFrame:
    """One row per `ind`: at-least-once delivery can land the same event twice."""
    return df.dropDuplicates(["ind"])


def null_placeholders(df: DataFrame, placeholders: dict[str, tuple[str, ...]]) -> DataFrame:
    """Empty strings in every string column, and each column's placeholders, become null."""
    out = df
    for field in df.schema.fields:
        if not isinstance(field.dataType, StringType):
            continue
        col = F.col(field.name)
        missing = col == ""
        values = placeholders.get(field.name, ())
        if values:
            missing = missing | col.isin(*values)
        out = out.withColumn(field.name, F.when(missing, F.lit(None)).otherwise(col))
    return out


def parse_follower_count(col: Column) -> Column:
    """ "51k" -> 51000, "6M" -> 6000000, "437" -> 437 as a 64-bit integer; else null."""
    text = F.trim(col)
    number = F.regexp_extract(text, _FOLLOWERS, 1)
    unit = F.upper(F.regexp_extract(text, _FOLLOWERS, 2))
    factor = F.when(unit == "K", F.lit(1_000)).when(unit == "M", F.lit(1_000_000)).otherwise(1)
    # Decimal arithmetic so "1.1k" is exactly 1100, not 1099.999...
    exact = number.cast("decimal(24,3)") * factor
    return F.when(number != "", exact.cast("long"))


def strip_save_location(col: Column) -> Column:
    """ "Local save in /data/mens-fashion" -> "/data/mens-fashion"."""
    return F.regexp_replace(col, "^" + SAVE_LOCATION_PREFIX, "")


def pin_rows(df: DataFrame) -> DataFrame:
    """Each pin line cleaned, one row per line (no de-duplication: see `clean_pin`)."""
    out = null_placeholders(df, PIN_PLACEHOLDERS)
    out = (
        out.withColumn("follower_count", parse_follower_count(F.col("follower_count")))
        .withColumn("save_location", strip_save_location(F.col("save_location")))
        .withColumn("downloaded", F.col("downloaded").cast("int"))
        .withColumnRenamed("index", "ind")
        .withColumn("ind", F.col("ind").cast("int"))
    )
    # The column list leaves `downloaded` out, as the original notebook does.
    return out.select(*PIN_COLUMNS)


def geo_rows(df: DataFrame) -> DataFrame:
    out = (
        df.withColumn("ind", F.col("ind").cast("int"))
        .withColumn("coordinates", F.array(F.col("latitude"), F.col("longitude")))
        .withColumn("timestamp", F.col("timestamp").cast("timestamp"))
    )
    return out.select(*GEO_COLUMNS)


def user_rows(df: DataFrame) -> DataFrame:
    out = (
        df.withColumn("ind", F.col("ind").cast("int"))
        .withColumn("user_name", F.concat(F.col("first_name"), F.lit(" "), F.col("last_name")))
        .withColumn("age", F.col("age").cast("int"))
        .withColumn("date_joined", F.col("date_joined").cast("timestamp"))
    )
    return out.select(*USER_COLUMNS)


def clean_pin(df: DataFrame) -> DataFrame:
    return drop_duplicate_events(pin_rows(df))


def clean_geo(df: DataFrame) -> DataFrame:
    return drop_duplicate_events(geo_rows(df))


def clean_user(df: DataFrame) -> DataFrame:
    return drop_duplicate_events(user_rows(df))


#: Line -> cleaned row, per table, without the de-duplication: for a caller that knows its
#: lines have no repeated key (the batch job checks first: the de-duplication is a shuffle of
#: every column, half the job's time at 1,000,000 events).
ROW_CLEANERS = {"pin": pin_rows, "geo": geo_rows, "user": user_rows}
#: The whole cleaning per table: one row per event key.
CLEANERS = {"pin": clean_pin, "geo": clean_geo, "user": clean_user}
