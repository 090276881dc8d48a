"""Kafka -> S3 landing in the layout of Confluent's S3 sink connector.

Run it with `python -m services.s3_sink` (supervisord does, as service "s3-sink"). It reads
the committed connector config (`connector.json`), subscribes to the batch topics of every
namespace and writes `topics/<topic>/partition=<p>/<topic>+<p>+<start offset>.json` objects
into `user-<user_id>-bucket`. `GET /health` on 127.0.0.1:SINK_HEALTH_PORT reports counters.
"""
