"""Offer the proxy far more concurrent requests than it admits; count what it answers.

    python -m services.rest_proxy.overload [--requests 2000] [--connections 64]

Starts its own proxy (free loopback ports, small in-flight limits) for a throwaway
namespace, floods it with produce requests over keep-alive connections, samples the
proxy's resident memory from /proc, and prints one JSON line: requests offered, answers
by status (429s with `Retry-After` counted apart), max RSS, seconds. Used by the
overload test (issue 12) and runnable on its own for the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from services.settings import Settings, load_settings

JSON_V2 = "application/vnd.kafka.json.v2+json"


@dataclass
class Figures:
    offered: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after_on_refusals: int = 0
    connection_errors: int = 0
    baseline_rss_mib: float = 0.0
    max_rss_mib: float = 0.0
    seconds: float = 0.0
    limits: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["statuses"] = {str(k): v for k, v in sorted(self.statuses.items())}
        out["refused_429_or_503"] = self.statuses[429] + self.statuses[503]
        out["server_errors_500"] = (
            sum(v for k, v in self.statuses.items() if k >= 500) - (self.statuses[503])
        )
        return out


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    """The highest VmRSS of a process, sampled every `period_s` until stopped."""

    def __init__(self, pid: int, period_s: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.period_s = pid, period_s
        self.peak = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.peak = max(self.peak, rss_mib(self.pid))
            except OSError:
                return  # the process is gone
            self._stop_event.wait(self.period_s)

    def stop(self) -> float:
        self._stop_event.set()
        self.join(5)
        return self.peak


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes
) -> tuple[int, dict[bytes, bytes]]:
    writer.write(head + body)
    status = int((await reader.readline()).split()[1])
    headers: dict[bytes, bytes] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return status, headers


async def flood(
    url: str, path: str, body: bytes, requests: int, connections: int, deadline_s: float
) -> Figures:
    """Post `body` `requests` times over `connections` connections, as fast as answered."""
    host, port = url.split("//", 1)[1].rstrip("/").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {JSON_V2}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    figures = Figures()
    left = iter(range(requests))
    stop_at = time.monotonic() + deadline_s

    async def worker() -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for _ in left:
            if time.monotonic() > stop_at:
                return
            figures.offered += 1
            try:
                if conn is None:
                    conn = await asyncio.open_connection(host, int(port))
                status, headers = await asyncio.wait_for(_exchange(*conn, head, body), 30)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError):
                figures.connection_errors += 1
                if conn is not None:
                    conn[1].close()
                conn = None
                continue
            figures.statuses[status] += 1
            if status in (429, 503) and b"retry-after" in headers:
                figures.retry_after_on_refusals += 1
            if headers.get(b"connection") == b"close":
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return figures


def sample_body(records: int) -> bytes:
    row = {
        "index": 0,
        "unique_id": str(uuid.uuid4()),
        "title": "overload " * 8,
        "description": "a pin description " * 10,
        "follower_count": "51k",
        "category": "mens-fashion",
    }
    return orjson.dumps({"records": [{"value": {**row, "index": i}} for i in range(records)]})


def run(
    settings: Settings,
    *,
    requests: int = 2000,
    connections: int = 64,
    records: int = 100,
    max_inflight_requests: int = 8,
    max_inflight_bytes: int = 2 * 1024 * 1024,
    deadline_s: float = 60.0,
) -> Figures:
    """Flood a proxy of its own with these limits, for `settings`' namespace (must exist)."""
    from services.rest_proxy.child import proxy_process, with_free_ports

    limited = with_free_ports(settings).model_copy(
        update={
            "rest_proxy_max_inflight_requests": max_inflight_requests,
            "rest_proxy_max_inflight_bytes": max_inflight_bytes,
        }
    )
    body = sample_body(records)
    with proxy_process(limited) as proxy:
        assert proxy.pid is not None
        pid = proxy.pid
        baseline = rss_mib(pid)
        sampler = RssSampler(pid)
        sampler.start()
        started = time.monotonic()
        try:
            figures = asyncio.run(
                flood(
                    limited.rest_proxy_url,
                    f"/topics/{limited.topic('pin')}",
                    body,
                    requests,
                    connections,
                    deadline_s,
                )
            )
        finally:
            peak = sampler.stop()
        figures.seconds = round(time.monotonic() - started, 2)
    figures.baseline_rss_mib = round(baseline, 1)
    figures.max_rss_mib = round(peak, 1)
    figures.limits = {
        "max_inflight_requests": max_inflight_requests,
        "max_inflight_bytes": max_inflight_bytes,
        "body_bytes": len(body),
        "connections": connections,
    }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.rest_proxy.overload")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--records", type=int, default=100, help="records per request")
    parser.add_argument("--max-inflight-requests", type=int, default=8)
    parser.add_argument("--max-inflight-bytes", type=int, default=2 * 1024 * 1024)
    args = parser.parse_args(argv)
    from services.stack import bootstrap, lifecycle

    base = load_settings()
    settings = base.model_copy(update={"pipeline_user_id": f"overload{uuid.uuid4().hex[:8]}"})
    lifecycle.ensure_namespace(settings)
    try:
        figures = run(
            settings,
            requests=args.requests,
            connections=args.connections,
            records=args.records,
            max_inflight_requests=args.max_inflight_requests,
            max_inflight_bytes=args.max_inflight_bytes,
        )
    finally:
        bootstrap.drop_namespace(settings)
    print(json.dumps(figures.summary()))
    return 0 if figures.summary()["server_errors_500"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
