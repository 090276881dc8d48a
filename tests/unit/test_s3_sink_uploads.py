from __future__ import annotations

import pytest
import urllib3
from minio import Minio
from minio.error import S3Error

from services.s3_sink.store import LandingStore
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
