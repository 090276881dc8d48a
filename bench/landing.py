"""Landing benchmark: prints figures, is not a test.

    python -m bench.landing [--records 50000] [--posts 400] [--rate 20] [--rounds 2]

The S3 sink is each namespace's connector (connect/s3-sink) in the stack's Kafka Connect
worker. Each round takes a fresh namespace, which `lifecycle.ensure_namespace` gives its
topics (one partition each, as `make up` makes them), its bucket and its connector, with the
stack's rotation (SINK_FLUSH_RECORDS records or SINK_FLUSH_SECONDS); the namespace and the
connector are dropped after the round. The figures are the median over the rounds
(throughput) and the percentiles of every round's posts (latency).

(a) landing throughput: `--records` pin rows produced as fast as the Kafka producer goes,
    records/s from the first produce to the moment every one is visible in S3;
(b) latency: `--posts` one-record POSTs through the REST proxy (`/topics/<topic>`, `--rate`
    per second), each carrying a unique id, from just before the POST to the first S3
    listing that shows an object holding it (S3 polled every 100 ms); p50 and p95.
    Without a REST proxy, (b) produces straight to Kafka and says so.
(c) the Connect worker's resident memory (VmRSS of its pid, /proc) at idle, before the
    bench registers anything, and after its connectors are deleted.

Until issue 16 retired it, this ran the Python sink beside the connector, like for like, in
the same run: commit 38bfbfe's bench/results.json holds that side-by-side run (connector
11,686 records/s, p95 1.99 s; Python sink 7,262 records/s, p95 2.38 s). The 1-minute load
average before and after is printed too: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import orjson
import requests

from services.clients import clients_for
from services.contracts.keys import parse_key, topic_prefix
from services.contracts.lines import decode_lines
from services.landing import LandingVerifier
from services.landing.report import LandingReport
from services.runner.wait import NotReady, WaitTimeout, sleep_until, wait_until
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


def throughput(lane: Lane, records: int, timeout: float) -> dict[str, Any]:
    settings, topic = lane.settings, lane.pin
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
    with LandingVerifier(settings, bucket=lane.bucket) as verifier:

        def all_landed() -> LandingReport:
            report = verifier.verify([topic], {topic: records})
            if not report.complete:
                raise NotReady("; ".join(report.problems()))
            return report

        # The timeout counts from the first produce, as the figure does.
        left = max(0.0, timeout - (time.monotonic() - started))
        try:
            report = wait_until(all_landed, timeout=left, what="landing", interval=0.1)
        except WaitTimeout as exc:
            raise BenchError(f"not landed after {timeout:.0f} s: {exc.last}") from None
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


def latency(lane: Lane, posts: int, rate: float, timeout: float) -> dict[str, Any]:
    settings, topic = lane.settings, lane.geo
    proxy = settings.rest_proxy_url.rstrip("/")
    session = requests.Session()
    via_proxy = _proxy_up(session, proxy)
    producer = None if via_proxy else clients_for(settings).kafka_producer()
    sent_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    done = threading.Event()
    watcher = threading.Thread(
        target=_watch,
        args=(settings, lane.bucket, topic, seen_at, done),
        name="s3-watch",
        daemon=True,
    )
    watcher.start()
    gap = 1.0 / rate
    next_at = time.monotonic()
    for i in range(posts):
        bench_id = f"{i}-{uuid.uuid4().hex[:8]}"
        row = {"bench_id": bench_id, "ind": i, "latitude": 1.5, "country": "Café"}
        sleep_until(next_at)
        next_at += gap
        sent_at[bench_id] = time.monotonic()
        if producer is None:
            _post(session, proxy, topic, row)
        else:
            producer.produce(topic, value=orjson.dumps(row))
            producer.poll(0)
    if producer is not None:
        producer.flush(30)

    def all_seen() -> str:
        if len(seen_at) < posts:
            raise NotReady(f"{len(seen_at)} of {posts} visible")
        return "all visible"

    with suppress(WaitTimeout):  # the records still missing are reported just below
        wait_until(all_seen, timeout=timeout, what="the posted records in S3", interval=0.1)
    done.set()
    watcher.join()
    missing = [k for k in sent_at if k not in seen_at]
    if missing:
        raise BenchError(f"{len(missing)} of {posts} records not visible after {timeout:.0f} s")
    return {
        "path": "POST /topics/<topic> -> visible in S3" if via_proxy else "produce -> visible",
        "records": posts,
        "rate_per_s": rate,
        "seconds": [seen_at[k] - sent_at[k] for k in sent_at],
    }


def percentiles(seconds: list[float]) -> dict[str, float]:
    lat = sorted(seconds)
    return {
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
    settings: Settings, bucket: str, topic: str, seen_at: dict[str, float], done: threading.Event
) -> None:
    """Poll the topic's objects; note when each bench id first becomes visible."""
    s3 = clients_for(settings).s3()
    known: set[tuple[str, str]] = set()
    while not done.is_set():
        now = time.monotonic()
        for obj in s3.list_objects(bucket, prefix=topic_prefix(topic), recursive=True):
            key, etag = obj.object_name or "", obj.etag or ""
            if (key, etag) in known or parse_key(key) is None:
                continue
            known.add((key, etag))
            response = s3.get_object(bucket, key)
            try:
                body = response.read()
            finally:
                response.close()
                response.release_conn()
            for line in decode_lines(body):
                bench_id = orjson.loads(line).get("bench_id")
                if bench_id is not None:
                    seen_at.setdefault(bench_id, now)
        sleep_until(now + 0.1)  # one listing per 100 ms at most


# --- the two sinks ---------------------------------------------------------------------


@dataclass
class Lane:
    """One round's namespace: where its records go and where they land."""

    settings: Settings
    pin: str
    geo: str
    bucket: str
    connector: str

    def teardown(self) -> None:
        from services.stack import bootstrap

        bootstrap.drop_namespace(self.settings)  # its connector, topics and bucket


def connect_lane(base: Settings) -> Lane:
    """A fresh namespace with its connector, as `make up` registers it."""
    from services.stack import connectors, lifecycle

    settings = base.model_copy(update={"pipeline_user_id": f"bench-{uuid.uuid4().hex[:8]}"})
    name, _config = connectors.local_connector_config(settings)
    lane = Lane(settings, settings.topic("pin"), settings.topic("geo"), settings.bucket, name)
    try:
        lifecycle.ensure_namespace(settings)
    except Exception:
        lane.teardown()
        raise
    return lane


def connect_worker_rss(settings: Settings) -> int | None:
    """VmRSS in bytes of the Connect worker's JVM (supervisord's `connect`), None if unknown."""
    from services.stack.memory import tree_rss
    from services.stack.supervisor import Supervisor

    try:
        pid = int(Supervisor(settings).info("connect")["pid"])
    except Exception:  # the docker runtime, or no supervisord: no pid to read
        return None
    return tree_rss(pid) if pid else None


# --- running it -----------------------------------------------------------------------------


def run(
    base: Settings,
    *,
    records: int = 50_000,
    posts: int = 400,
    rate: float = 20.0,
    rounds: int = 2,
) -> dict[str, Any]:
    """Both sinks, `rounds` times, alternating; returns the figures."""
    from services.demo import faults

    # A fault test killing the REST proxy or the worker mid-run would time its restart.
    with faults.exclusive():
        return _run(base, records=records, posts=posts, rate=rate, rounds=rounds)


def _run(base: Settings, *, records: int, posts: int, rate: float, rounds: int) -> dict[str, Any]:
    throughputs: list[dict[str, Any]] = []
    latencies: list[dict[str, Any]] = []
    idle_rss = connect_worker_rss(base)
    load_before = round(os.getloadavg()[0], 2)
    for _round in range(rounds):
        lane = connect_lane(base)
        try:
            throughputs.append(throughput(lane, records, timeout=300))
            latencies.append(latency(lane, posts, rate, timeout=60))
        finally:
            lane.teardown()
    rss_after = connect_worker_rss(base)
    per_s = [t["landing_records_per_s"] for t in throughputs]
    seconds = [x for lat in latencies for x in lat["seconds"]]
    return {
        "sink": f"each namespace's connector in the worker at {base.kafka_connect_url}",
        "flush_records": base.sink_flush_records,
        "flush_seconds": base.sink_flush_seconds,
        "rounds": rounds,
        "load_average_1m": load_before,
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "throughput": {
            "records": records,
            "landing_records_per_s": round(statistics.median(per_s)),
            "landing_records_per_s_each_round": per_s,
            "each_round": throughputs,
        },
        "latency": {
            "path": latencies[0]["path"],
            "records": len(seconds),
            "rate_per_s": rate,
            **percentiles(seconds),
            "each_round": [percentiles(lat["seconds"]) for lat in latencies],
        },
        "connect_worker_rss_idle_mib": None if idle_rss is None else round(idle_rss / 2**20),
        "connect_worker_rss_after_mib": None if rss_after is None else round(rss_after / 2**20),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.landing", description=__doc__)
    parser.add_argument("--records", type=int, default=50_000, help="(a) records to land")
    parser.add_argument("--posts", type=int, default=400, help="(b) one-record POSTs")
    parser.add_argument("--rate", type=float, default=20.0, help="(b) POSTs per second")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of both sinks")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.records < 1 or args.posts < 1 or args.rate <= 0 or args.rounds < 1:
        print(
            "bench.landing: --records, --posts and --rounds must be >= 1, --rate > 0",
            file=sys.stderr,
        )
        return 2
    try:
        figures = run(
            load_settings(),
            records=args.records,
            posts=args.posts,
            rate=args.rate,
            rounds=args.rounds,
        )
    except (SettingsError, BenchError) as exc:
        print(f"bench.landing: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
        return 0
    t, lat = figures["throughput"], figures["latency"]
    print(f"sink: {figures['sink']}")
    print(
        f"rotation: {figures['flush_records']} records or {figures['flush_seconds']} s; "
        f"{figures['rounds']} rounds; load average {figures['load_average_1m']} -> "
        f"{figures['load_average_1m_after']}"
    )
    print(
        f"(a) landing {t['records']} records: {t['landing_records_per_s']} records/s "
        f"(rounds: {t['landing_records_per_s_each_round']})"
    )
    print(
        f"(b) {lat['path']}: {lat['records']} records at {lat['rate_per_s']}/s: "
        f"p50 {lat['p50_s']} s, p95 {lat['p95_s']} s, max {lat['max_s']} s"
    )
    print(
        f"(c) Connect worker RSS: {figures['connect_worker_rss_idle_mib']} MiB idle, "
        f"{figures['connect_worker_rss_after_mib']} MiB after"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
