"""Bind both listening sockets and run uvicorn on them in one process."""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

import uvicorn

from services.rest_proxy.app import ProxyApp
from services.rest_proxy.records import ensure_recursion_headroom
from services.settings import Settings

log = logging.getLogger(__name__)

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ProxyConfigError(ValueError):
    """A URL setting cannot be served by this process; the message names the setting."""


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    setting: str


def listen_address(url: str, setting: str, host: str | None = None) -> Listen:
    """Where to listen to serve `url` (a setting such as REST_PROXY_URL)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ProxyConfigError(
            f"{setting}={url!r} is not an http(s) URL with a host; set it like "
            f"{setting}=http://127.0.0.1:8082"
        )
    if parsed.scheme == "https":
        raise ProxyConfigError(
            f"{setting}={url!r}: the local proxy serves plain http; use http://127.0.0.1:<port>"
        )
    if host is None and parsed.hostname not in _LOOPBACK:
        raise ProxyConfigError(
            f"{setting}={url!r} does not point at this machine (127.0.0.1), so the local "
            "proxy cannot serve it; with PIPELINE_TARGET=aws it is the API Gateway URL and "
            "no local proxy is needed"
        )
    port = parsed.port or 80
    return Listen(host or "127.0.0.1", port, setting)


def bind(listen: Listen) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listen.host, listen.port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ProxyConfigError(
                f"port {listen.port} ({listen.setting}) is already in use: stop whatever "
                f"listens there, or change {listen.setting}"
            ) from None
        raise
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, *, host: str | None = None, log_level: str = "info") -> None:
    """Serve until SIGINT/SIGTERM; `host` overrides the bind address (containers)."""
    rest = listen_address(settings.rest_proxy_url, "REST_PROXY_URL", host)
    legacy = listen_address(settings.legacy_api_url, "LEGACY_API_URL", host)
    if rest.port == legacy.port:
        raise ProxyConfigError(
            f"REST_PROXY_URL and LEGACY_API_URL both use port {rest.port}; give them "
            "different ports (defaults 8082 and 8000)"
        )
    # The Kinesis JSON protocol (issue 15) on a third port, in this process so that it
    # shares the producer with the /streams routes of the v2 API.
    kinesis = listen_address(settings.kinesis_url, "KINESIS_URL", host)
    if kinesis.port in (rest.port, legacy.port):
        raise ProxyConfigError(
            f"KINESIS_URL uses port {kinesis.port}, as REST_PROXY_URL or LEGACY_API_URL "
            "does; give it a port of its own (default 4567)"
        )
    sockets = [bind(rest), bind(legacy), bind(kinesis)]
    # The depth rule (records.MAX_JSON_DEPTH) needs this headroom in the serving process.
    ensure_recursion_headroom()
    app = ProxyApp(settings, legacy_port=legacy.port, kinesis_port=kinesis.port)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        # Clients of a throughput benchmark keep connections open between batches.
        timeout_keep_alive=30,
        backlog=2048,
    )
    log.info(
        "serving the v2 API on %s:%d, the legacy API on %s:%d and Kinesis on %s:%d",
        rest.host,
        rest.port,
        legacy.host,
        legacy.port,
        kinesis.host,
        kinesis.port,
    )
    uvicorn.Server(config).run(sockets=sockets)
