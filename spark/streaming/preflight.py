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
    try:
        exists = clients_for(settings).s3().bucket_exists(settings.bucket)
    except (MinioException, HTTPError, OSError) as exc:
        raise PreflightError(
            f"S3 at S3_ENDPOINT={settings.s3_endpoint} did not answer ({exc}): start the stack "
            "with `make up` and check `make status`."
        ) from None
    if not exists:
        raise PreflightError(
            f"bucket {settings.bucket} does not exist: `make up` creates it for "
            f"PIPELINE_USER_ID={settings.pipeline_user_id} (or check that user id)."
        )


def check_topics(settings: Settings, tables: Iterable[str], timeout_s: float = 10.0) -> None:
    wanted = [settings.streaming_topic(t) for t in tables]
    try:
        present = clients_for(settings).kafka_admin().list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise PreflightError(
            f"Kafka at KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers} did not "
            f"answer within {timeout_s:g} s ({exc}): start the stack with `make up`."
        ) from None
    missing = [t for t in wanted if t not in present]
    if missing:
        raise PreflightError(
            f"streaming topic(s) {', '.join(missing)} do not exist: `make up` creates them for "
            f"PIPELINE_USER_ID={settings.pipeline_user_id} (or check that user id)."
        )
