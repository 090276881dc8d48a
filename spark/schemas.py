"""Explicit schemas of the landed events: the MySQL rows exactly as the emulator posts them
(`services.contracts.rows`: datetimes as text, the key column of each table).

No `inferSchema`: a sample can guess `follower_count` as a number one day and a string the
next. A value of the wrong JSON type makes the whole line corrupt (PERMISSIVE mode), and the
batch job quarantines it. The streaming job parses Kafka values with the same schemas.
"""

from __future__ import annotations

from pyspark.sql.types import (
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

# (standard library only: the notebook imports this on Databricks, without our dependencies)
from services.contracts.rows import KEY_COLUMNS

#: Name of the column Spark fills with the raw text of a line it could not parse.
CORRUPT_COLUMN = "_corrupt_record"

PIN = StructType(
    [
        StructField("index", LongType()),
        StructField("unique_id", StringType()),
        StructField("title", StringType()),
        StructField("description", StringType()),
        StructField("poster_name", StringType()),
        # "51k", "6M", "437" or a placeholder: text in the source table.
        StructField("follower_count", StringType()),
        StructField("tag_list", StringType()),
        StructField("is_image_or_video", StringType()),
        StructField("image_src", StringType()),
        StructField("downloaded", LongType()),
        StructField("save_location", StringType()),
        StructField("category", StringType()),
    ]
)

GEO = StructType(
    [
        StructField("ind", LongType()),
        # "YYYY-MM-DD HH:MM:SS": the emulator serialises MySQL datetimes as text.
        StructField("timestamp", StringType()),
        StructField("latitude", DoubleType()),
        StructField("longitude", DoubleType()),
        StructField("country", StringType()),
    ]
)

USER = StructType(
    [
        StructField("ind", LongType()),
        StructField("first_name", StringType()),
        StructField("last_name", StringType()),
        StructField("age", LongType()),
        StructField("date_joined", StringType()),
    ]
)

SOURCE: dict[str, StructType] = {"pin": PIN, "geo": GEO, "user": USER}

#: The column holding each table's event key before cleaning (pin calls it `index`).
SOURCE_KEY: dict[str, str] = KEY_COLUMNS


def with_corrupt_column(schema: StructType) -> StructType:
    """The schema plus the string column PERMISSIVE mode fills for unparseable lines."""
    return StructType([*schema.fields, StructField(CORRUPT_COLUMN, StringType())])
