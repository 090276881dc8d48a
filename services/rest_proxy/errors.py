"""Confluent REST Proxy error codes and the one exception every handler raises.

Bodies are always `{"error_code": int, "message": str}`, as Confluent documents them:
the HTTP status alone is the code for generic failures (400, 413, 415, 422), and the
five-digit codes refine it (status * 100 + n).
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

TOPIC_AUTHORIZATION_FAILED = 40301
TOPIC_NOT_FOUND = 40401
PARTITION_NOT_FOUND = 40402
CONSUMER_INSTANCE_NOT_FOUND = 40403
CONSUMER_FORMAT_MISMATCH = 40601
CONSUMER_ALREADY_EXISTS = 40902
INVALID_CONSUMER_CONFIG = 42204
UNEXPECTED_ERROR = 50001
KAFKA_ERROR = 50002
KAFKA_RETRIABLE_ERROR = 50003


class ProxyError(Exception):
    """An error answered as `{"error_code", "message"}` with the given HTTP status."""

    def __init__(self, status: int, message: str, error_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code if error_code is not None else status


def error_response(status: int, error_code: int, message: str) -> Response:
    return Response(
        orjson.dumps({"error_code": error_code, "message": message}),
        status_code=status,
        media_type="application/vnd.kafka.v2+json",
    )


def topic_not_found() -> ProxyError:
    return ProxyError(404, "Topic not found.", TOPIC_NOT_FOUND)


def internal_topic(topic: str) -> ProxyError:
    # Kafka's own wording for TopicAuthorizationException, as Confluent's proxy relays it.
    return ProxyError(
        403,
        f"Not authorized to access topics: [{topic}] (an internal topic of Kafka or "
        "Connect: producing to it could corrupt the cluster; produce to your own topics).",
        TOPIC_AUTHORIZATION_FAILED,
    )


def broker_unavailable(detail: str) -> ProxyError:
    return ProxyError(503, f"Kafka broker unavailable: {detail}", KAFKA_RETRIABLE_ERROR)
