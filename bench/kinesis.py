"""Kinesis benchmark (issue 15): prints figures, is not a test.

    python -m bench --only kinesis

In one run, against one REST proxy process on free ports and a fresh namespace:
(a) records/s of the Confluent API's batched produce (500-record POST /topics/<topic>),
    the reference;
(b) records/s of PutRecords with 500 records a call, both faces: API Gateway's
    `PUT /streams/<name>/records` and the Kinesis JSON protocol (base64 Data, as the SDKs
    send it); the issue's target is b >= 50% of a;
(c) requests/s of single `PUT /streams/<name>/record` requests (target >= 2,000/s),
    beside the Confluent API's one-record requests measured right after it.
(a) and (b) alternate for `rounds` rounds and the medians are reported (the machine is
shared). Each request body is encoded inside the timed loop, on every side alike.
"""

from __future__ import annotations

import asyncio
import base64
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import orjson
from confluent_kafka.admin import NewTopic

from bench import ingest as ingest_bench
from services.clients import clients_for
from services.rest_proxy.child import proxy_process, with_free_ports
from services.settings import Settings

Encode = Callable[[list[dict[str, Any]]], bytes]
Check = Callable[[bytes, int], bool]


class _Connection:
    """One keep-alive HTTP/1.1 connection; requests go one after another."""

    def __init__(self, url: str, method: str, path: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, body: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        return await ingest_bench.read_response(self.reader)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _drive(
    make: Callable[[], _Connection],
    chunks: list[list[dict[str, Any]]],
    encode: Encode,
    check: Check,
    connections: int,
) -> float:
    """Send every chunk once over `connections` connections; returns records per second."""
    conns = [make() for _ in range(connections)]
    await asyncio.gather(*(c.open() for c in conns))
    for conn in conns:  # warm-up, not timed
        status, payload = await conn.send(encode(chunks[0]))
        if status != 200:
            raise RuntimeError(f"kinesis benchmark warm-up: HTTP {status}: {payload[:200]!r}")
    queue = iter(chunks)
    errors: list[str] = []

    async def worker(conn: _Connection) -> None:
        for chunk in queue:
            status, payload = await conn.send(encode(chunk))
            if status != 200 or not check(payload, len(chunk)):
                errors.append(f"HTTP {status}: {payload[:200]!r}")
                return

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        c.close()
    if errors:
        raise RuntimeError(f"kinesis benchmark failed: {errors[0]}")
    return sum(len(c) for c in chunks) / elapsed


def _put_records_ok(payload: bytes, n: int) -> bool:
    doc = orjson.loads(payload)
    return bool(doc["FailedRecordCount"] == 0 and len(doc["Records"]) == n)


def _confluent_ok(payload: bytes, n: int) -> bool:
    offsets = orjson.loads(payload)["offsets"]
    return len(offsets) == n and all(o["error_code"] is None for o in offsets)


def _chunks(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _reference_topic(ns: Settings, kind: str) -> str:
    return f"{ns.pipeline_user_id}-confluent-{kind}"


def confluent_batched(ns: Settings, rows: list[dict[str, Any]], batch: int, conns: int) -> float:
    topic = _reference_topic(ns, "batched")
    headers = {"Content-Type": "application/vnd.kafka.json.v2+json"}
    return asyncio.run(
        _drive(
            lambda: _Connection(ns.rest_proxy_url, "POST", f"/topics/{topic}", headers),
            _chunks(rows, batch),
            lambda chunk: orjson.dumps({"records": [{"value": r} for r in chunk]}),
            _confluent_ok,
            conns,
        )
    )


def gateway_batched(ns: Settings, rows: list[dict[str, Any]], batch: int, conns: int) -> float:
    stream = ns.streaming_topic("pin")

    def encode(chunk: list[dict[str, Any]]) -> bytes:
        return orjson.dumps({"records": [{"data": r, "partition-key": "pin"} for r in chunk]})

    path = f"/streams/{stream}/records"
    headers = {"Content-Type": "application/json"}
    return asyncio.run(
        _drive(
            lambda: _Connection(ns.rest_proxy_url, "PUT", path, headers),
            _chunks(rows, batch),
            encode,
            _put_records_ok,
            conns,
        )
    )


def protocol_batched(ns: Settings, rows: list[dict[str, Any]], batch: int, conns: int) -> float:
    stream = ns.streaming_topic("geo")
    b64, dumps = base64.b64encode, orjson.dumps

    def encode(chunk: list[dict[str, Any]]) -> bytes:
        records = [{"Data": b64(dumps(r)).decode(), "PartitionKey": "geo"} for r in chunk]
        return dumps({"StreamName": stream, "Records": records})

    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Kinesis_20131202.PutRecords",
    }
    return asyncio.run(
        _drive(
            lambda: _Connection(ns.kinesis_url, "POST", "/", headers),
            _chunks(rows, batch),
            encode,
            _put_records_ok,
            conns,
        )
    )


def gateway_single(ns: Settings, rows: list[dict[str, Any]], conns: int) -> float:
    stream = ns.streaming_topic("user")

    def encode(chunk: list[dict[str, Any]]) -> bytes:
        return orjson.dumps({"StreamName": stream, "Data": chunk[0], "PartitionKey": "user"})

    def ok(payload: bytes, _n: int) -> bool:
        return "SequenceNumber" in orjson.loads(payload)

    path = f"/streams/{stream}/record"
    headers = {"Content-Type": "application/json"}
    return asyncio.run(
        _drive(
            lambda: _Connection(ns.rest_proxy_url, "PUT", path, headers),
            [[r] for r in rows],
            encode,
            ok,
            conns,
        )
    )


def confluent_single(ns: Settings, rows: list[dict[str, Any]], conns: int) -> float:
    """The Confluent API's one-record requests: the reference for (c) in the same run."""
    topic = _reference_topic(ns, "single")
    headers = {"Content-Type": "application/vnd.kafka.json.v2+json"}
    return asyncio.run(
        _drive(
            lambda: _Connection(ns.rest_proxy_url, "POST", f"/topics/{topic}", headers),
            [[r] for r in rows],
            lambda chunk: orjson.dumps({"records": [{"value": r} for r in chunk]}),
            _confluent_ok,
            conns,
        )
    )


@contextmanager
def bench_topics(settings: Settings) -> Iterator[Settings]:
    """A namespace with only the Kafka topics this benchmark writes, deleted afterwards.

    No batch topic (`<user_id>.<table>`): the shared S3 sink would land those into a bucket
    that does not exist; the Confluent reference writes to topics outside its pattern."""
    ns = settings.model_copy(update={"pipeline_user_id": f"bench-k{uuid.uuid4().hex[:8]}"})
    names = [*ns.streaming_topics, *(_reference_topic(ns, k) for k in ("batched", "single"))]
    admin = clients_for(ns).kafka_admin()
    wanted = [NewTopic(n, num_partitions=1, replication_factor=1) for n in names]
    for future in admin.create_topics(wanted, operation_timeout=15).values():
        future.result(timeout=20)
    try:
        yield ns
    finally:
        for future in admin.delete_topics(names, operation_timeout=15).values():
            future.result(timeout=20)


def run(
    settings: Settings,
    *,
    rounds: int = 3,
    records: int = 100_000,
    batch: int = 500,
    connections: int = 8,
    single_requests: int = 10_000,
    single_connections: int = 32,
) -> dict[str, Any]:
    rows = ingest_bench.sample_rows(records)
    load_before = os.getloadavg()[0]
    a: list[float] = []
    b_gateway: list[float] = []
    b_protocol: list[float] = []
    with bench_topics(settings) as ns:
        ns = with_free_ports(ns)
        with proxy_process(ns):
            for _ in range(rounds):
                a.append(confluent_batched(ns, rows, batch, connections))
                b_gateway.append(gateway_batched(ns, rows, batch, connections))
                b_protocol.append(protocol_batched(ns, rows, batch, connections))
            single = gateway_single(ns, rows[:single_requests], single_connections)
            reference = confluent_single(ns, rows[:single_requests], single_connections)
    ma, mg, mp = (statistics.median(x) for x in (a, b_gateway, b_protocol))
    return {
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "a_confluent_batched_records_per_s": round(ma),
        "b_gateway_put_records_records_per_s": round(mg),
        "b_protocol_put_records_records_per_s": round(mp),
        "b_gateway_over_a": round(mg / ma, 3),
        "b_protocol_over_a": round(mp / ma, 3),
        "c_gateway_single_put_record_requests_per_s": round(single),
        # The same load through the Confluent API, measured right after: what the machine
        # gives a one-record request at the moment (it is shared).
        "c_reference_confluent_single_requests_per_s": round(reference),
        "a_rounds": [round(x) for x in a],
        "b_gateway_rounds": [round(x) for x in b_gateway],
        "b_protocol_rounds": [round(x) for x in b_protocol],
        "settings": {
            "records": records,
            "batch": batch,
            "connections": connections,
            "single_requests": single_requests,
            "single_connections": single_connections,
            "rounds": rounds,
        },
    }
