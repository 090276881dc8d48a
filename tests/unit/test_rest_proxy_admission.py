"""The in-flight bound of the proxy (issue 12): pure counting, no server."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from services.rest_proxy.admission import (
    TOO_MANY_REQUESTS,
    Admission,
    AdmissionMiddleware,
    _declared_length,
)

pytestmark = pytest.mark.unit


def test_requests_above_the_count_are_refused_and_released_slots_reused() -> None:
    a = Admission(max_requests=2, max_bytes=10_000, body_limit=1000)
    first, second = a.reserve(10), a.reserve(10)
    assert (first, second) == (10, 10)
    assert a.reserve(10) is None
    a.release(10)
    assert a.reserve(10) == 10
    assert (a.stats.admitted, a.stats.refused, a.stats.peak_requests) == (3, 1, 2)


def test_bytes_in_flight_are_bounded_and_chunked_bodies_reserve_the_body_limit() -> None:
    a = Admission(max_requests=100, max_bytes=2500, body_limit=1000)
    assert a.reserve(None) == 1000  # no Content-Length: its worst case
    assert a.reserve(1500) == 1000  # above the body limit: 413 later, counted at the limit
    assert a.reserve(600) is None
    assert a.reserve(500) == 500
    assert a.bytes == 2500


def test_one_request_is_always_admitted_when_idle() -> None:
    a = Admission(max_requests=1, max_bytes=10, body_limit=1000)
    assert a.reserve(500) == 500  # bigger than the byte budget, but nothing else runs
    assert a.reserve(1) is None


def _call(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent


def test_middleware_answers_429_with_retry_after_and_never_refuses_probes() -> None:
    calls: list[str] = []

    async def inner(scope: Any, _receive: Any, _send: Any) -> None:
        calls.append(scope["path"])

    admission = Admission(max_requests=1, max_bytes=100, body_limit=100)
    admission.reserve(1)  # someone else is in flight
    app = AdmissionMiddleware(inner, admission, retry_after_s=3)
    start, body = _call(app, "/topics/t", [(b"content-length", b"5")])
    assert start["status"] == 429
    assert dict(start["headers"])[b"retry-after"] == b"3"
    error = orjson.loads(body["body"])
    assert error["error_code"] == TOO_MANY_REQUESTS
    assert "REST_PROXY_MAX_INFLIGHT_REQUESTS" in error["message"]
    assert calls == []
    assert _call(app, "/health", []) == [] and calls == ["/health"]
    admission.release(1)
    _call(app, "/topics/t", [(b"content-length", b"5")])
    assert calls == ["/health", "/topics/t"] and admission.requests == 0


def test_declared_length_of_bodies_chunked_bodies_and_no_body() -> None:
    def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
        return {"headers": list(headers)}

    assert _declared_length(scope((b"content-length", b"42"))) == 42
    assert _declared_length(scope((b"transfer-encoding", b"chunked"))) is None
    assert _declared_length(scope((b"content-length", b"x"))) is None
    # A GET (a consumer poll, a metadata read) has no body and reserves nothing.
    assert _declared_length(scope((b"accept", b"*/*"))) == 0


def test_kinesis_port_refuses_post_root_in_kinesis_shape_and_health_stays_a_probe() -> None:
    from services.kinesis.protocol import KINESIS_PROBES

    calls: list[str] = []

    async def inner(scope: Any, _receive: Any, _send: Any) -> None:
        calls.append(scope["path"])

    admission = Admission(max_requests=1, max_bytes=100, body_limit=100)
    admission.reserve(1)
    app = AdmissionMiddleware(inner, admission, 2, probes=KINESIS_PROBES, kinesis=True)
    # `POST /` is every Kinesis action: the default probes would have let it through.
    start, body = _call(app, "/", [(b"content-length", b"5")])
    assert start["status"] == 429 and dict(start["headers"])[b"retry-after"] == b"2"
    assert orjson.loads(body["body"])["__type"] == "LimitExceededException"
    assert calls == []
    assert _call(app, "/health", []) == [] and calls == ["/health"]
