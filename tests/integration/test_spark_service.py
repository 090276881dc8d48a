"""The warm batch service (spark/service.py) against the real S3: runs, refusals, warm-up.

One private service for the module on a free port (never the user's), and a fresh namespace
with a few hundred events landed as the S3 sink lands them. Answers are checked against the
plain-Python reference; a second, incremental run on the same service adds nothing. The
supervised, on-demand service `make batch` starts is checked last, and stopped again unless
it was already running.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pyspark.sql import SparkSession

from bench.landed import json_line, upload_files, write_events
from seed_data.generate import events
from services.clients import clients_for
from services.runner.child import ChildProcess, free_port
from services.runner.wait import NotReady, wait_until
from services.settings import TABLES, Settings
from services.stack import lifecycle
from spark import batch
from spark.questions import QUESTIONS
from spark.service import WARM_UP_EVENTS, WARM_UP_NAMESPACE, private_service
from tests.support import spark_reference as ref
from tests.support.batch_cli import run_full_batch
from tests.support.spark_session import spark_session

pytestmark = pytest.mark.integration
__all__ = ["spark_session"]

EVENTS = list(events(size=400, seed=31))
KEYS = {"pin": "index", "geo": "ind", "user": "ind"}


@pytest.fixture(scope="module")
def service(stack: Settings) -> Iterator[tuple[Settings, ChildProcess]]:
    port = free_port()
    child = private_service(stack, port, name="test-spark-service")
    child.start()
    try:
        yield stack.model_copy(update={"spark_service_port": port}), child
    finally:
        child.stop()


@pytest.fixture
def landed(ns: Settings, tmp_path: Path) -> Settings:
    write_events(tmp_path, ns, EVENTS, per_object=150)
    upload_files(ns, tmp_path, sorted(tmp_path.rglob("*.json")))
    return ns


def _on(ns: Settings, service: tuple[Settings, ChildProcess]) -> Settings:
    return ns.model_copy(update={"spark_service_port": service[0].spark_service_port})


def _expected() -> dict[str, Any]:
    lines = {
        "pin": [json_line(e.pin).rstrip() for e in EVENTS],
        "geo": [json_line(e.geo).rstrip() for e in EVENTS],
        "user": [json_line(e.user).rstrip() for e in EVENTS],
    }
    parsed = {t: ref.parse_lines(lines[t], KEYS[t], ref.NUMERIC[t]) for t in TABLES}
    tables = {t: ref.dedupe(parsed[t][0], KEYS[t]) for t in TABLES}
    return ref.answers(tables["pin"], tables["geo"], tables["user"])


def test_a_run_on_the_service_answers_as_the_reference_and_a_rerun_adds_nothing(
    landed: Settings, service: tuple[Settings, ChildProcess]
) -> None:
    settings = _on(landed, service)
    runs_before = batch.service_health(settings)["runs"]  # type: ignore[index]

    first = batch.run_on_service(settings, full=True)
    expected = _expected()
    for name in QUESTIONS:
        assert [tuple(r.values()) for r in first.answer(name)] == expected[name], name
    assert first.cleaned_rows == dict.fromkeys(TABLES, len(EVENTS))
    assert first.target == f"s3a://{landed.bucket}"
    # What `make batch` reads back afterwards: the summary it wrote to the bucket.
    assert batch.load_summary(landed).answers == first.answers

    again = batch.run_on_service(settings)
    assert again.mode == "incremental"
    assert again.new_rows == dict.fromkeys(TABLES, 0)
    assert again.cleaned_rows == first.cleaned_rows
    assert again.answers == first.answers
    assert batch.service_health(settings)["runs"] == runs_before + 2  # type: ignore[index]


def test_a_namespace_without_landed_events_is_the_jobs_own_error(
    ns: Settings, service: tuple[Settings, ChildProcess]
) -> None:
    with pytest.raises(batch.NoLandedEvents, match="no landed pin events"):
        batch.run_on_service(_on(ns, service))
    # The service stays up for the next request.
    assert batch.service_health(_on(ns, service)) is not None


def test_a_request_naming_another_bucket_is_refused_with_the_fix(
    ns: Settings, service: tuple[Settings, ChildProcess]
) -> None:
    url = f"http://127.0.0.1:{service[0].spark_service_port}/runs"
    body = {
        "user_id": ns.pipeline_user_id,
        "bucket": "someone-elses-bucket",
        "topics": {t: ns.topic(t) for t in TABLES},
    }
    resp = requests.post(url, json=body, timeout=30)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert ns.bucket in error and "someone-elses-bucket" in error
    assert "SPARK_SERVICE=0" in error

    as_json = {"Content-Type": "application/json"}
    resp = requests.post(url, data=b"{not json", headers=as_json, timeout=30)
    assert resp.status_code == 400 and "not JSON" in resp.json()["error"]
    resp = requests.post(url, json={"bucket": ns.bucket}, timeout=30)
    assert resp.status_code == 400 and "user_id" in resp.json()["error"]
    resp = requests.post(url, json={**body, "user_id": "Not_A-valid-id-"}, timeout=30)
    assert resp.status_code == 400 and "PIPELINE_USER_ID" in resp.json()["error"]


def test_requests_a_web_page_could_send_are_refused(
    ns: Settings, service: tuple[Settings, ChildProcess]
) -> None:
    port = service[0].spark_service_port
    url = f"http://127.0.0.1:{port}/runs"
    body = b'{"user_id": "local"}'
    # A form or fetch() without preflight: text/plain; a page's request carries Origin; a
    # DNS-rebound name reaches the port under another Host.
    plain = requests.post(url, data=body, headers={"Content-Type": "text/plain"}, timeout=30)
    assert plain.status_code == 415
    origin = requests.post(
        url, json={"user_id": "local"}, headers={"Origin": "http://example.com"}, timeout=30
    )
    assert origin.status_code == 403 and "Origin" in origin.json()["error"]
    rebound = requests.get(
        f"http://127.0.0.1:{port}/health", headers={"Host": f"attacker.example:{port}"}, timeout=30
    )
    assert rebound.status_code == 403
    assert batch.service_health(_on(ns, service)) is not None  # and a local caller is served


def test_the_warm_up_runs_the_job_on_generated_events_and_leaves_no_files(
    service: tuple[Settings, ChildProcess],
) -> None:
    settings, _child = service
    before = set(settings.run_dir.glob("spark-warm-up-*"))
    resp = requests.post(
        f"http://127.0.0.1:{settings.spark_service_port}/warm-up", json={}, timeout=600
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["cleaned_rows"] == dict.fromkeys(TABLES, WARM_UP_EVENTS)
    assert batch.service_health(settings)["warmed"] is True  # type: ignore[index]
    assert set(settings.run_dir.glob("spark-warm-up-*")) == before
    # It ran on the S3 store, in a bucket of its own that is gone again.
    assert _warm_up_bucket(settings) not in _buckets(settings)


def _warm_up_bucket(service: Settings) -> str:
    namespace = WARM_UP_NAMESPACE.format(port=service.spark_service_port)
    return service.model_copy(update={"pipeline_user_id": namespace}).bucket


def _buckets(settings: Settings) -> set[str]:
    return {b.name for b in clients_for(settings).s3().list_buckets()}


def _until_warming(settings: Settings) -> None:
    def warming() -> bool:
        health = batch.service_health(settings) or {}
        if not health.get("warming"):
            raise NotReady(f"not warming: {health}")
        return True

    wait_until(warming, timeout=60, what="the batch service's warm-up to start")


def test_a_run_request_interrupts_the_services_own_warm_up_which_cleans_up(
    landed: Settings,
) -> None:
    port = free_port()
    child = private_service(landed, port, name="test-spark-warm-up", warm_up=True)
    child.start()
    try:
        settings = landed.model_copy(update={"spark_service_port": port})
        _until_warming(settings)
        first = batch.run_on_service(settings, full=True)
        assert first.cleaned_rows == dict.fromkeys(TABLES, len(EVENTS))
        expected = _expected()
        for name in QUESTIONS:
            assert [tuple(r.values()) for r in first.answer(name)] == expected[name], name
        health = batch.service_health(settings)
        assert health is not None and health["warming"] is False and health["warmed"] is False
        assert "warm-up stopped (a run request came)" in child.log.read_text()
        assert _warm_up_bucket(settings) not in _buckets(settings)
    finally:
        child.stop()
    assert _warm_up_bucket(settings) not in _buckets(settings)


def test_make_up_starts_the_batch_service_which_warms_itself_up(stack: Settings) -> None:
    settings = stack.model_copy(update={"spark_service": True})
    was_running = batch.service_health(settings) is not None
    try:
        lifecycle.up(settings, quiet=True)
        health = batch.service_health(settings)
        assert health is not None
        from services.stack.supervisor import Supervisor

        assert Supervisor(settings).state("spark-batch") == "RUNNING"
        if not was_running:
            assert health["runs"] == 0
            _until_warming(settings)
    finally:
        if not was_running:
            lifecycle.stop_on_demand(settings, "spark-batch")
    if not was_running:
        assert batch.service_health(settings) is None
        # Stopped mid-warm-up: the service removed its scratch bucket on the way out.
        assert _warm_up_bucket(settings) not in _buckets(settings)


def test_make_batch_starts_the_supervised_service_on_demand_and_runs_on_it(
    landed: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = landed.model_copy(update={"spark_service": True})
    was_running = batch.service_health(settings) is not None
    try:
        summary, where = batch.run_anywhere(settings, full=True)
        assert where == "service"
        assert summary.cleaned_rows == dict.fromkeys(TABLES, len(EVENTS))
        health = batch.service_health(settings)
        assert health is not None and health["runs"] >= 1
        # `make down` stops it with the rest: it is one of supervisord's programs.
        from services.stack.supervisor import Supervisor

        assert Supervisor(settings).state("spark-batch") == "RUNNING"
    finally:
        if not was_running:
            lifecycle.stop_on_demand(settings, "spark-batch")
    if not was_running:
        assert batch.service_health(settings) is None


def test_the_cli_runs_on_the_service_and_says_so(
    landed: Settings, service: tuple[Settings, ChildProcess]
) -> None:
    done = run_full_batch(
        {
            "PIPELINE_USER_ID": landed.pipeline_user_id,
            "SPARK_SERVICE": "1",
            "SPARK_SERVICE_PORT": str(service[0].spark_service_port),
        }
    )
    assert done.returncode == 0, done.stderr
    assert "ran on the warm batch service" in done.stderr
    summary = batch.RunSummary.from_json(done.stdout)
    assert summary.cleaned_rows == dict.fromkeys(TABLES, len(EVENTS))


def test_spark_service_0_runs_the_job_in_process(
    landed: Settings, spark_session: SparkSession
) -> None:
    settings = landed.model_copy(update={"spark_service": False})
    assert batch.ensure_service(settings) is False
    summary, where = batch.run_anywhere(settings, full=True)
    assert where == "process"
    assert summary.cleaned_rows == dict.fromkeys(TABLES, len(EVENTS))
