"""Counters the sink keeps, and `GET /health` on 127.0.0.1 that reports them as JSON.

The main loop owns the counters; the HTTP thread only reads a snapshot the loop publishes,
so no Kafka or S3 client is ever touched from two threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

log = logging.getLogger(__name__)

# The loop ticks at least every half second; this long without a tick means it is stuck.
STALL_SECONDS = 60.0


@dataclass
class SinkCounters:
    landed_records: Counter[str] = field(default_factory=Counter)
    landed_objects: Counter[str] = field(default_factory=Counter)
    dead_lettered: Counter[str] = field(default_factory=Counter)
    commit_failures: int = 0
    #: Objects found already stored under the name this sink was about to write.
    found_landed: int = 0
    kafka_errors: int = 0
    last_error: str = ""
    last_landed_at: float | None = None


class HealthBoard:
    """Holds the latest snapshot; thread-safe."""

    def __init__(self, name: str) -> None:
        self._lock = threading.Lock()
        self._snapshot: dict[str, Any] = {"service": name, "status": "starting"}
        self._tick = time.monotonic()

    def publish(self, snapshot: dict[str, Any]) -> None:
        with self._lock:
            self._snapshot = snapshot
            self._tick = time.monotonic()

    def read(self) -> tuple[int, dict[str, Any]]:
        with self._lock:
            snap = dict(self._snapshot)
            age = time.monotonic() - self._tick
        snap["seconds_since_loop"] = round(age, 3)
        if age > STALL_SECONDS:
            snap["status"] = "stalled"
            return 503, snap
        return 200, snap


def serve(board: HealthBoard, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start the endpoint in a daemon thread; raises OSError if the port is taken."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/health":
                self._send(404, {"error": "not found: try GET /health"})
                return
            status, body = board.read()
            self._send(status, body)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            # Probes every few seconds would drown the sink's own log.
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    log.info("health endpoint on http://%s:%d/health", host, port)
    return server
