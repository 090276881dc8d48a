"""Fault bookkeeping and the emulator's ride through a MySQL restart, without services."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
import pytest
from sqlalchemy.exc import OperationalError

from services.demo import faults
from services.emulator import source as source_mod
from services.emulator.errors import EmulatorError
from services.emulator.source import EventSource
from services.settings import Settings

pytestmark = pytest.mark.unit


def test_a_fault_happened_only_if_another_process_answers_afterwards() -> None:
    record = faults.FaultRecord(service="kafka", killed_pid=10, new_pid=11, down_s=3.2)
    assert record.happened
    assert "SIGKILL pid 10" in record.line() and "back as pid 11 after 3.2 s" in record.line()
    assert not faults.FaultRecord(service="kafka", killed_pid=10, new_pid=10).happened
    assert not faults.FaultRecord(service="kafka", killed_pid=10, new_pid=0).happened
    assert not faults.FaultRecord(service="kafka").happened


def test_the_fault_lock_is_exclusive(tmp_path: Path) -> None:
    lock = tmp_path / "faults.lock"
    with faults.exclusive(lock), open(lock, "a+") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(lock, "a+") as other:  # released on leaving
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _mysql_error(code: int) -> OperationalError:
    return OperationalError("SELECT 1", {}, pymysql.err.OperationalError(code, "boom"))


class _Result:
    def mappings(self) -> list[dict[str, Any]]:
        return [{"index": 1, "ind": 1}]


class _Conn:
    def execute(self, *_args: Any) -> _Result:
        return _Result()


class _Engine:
    """Fails `failures` times with MySQL error `code`, then answers."""

    def __init__(self, code: int, failures: int) -> None:
        self.code, self.failures, self.calls = code, failures, 0

    @contextmanager
    def connect(self) -> Iterator[_Conn]:
        self.calls += 1
        if self.calls <= self.failures:
            raise _mysql_error(self.code)
        yield _Conn()

    def dispose(self) -> None:
        pass


@pytest.mark.parametrize("code", [2003, 2006, 2013])
def test_a_replay_read_rides_out_a_mysql_restart(code: int) -> None:
    engine = _Engine(code, failures=2)
    src = EventSource(Settings(), engine=engine)  # type: ignore[arg-type]
    rows = src.fetch_range(0, 2)
    assert set(rows) == {"pin", "geo", "user"} and engine.calls == 3
    assert src.retries == 2, "each retried read is counted (the replay summary reports it)"


def test_other_mysql_errors_are_not_retried() -> None:
    engine = _Engine(1045, failures=5)  # wrong credentials: retrying cannot fix it
    src = EventSource(Settings(), engine=engine)  # type: ignore[arg-type]
    with pytest.raises(EmulatorError, match="refused user"):
        src.fetch_range(0, 2)
    assert engine.calls == 1 and src.retries == 0


def test_a_mysql_that_never_comes_back_ends_the_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_mod, "SERVER_GONE_PATIENCE_S", 0.0)
    engine = _Engine(2003, failures=100)
    src = EventSource(Settings(), engine=engine)  # type: ignore[arg-type]
    with pytest.raises(EmulatorError, match="cannot reach MySQL"):
        src.fetch_range(0, 2)


def test_the_sink_connectors_refused_writes_are_counted_from_the_worker_log(
    tmp_path: Path,
) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path)
    assert faults.sink_s3_failures(settings) == -1  # no log: unknown, not zero
    log = faults.connect_log(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(
        "[t] INFO WorkerSinkTask{id=a-s3-sink-0} Committing offsets\n"
        "[t] ERROR WorkerSinkTask{id=a-s3-sink-0} RetriableException from SinkTask:\n"
        "org.apache.kafka.connect.errors.RetriableException: cannot write "
        "s3://user-a-bucket/topics/a.pin/partition=0/a.pin+0+0000000000.json: Unable to execute\n"
        "[t] WARN commit limited to what is in S3: cannot write s3://user-a-bucket/x.json\n"
    )
    assert faults.sink_s3_failures(settings) == 2
