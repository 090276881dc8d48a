"""Every service on the data path SIGKILLed in turn mid-run: the fault is proven, nothing lost.

Each case runs the demo's stages on 2,000 events (replayed at 400/s so the fault lands inside
the replay) in a namespace and database of its own, and kills one service of the SHARED stack:
a lock (services.demo.faults.exclusive) keeps two fault runs from overlapping, and the stack
is brought back up in a `finally`. Each case asserts

- the fault happened: a new pid answers, the service's probe failed after the kill, and the
  down time was measured (plus what the pipeline counted: emulator retries, the S3 writes the
  connector was refused);
- nothing lost, nothing doubled, counted from independent sources
  (tests/support/pipeline_checks.py);
- the nine answers equal the plain-Python reference.

The S3 sink is the namespace's connector in the Kafka Connect worker: "connect" SIGKILLs the
worker with the connector's task mid-replay (what it buffered is gone; it resumes after what
landed), and "s3-down-10s-mid-landing" holds S3 down while the connector writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.demo import faults
from services.settings import Settings
from tests.support import pipeline_checks as checks
from tests.support.spark_session import spark_session

__all__ = ["spark_session"]

pytestmark = pytest.mark.e2e

SIZE = 2000
RATE = 400.0  # events/s: the replay lasts 5 s, long enough to be hit


def _mid_replay(settings: Settings) -> str:
    return faults.when_offsets_reach(settings, settings.topic("pin"), SIZE // 3)


def _mid_landing(settings: Settings) -> str:
    return faults.when_first_object_lands(settings, settings.topic("pin"))


@dataclass(frozen=True)
class Case:
    service: str
    trigger: Callable[[Settings], str]
    hold_s: float = 0.0
    #: the emulator must have retried (its requests or reads failed while the service was down)
    emulator_retries: bool = False
    #: the sink connector must have been refused S3 writes (logged by the worker)
    sink_failures: bool = False


CASES = {
    "kafka": Case("kafka", _mid_replay),
    "rest-proxy": Case("rest-proxy", _mid_replay, hold_s=3.0, emulator_retries=True),
    "connect": Case("connect", _mid_replay),
    "s3": Case("s3", _mid_replay),
    "mysql": Case("mysql", _mid_replay, hold_s=3.0, emulator_retries=True),
    "s3-down-10s-mid-landing": Case("s3", _mid_landing, hold_s=10.0, sink_failures=True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_nothing_is_lost_when_a_service_is_killed_mid_run(
    stack: Settings, spark_session: Any, tmp_path: Path, name: str
) -> None:
    case = CASES[name]
    inject, records = faults.injector(case.service, case.trigger, hold_s=case.hold_s)
    # faults.kill brings the killed service back in a `finally` of its own.
    with (
        faults.exclusive(),
        checks.demo_run(
            stack,
            tmp_path,
            "fault",
            SIZE,
            replay_rate=RATE,
            during_replay=inject,
            spark=spark_session,
        ) as (settings, result, rows),
    ):
        assert len(records) == 1, "the fault was not injected"
        fault = records[0]
        print(f"\n    {name}: {fault.line()}; {result.replay_line}")
        print("    seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items()))
        assert fault.happened, f"no new process after the kill: {fault.line()}"
        assert fault.probe_failed_after_kill, f"still answering after: {fault.line()}"
        assert fault.down_s > 0 and fault.down_s >= case.hold_s, fault.line()
        if case.emulator_retries:
            assert result.replay_retried > 0, result.replay_line
        if case.sink_failures:
            # The connector noticed the outage: the worker logged refused writes, and the
            # connector kept running through it (a refused write is retried, not a failure).
            assert fault.sink_s3_failures is not None
            before, after = fault.sink_s3_failures
            assert after > before >= 0, f"the sink did not notice S3 was down: {fault.line()}"
            assert "FAILED" not in fault.sink_statuses, fault.line()
        counts = checks.accounted(settings, result, rows)
        print(f"    counts: {counts}")
        checks.answers_match_reference(result, rows)
