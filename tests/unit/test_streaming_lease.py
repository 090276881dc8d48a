"""When a streaming lease is free: pure logic, no services."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from spark.streaming.lease import TTL_S, Holder, describe, is_stale, process_gone

pytestmark = pytest.mark.unit


def holder(host: str = "h1", pid: int = 42, renewed_at: float = 100.0) -> Holder:
    return Holder("tok", host, pid, started_at=50.0, renewed_at=renewed_at)


def test_a_lease_is_free_once_not_renewed_for_the_ttl() -> None:
    h = holder()
    assert not is_stale(h, 100.0 + TTL_S - 0.1, "other", gone=lambda _pid: True)
    assert is_stale(h, 100.0 + TTL_S, "other", gone=lambda _pid: False)


def test_a_lease_of_a_gone_process_on_this_host_is_free_at_once() -> None:
    h = holder(host="here")
    assert is_stale(h, 101.0, "here", gone=lambda pid: pid == 42)
    assert not is_stale(h, 101.0, "here", gone=lambda _pid: False)
    # Another host's pids mean nothing here: only the TTL frees its lease.
    assert not is_stale(h, 101.0, "elsewhere", gone=lambda _pid: True)


def test_process_gone_tells_a_dead_pid_and_a_reused_one() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert process_gone(dead.pid)
    # This process runs, but it is not a streaming job: its pid would be a reused one.
    assert process_gone(os.getpid()) == (b"spark.streaming" not in _cmdline())


def _cmdline() -> bytes:
    with open(f"/proc/{os.getpid()}/cmdline", "rb") as f:
        return f.read()


def test_describe_names_the_holder_and_where_the_lease_is() -> None:
    text = describe(holder(), "user-x-bucket", now=103.4)
    assert text == (
        "pid 42 on h1, running since 00:00:50 UTC, last renewed 3 s ago "
        "(s3://user-x-bucket/checkpoints/_job_lease.json)"
    )
