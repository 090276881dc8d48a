"""Landing benchmark: prints figures, is not a test.

    python -m services.bench_landing [--records 50000] [--posts 400] [--rate 20] [--json]

(a) landing throughput: `--records` pin rows produced as fast as the Kafka producer goes,
    records/s from the first produce to the moment every one is visible in S3;
(b) latency: `--posts` one-record POSTs through the REST proxy (`/topics/<user_id>.geo`,
    `--rate` per second), each carrying a unique id, from just before the POST to the first
    S3 listing that shows an object holding it (S3 polled every 100 ms); p50 and p95.
    Without a REST proxy, (b) produces straight to Kafka and says so.

It uses a fresh namespace `bench-<hex>`. If a sink answers on SINK_HEALTH_PORT (the stack's,
serving every namespace), that one is measured; otherwise a sink child process is started
for the namespace. The machine is shared: the 1-minute load average is printed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import requests

from services.clients import clients_for
from services.landing import LandingVerifier
from services.s3_sink.layout import decode_lines, parse_key, topic_prefix
from services.s3_sink.process import SinkProcess
from services.settings import Settings, SettingsError, load_settings

JSON_V2 = "application/vnd.kafka.json.v2+json"


class BenchError(RuntimeError):
    """The benchmark cannot run; the message says what is missing."""


def sample_rows(n: int) -> list[dict[str, Any]]:
    from seed_data import generate

    base = [e.pin for e in generate.events(size=min(n, 2_000))]
    return [
        {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in base[i % len(base)].items()}
        | {"bench_index": i}
        for i in range(n)
    ]


# --- (a) throughput -------------------------------------------------------------------------


def throughput(settings: Settings, records: int, timeout: float) -> dict[str, Any]:
    topic = settings.topic("pin")
    values = [orjson.dumps(row) for row in sample_rows(records)]
    producer = clients_for(settings).kafka_producer()
    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    started = time.monotonic()
    for value in values:
        while True:
            try:
                producer.produce(topic, value=value, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(60)
    produced = time.monotonic()
    if errors:
        raise BenchError(f"{len(errors)} records were not delivered: {errors[0]}")
    with LandingVerifier(settings) as verifier:
        while True:
            report = verifier.verify([topic], {topic: records})
            if report.complete:
                break
            if time.monotonic() - started > timeout:
                raise BenchError(
                    f"not landed after {timeout:.0f} s: " + "; ".join(report.problems())
                )
            time.sleep(0.1)
    landed = time.monotonic()
    return {
        "records": records,
        "bytes": sum(len(v) for v in values),
        "produce_s": round(produced - started, 3),
        "produce_to_visible_s": round(landed - started, 3),
        "landing_records_per_s": round(records / (landed - started)),
        "objects": sum(p.objects for p in report.topics[0].partitions),
    }


# --- (b) latency ----------------------------------------------------------------------------


def latency(settings: Settings, posts: int, rate: float, timeout: float) -> dict[str, Any]:
    topic = settings.topic("geo")
    proxy = settings.rest_proxy_url.rstrip("/")
    session = requests.Session()
    via_proxy = _proxy_up(session, proxy)
    producer = None if via_proxy else clients_for(settings).kafka_producer()
    sent_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    done = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(settings, topic, seen_at, done), name="s3-watch", daemon=True
    )
    watcher.start()
    gap = 1.0 / rate
    next_at = time.monotonic()
    for i in range(posts):
        bench_id = f"{i}-{uuid.uuid4().hex[:8]}"
        row = {"bench_id": bench_id, "ind": i, "latitude": 1.5, "country": "Café"}
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += gap
        sent_at[bench_id] = time.monotonic()
        if producer is None:
            _post(session, proxy, topic, row)
        else:
            producer.produce(topic, value=orjson.dumps(row))
            producer.poll(0)
    if producer is not None:
        producer.flush(30)
    deadline = time.monotonic() + timeout
    while len(seen_at) < posts and time.monotonic() < deadline:
        time.sleep(0.1)
    done.set()
    watcher.join()
    missing = [k for k in sent_at if k not in seen_at]
    if missing:
        raise BenchError(f"{len(missing)} of {posts} records not visible after {timeout:.0f} s")
    lat = sorted(seen_at[k] - sent_at[k] for k in sent_at)
    return {
        "path": "POST /topics/<topic> -> visible in S3" if via_proxy else "produce -> visible",
        "records": posts,
        "rate_per_s": rate,
        "p50_s": round(statistics.median(lat), 3),
        "p95_s": round(lat[max(0, int(len(lat) * 0.95) - 1)], 3),
        "max_s": round(lat[-1], 3),
    }


def _proxy_up(session: requests.Session, proxy: str) -> bool:
    try:
        return session.get(f"{proxy}/topics", timeout=3).ok
    except requests.RequestException:
        return False


def _post(session: requests.Session, proxy: str, topic: str, row: dict[str, Any]) -> None:
    response = session.post(
        f"{proxy}/topics/{topic}",
        data=orjson.dumps({"records": [{"value": row}]}),
        headers={"Content-Type": JSON_V2},
        timeout=15,
    )
    if not response.ok:
        raise BenchError(f"POST {topic}: HTTP {response.status_code} {response.text[:200]}")
    for entry in response.json().get("offsets", []):
        if entry.get("error_code") is not None:
            raise BenchError(f"POST {topic}: record failed: {entry}")


def _watch(
    settings: Settings, topic: str, seen_at: dict[str, float], done: threading.Event
) -> None:
    """Poll the topic's objects; note when each bench id first becomes visible."""
    s3 = clients_for(settings).s3()
    known: set[tuple[str, str]] = set()
    while not done.is_set():
        now = time.monotonic()
        for obj in s3.list_objects(settings.bucket, prefix=topic_prefix(topic), recursive=True):
            key, etag = obj.object_name or "", obj.etag or ""
            if (key, etag) in known or parse_key(key) is None:
                continue
            known.add((key, etag))
            response = s3.get_object(settings.bucket, key)
            try:
                body = response.read()
            finally:
                response.close()
                response.release_conn()
            for line in decode_lines(body):
                bench_id = orjson.loads(line).get("bench_id")
                if bench_id is not None:
                    seen_at.setdefault(bench_id, now)
        time.sleep(max(0.0, 0.1 - (time.monotonic() - now)))


# --- running it -----------------------------------------------------------------------------


def run(
    base: Settings, *, records: int = 50_000, posts: int = 400, rate: float = 20.0
) -> dict[str, Any]:
    """Both measurements in a fresh namespace; returns the figures."""
    from services.stack import bootstrap, lifecycle

    settings = base.model_copy(update={"pipeline_user_id": f"bench-{uuid.uuid4().hex[:8]}"})
    try:
        lifecycle.ensure_namespace(settings)
        sink: SinkProcess | None = None
        if _sink_up(settings):
            which = f"the running sink on 127.0.0.1:{settings.sink_health_port}"
        else:
            log = Path(tempfile.mkdtemp(prefix="bench-landing-")) / "sink.log"
            sink = SinkProcess(settings, log, user_id=settings.pipeline_user_id)
            sink.start(ready_partitions=3)
            which = f"a sink started for the namespace (log {log})"
        try:
            figures = {
                "namespace": settings.pipeline_user_id,
                "sink": which,
                "flush_records": settings.sink_flush_records,
                "flush_seconds": settings.sink_flush_seconds,
                "load_average_1m": round(os.getloadavg()[0], 2),
                "throughput": throughput(settings, records, timeout=300),
                "latency": latency(settings, posts, rate, timeout=60),
            }
        finally:
            if sink is not None:
                sink.stop()
        figures["load_average_1m_after"] = round(os.getloadavg()[0], 2)
        return figures
    finally:
        # The namespace is the bench's own: its topics and bucket go, as a test's do.
        bootstrap.drop_namespace(settings)


def _sink_up(settings: Settings) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{settings.sink_health_port}/health", timeout=2).ok
    except requests.RequestException:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.bench_landing", description=__doc__)
    parser.add_argument("--records", type=int, default=50_000, help="(a) records to land")
    parser.add_argument("--posts", type=int, default=400, help="(b) one-record POSTs")
    parser.add_argument("--rate", type=float, default=20.0, help="(b) POSTs per second")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.records < 1 or args.posts < 1 or args.rate <= 0:
        print("bench_landing: --records and --posts must be >= 1, --rate > 0", file=sys.stderr)
        return 2
    try:
        figures = run(load_settings(), records=args.records, posts=args.posts, rate=args.rate)
    except (SettingsError, BenchError) as exc:
        print(f"bench_landing: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
        return 0
    t, lat = figures["throughput"], figures["latency"]
    print(f"namespace {figures['namespace']}; sink: {figures['sink']}")
    print(
        f"rotation: {figures['flush_records']} records or {figures['flush_seconds']} s; "
        f"load average {figures['load_average_1m']} -> {figures['load_average_1m_after']}"
    )
    print(
        f"(a) landing: {t['records']} records ({t['bytes'] / 1e6:.1f} MB) produced in "
        f"{t['produce_s']} s, all visible in S3 after {t['produce_to_visible_s']} s: "
        f"{t['landing_records_per_s']} records/s"
    )
    print(
        f"(b) {lat['path']}: {lat['records']} records at {lat['rate_per_s']}/s: "
        f"p50 {lat['p50_s']} s, p95 {lat['p95_s']} s, max {lat['max_s']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
