"""The DAG as Airflow's parser sees it, inside the Airflow virtualenv (installed on first use).

The local variant: imports cleanly, `<user_id>_dag`, @daily, no catch-up, retries backed off,
wait_landed >> batch >> publish. The AWS variant (PIPELINE_TARGET=aws) and the file
`make export-aws` writes for MWAA: the batch task is the Databricks provider's operator on
the existing cluster with the notebook's path, and loading calls nothing on the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.airflow.env import DAG_FILE, DAGS_FOLDER
from services.airflow.run import inspect
from services.aws.export import dag_for_mwaa
from services.settings import Settings

pytestmark = pytest.mark.integration

USER = "dagcheck"
CLUSTER = "0123-456789-abcdefgh"


def _settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **{"pipeline_user_id": USER, **overrides})


def _only_dag(found: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    assert found["import_errors"] == {}
    assert len(found["dags"]) == 1, found["dags"].keys()
    return next(iter(found["dags"].items()))


def _tasks(dag: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for t in dag["tasks"]}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return inspect(_settings(), DAGS_FOLDER, tmp_path_factory.mktemp("home"))


def test_local_dag_imports_with_its_name_schedule_and_graph(local: dict[str, Any]) -> None:
    dag_id, dag = _only_dag(local)
    assert dag_id == f"{USER}_dag"
    assert dag["schedule"] == "0 0 * * *"  # @daily
    assert dag["catchup"] is False
    tasks = _tasks(dag)
    assert set(tasks) == {"wait_landed", "batch", "publish"}
    assert tasks["wait_landed"]["downstream"] == ["batch"]
    assert tasks["batch"]["downstream"] == ["publish"]
    assert tasks["publish"]["downstream"] == []
    assert tasks["wait_landed"]["operator"] == "PythonSensor"
    assert tasks["wait_landed"]["timeout_s"] == 900.0
    for task in tasks.values():
        assert task["retries"] == 2 and task["retry_exponential_backoff"], task
        assert task["retry_delay_s"] == 30.0
    assert local["connections"] == []


def test_settings_reach_the_dag(tmp_path: Path) -> None:
    found = inspect(
        _settings(airflow_task_retries=5, airflow_sensor_timeout_s=60.0), DAGS_FOLDER, tmp_path
    )
    _, dag = _only_dag(found)
    tasks = _tasks(dag)
    assert {t["retries"] for t in tasks.values()} == {5}
    assert tasks["wait_landed"]["timeout_s"] == 60.0


def _assert_databricks(dag_id: str, dag: dict[str, Any], notebook: str) -> None:
    assert dag_id == f"{USER}_dag"
    tasks = _tasks(dag)
    assert set(tasks) == {"wait_landed", "batch", "publish"}
    batch = tasks["batch"]
    assert batch["operator"] == "DatabricksSubmitRunOperator"
    assert batch["module"].startswith("airflow.providers.databricks.")
    assert batch["databricks_conn_id"] == "databricks_default"
    assert batch["json"]["existing_cluster_id"] == CLUSTER
    assert batch["json"]["notebook_task"]["notebook_path"] == notebook
    assert batch["json"]["notebook_task"]["base_parameters"] == {"user_id": USER}
    assert notebook.endswith("spark/notebook/pinterest_batch")
    assert batch["downstream"] == ["publish"]


def test_aws_variant_runs_the_notebook_on_databricks_without_calling_aws(tmp_path: Path) -> None:
    settings = _settings(pipeline_target="aws", databricks_cluster_id=CLUSTER)
    found = inspect(settings, DAG_FILE, tmp_path)
    dag_id, dag = _only_dag(found)
    _assert_databricks(dag_id, dag, settings.databricks_notebook_path)
    assert found["connections"] == []


def test_exported_mwaa_file_needs_no_environment(tmp_path: Path) -> None:
    # What MWAA loads: the exported file alone, with none of the project's variables set.
    settings = _settings(databricks_cluster_id=CLUSTER)
    exported = tmp_path / "dags" / f"{USER}_dag.py"
    exported.parent.mkdir()
    exported.write_text(dag_for_mwaa(settings))
    blank = {
        name: ""
        for name in (
            "PIPELINE_TARGET",
            "PIPELINE_USER_ID",
            "DATABRICKS_CLUSTER_ID",
            "DATABRICKS_NOTEBOOK_PATH",
            "AIRFLOW_TASK_RETRIES",
            "AIRFLOW_SENSOR_TIMEOUT_S",
        )
    }
    found = inspect(_settings(pipeline_user_id="someone-else"), exported, tmp_path, blank)
    dag_id, dag = _only_dag(found)
    _assert_databricks(dag_id, dag, settings.databricks_notebook_path)
    assert found["connections"] == []


def test_aws_variant_without_a_cluster_names_the_variable(tmp_path: Path) -> None:
    found = inspect(_settings(pipeline_target="aws"), DAG_FILE, tmp_path)
    assert found["dags"] == {}
    (error,) = found["import_errors"].values()
    assert "DATABRICKS_CLUSTER_ID is empty" in error
