"""The emulator honours the proxy's `Retry-After` (issue 12), against a loopback stub."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from services.emulator.sender import (
    MAX_RETRY_AFTER_S,
    RetryPolicy,
    Sender,
    retry_after_seconds,
)
from services.settings import Settings

pytestmark = pytest.mark.unit


def test_retry_after_in_seconds_or_as_a_date_clamped() -> None:
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(" 0.5 ") == 0.5
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds("99999") == MAX_RETRY_AFTER_S
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = retry_after_seconds(later)
    assert seconds is not None and 25 <= seconds <= 30


class _Stub(BaseHTTPRequestHandler):
    """429 with Retry-After for the first `busy` posts, then a 200 for every record."""

    busy = 2
    seen = 0

    def do_POST(self) -> None:
        body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen += 1
        if type(self).seen <= type(self).busy:
            payload = b'{"error_code": 42901, "message": "busy"}'
            self.send_response(429)
            self.send_header("Retry-After", "2")
        else:
            offsets = [
                {"partition": 0, "offset": i, "error_code": None, "error": None}
                for i in range(len(body["records"]))
            ]
            payload = orjson.dumps({"offsets": offsets})
            self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    _Stub.seen = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_sender_waits_at_least_retry_after_then_delivers(stub: str) -> None:
    settings = Settings(rest_proxy_url=stub)
    sender = Sender(settings, "rest", RetryPolicy(max_retries=5, base_s=0.01, cap_s=0.05))
    waits: list[float] = []

    def wait(delay: float | None = None) -> bool:  # records the back-off, no sleep
        waits.append(float(delay or 0))
        return False

    sender.stopping.wait = wait  # type: ignore[method-assign,assignment]
    assert sender.send("pin", "t.pin", [{"index": 1}, {"index": 2}]) == 2
    # Backoff alone would wait <= 0.05 s; the proxy asked for 2 s, twice.
    assert waits == [2.0, 2.0]
    assert sender.retries == 2 and _Stub.seen == 3
