"""Check the bucket and the streaming topics before starting Spark, for a one-line error.

Spark takes tens of seconds to start and reports an unreachable S3 or a missing topic as a
long JVM stack trace; these checks take a second and name the fix instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaException
from minio.error import MinioException
from urllib3.exceptions import HTTPError

from services.clients import clients_for
from services.settings import Settings


class PreflightError(RuntimeError):
    """S3 or Kafka is not ready for the streaming job; the message names the fix."""


def check_bucket(settings: Settings) -> None:
    clients = clients_for(settings)
    try:
        exists = clients.s3().bucket_exists(settings.bucket)
    except (MinioException, HTTPError, OSError) as exc:
        raise PreflightError(f"S3 did not answer ({exc}): {clients.setup_hint('s3')}.") from None
    if not exists:
        raise PreflightError(
            f"bucket {settings.bucket} does not exist: {clients.setup_hint('bucket')}."
        )


def check_topics(settings: Settings, tables: Iterable[str], timeout_s: float = 10.0) -> None:
    wanted = [settings.streaming_topic(t) for t in tables]
    clients = clients_for(settings)
    try:
        present = clients.kafka_admin().list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise PreflightError(
            f"Kafka did not answer within {timeout_s:g} s ({exc}): {clients.setup_hint('kafka')}."
        ) from None
    missing = [t for t in wanted if t not in present]
    if missing:
        raise PreflightError(
            f"streaming topic(s) {', '.join(missing)} do not exist: "
            f"{clients.setup_hint('streaming-topics')}."
        )
