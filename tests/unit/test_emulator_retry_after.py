"""The emulator honours the proxy's `Retry-After` (issue 12), against a loopback stub."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import orjson
import pytest
import requests

from services.emulator.errors import DeliveryError
from services.emulator.kinesis_sender import KinesisSender
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


class _KinesisStub(BaseHTTPRequestHandler):
    """`PUT .../records`: 429 with Retry-After first, then per-record results (`answer`)."""

    busy = 1
    seen = 0
    answer: ClassVar[list[dict[str, str]]] = []

    def do_PUT(self) -> None:
        body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen += 1
        if type(self).seen <= type(self).busy:
            payload = b'{"__type": "LimitExceededException", "message": "busy"}'
            self.send_response(429)
            self.send_header("Retry-After", "3")
        else:
            records = type(self).answer or [
                {"SequenceNumber": str(i), "ShardId": "shardId-000000000000"}
                for i in range(len(body["records"]))
            ]
            payload = orjson.dumps({"FailedRecordCount": 0, "Records": records})
            self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def kinesis_stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KinesisStub)
    _KinesisStub.seen = 0
    _KinesisStub.answer = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _kinesis_sender(url: str) -> tuple[KinesisSender, list[float]]:
    sender = KinesisSender(
        Settings(rest_proxy_url=url), RetryPolicy(max_retries=5, base_s=0.01, cap_s=0.05)
    )
    waits: list[float] = []

    def wait(delay: float | None = None) -> bool:
        waits.append(float(delay or 0))
        return False

    sender.stopping.wait = wait  # type: ignore[method-assign,assignment]
    return sender, waits


def test_kinesis_sender_waits_at_least_retry_after_then_delivers(kinesis_stub: str) -> None:
    sender, waits = _kinesis_sender(kinesis_stub)
    assert sender.send("pin", "streaming-x-pin", [{"index": 1}, {"index": 2}]) == 2
    # Backoff alone would wait <= 0.05 s; the proxy asked for 3 s.
    assert waits == [3.0] and sender.retries == 1 and _KinesisStub.seen == 2


def test_kinesis_sender_counts_only_the_records_refused(kinesis_stub: str) -> None:
    _KinesisStub.busy = 0
    ok = {"SequenceNumber": "1", "ShardId": "shardId-000000000000"}
    bad = {"ErrorCode": "ValidationException", "ErrorMessage": "no"}
    _KinesisStub.answer = [ok, bad, ok, ok]
    sender, _waits = _kinesis_sender(kinesis_stub)
    try:
        with pytest.raises(DeliveryError) as exc:
            sender.send("pin", "streaming-x-pin", [{"index": i} for i in range(4)])
    finally:
        _KinesisStub.busy = 1
    assert exc.value.failed == 1 and "ValidationException" in str(exc.value)


def test_rest_sender_counts_only_the_records_refused() -> None:
    from services.emulator.sender import _unacknowledged

    response = requests.Response()
    response._content = orjson.dumps(
        {
            "offsets": [
                {"partition": 0, "offset": 7, "error_code": None, "error": None},
                {"partition": None, "offset": None, "error_code": 40301, "error": "denied"},
                {"partition": 0, "offset": 8, "error_code": None, "error": None},
            ]
        }
    )
    with pytest.raises(DeliveryError) as exc:
        _unacknowledged("http://x/topics/t", response, [{"i": 0}, {"i": 1}, {"i": 2}])
    assert exc.value.failed == 1 and "40301" in str(exc.value)
