"""The ASGI applications: Confluent v2 API and legacy API, picked by the listening port.

One process serves both ports so they share one producer; the dispatcher looks at the
local port of each connection (`scope["server"]`) and owns start-up and shutdown.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from services.kinesis.backend import backend_for
from services.kinesis.gateway import gateway_routes
from services.kinesis.protocol import KINESIS_PROBES, kinesis_app
from services.rest_proxy import consumer_api, produce, topics
from services.rest_proxy.admission import AdmissionMiddleware
from services.rest_proxy.errors import UNEXPECTED_ERROR, ProxyError, error_response
from services.rest_proxy.openapi import openapi_spec
from services.rest_proxy.state import ProxyState
from services.settings import Settings

log = logging.getLogger(__name__)


async def _proxy_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProxyError)
    response = error_response(exc.status, exc.error_code, exc.message)
    if exc.status in (429, 503):
        # Retriable: say when (the emulator and Confluent's clients honour it).
        state: ProxyState = request.app.state.proxy
        response.headers["Retry-After"] = str(state.settings.rest_proxy_retry_after_s)
    return response


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.status_code, f"HTTP {exc.status_code} {exc.detail}")


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The trace goes to the log (uvicorn prints it once Starlette re-raises), never to
    # the client.
    log.error("unexpected error on %s %s: %r", request.method, request.url.path, exc)
    return error_response(500, UNEXPECTED_ERROR, "Internal server error; see the proxy's log.")


_HANDLERS: Any = {ProxyError: _proxy_error, HTTPException: _http_error, Exception: _unexpected}


async def root(_request: Request) -> Response:
    # Confluent's proxy answers `{}` at the root; cheap enough for a readiness probe.
    return Response(b"{}", media_type="application/json")


async def health(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy
    stats = state.admission.stats
    body = {
        "status": "ok",
        "consumer_instances": len(state.consumers),
        "in_flight": {"requests": state.admission.requests, "bytes": state.admission.bytes},
        "admitted": stats.admitted,
        "refused_429": stats.refused,
    }
    return Response(orjson.dumps(body), media_type="application/json")


def _openapi(legacy: bool) -> Any:
    async def serve(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return Response(
            orjson.dumps(openapi_spec(base, legacy=legacy)), media_type="application/json"
        )

    return serve


def v2_app(state: ProxyState) -> Starlette:
    instance = "/consumers/{group}/instances/{name}"
    routes = [
        Route("/", root),
        Route("/health", health),
        Route("/openapi.json", _openapi(False)),
        Route("/topics", topics.list_topics),
        Route("/topics/{topic}", topics.get_topic, methods=["GET"]),
        Route("/topics/{topic}", produce.produce_v2, methods=["POST"]),
        Route("/brokers", topics.list_brokers),
        Route("/consumers/{group}", consumer_api.create_consumer, methods=["POST"]),
        Route(instance, consumer_api.delete_consumer, methods=["DELETE"]),
        Route(f"{instance}/subscription", consumer_api.subscribe, methods=["POST"]),
        Route(f"{instance}/subscription", consumer_api.get_subscription, methods=["GET"]),
        Route(f"{instance}/subscription", consumer_api.unsubscribe, methods=["DELETE"]),
        Route(f"{instance}/records", consumer_api.records, methods=["GET"]),
        Route(f"{instance}/offsets", consumer_api.commit_offsets, methods=["POST"]),
        Route(f"{instance}/offsets", consumer_api.committed_offsets, methods=["GET"]),
        Route(f"{instance}/positions", consumer_api.seek, methods=["POST"]),
        Route(f"{instance}/positions/beginning", consumer_api.seek_to_beginning, methods=["POST"]),
        Route(f"{instance}/positions/end", consumer_api.seek_to_end, methods=["POST"]),
        Route(f"{instance}/assignments", consumer_api.assignments, methods=["GET"]),
        # API Gateway's Kinesis routes (/streams/...), answering in Kinesis' error shape.
        *gateway_routes(),
    ]
    app = Starlette(routes=routes, exception_handlers=_HANDLERS)
    app.state.proxy = state
    app.state.kinesis = backend_for(state)
    return app


def legacy_app(state: ProxyState) -> Starlette:
    routes = [
        Route("/", root),
        Route("/health", health),
        Route("/openapi.json", _openapi(True)),
        # `/pin/` is the original's path; `/pin` is accepted too rather than redirected,
        # since a redirected POST loses its body in many clients.
        Route("/{table:str}/", produce.produce_legacy, methods=["POST"]),
        Route("/{table:str}", produce.produce_legacy, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers=_HANDLERS)
    app.state.proxy = state
    return app


class ProxyApp:
    """ASGI entry point: routes each connection by its local port, owns the lifespan."""

    def __init__(
        self, settings: Settings, legacy_port: int | None, kinesis_port: int | None = None
    ) -> None:
        self.settings = settings
        self.legacy_port = legacy_port
        self.kinesis_port = kinesis_port
        self._kinesis: Any = None
        self.state: ProxyState | None = None
        self._v2: Any = None
        self._legacy: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        server = scope.get("server")
        app = self._legacy if server and server[1] == self.legacy_port else self._v2
        if server and server[1] == self.kinesis_port:
            app = self._kinesis
        if app is None:
            raise RuntimeError("the proxy received a request before start-up completed")
        try:
            await app(scope, receive, send)
        except Exception:
            # Starlette has already answered 500 {"error_code": 50001}; keep the trace
            # in the log and out of uvicorn's second report.
            log.exception("unexpected error on %s", scope.get("path"))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        self.state = ProxyState(self.settings)
        retry_after = self.settings.rest_proxy_retry_after_s
        self._v2 = AdmissionMiddleware(v2_app(self.state), self.state.admission, retry_after)
        self._legacy = AdmissionMiddleware(
            legacy_app(self.state), self.state.admission, retry_after
        )
        # The Kinesis port shares the same bound: one Admission for every port.
        self._kinesis = AdmissionMiddleware(
            kinesis_app(backend_for(self.state)),
            self.state.admission,
            retry_after,
            probes=KINESIS_PROBES,
            kinesis=True,
        )
        await self.state.start()

    async def stop(self) -> None:
        if self.state is not None:
            await backend_for(self.state).close()
            await self.state.stop()
