"""Load DAG files the way Airflow's DAG processor does and print what they define, as JSON.

Run with the Airflow virtualenv's python (stdlib + Airflow only, never the project's code):

    .local/airflow/venv/bin/python services/airflow/inspect_dag.py <dag file or folder>

Also records every network connection attempted while loading: a DAG file must not call
anything (AWS, Databricks, the stack) at import time, which MWAA's parser punishes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

connections: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect":
        connections.append(repr(args[1]))


def _task(task: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "task_id": task.task_id,
        "operator": type(task).__name__,
        "module": type(task).__module__,
        "downstream": sorted(task.downstream_task_ids),
        "retries": task.retries,
        "retry_exponential_backoff": bool(task.retry_exponential_backoff),
        "retry_delay_s": task.retry_delay.total_seconds(),
    }
    if hasattr(task, "timeout") and hasattr(task, "poke_interval"):
        out["timeout_s"] = float(task.timeout)
    if hasattr(task, "databricks_conn_id"):
        # The body the operator would post to Databricks' runs/submit (built, not sent).
        merged = getattr(task, "_get_merged_json", None)
        out["json"] = merged() if merged else task.json
        out["databricks_conn_id"] = task.databricks_conn_id
    return out


def main(path: str) -> int:
    sys.addaudithook(_audit)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=path)
    dags = {
        dag_id: {
            "schedule": str(getattr(dag.timetable, "expression", dag.timetable)),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tasks": [_task(t) for t in dag.tasks],
        }
        for dag_id, dag in bag.dags.items()
    }
    errors = {str(k): str(v) for k, v in bag.import_errors.items()}
    print(json.dumps({"dags": dags, "import_errors": errors, "connections": connections}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
