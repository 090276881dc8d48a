"""The DAG under `airflow dags test`, against the real stack, in a fresh namespace.

A small database is seeded, replayed through the REST proxy and left to land by the S3 sink;
then the DAG waits for the landing, runs the Spark batch and publishes the summary. Its nine
outputs are compared with the batch job's own outputs for the same data. A run pointed at an
S3 endpoint where nothing listens fails naming its stage; the rerun with S3 back succeeds.
(The Airflow virtualenv is installed on first use: about a minute.)
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from services.airflow.run import DagsTest, dags_test
from services.clients import clients_for
from services.emulator import replay
from services.settings import PROJECT_ROOT, TABLES, Settings
from spark.questions import QUESTIONS
from tests.support.namespaces import drop_namespace, fresh_namespace, seeded_database

pytestmark = pytest.mark.e2e

SIZE = 300


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def landed(stack: Settings) -> Iterator[Settings]:
    """A namespace whose topics hold SIZE replayed events of a throwaway database."""
    with seeded_database(stack, "airflow", SIZE) as db:
        # No retries: a failing task fails the run at once (the DAG's default is 2, backed off).
        settings = fresh_namespace(db, prefix="af").model_copy(
            update={"airflow_task_retries": 0, "airflow_sensor_timeout_s": 180.0}
        )
        try:
            summary = replay.run(settings, progress=False)
            assert summary.ok, summary.line()
            yield settings
        finally:
            drop_namespace(settings)


@pytest.fixture(scope="module")
def runs(landed: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[DagsTest, DagsTest]:
    """The DAG with S3 unreachable, then again with S3 back (one Airflow home for both)."""
    home = tmp_path_factory.mktemp("airflow-home")
    dead_s3 = landed.model_copy(update={"s3_endpoint": f"http://127.0.0.1:{_closed_port()}"})
    failed = dags_test(dead_s3, home=home)
    # The rerun keeps the DAG's default retries: another test restarting Kafka meanwhile
    # costs a backed-off retry, not the run.
    rerun = dags_test(landed.model_copy(update={"airflow_task_retries": 2}), home=home)
    return failed, rerun


def test_unreachable_s3_fails_the_run_naming_the_stage(runs: tuple[DagsTest, DagsTest]) -> None:
    failed, _ = runs
    assert failed.returncode != 0, failed.output[-3000:]
    assert "DagRun failed" in failed.output
    assert failed.failed_stage == "wait_landed", failed.output[-3000:]
    assert failed.failure is not None and "cannot reach S3" in failed.failure
    # The message points at the stage's own log, which holds the command and its complaint.
    stage_log = Path(failed.failure.rsplit("log: ", 1)[1].strip())
    assert "services.landing verify" in stage_log.read_text()


def test_rerun_with_s3_back_succeeds(runs: tuple[DagsTest, DagsTest], landed: Settings) -> None:
    _, rerun = runs
    # (A task may have needed one of its retries if someone restarted a service meanwhile.)
    assert rerun.succeeded, rerun.output[-4000:]
    assert "DagRun failed" not in rerun.output


def _published(settings: Settings) -> dict[str, Any]:
    log = settings.logs_dir / "dag" / settings.pipeline_user_id / "publish.log"
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


def test_publish_reports_every_record(runs: tuple[DagsTest, DagsTest], landed: Settings) -> None:
    assert runs[1].succeeded
    summary = _published(landed)
    assert summary["kafka_records"] == dict.fromkeys(TABLES, SIZE)
    assert summary["cleaned_rows"] == dict.fromkeys(TABLES, SIZE)
    assert (summary["lost"], summary["doubled"]) == (0, 0)
    assert sorted(summary["answers"]) == sorted(QUESTIONS)
    assert all(count > 0 for count in summary["answers"].values()), summary["answers"]


def _parquet_rows(settings: Settings, name: str, tmp: Path) -> list[tuple[Any, ...]]:
    s3 = clients_for(settings).s3()
    folder = tmp / name
    folder.mkdir(parents=True)
    for obj in s3.list_objects(settings.bucket, prefix=f"analytics/{name}/", recursive=True):
        key = obj.object_name or ""
        if key.endswith(".parquet"):
            s3.fget_object(settings.bucket, key, str(folder / Path(key).name))
    assert list(folder.glob("*.parquet")), (
        f"no Parquet under s3://{settings.bucket}/analytics/{name}/"
    )
    rows = duckdb.sql(f"SELECT * FROM read_parquet('{folder}/*.parquet')").fetchall()
    return sorted(_rounded(rows), key=repr)


def _rounded(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]


def test_nine_outputs_equal_the_batch_jobs_own(
    runs: tuple[DagsTest, DagsTest], landed: Settings, tmp_path: Path
) -> None:
    assert runs[1].succeeded
    from_dag = {name: _parquet_rows(landed, name, tmp_path / "dag") for name in QUESTIONS}
    assert len(from_dag) == 9
    # The batch job's own run over the same landed data, through its CLI.
    own = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "python"), "-m", "spark.batch", "--json"],
        env={**_env(landed)},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert own.returncode == 0, own.stderr[-2000:]
    answers = json.loads(own.stdout)["answers"]
    for name in QUESTIONS:
        expected = sorted(_rounded([tuple(r.values()) for r in answers[name]]), key=repr)
        assert from_dag[name] == expected, name


def _env(settings: Settings) -> dict[str, str]:
    import os

    return {**os.environ, "PIPELINE_USER_ID": settings.pipeline_user_id}
