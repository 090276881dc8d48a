"""Structured Streaming: the streaming topics -> the batch job's cleaning -> Delta tables on S3.

`python -m spark.streaming run|once|show`. One query per table reads
`streaming-<user_id>-<table>` from the earliest offset, parses each value with the explicit
schema (`spark.schemas`), cleans every micro-batch with the batch job's own functions
(`spark.clean`) and merges it into `s3a://<bucket>/delta/<table>/` by the event key `ind`,
so an event delivered twice is one row; events that cannot be parsed or have no key go to
`delta/quarantine/`. Checkpoints live in the bucket next to the tables, with the lease
that keeps a second job off the namespace (`spark.streaming.lease`).
"""
