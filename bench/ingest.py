"""Ingestion benchmark: prints figures, is not a test.

    python -m bench.ingest [--rounds 3] [--records 200000] [--json PATH]

(a) records/s of a plain confluent-kafka producer to the local broker (the ceiling), with
    the same factory settings as the proxy (acks=all, idempotent, lz4) and a delivery
    callback per record; measured twice: serializing each row to JSON inside the timed loop
    and with the bytes prepared beforehand (the raw ceiling);
(b) records/s through the proxy, 500-record requests from concurrent keep-alive
    connections, every per-record entry checked. The client encodes each request body with
    the same JSON encoder (orjson) inside the timed loop, so `b_over_a_json` compares like
    with like: both sides pay for turning rows into JSON once on the client;
(c) requests/s with one record per request;
(d) seconds for the emulator's full replay of 11,153 events x 3 tables.
(a) and (b) alternate for `--rounds` rounds and the medians are reported, because the
machine is shared: the 1-minute load average is printed with the figures.

The client is raw asyncio streams speaking HTTP/1.1 with keep-alive (no HTTP library
is installed that does concurrency cheaply); it runs in this process while the proxy
runs in a child process, both on the same 2 cores as the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import text

from services.clients import clients_for
from services.emulator import replay
from services.rest_proxy.child import proxy_process, with_free_ports
from services.rest_proxy.records import HAVE_MSGSPEC
from services.settings import Settings, load_settings

JSON_V2 = "application/vnd.kafka.json.v2+json"


# --- data ----------------------------------------------------------------------------------


def sample_rows(n: int) -> list[dict[str, Any]]:
    """`n` realistic pin rows (the seed generator's, datetimes already strings)."""
    from seed_data import generate

    base = [e.pin for e in generate.events(size=min(n, 11_153))]
    return [dict(row, index=i) for i, row in zip(range(n), itertools.cycle(base), strict=False)]


# --- (a) plain producer --------------------------------------------------------------------


def plain_producer(
    settings: Settings, topic: str, rows: list[dict[str, Any]], serialize: bool
) -> float:
    producer = clients_for(settings).kafka_producer()
    values = None if serialize else [orjson.dumps(r) for r in rows]
    delivered = 0
    failed = 0

    def on_delivery(err: Any, _msg: Any) -> None:
        nonlocal delivered, failed
        if err is None:
            delivered += 1
        else:
            failed += 1

    # Connect and get the idempotent producer id before the clock starts.
    producer.produce(topic, b"{}", on_delivery=on_delivery)
    producer.flush(30)
    delivered = 0
    dumps = orjson.dumps
    started = time.perf_counter()
    for i, row in enumerate(rows):
        value = dumps(row) if values is None else values[i]
        while True:
            try:
                producer.produce(topic, value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - started
    if delivered != len(rows) or failed:
        raise RuntimeError(f"plain producer: {delivered} delivered, {failed} failed")
    return len(rows) / elapsed


# --- HTTP client ---------------------------------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """An HTTP/1.1 response's status and body (sized by Content-Length, as both servers
    answer): the benches' clients keep the connection open for the next request."""
    status = int((await reader.readline()).split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


class _Connection:
    """One keep-alive HTTP/1.1 connection; requests are sent one after another."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {JSON_V2}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        return await read_response(self.reader)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def encode_request(rows: list[dict[str, Any]]) -> bytes:
    """A v2 produce body: what a client of the proxy pays to send these rows."""
    return orjson.dumps({"records": [{"value": r} for r in rows]})


async def _drive(
    settings: Settings,
    path: str,
    chunks: list[list[dict[str, Any]]],
    per_body: int,
    connections: int,
) -> float:
    """Post every chunk once over `connections` connections; returns seconds elapsed.

    Each body is encoded inside the timed loop, as the plain producer's JSON run does."""
    url = settings.rest_proxy_url.split("//", 1)[1]
    host, port = url.split(":")[0], int(url.split(":")[1].split("/")[0])
    conns = [_Connection(host, port) for _ in range(connections)]
    await asyncio.gather(*(c.open() for c in conns))
    queue = iter(chunks)
    errors: list[str] = []
    for conn in conns:  # warm-up: one request each, not timed
        status, payload = await conn.post(path, encode_request(chunks[0]))
        if status != 200:
            raise RuntimeError(f"proxy benchmark warm-up: HTTP {status}: {payload[:200]!r}")

    async def worker(conn: _Connection) -> None:
        for chunk in queue:
            status, payload = await conn.post(path, encode_request(chunk))
            if status != 200:
                errors.append(f"HTTP {status}: {payload[:200]!r}")
                return
            offsets = orjson.loads(payload)["offsets"]
            if len(offsets) != per_body or any(o["error_code"] is not None for o in offsets):
                errors.append(f"per-record errors: {payload[:200]!r}")
                return

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        c.close()
    if errors:
        raise RuntimeError(f"proxy benchmark failed: {errors[0]}")
    return elapsed


def proxy_batched(
    settings: Settings, topic: str, rows: list[dict[str, Any]], batch: int, connections: int
) -> float:
    chunks = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    elapsed = asyncio.run(_drive(settings, f"/topics/{topic}", chunks, batch, connections))
    return len(rows) / elapsed


def proxy_single(
    settings: Settings, topic: str, rows: list[dict[str, Any]], connections: int
) -> float:
    chunks = [[r] for r in rows]
    elapsed = asyncio.run(_drive(settings, f"/topics/{topic}", chunks, 1, connections))
    return len(rows) / elapsed


# --- (d) emulator replay ------------------------------------------------------------------


@contextmanager
def seeded_database(settings: Settings, size: int) -> Iterator[Settings]:
    """A throwaway scratch database of `size` events, read by the scratch reader."""
    from seed_data.load import load
    from services.stack.mysql_accounts import scratch_database, scratch_reader

    tag = uuid.uuid4().hex[:8]
    db = settings.model_copy(
        update={
            "mysql_database": scratch_database(settings, f"bench_{tag}"),
            "mysql_user": scratch_reader(settings),
        }
    )
    admin = clients_for(db).mysql_engine(admin=True, database=False)
    try:
        load(db, size=size)
        yield db
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{db.mysql_database}`"))
        admin.dispose()


def emulator_replay(settings: Settings, events: int) -> tuple[float, int]:
    with seeded_database(settings, events) as db:
        started = time.perf_counter()
        summary = replay.run(db, progress=False)
        elapsed = time.perf_counter() - started
    if not summary.ok or summary.acknowledged != 3 * events:
        raise RuntimeError(f"replay did not complete: {summary.line()}")
    return elapsed, summary.acknowledged


# --- orchestration -------------------------------------------------------------------------


@contextmanager
def bench_namespace(settings: Settings) -> Iterator[Settings]:
    from services.stack import lifecycle

    ns = settings.model_copy(update={"pipeline_user_id": f"bench-{uuid.uuid4().hex[:8]}"})
    lifecycle.ensure_namespace(ns)
    try:
        yield ns
    finally:
        from services.stack import bootstrap

        # The running sink lands these topics too: topics, objects and bucket all go.
        bootstrap.drop_namespace(ns)


def run(
    settings: Settings,
    *,
    rounds: int = 3,
    records: int = 200_000,
    batch: int = 500,
    connections: int = 8,
    single_requests: int = 20_000,
    single_connections: int = 32,
    replay_events: int = 11_153,
) -> dict[str, Any]:
    rows = sample_rows(records)
    load_before = os.getloadavg()[0]
    plain_json: list[float] = []
    plain_bytes: list[float] = []
    batched: list[float] = []
    with bench_namespace(settings) as ns:
        ns = with_free_ports(ns)
        with proxy_process(ns):
            for _ in range(rounds):
                plain_json.append(plain_producer(ns, ns.topic("pin"), rows, serialize=True))
                plain_bytes.append(plain_producer(ns, ns.topic("pin"), rows, serialize=False))
                batched.append(proxy_batched(ns, ns.topic("geo"), rows, batch, connections))
            single = proxy_single(ns, ns.topic("user"), rows[:single_requests], single_connections)
            replay_s, acknowledged = emulator_replay(ns, replay_events)
    a_json, a_bytes, b = (statistics.median(x) for x in (plain_json, plain_bytes, batched))
    return {
        "parser": "msgspec" if HAVE_MSGSPEC else "orjson",
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "a_plain_producer_json_records_per_s": round(a_json),
        "a_plain_producer_prepared_bytes_records_per_s": round(a_bytes),
        "b_proxy_batched_records_per_s": round(b),
        # Like for like: JSON encoding timed on both sides.
        "b_over_a_json": round(b / a_json, 3),
        # The proxy (client encodes JSON) against a producer sending prepared bytes.
        "b_over_a_bytes": round(b / a_bytes, 3),
        "encoding": "orjson on both sides, inside the timed loops",
        "b_rounds": [round(x) for x in batched],
        "a_json_rounds": [round(x) for x in plain_json],
        "a_bytes_rounds": [round(x) for x in plain_bytes],
        "c_proxy_single_record_requests_per_s": round(single),
        "d_emulator_replay_seconds": round(replay_s, 2),
        "d_records_acknowledged": acknowledged,
        "settings": {
            "records": records,
            "batch": batch,
            "connections": connections,
            "single_requests": single_requests,
            "single_connections": single_connections,
            "replay_events": replay_events,
            "rounds": rounds,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    figures = run(
        load_settings(), rounds=args.rounds, records=args.records, connections=args.connections
    )
    text_out = orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode()
    print(text_out)
    print(
        f"(a) plain producer: {figures['a_plain_producer_json_records_per_s']:,} records/s "
        f"(JSON rows), {figures['a_plain_producer_prepared_bytes_records_per_s']:,} records/s "
        f"(prepared bytes)\n"
        f"(b) proxy, {figures['settings']['batch']}-record requests: "
        f"{figures['b_proxy_batched_records_per_s']:,} records/s = "
        f"{figures['b_over_a_json']:.0%} of (a, JSON rows), {figures['b_over_a_bytes']:.0%} of "
        f"(a, prepared bytes)  [target >= 50%]\n"
        f"(c) proxy, 1 record per request: {figures['c_proxy_single_record_requests_per_s']:,} "
        f"requests/s  [target >= 2,000]\n"
        f"(d) emulator full replay: {figures['d_emulator_replay_seconds']} s for "
        f"{figures['d_records_acknowledged']:,} records  [target <= 15 s]\n"
        f"load average (1 min) before/after: {figures['load_average_1m']}",
        file=sys.stderr,
    )
    if args.json:
        with open(args.json, "w") as f:
            f.write(text_out + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
