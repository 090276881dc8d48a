"""Hard faults on the running stack, each one recorded so a test can prove it happened.

A fault SIGKILLs one service's process (no graceful shutdown, no flush), optionally keeps it
down for a while, then brings it back behind its readiness probe. What happened is written
into a `FaultRecord`: the pid killed, the pid that answers afterwards, whether the probe
really failed after the kill, and the seconds from the kill until the probe passed again.

Faults kill the SHARED stack's services, so every run takes an exclusive lock first
(`exclusive()`, an fcntl lock on FAULT_LOCK): two fault runs never overlap. The service is
brought back in a `finally`, even when the injection itself fails.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from services.clients import clients_for
from services.runner.wait import NotReady, WaitTimeout, every, wait_until
from services.settings import Settings
from services.stack import lifecycle, probes
from services.stack.definitions import Service, all_services
from services.stack.supervisor import Supervisor

FAULT_LOCK = Path("/tmp/pipeline-faults.lock")


class FaultError(RuntimeError):
    """The fault could not be injected, or the service did not come back."""


@dataclass
class FaultRecord:
    service: str
    #: seconds to keep the service down before bringing it back (0: at once)
    hold_s: float = 0.0
    killed_pid: int = 0
    new_pid: int = 0
    #: the service's own probe failed right after the kill: it really was unreachable
    probe_failed_after_kill: bool = False
    #: from the SIGKILL until the service's probe passed again
    down_s: float = 0.0
    #: what triggered the kill ("pin offsets >= 666", "first object landed")
    when: str = ""
    #: S3 writes the sink connectors failed, before and after the fault (S3 faults only)
    sink_s3_failures: tuple[int, int] | None = None
    #: the namespace's connector states seen while the service was held down (S3 faults only)
    sink_statuses: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    @property
    def happened(self) -> bool:
        return self.killed_pid > 0 and self.new_pid > 0 and self.new_pid != self.killed_pid

    def line(self) -> str:
        return (
            f"{self.service}: SIGKILL pid {self.killed_pid} ({self.when}), probe failed after "
            f"kill: {self.probe_failed_after_kill}, back as pid {self.new_pid} after "
            f"{self.down_s:.1f} s down"
            + (f" (held down {self.hold_s:.0f} s)" if self.hold_s else "")
            + (
                f"; sink S3 failures {self.sink_s3_failures[0]} -> {self.sink_s3_failures[1]}"
                if self.sink_s3_failures
                else ""
            )
            + (f", sink said {sorted(self.sink_statuses)}" if self.sink_statuses else "")
        )


@contextmanager
def exclusive(path: Path = FAULT_LOCK) -> Iterator[None]:
    """Hold the fault lock: only one fault run at a time on this machine's stack."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _service(settings: Settings, name: str) -> Service:
    for svc in all_services(settings):
        if svc.name == name:
            return svc
    raise FaultError(f"no service named {name!r} in the stack")


def _pid(sup: Supervisor, name: str) -> int:
    try:
        return int(sup.info(name)["pid"])
    except Exception:  # supervisord busy restarting it: "no pid yet" is the answer
        return 0


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # A zombie still answers signal 0 until supervisord reaps it; /proc says so.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def kill(settings: Settings, name: str, *, hold_s: float = 0.0, when: str = "") -> FaultRecord:
    """SIGKILL `name`, keep it down `hold_s` seconds, bring it back; return what happened.

    Raises FaultError when the service had no process to kill, or did not come back.
    """
    svc = _service(settings, name)
    record = FaultRecord(service=name, hold_s=hold_s, when=when)
    sup = Supervisor(settings)
    if name == "s3":  # the sink connector must notice the S3 server going away
        record.sink_s3_failures = (sink_s3_failures(settings), -1)
    t0 = time.monotonic()
    try:
        record.killed_pid = sup.kill(name)
        if not record.killed_pid:
            raise FaultError(f"{name} had no running process to kill (state {sup.state(name)})")
        killed = record.killed_pid

        def killed_gone() -> str:
            if not _gone(killed):
                raise NotReady(f"pid {killed} still runs")
            return "gone"

        try:
            wait_until(killed_gone, timeout=10, what=f"{name}'s SIGKILL", interval=0.02)
        except WaitTimeout:
            raise FaultError(f"{name}: pid {killed} survived SIGKILL for 10 s") from None
        try:
            svc.probe(settings)
        except probes.ProbeError:
            record.probe_failed_after_kill = True
        # The fault is "down for hold_s seconds": this wait is the fault itself. The sink's
        # health is read every half second meanwhile: it must notice the outage.
        for _moment in every(0.5, until=t0 + hold_s):
            if record.sink_s3_failures is not None:
                record.sink_statuses.add(str(sink_health(settings).get("status", "no answer")))
    finally:
        restore(settings, name, record.killed_pid)
        record.down_s = round(time.monotonic() - t0, 2)
        record.new_pid = _pid(sup, name)
        if record.sink_s3_failures is not None:
            record.sink_s3_failures = (record.sink_s3_failures[0], sink_s3_failures(settings))
    return record


def restore(settings: Settings, name: str, killed_pid: int) -> None:
    """Bring `name` back: wait for supervisord's own restart if it made one, else start it."""
    svc = _service(settings, name)
    sup = Supervisor(settings)
    state, pid = sup.state(name), _pid(sup, name)
    if state in ("RUNNING", "STARTING") and pid and pid != killed_pid:
        # supervisord (autorestart) already started a new process: wait until it answers.
        try:
            probes.wait_until(svc.probe, settings, timeout=svc.start_timeout)
            return
        except probes.ProbeError:
            pass  # restarted but unhealthy: restart it properly below
    lifecycle.restart(settings, name)


def connect_log(settings: Settings) -> Path:
    return settings.logs_dir / "connect.log"


def sink_health(settings: Settings) -> dict[str, object]:
    """The state of the namespace's S3 sink connector and its tasks ({} when Connect does not
    answer): `{"status": "RUNNING", "summary": "connector RUNNING, tasks 0:RUNNING"}`."""
    from services.stack import connectors

    name, _config = connectors.local_connector_config(settings)
    try:
        state = connectors.connector_state(settings, name)
    except connectors.ConnectorNotReady:
        return {}
    return {"status": state.connector, "summary": state.summary()}


def sink_s3_failures(settings: Settings) -> int:
    """S3 writes the connectors failed (and retried) so far: the Connect worker logs each one
    as `cannot write s3://<bucket>/<key>`. -1 when there is no log to read (docker runtime).

    Counted over the rotated files too (supervisord keeps connect.log.1 and .2 at 20 MB
    each): a rotation between two counts must not make the later one smaller."""
    log = connect_log(settings)
    files = [log, *(log.with_name(f"{log.name}.{n}") for n in (1, 2))]
    total, found = 0, False
    for path in files:
        try:
            with path.open("rb") as handle:
                total += sum(line.count(b"cannot write s3://") for line in handle)
                found = True
        except OSError:
            continue
    return total if found else -1


# --- triggers: when, during the run, a fault fires ---------------------------------------------
def when_offsets_reach(settings: Settings, topic: str, count: int, timeout: float = 120) -> str:
    """Wait until partition 0 of `topic` holds `count` records (the replay is under way)."""
    from confluent_kafka import KafkaException, TopicPartition

    consumer = clients_for(settings).kafka_consumer(f"fault-watch-{uuid.uuid4().hex[:6]}")

    def reached() -> str:
        try:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)
        except KafkaException:  # metadata not there yet, or the broker is restarting
            high = -1
        if high < count:
            raise NotReady(f"{topic} partition 0 holds {max(high, 0)} records")
        return f"{topic} offsets >= {count}"

    try:
        return wait_until(reached, timeout=timeout, what=f"{topic} offsets", interval=0.05)
    except WaitTimeout:
        raise FaultError(
            f"the replay never put {count} records into {topic} within {timeout:.0f} s"
        ) from None
    finally:
        consumer.close()


def when_first_object_lands(settings: Settings, topic: str, timeout: float = 120) -> str:
    """Wait until the sink has landed an object of `topic` (landing is under way)."""
    s3 = clients_for(settings).s3()

    def landed() -> str:
        if not any(True for _ in s3.list_objects(settings.bucket, f"topics/{topic}/", True)):
            raise NotReady(f"no object under topics/{topic}/ yet")
        return f"first object of {topic} landed"

    try:
        return wait_until(landed, timeout=timeout, what=f"{topic}'s first object", interval=0.1)
    except WaitTimeout:
        raise FaultError(
            f"nothing of {topic} landed in {settings.bucket} within {timeout:.0f} s"
        ) from None


Trigger = Callable[[Settings], str]


def injector(
    name: str, trigger: Trigger, *, hold_s: float = 0.0
) -> tuple[Callable[[Settings], None], list[FaultRecord]]:
    """A `during_replay` callable for run_demo, and the list its record is appended to."""
    records: list[FaultRecord] = []

    def inject(settings: Settings) -> None:
        when = trigger(settings)
        records.append(kill(settings, name, hold_s=hold_s, when=when))

    return inject, records
