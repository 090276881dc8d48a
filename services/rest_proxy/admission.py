"""Admission control: a bound on requests and request bytes in flight (issue 12).

Above either bound a request is answered at once with 429 and `Retry-After`, before its
body is read, so a flood of clients costs the proxy a counter and a short answer instead
of unbounded memory. Health and readiness probes are never refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

TOO_MANY_REQUESTS = 42901
KINESIS_THROTTLED = "LimitExceededException"
#: Paths a supervisor or a test polls: answered even when the proxy is saturated.
PROBES = frozenset({"/", "/health", "/openapi.json"})


@dataclass
class AdmissionStats:
    admitted: int = 0
    refused: int = 0
    peak_requests: int = 0
    peak_bytes: int = 0


class Admission:
    """Counts requests and declared body bytes in flight; refuses above either limit.

    A request without Content-Length (chunked) reserves the body limit, its worst case.
    One request is always admitted when nothing is in flight, so a limit smaller than
    one body never blocks the proxy for good."""

    def __init__(self, max_requests: int, max_bytes: int, body_limit: int) -> None:
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.body_limit = body_limit
        self.requests = 0
        self.bytes = 0
        self.stats = AdmissionStats()

    def reserve(self, declared: int | None) -> int | None:
        """Bytes reserved for an admitted request, or None if it must be refused."""
        size = self.body_limit if declared is None else min(max(declared, 0), self.body_limit)
        if self.requests and (
            self.requests >= self.max_requests or self.bytes + size > self.max_bytes
        ):
            self.stats.refused += 1
            return None
        self.requests += 1
        self.bytes += size
        self.stats.admitted += 1
        self.stats.peak_requests = max(self.stats.peak_requests, self.requests)
        self.stats.peak_bytes = max(self.stats.peak_bytes, self.bytes)
        return size

    def release(self, size: int) -> None:
        self.requests -= 1
        self.bytes -= size


def _declared_length(scope: Scope) -> int | None:
    """Content-Length; None (the worst case) for a chunked body; 0 for no body (GET)."""
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the handler answers 400 for it
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return None if chunked else 0


class AdmissionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        admission: Admission,
        retry_after_s: int,
        probes: frozenset[str] = PROBES,
        kinesis: bool = False,
    ) -> None:
        self.app = app
        self.admission = admission
        self.retry_after = str(retry_after_s).encode()
        # The Kinesis protocol's only action route is `POST /`: there `/health` alone is
        # a probe.
        self.probes = probes
        # Kinesis clients read `__type`: LimitExceededException is a throttling error the
        # AWS SDKs back off and retry.
        self.kinesis = kinesis

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.probes:
            await self.app(scope, receive, send)
            return
        reserved = self.admission.reserve(_declared_length(scope))
        if reserved is None:
            await self._refuse(send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.release(reserved)

    async def _refuse(self, send: Send) -> None:
        a = self.admission
        message = (
            f"Too many requests in flight ({a.requests} requests, {a.bytes} bytes; "
            f"limits REST_PROXY_MAX_INFLIGHT_REQUESTS={a.max_requests}, "
            f"REST_PROXY_MAX_INFLIGHT_BYTES={a.max_bytes}): retry after "
            f"{self.retry_after.decode()} s."
        )
        if self.kinesis:
            body = orjson.dumps({"__type": KINESIS_THROTTLED, "message": message})
            headers = [
                (b"content-type", b"application/x-amz-json-1.1"),
                (b"x-amzn-errortype", KINESIS_THROTTLED.encode()),
            ]
        else:
            body = orjson.dumps({"error_code": TOO_MANY_REQUESTS, "message": message})
            headers = [(b"content-type", b"application/vnd.kafka.v2+json")]
        headers += [
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", self.retry_after),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
