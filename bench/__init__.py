"""Every benchmark of the project: `make bench` runs `python -m bench` (see `__main__`).

One module per stage of the flow, each measuring what crosses it:

    seed.py       bulk load of the spoof database (MariaDB)
    ingest.py     plain producer vs the REST proxy; the emulator's full replay
    kinesis.py    the Kinesis-shaped API vs the Confluent API's batched produce
    landing.py    Kafka -> S3 sink -> S3: records/s and POST -> visible latency
    spark.py      the Spark batch job vs DuckDB on the same S3 objects
    streaming.py  Structured Streaming into Delta: capacity and latency
    landed.py     events written in the sink's object layout without Kafka (bench and tests)

Figures go to `bench/results.json`; the README's "How fast" paragraph is printed from it
by `python -m bench --readme`. Benchmarks are measurements, not tests.
"""
