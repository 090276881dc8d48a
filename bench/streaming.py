"""Benchmark of the streaming job: sustained events/s and POST -> committed Delta row latency.

    python -m bench.streaming [--rate 2000] [--seconds 30] [--trigger-seconds 2]
                              [--loads 0.5,0.8]

In a fresh namespace, starts `python -m spark.streaming run` as `make stream` does, waits
until its queries are up, warms it up at the same rate for `--warmup-seconds` (class loading
and JIT compilation stay out of the figures), then POSTs events through the REST
proxy (Confluent v2, a batch of records per request) to the three streaming topics at
`--rate` events/s for `--seconds`. Each event's POST time is kept; its commit time is the
`commitInfo.timestamp` of the Delta commit holding it, read from the tables' transaction
logs (each micro-batch is one commit of one file whose `ind` range the file's statistics
give; one partition per topic keeps those ranges disjoint). Prints the figures and exits;
this is not a test. Drops the namespace's bucket and topics afterwards unless `--keep`.

The rate phase measures capacity: offered more than the job can take, the committed rate is
what it sustains, and the latency there includes a growing backlog. `--loads 0.5,0.8` then
offers those shares of the measured capacity, each starting with the job caught up, and
reports the steady-state latency at each (what `make bench` quotes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from minio import Minio

from services.clients import clients_for
from services.runner.child import ChildProcess, ChildStartError
from services.runner.wait import NotReady, WaitTimeout, sleep_until, wait_until
from services.settings import TABLES, Settings, load_settings
from spark.streaming.layout import CHECKPOINT_PREFIX, DELTA_PREFIX

V2_JSON = "application/vnd.kafka.json.v2+json"
#: Requests per second per topic: at 2,000 events/s, ~67 records per POST.
TICKS_PER_SECOND = 10


def sample_event(table: str, i: int) -> dict[str, object]:
    """An event shaped like the MySQL row the emulator posts for `table`."""
    if table == "pin":
        return {
            "index": i,
            "unique_id": str(uuid.UUID(int=i)),
            "title": f"Title {i}",
            "description": "A pin posted by the benchmark",
            "poster_name": f"Poster {i % 97}",
            "follower_count": f"{i % 900 + 1}k",
            "tag_list": "home,decor,ideas",
            "is_image_or_video": "image",
            "image_src": f"https://i.example.invalid/{i}.jpg",
            "downloaded": 1,
            "save_location": f"Local save in /data/category-{i % 11}",
            "category": f"category-{i % 11}",
        }
    if table == "geo":
        return {
            "ind": i,
            "timestamp": "2021-03-04 05:06:07",
            "latitude": (i % 180) - 90.0,
            "longitude": (i % 360) - 180.0,
            "country": f"Country {i % 53}",
        }
    return {
        "ind": i,
        "first_name": "Bench",
        "last_name": f"User{i}",
        "age": 18 + i % 60,
        "date_joined": "2017-08-09 10:11:12",
    }


class BenchError(RuntimeError):
    pass


@dataclass
class Commit:
    version: int
    timestamp_ms: int
    first_ind: int
    last_ind: int
    rows: int


@dataclass
class DeltaLogReader:
    """Reads a Delta table's JSON commits from S3 as they appear (append-only tables)."""

    s3: Minio
    bucket: str
    table: str
    commits: list[Commit] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def poll(self) -> None:
        prefix = f"{DELTA_PREFIX}/{self.table}/_delta_log/"
        for obj in self.s3.list_objects(self.bucket, prefix=prefix):
            name = obj.object_name or ""
            if not name.endswith(".json") or name in self.seen:
                continue
            self.seen.add(name)
            version = int(name.rsplit("/", 1)[1].removesuffix(".json"))
            self._read(version, name)
        self.commits.sort(key=lambda c: c.first_ind)

    def _read(self, version: int, name: str) -> None:
        response = self.s3.get_object(self.bucket, name)
        try:
            lines = response.read().decode().splitlines()
        finally:
            response.close()
            response.release_conn()
        timestamp = 0
        adds = []
        for line in lines:
            action = json.loads(line)
            if "commitInfo" in action:
                info = action["commitInfo"]
                timestamp = int(info.get("inCommitTimestamp") or info["timestamp"])
            elif "add" in action and action["add"].get("stats"):
                adds.append(json.loads(action["add"]["stats"]))
        for stats in adds:
            self.commits.append(
                Commit(
                    version,
                    timestamp,
                    int(stats["minValues"]["ind"]),
                    int(stats["maxValues"]["ind"]),
                    int(stats["numRecords"]),
                )
            )

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.commits)

    def commit_time_of(self, ind: int) -> float:
        starts = [c.first_ind for c in self.commits]
        k = bisect_right(starts, ind) - 1
        if k < 0 or not self.commits[k].first_ind <= ind <= self.commits[k].last_ind:
            raise BenchError(f"{self.table} ind {ind} is in no committed file")
        return self.commits[k].timestamp_ms / 1000


def start_job(
    settings: Settings, trigger_seconds: float, started: Callable[[], str]
) -> ChildProcess:
    """`python -m spark.streaming run` in the namespace, ready once `started` passes.

    A job that exits or whose queries do not start within 300 s is stopped (its whole
    process group) and raises `ChildStartError` with the end of its log."""
    argv = [sys.executable, "-m", "spark.streaming", "run"]
    job = ChildProcess(
        "the streaming job",
        [*argv, "--trigger-seconds", f"{trigger_seconds:g}"],
        log=settings.logs_dir / f"bench-streaming-{settings.pipeline_user_id}.log",
        env=settings.to_env(),
        probe=started,
        start_timeout=300,
        # TERM to the job alone lets it stop its queries and its JVM and release its lease,
        # as `make stream` stops; KILL to the group after 90 s.
        stop_timeout=90,
        term="leader",
    )
    print(f"streaming job log: {job.log}")
    job.start()
    return job


def stop_job(job: ChildProcess) -> None:
    job.stop()


def wait_for(what: str, check: Callable[[], bool], job: ChildProcess, timeout: float) -> None:
    """Wait until `check()` holds; a job that exits meanwhile ends the wait at once."""

    def holds() -> str:
        if not job.alive():
            code = job.proc.returncode if job.proc is not None else None
            raise BenchError(f"the streaming job exited ({code}) while waiting for {what}")
        if not check():
            raise NotReady(f"{what}: not yet")
        return "done"

    try:
        wait_until(holds, timeout=timeout, what=what, interval=0.25)
    except WaitTimeout:
        raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}") from None


class Poster:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http = requests.Session()
        self.base = clients_for(settings).rest_proxy_url()

    def post(self, table: str, inds: range) -> None:
        body = {"records": [{"value": sample_event(table, i)} for i in inds]}
        url = f"{self.base}/topics/{self.settings.streaming_topic(table)}"
        response = self.http.post(url, json=body, headers={"Content-Type": V2_JSON}, timeout=30)
        if response.status_code != 200:
            raise BenchError(f"POST {url}: HTTP {response.status_code} {response.text[:200]}")
        failed = [o for o in response.json()["offsets"] if o.get("error_code")]
        if failed:
            raise BenchError(f"POST {url}: {len(failed)} records failed, e.g. {failed[0]}")


def drop_namespace(settings: Settings) -> None:
    """Delete the bench's bucket and topics: each bucket holds S3 volumes of its own."""
    from services.stack import bootstrap

    bootstrap.drop_namespace(settings)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Phase:
    """Events posted at a steady rate: `ind`s [first, end) on every topic."""

    first: int
    end: int
    began_wall: float
    seconds: float
    posted_at: dict[str, list[tuple[int, float]]]

    @property
    def events(self) -> int:
        return (self.end - self.first) * len(TABLES)


def post_at_rate(poster: Poster, rate: float, seconds: float, first: int) -> Phase:
    per_tick = rate / TICKS_PER_SECOND / len(TABLES)
    posted_at: dict[str, list[tuple[int, float]]] = {t: [] for t in TABLES}
    next_ind = first
    began = time.monotonic()
    began_wall = time.time()
    tick = 0
    owed = 0.0
    while time.monotonic() - began < seconds:
        owed += per_tick
        count = int(owed)
        owed -= count
        if count:
            inds = range(next_ind, next_ind + count)
            for t in TABLES:
                sent = time.time()
                poster.post(t, inds)
                posted_at[t].extend((i, sent) for i in inds)
            next_ind += count
        tick += 1
        sleep_until(began + tick / TICKS_PER_SECOND)
    return Phase(first, next_ind, began_wall, time.monotonic() - began, posted_at)


def _figures(
    logs: dict[str, DeltaLogReader], phase: Phase, rate: float, trigger_seconds: float
) -> dict[str, float]:
    latencies = [logs[t].commit_time_of(i) - sent for t in TABLES for i, sent in phase.posted_at[t]]
    last_commit = max(logs[t].commit_time_of(phase.end - 1) for t in TABLES)
    phase_end = phase.began_wall + phase.seconds
    first_commit = min(logs[t].commit_time_of(phase.first) for t in TABLES)
    return {
        "offered_events_per_s": rate,
        "posted_events": phase.events,
        "posted_events_per_s": phase.events / phase.seconds,
        # Sustained: the phase's events over the time from its first to its last commit.
        # If the job keeps up, this is the offered rate and the drain stays near the latency.
        "committed_events_per_s": phase.events / max(last_commit - first_commit, 1e-3),
        "drain_after_last_post_s": last_commit - phase_end,
        "latency_p50_s": percentile(latencies, 0.50),
        "latency_p95_s": percentile(latencies, 0.95),
        "latency_max_s": max(latencies),
        "trigger_seconds": trigger_seconds,
    }


def bench(
    settings: Settings,
    rate: float,
    seconds: float,
    warmup: float,
    trigger_seconds: float,
    loads: Sequence[float] = (),
) -> dict[str, Any]:
    """Offer `rate` events/s to find the job's capacity (the committed rate), then, for each
    of `loads` (0.5 = half of that capacity), offer that share and measure the latency.

    Each phase starts with the job caught up (every earlier event committed), so a load
    phase's latency is the steady state at that load, not a backlog draining."""
    from services.stack import lifecycle

    lifecycle.ensure_namespace(settings)
    s3 = clients_for(settings).s3()
    logs = {t: DeltaLogReader(s3, settings.bucket, t) for t in TABLES}
    poster = Poster(settings)

    def queries_started() -> str:
        waiting = [
            t
            for t in TABLES
            if not any(
                True
                for _ in s3.list_objects(
                    settings.bucket, prefix=f"{CHECKPOINT_PREFIX}/{t}/metadata"
                )
            )
        ]
        if waiting:
            raise NotReady(f"no checkpoint metadata yet for {', '.join(waiting)}")
        return "every query started"

    def committed(total: int) -> bool:
        for log in logs.values():
            log.poll()
        return all(log.rows >= total for log in logs.values())

    at_load: dict[str, dict[str, float]] = {}
    job = start_job(settings, trigger_seconds, queries_started)
    try:
        # The first micro-batches pay for class loading and JIT compilation: a warm-up at
        # the same rate keeps them out of the figures.
        print(f"job up; warming up at {rate:g} events/s for {warmup:g} s")
        warm = post_at_rate(poster, rate, warmup, 0)
        wait_for("the warm-up events to commit", lambda: committed(warm.end), job, 600)
        print(f"warm; posting {rate:g} events/s for {seconds:g} s")
        phase = post_at_rate(poster, rate, seconds, warm.end)
        print(f"posted {phase.events} events in {phase.seconds:.1f} s; waiting for the commits")
        wait_for("every posted event to commit", lambda: committed(phase.end), job, 600)
        figures: dict[str, Any] = dict(_figures(logs, phase, rate, trigger_seconds))
        capacity = figures["committed_events_per_s"]
        first = phase.end
        for load in loads:
            offered = round(load * capacity)
            print(f"at {load:.0%} of {capacity:,.0f} events/s: posting {offered:,} events/s")
            done = post_at_rate(poster, offered, seconds, first)
            wait_for(
                f"the {load:.0%} events to commit",
                lambda end=done.end: committed(end),  # type: ignore[misc]
                job,
                600,
            )
            at_load[f"{load:.0%}"] = {
                "share_of_capacity": load,
                **_figures(logs, done, offered, trigger_seconds),
            }
            first = done.end
    finally:
        stop_job(job)
    if loads:
        figures["capacity_events_per_s"] = capacity
        figures["at_load"] = at_load
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streaming", description=__doc__)
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s, all topics")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to post")
    parser.add_argument("--warmup-seconds", type=float, default=20.0, help="not measured")
    parser.add_argument("--trigger-seconds", type=float, default=2.0)
    parser.add_argument(
        "--loads",
        default="",
        help="comma-separated shares of the measured capacity to measure latency at (0.5,0.8)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the namespace for `show`")
    args = parser.parse_args(argv)
    base = load_settings()
    settings = base.model_copy(update={"pipeline_user_id": f"bench{uuid.uuid4().hex[:8]}"})
    print(f"namespace: PIPELINE_USER_ID={settings.pipeline_user_id}")
    try:
        loads = tuple(float(x) for x in args.loads.split(",") if x.strip())
        figures = bench(
            settings, args.rate, args.seconds, args.warmup_seconds, args.trigger_seconds, loads
        )
    except (BenchError, ChildStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            drop_namespace(settings)
    for key, value in figures.items():
        if isinstance(value, dict):
            for load, at in value.items():
                print(f"{'at ' + load + ' of capacity':>24}: " + _line(at))
        else:
            print(f"{key:>24}: {value:,.2f}")
    # One machine-readable line for whatever collects benchmark results.
    print(json.dumps({"streaming": figures}, default=lambda v: round(v, 3)))
    return 0


def _line(at: dict[str, float]) -> str:
    return (
        f"offered {at['offered_events_per_s']:,.0f}/s, committed "
        f"{at['committed_events_per_s']:,.0f}/s, p50 {at['latency_p50_s']:.2f} s, "
        f"p95 {at['latency_p95_s']:.2f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
