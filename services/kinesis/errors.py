"""Kinesis' error shape: `{"__type": "...", "message": "..."}`, as the SDKs parse it.

API Gateway's Kinesis integration passes these bodies through, so both faces answer the
same way. Every handler raises `KinesisError`; nothing below the faces answers a 500.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

#: The Kinesis JSON protocol's media type (JSON 1.1), also used for error bodies.
AMZ_JSON = "application/x-amz-json-1.1"
#: A local stand-in has one account; ARNs and messages name this one, as moto does.
ACCOUNT_ID = "000000000000"


class KinesisError(Exception):
    def __init__(self, error_type: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status


def error_response(exc: KinesisError, media_type: str = AMZ_JSON) -> Response:
    return Response(
        orjson.dumps({"__type": exc.error_type, "message": exc.message}),
        status_code=exc.status,
        media_type=media_type,
        headers={"x-amzn-ErrorType": exc.error_type},
    )


def not_found(stream: str) -> KinesisError:
    return KinesisError(
        "ResourceNotFoundException", f"Stream {stream} under account {ACCOUNT_ID} not found."
    )


def in_use(stream: str) -> KinesisError:
    return KinesisError(
        "ResourceInUseException", f"Stream {stream} under account {ACCOUNT_ID} already exists."
    )


def denied(message: str) -> KinesisError:
    # Kinesis answers a forbidden action with AccessDeniedException and 400, and API
    # Gateway passes that through unchanged.
    return KinesisError("AccessDeniedException", message)


def invalid(message: str) -> KinesisError:
    return KinesisError("InvalidArgumentException", message)


def validation(message: str) -> KinesisError:
    return KinesisError("ValidationException", message)


def serialization(message: str) -> KinesisError:
    return KinesisError("SerializationException", message)


def unavailable(message: str) -> KinesisError:
    # 503: every SDK backs off and retries it; the message names what is down.
    return KinesisError("ServiceUnavailableException", message, status=503)
