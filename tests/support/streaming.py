"""Events for the streaming job's topics, and the job itself run as a child process
(`python -m spark.streaming`)."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from services.clients import clients_for
from services.runner.child import ChildProcess
from services.settings import TABLES, Settings

JOB_TIMEOUT_S = 300


def pin_event(i: int) -> dict[str, object]:
    return {
        "index": i,
        "unique_id": f"uid-{i}",
        "title": "No Title Data Available" if i % 10 == 0 else f"title {i}",
        "description": f"description {i}",
        "poster_name": f"poster {i % 7}",
        "follower_count": "51k" if i % 2 else "1M",
        "tag_list": "a,b",
        "is_image_or_video": "image",
        "image_src": f"https://example.invalid/{i}.jpg",
        "downloaded": 1,
        "save_location": f"Local save in /data/c{i % 3}",
        "category": f"c{i % 3}",
    }


def geo_event(i: int) -> dict[str, object]:
    return {
        "ind": i,
        "timestamp": "2020-01-02 03:04:05",
        "latitude": -45.5 + i / 1000,
        "longitude": 120.25,
        "country": f"Country {i % 5}",
    }


def user_event(i: int) -> dict[str, object]:
    return {
        "ind": i,
        "first_name": "Ada",
        "last_name": f"L{i}",
        "age": 20 + i % 40,
        "date_joined": "2016-05-06 07:08:09",
    }


EVENTS = {"pin": pin_event, "geo": geo_event, "user": user_event}


#: One bad event per topic, each a different way of being bad.
MALFORMED: dict[str, bytes] = {
    "pin": json.dumps({"title": "an event with no index"}).encode(),
    "geo": b"this is not json {",
    "user": json.dumps({"ind": "seven", "first_name": "A", "age": 3}).encode(),
}


def produce(settings: Settings, n: int, *, malformed: bool = False) -> None:
    producer = clients_for(settings).kafka_producer()
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for i in range(n):
        for table in TABLES:
            value = json.dumps(EVENTS[table](i)).encode()
            producer.produce(settings.streaming_topic(table), value, on_delivery=on_delivery)
        producer.poll(0)
    if malformed:
        for table, value in MALFORMED.items():
            producer.produce(settings.streaming_topic(table), value, on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert failures == []


def job(settings: Settings, *args: str, ready: Callable[[], str] | None = None) -> ChildProcess:
    """`python -m spark.streaming <args>` for the namespace, started; with `ready`, once that
    probe passes (a job that exits first fails with the end of its output)."""
    log = Path(tempfile.mkdtemp(prefix="streaming-job-")) / "job.log"
    # The runner gives it its own process group: a SIGKILL to the group takes the JVM too.
    child = ChildProcess(
        f"streaming job ({' '.join(args)})",
        [sys.executable, "-m", "spark.streaming", *args],
        # Unbuffered: the log holds every line up to a hang or a kill, not a buffer's worth less.
        # The namespace's whole settings, as the bench passes them (a copy's overrides too).
        env={**settings.to_env(), "PYTHONUNBUFFERED": "1"},
        log=log,
        probe=ready,
        start_timeout=JOB_TIMEOUT_S,
        term="leader",  # stop() as `make stream` stops: TERM to the job, which stops its JVM
    )
    child.start()
    return child


def output(child: ChildProcess) -> str:
    """What the job printed so far (stdout and stderr)."""
    return child.log.read_text(errors="replace")


def exit_code(child: ChildProcess, timeout: float = JOB_TIMEOUT_S) -> int:
    """Wait for the job to end by itself; its exit code."""
    assert child.proc is not None
    return child.proc.wait(timeout)


def run_once(settings: Settings) -> str:
    return run_once_with(settings)


def run_once_with(settings: Settings, *args: str) -> str:
    child = job(settings, "once", *args)
    try:
        code = exit_code(child)
    finally:
        child.stop()  # nothing outlives the test, even on a timeout
    text = output(child)
    assert code == 0, text
    return text
