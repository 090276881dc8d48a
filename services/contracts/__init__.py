"""The formats that cross stage boundaries, each with one owner.

    rows.py    a MySQL row as the JSON values the emulator posts (datetimes as text) and the
               key column of each table: what Spark's schemas read back
    lines.py   those values as bytes: one compact JSON line per record, the rule the REST
               proxy and the S3 sink apply to a value, and an object body of lines
    keys.py    where a record lands: Confluent's S3 sink object keys
    naming.py  a namespace's topic and bucket names

The S3 sink connector (connect/s3-sink) is Java and keeps its own copy of `keys` and
`naming` (ObjectNames.java, Buckets.java) and of the line rule (JsonLine.java);
tests/unit/test_contracts.py checks that both sides agree on the same examples.

`rows`, `keys` and `naming` use the standard library only: Spark on Databricks imports them
(through `spark.schemas`) without this project's dependencies. `lines` needs orjson.
"""
