"""The emulator against real MySQL, the real proxy and the real broker.

A throwaway database (300 events, seeded by `seed_data`) with its own read-only account,
a fresh topic namespace per test, and the proxy as a child process on free ports, so a
test can kill and restart it mid-run.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from sqlalchemy import text

from services.clients import clients_for
from services.emulator import checkpoint as ckpt
from services.emulator import cli, live, replay
from services.emulator.errors import EmulatorError
from services.emulator.summary import ReplaySummary
from services.rest_proxy.child import proxy_process, with_free_ports
from services.runner.child import ChildProcess, free_port
from services.runner.wait import NotReady
from services.settings import SOURCE_TABLES, TABLES, Settings
from tests.support.namespaces import drop_namespace, fresh_namespace, seeded_database

pytestmark = pytest.mark.integration

EVENTS = 300
INDEX = {"pin": "index", "geo": "ind", "user": "ind"}


@pytest.fixture(scope="module")
def db(stack: Settings) -> Iterator[Settings]:
    """Settings whose MySQL database holds EVENTS events, read by a throwaway reader."""
    with seeded_database(stack, "emu_test", EVENTS) as settings:
        yield settings


@pytest.fixture
def ens(db: Settings) -> Iterator[Settings]:
    """A fresh topic namespace over the test database, with proxy URLs on free ports."""
    settings = with_free_ports(fresh_namespace(db, prefix="e"))
    yield settings
    drop_namespace(settings)


@pytest.fixture
def proxy(ens: Settings) -> Iterator[ChildProcess]:
    with proxy_process(ens) as process:
        yield process


def read_values(settings: Settings, topic: str) -> list[dict[str, Any]]:
    consumer = clients_for(settings).kafka_consumer(f"check-{uuid.uuid4().hex}")
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while len(out) < high and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 1.0):
                assert msg.error() is None, msg.error()
                out.append(orjson.loads(msg.value()))
        assert len(out) == high
        return out
    finally:
        consumer.close()


def end_offset(settings: Settings, topic: str) -> int:
    consumer = clients_for(settings).kafka_consumer(f"check-{uuid.uuid4().hex}")
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    finally:
        consumer.close()


def indexes(settings: Settings, table: str, *, streaming: bool = False) -> list[int]:
    topic = settings.streaming_topic(table) if streaming else settings.topic(table)
    return [v[INDEX[table]] for v in read_values(settings, topic)]


def assert_no_loss(settings: Settings, max_duplicates: int) -> None:
    for table in TABLES:
        seen = indexes(settings, table)
        assert set(seen) == set(range(EVENTS)), f"{table}: lost events"
        duplicates = sum(n - 1 for n in Counter(seen).values())
        assert duplicates <= max_duplicates, f"{table}: {duplicates} duplicates"


# --- replay ----------------------------------------------------------------------------


def test_replay_sends_each_event_exactly_once_in_order(ens: Settings, proxy: ChildProcess) -> None:
    summary = replay.run(ens, batch_size=64, progress=False)
    assert isinstance(summary, ReplaySummary)
    assert summary.ok and summary.complete, summary.line()
    assert summary.acknowledged_by_table == dict.fromkeys(TABLES, EVENTS)
    assert (summary.events_read, summary.records_sent, summary.retried) == (EVENTS, 3 * EVENTS, 0)
    for table in TABLES:
        assert end_offset(ens, ens.topic(table)) == EVENTS
        assert indexes(ens, table) == list(range(EVENTS))
    pin = read_values(ens, ens.topic("pin"))[0]
    geo = read_values(ens, ens.topic("geo"))[0]
    user = read_values(ens, ens.topic("user"))[0]
    assert isinstance(pin["follower_count"], str)
    assert set(pin) >= {"index", "unique_id", "title", "category", "follower_count"}
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
    assert stamp.match(geo["timestamp"]) and stamp.match(user["date_joined"])
    assert isinstance(geo["latitude"], float)
    # Values are what MySQL holds.
    engine = clients_for(ens).mysql_engine()
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT `title`, `follower_count` FROM pinterest_data WHERE `index` = 0")
        ).one()
    engine.dispose()
    assert (pin["title"], pin["follower_count"]) == tuple(row)


def test_replay_from_start_and_checkpoint_completion(
    ens: Settings, proxy: ChildProcess, tmp_path: Path
) -> None:
    path = tmp_path / "cp.json"
    first = replay.run(ens, start=250, checkpoint=path, progress=False)
    assert first.acknowledged_by_table == dict.fromkeys(TABLES, 50)
    assert ckpt.load(path) == ckpt.Checkpoint(
        next_index=EVENTS,
        last_index=EVENTS - 1,
        database=ens.mysql_database,
        user_id=ens.pipeline_user_id,
        target="rest",
        complete=True,
    )
    again = replay.run(ens, checkpoint=path, progress=False)
    assert again.already_complete and again.acknowledged == 0
    assert indexes(ens, "user") == list(range(250, EVENTS))


def test_replay_resumes_after_being_killed(
    ens: Settings, proxy: ChildProcess, tmp_path: Path
) -> None:
    path = tmp_path / "cp.json"
    env = {**os.environ, **ens.to_env()}
    batch = 10
    cmd = [
        sys.executable,
        "-m",
        "services.emulator",
        "replay",
        "--batch-size",
        str(batch),
        "--rate",
        "150",
        "--checkpoint",
        str(path),
        "--no-progress",
    ]

    def under_way() -> str:
        if end_offset(ens, ens.topic("user")) < 100:
            raise NotReady("fewer than 100 events sent yet")
        return "under way"

    # Ready once 100 events are in Kafka; the kill is the test, not a shutdown.
    child = ChildProcess(
        "emulator", cmd, env=env, log=tmp_path / "emulator.log", probe=under_way, start_timeout=30
    )
    with child:
        child.kill()
        assert child.proc is not None and child.proc.returncode == -signal.SIGKILL
    point = ckpt.load(path)
    assert point is not None and 0 < point.next_index < EVENTS and not point.complete
    summary = replay.run(ens, checkpoint=path, progress=False)
    assert summary.start_index == point.next_index
    assert summary.ok and summary.complete
    # At least once: the batch in flight when killed may be sent twice, nothing is lost.
    assert_no_loss(ens, max_duplicates=batch)


def test_replay_survives_the_proxy_restarting(ens: Settings, proxy: ChildProcess) -> None:
    result: dict[str, ReplaySummary] = {}
    worker = threading.Thread(
        target=lambda: result.setdefault(
            "s", replay.run(ens, batch_size=10, rate=200, progress=False)
        )
    )
    worker.start()
    deadline = time.monotonic() + 30
    while end_offset(ens, ens.topic("pin")) < 60:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proxy.kill()
    # Not a readiness wait: the proxy stays down a moment so that requests really fail
    # (connection refused) and the emulator has to back off and retry.
    time.sleep(0.5)
    proxy.start()
    worker.join(120)
    assert not worker.is_alive()
    summary = result["s"]
    assert summary.ok and summary.complete, summary.line()
    assert summary.retried > 0
    assert summary.acknowledged_by_table == dict.fromkeys(TABLES, EVENTS)
    assert_no_loss(ens, max_duplicates=10)


def test_replay_to_the_legacy_api(ens: Settings, proxy: ChildProcess) -> None:
    summary = replay.run(ens, target="legacy", count=20, progress=False)
    assert summary.ok and summary.acknowledged_by_table == dict.fromkeys(TABLES, 20)
    for table in TABLES:
        assert indexes(ens, table) == list(range(20))


# --- random and stream -----------------------------------------------------------------


def test_random_mode_posts_whole_events(ens: Settings, proxy: ChildProcess) -> None:
    summary = live.run(ens, count=4, rate=50, seed=7, progress=False)
    assert summary.ok and summary.acknowledged_by_table == dict.fromkeys(TABLES, 4)
    picked = indexes(ens, "pin")
    assert len(picked) == 4 and all(0 <= i < EVENTS for i in picked)
    assert indexes(ens, "geo") == picked and indexes(ens, "user") == picked


def test_stream_mode_goes_to_the_streaming_topics(ens: Settings, proxy: ChildProcess) -> None:
    summary = live.run(
        ens, streaming=True, order="replay", start=10, count=5, rate=100, progress=False
    )
    assert summary.ok and summary.acknowledged == 15
    for table in TABLES:
        assert indexes(ens, table, streaming=True) == list(range(10, 15))
        assert end_offset(ens, ens.topic(table)) == 0


# --- bad input: one clear message, non-zero exit ---------------------------------------


@pytest.fixture(scope="module")
def quiet(db: Settings) -> Iterator[Settings]:
    """One namespace and proxy for the tests that send nothing (bad input, 4xx)."""
    settings = with_free_ports(fresh_namespace(db, prefix="e"))
    with proxy_process(settings):
        yield settings
    drop_namespace(settings)


def run_cli(
    settings: Settings,
    args: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str]:
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    code = cli.main([*args, "--no-progress"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_cli_replay_prints_a_summary(
    ens: Settings,
    proxy: ChildProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(ens, ["replay", "--no-checkpoint", "--count", "30"], monkeypatch, capsys)
    assert code == 0, out
    assert (
        "events read 30, records sent 90, acknowledged 90 (pin 30, geo 30, user 30), "
        "retried 0, failed 0" in out
    )


@pytest.mark.parametrize(
    ("update", "args", "needle"),
    [
        ({"mysql_password": "wrong"}, ["replay"], "MYSQL_PASSWORD"),
        ({"mysql_port": 1}, ["replay"], "MYSQL_HOST"),
        ({}, ["replay", "--start", str(EVENTS)], "--start 300"),
        ({"rest_proxy_url": "127.0.0.1:8082"}, ["replay"], "REST_PROXY_URL"),
        ({"rest_proxy_url": "http://127.0.0.1:1"}, ["replay"], "REST_PROXY_URL"),
        (
            {"legacy_api_url": "http://127.0.0.1:1"},
            ["random", "--target", "legacy"],
            "LEGACY_API_URL",
        ),
        ({"pipeline_user_id": "no-such-user"}, ["replay"], "PIPELINE_USER_ID"),
        ({}, ["stream", "--target", "legacy"], "--target rest"),
    ],
)
def test_bad_input_exits_2_naming_the_fix(
    quiet: Settings,
    update: dict[str, Any],
    args: list[str],
    needle: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    settings = quiet.model_copy(update={**update, "state_dir": tmp_path})
    code, out = run_cli(settings, args, monkeypatch, capsys)
    assert code == 2, out
    assert needle in out
    assert "Traceback" not in out


def test_empty_table_exits_2(
    quiet: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with seeded_database(quiet, "emu_empty", 5) as empty:
        admin = clients_for(empty).mysql_engine(admin=True, database=False)
        with admin.begin() as conn:
            conn.execute(text(f"DELETE FROM `{empty.mysql_database}`.`{SOURCE_TABLES['geo']}`"))
        admin.dispose()
        code, out = run_cli(empty, ["replay", "--no-checkpoint"], monkeypatch, capsys)
        assert code == 2, out
        assert "geolocation_data is empty" in out and "make seed" in out


def test_a_4xx_stops_the_run_with_exit_1(
    quiet: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The legacy target pointed at the v2 port: POST /pin/ is a 404 there, which no retry fixes.
    wrong = quiet.model_copy(update={"legacy_api_url": quiet.rest_proxy_url})
    code, out = run_cli(
        wrong, ["replay", "--target", "legacy", "--no-checkpoint"], monkeypatch, capsys
    )
    assert code == 1, out
    assert "HTTP 404" in out and "not retried" in out and "failed 3" in out


def test_retries_are_bounded_by_max_retries(
    quiet: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A proxy that accepts connections but whose broker is gone answers 503 every time.
    dead = with_free_ports(quiet).model_copy(
        update={
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
            "rest_proxy_produce_timeout_s": 1.0,
        }
    )
    with proxy_process(dead):
        code, out = run_cli(
            dead, ["random", "--count", "1", "--max-retries", "2"], monkeypatch, capsys
        )
    assert code == 1, out
    assert (
        "gave up on 1 records" in out and "after 2 retries" in out and "retried 2, failed 1" in out
    )


def test_a_checkpoint_of_another_run_is_refused(quiet: Settings, tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    ckpt.save(
        path,
        ckpt.Checkpoint(
            next_index=100,
            last_index=11_152,  # written against a bigger data set
            database=quiet.mysql_database,
            user_id=quiet.pipeline_user_id,
            target="rest",
        ),
    )
    with pytest.raises(EmulatorError, match="--restart"):
        replay.run(quiet, checkpoint=path, progress=False)
