from __future__ import annotations

import threading

import pytest
import urllib3
from minio import Minio
from minio.error import S3Error

from services.s3_sink.batches import Batch, DeadLetter
from services.s3_sink.store import LandingStore, Stored
from services.s3_sink.uploads import Backoff, Uploader, server_unreachable

pytestmark = pytest.mark.unit


def test_unreachable_server_is_told_apart_from_a_refused_write() -> None:
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    assert server_unreachable(urllib3.exceptions.MaxRetryError(None, "/", refused))  # type: ignore[arg-type]
    assert server_unreachable(ConnectionResetError())
    assert server_unreachable(urllib3.exceptions.ProtocolError("reset"))
    too_many_500 = urllib3.exceptions.ResponseError("too many 500 error responses")
    assert not server_unreachable(urllib3.exceptions.MaxRetryError(None, "/", too_many_500))  # type: ignore[arg-type]
    denied = S3Error(None, "AccessDenied", "denied", "/b", "r", "h")  # type: ignore[arg-type]
    assert not server_unreachable(denied)


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    b = Backoff(first=0.5, most=2.0)
    assert [b.failed(100.0) for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    assert b.waiting(101.9) and not b.waiting(102.0)
    b.succeeded()
    assert not b.waiting(0.0) and b.failed(0.0) == 0.5


def test_only_one_failing_bucket_retries_at_a_time() -> None:
    store = LandingStore(Minio("127.0.0.1:1", secure=False), "user-${user_id}-bucket", "-")
    uploads = Uploader(store, workers=1)
    try:
        uploads.failing = {"user-a-bucket": "500", "user-b-bucket": "500"}
        assert uploads.can_submit(("a.pin", 0), now=0.0)
        uploads.inflight[("a.pin", 0)] = (None, None)  # type: ignore[assignment]
        assert not uploads.can_submit(("a.pin", 0), now=0.0)  # one in flight per partition
        assert not uploads.can_submit(("b.geo", 0), now=0.0)  # another failing bucket waits
        assert uploads.can_submit(("c.user", 0), now=0.0)  # healthy buckets go on
        uploads.buckets["user-c-bucket"] = Backoff()
        uploads.buckets["user-c-bucket"].failed(0.0)
        assert not uploads.can_submit(("c.user", 0), now=0.1)  # backing off
        uploads.server.failed(0.0)
        assert not uploads.can_submit(("d.pin", 0), now=0.1)  # server down: nothing goes
        assert uploads.can_submit(("d.pin", 0), now=10.0)
    finally:
        uploads.inflight.clear()
        uploads.close()


class _SlowStore(LandingStore):
    """A store whose PUT blocks until released, and records what it stored."""

    def __init__(self) -> None:
        super().__init__(Minio("127.0.0.1:1", secure=False), "user-${user_id}-bucket", "-")
        self.go = threading.Event()
        self.started = threading.Event()
        self.stored: list[int] = []

    def put(self, item: Batch | DeadLetter) -> Stored:
        assert isinstance(item, Batch)
        self.started.set()
        self.go.wait(10)
        self.stored.append(item.start_offset)
        return Stored("k", item.next_offset)


def test_release_waits_for_a_running_put_and_cancels_a_queued_one() -> None:
    store = _SlowStore()
    uploads = Uploader(store, workers=1)
    try:
        uploads.submit(("a.pin", 0), Batch("a.pin", 0, 0, (b"{}",)))
        assert store.started.wait(5)
        uploads.submit(("a.pin", 1), Batch("a.pin", 1, 7, (b"{}",)))  # queued behind it
        threading.Timer(0.3, store.go.set).start()
        outcomes = uploads.release({("a.pin", 0), ("a.pin", 1)}, timeout=5)
        # The running PUT finished before release returned; the queued one never ran.
        assert [(o.key, o.object_name) for o in outcomes] == [(("a.pin", 0), "k")]
        assert not uploads.inflight
        uploads.close()
        assert store.stored == [0]
    finally:
        store.go.set()
        uploads.close()


def test_release_abandons_a_put_that_outlives_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    store = _SlowStore()
    uploads = Uploader(store, workers=1)
    try:
        uploads.submit(("a.pin", 0), Batch("a.pin", 0, 3, (b"{}",)))
        assert store.started.wait(5)
        assert uploads.release({("a.pin", 0)}, timeout=0.1) == []
        assert not uploads.inflight
        assert "upload of a.pin[0] from offset 3 still running after 0 s: abandoned" in caplog.text
    finally:
        store.go.set()
        uploads.close()
