"""The daily batch as an Airflow DAG: `<user_id>_dag`, as the original's MWAA DAG is named.

    wait_landed  ─►  batch  ─►  publish

- `wait_landed`: a sensor that waits until every record Kafka holds has landed in S3.
- `batch`: the Spark batch job (locally `python -m spark.batch`; on AWS the Databricks
  notebook `spark/notebook/pinterest_batch.py` on an existing cluster).
- `publish`: the run summary from `analytics/_run.json` (each answer's row count, `lost`,
  `doubled`) as the task's return value (XCom) and in its log.

This file needs only Airflow and the standard library, so the same file loads in the local
Airflow (`make airflow`) and on MWAA (`make export-aws` copies it with the AWS values in
DEFAULTS). Locally every task runs the project's code with the project's own `.venv` python
in a subprocess: Airflow's environment and the pipeline's never mix. Which implementation
each stage gets is chosen once, by PIPELINE_TARGET, in STAGES at the bottom.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.exceptions import AirflowException
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG

# --- settings: the environment wins; `make export-aws` rewrites this one line for MWAA -------
DEFAULTS: dict[str, str] = {"PIPELINE_TARGET": "local", "PIPELINE_USER_ID": "local"}


def _setting(name: str, default: str = "") -> str:
    return os.environ.get(name) or DEFAULTS.get(name) or default


TARGET = _setting("PIPELINE_TARGET", "local")
USER_ID = _setting("PIPELINE_USER_ID", "local")
BUCKET = f"user-{USER_ID}-bucket"
TABLES = ("pin", "geo", "user")
PROJECT_ROOT = Path(_setting("PIPELINE_PROJECT_ROOT", str(Path(__file__).resolve().parent.parent)))
PROJECT_PYTHON = _setting("PIPELINE_PYTHON", str(PROJECT_ROOT / ".venv" / "bin" / "python"))
STAGE_LOGS = Path(_setting("AIRFLOW_STAGE_LOG_DIR", str(PROJECT_ROOT / ".local" / "logs" / "dag")))
RETRIES = int(_setting("AIRFLOW_TASK_RETRIES", "2"))
SENSOR_TIMEOUT_S = float(_setting("AIRFLOW_SENSOR_TIMEOUT_S", "900"))
SENSOR_POKE_S = float(_setting("AIRFLOW_SENSOR_POKE_S", "10"))
DATABRICKS_CLUSTER_ID = _setting("DATABRICKS_CLUSTER_ID")
DATABRICKS_NOTEBOOK_PATH = _setting(
    "DATABRICKS_NOTEBOOK_PATH",
    "/Repos/pipeline/pinterest-data-pipeline/spark/notebook/pinterest_batch",
)

# Exit codes of `python -m services.landing verify`: 0 all landed, 1 not yet, 2 cannot ask.
_LANDED, _NOT_YET = 0, 1


class StageFailed(AirflowException):
    """A stage failed; the message names the stage, the command's last words and its log."""


# --- local: the project's code through the project's own python --------------------------------


def _run_stage(stage: str, args: list[str], ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
    """Run `<project python> -m <args>` in the project root; its output goes to the task log
    and to `<STAGE_LOGS>/<user_id>/<stage>.log`. A code outside `ok` raises StageFailed."""
    log = STAGE_LOGS / USER_ID / f"{stage}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [PROJECT_PYTHON, "-m", *args]
    if not Path(PROJECT_PYTHON).exists():
        why = (
            f"the project's python {PROJECT_PYTHON} does not exist: run `make venv` in the project"
        )
        log.write_text(why + "\n", encoding="utf-8")
        raise StageFailed(f"stage {stage} failed (exit 127): {why} — log: {log}")
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    text = f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}exit {proc.returncode}\n"
    with log.open("a", encoding="utf-8") as f:
        f.write(f"--- {datetime.now().isoformat(timespec='seconds')}\n{text}")
    sys.stdout.write(text)
    if proc.returncode not in ok:
        raise StageFailed(
            f"stage {stage} failed (exit {proc.returncode}): {_last_words(proc)} — log: {log}"
        )
    return proc.returncode, proc.stdout


def _last_words(proc: subprocess.CompletedProcess[str]) -> str:
    """The command's own complaint (`error: ...`, `landing: ...`), not a stack trace's tail."""
    lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("at ", "...", "File ", "^", "%")) and ": " in line:
            return line[:500]
    return lines[-1][:500] if lines else "no output"


def _local_landed() -> bool:
    code, _ = _run_stage(
        "wait_landed",
        ["services.landing", "verify", "--user-id", USER_ID],
        ok=(_LANDED, _NOT_YET),
    )
    return code == _LANDED


def _local_batch() -> None:
    _run_stage("batch", ["spark.batch"])


def _local_publish() -> dict[str, Any]:
    _, out = _run_stage("publish", ["services.airflow.publish", "--user-id", USER_ID])
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary


# --- aws: what MWAA has (boto3, the Databricks provider) -------------------------------------


def _s3() -> Any:
    import boto3  # MWAA ships it; imported only when a task runs, never when the DAG loads

    return boto3.client("s3")


def _aws_landed() -> bool:
    """MWAA cannot read MSK's offsets without a Kafka client: wait for every topic's objects."""
    s3 = _s3()
    for table in TABLES:
        page = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"topics/{USER_ID}.{table}/", MaxKeys=1)
        if not page.get("KeyCount"):
            print(f"nothing landed yet under s3://{BUCKET}/topics/{USER_ID}.{table}/")
            return False
    return True


def _aws_publish() -> dict[str, Any]:
    try:
        body = _s3().get_object(Bucket=BUCKET, Key="analytics/_run.json")["Body"].read()
    except Exception as exc:  # botocore's errors are many; any means the same here
        raise StageFailed(
            f"stage publish: cannot read s3://{BUCKET}/analytics/_run.json ({exc}); see the "
            "batch task's Databricks run page for the notebook's output"
        ) from None
    run = json.loads(body)
    summary = {
        "user_id": USER_ID,
        "answers": {name: len(rows) for name, rows in run["answers"].items()},
        "rows_read": run["rows_read"],
        "cleaned_rows": run["cleaned_rows"],
        # MWAA reads no Kafka offsets: what never reached S3 is counted by `make check-aws`.
        "lost": None,
        "doubled": sum(run["duplicates_removed"].values()),
    }
    print(json.dumps(summary))
    return summary


# --- the stages of each target: chosen once, here ---------------------------------------------


def _python_sensor(callable_: Callable[[], bool]) -> PythonSensor:
    return PythonSensor(
        task_id="wait_landed",
        python_callable=callable_,
        poke_interval=SENSOR_POKE_S,
        timeout=SENSOR_TIMEOUT_S,
    )


def _local_stages() -> tuple[Any, Any, Any]:
    return (
        _python_sensor(_local_landed),
        PythonOperator(task_id="batch", python_callable=_local_batch),
        PythonOperator(task_id="publish", python_callable=_local_publish),
    )


def _aws_stages() -> tuple[Any, Any, Any]:
    from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

    if not DATABRICKS_CLUSTER_ID:
        raise ValueError(
            "PIPELINE_TARGET=aws: DATABRICKS_CLUSTER_ID is empty; set it to the id of the "
            "existing cluster that runs the notebook (Databricks, Compute, the cluster's JSON)"
        )
    batch = DatabricksSubmitRunOperator(
        task_id="batch",
        databricks_conn_id="databricks_default",
        existing_cluster_id=DATABRICKS_CLUSTER_ID,
        notebook_task={
            "notebook_path": DATABRICKS_NOTEBOOK_PATH,
            "base_parameters": {"user_id": USER_ID},
        },
    )
    return (
        _python_sensor(_aws_landed),
        batch,
        PythonOperator(task_id="publish", python_callable=_aws_publish),
    )


STAGES: dict[str, Callable[[], tuple[Any, Any, Any]]] = {
    "local": _local_stages,
    "aws": _aws_stages,
}
if TARGET not in STAGES:
    raise ValueError(f"PIPELINE_TARGET={TARGET!r}: expected one of {', '.join(STAGES)}")

with DAG(
    dag_id=f"{USER_ID}_dag",
    description="Pinterest pipeline: wait for S3 landing, run the Spark batch, publish the summary",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["pinterest", TARGET],
    default_args={
        "owner": USER_ID,
        "retries": RETRIES,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    },
) as dag:
    wait_landed, batch, publish = STAGES[TARGET]()
    wait_landed >> batch >> publish
