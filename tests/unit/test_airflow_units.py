"""Pure parts of the Airflow integration: the publish summary, the Airflow environment, the
MWAA export of the DAG. (The DAG itself is checked inside Airflow: test_dag_integrity.py.)"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from services.airflow.env import DAG_FILE, airflow_env, dag_id
from services.airflow.install import CONSTRAINTS, REQUIREMENTS
from services.airflow.publish import summarise
from services.aws.export import dag_for_mwaa, mwaa_requirements
from services.settings import Settings

pytestmark = pytest.mark.unit

RUN: dict[str, Any] = {
    "started_at": "2026-01-01T00:00:00",
    "rows_read": {"pin": 12, "geo": 10, "user": 10},
    "corrupt_lines": {"pin": 1, "geo": 0, "user": 0},
    "duplicates_removed": {"pin": 1, "geo": 0, "user": 0},
    "cleaned_rows": {"pin": 10, "geo": 10, "user": 10},
    "answers": {"a": [{"x": 1}, {"x": 2}], "b": []},
}


def test_summary_counts_answers_and_accounts_against_kafka() -> None:
    s = summarise(RUN, {"pin": 12, "geo": 10, "user": 10})
    assert s["answers"] == {"a": 2, "b": 0}
    assert (s["lost"], s["doubled"]) == (0, 1)
    assert s["doubled_by_table"] == {"pin": 1, "geo": 0, "user": 0}
    assert s["quarantined"]["pin"] == 1


def test_summary_counts_what_kafka_holds_but_the_batch_never_read_as_lost() -> None:
    s = summarise(RUN, {"pin": 12, "geo": 13, "user": 10})
    assert s["lost"] == 3
    assert s["lost_by_table"] == {"pin": 0, "geo": 3, "user": 0}


def _settings(**kw: Any) -> Settings:
    return Settings(_env_file=None, **kw)


def test_airflow_env_points_at_this_project_and_loopback(tmp_path: Path) -> None:
    s = _settings(pipeline_user_id="alice", airflow_port=18080, s3_endpoint="http://127.0.0.1:1")
    env = airflow_env(s, tmp_path, base={"PATH": "/bin"})
    assert dag_id(s) == "alice_dag"
    assert env["AIRFLOW_HOME"] == str(tmp_path)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(DAG_FILE.parent)
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path}/airflow.db"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    # The pipeline's settings reach the tasks' subprocesses; secrets are not copied.
    assert env["PIPELINE_USER_ID"] == "alice"
    assert env["S3_ENDPOINT"] == "http://127.0.0.1:1"
    assert "S3_SECRET_KEY" not in env and "MYSQL_PASSWORD" not in env


def test_mwaa_dag_bakes_the_aws_values_into_the_same_file() -> None:
    s = _settings(pipeline_user_id="0a1b2c3d", databricks_cluster_id="0123-abc")
    text = dag_for_mwaa(s)
    original = DAG_FILE.read_text()
    # One line differs: the DEFAULTS assignment.
    changed = [
        (a, b) for a, b in zip(original.splitlines(), text.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 1
    defaults = ast.literal_eval(changed[0][1].split("=", 1)[1].strip())
    assert defaults["PIPELINE_TARGET"] == "aws"
    assert defaults["PIPELINE_USER_ID"] == "0a1b2c3d"
    assert defaults["DATABRICKS_CLUSTER_ID"] == "0123-abc"
    assert defaults["DATABRICKS_NOTEBOOK_PATH"].endswith("spark/notebook/pinterest_batch")
    ast.parse(text)


def test_mwaa_requirements_pin_the_databricks_provider_tested_here() -> None:
    text = mwaa_requirements()
    pins = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(pins) == 1 and pins[0].startswith("apache-airflow-providers-databricks==")
    assert pins[0] in REQUIREMENTS.read_text()


def test_every_requirement_is_pinned_and_constrained() -> None:
    reqs = [line for line in REQUIREMENTS.read_text().splitlines() if line and line[0] != "#"]
    assert reqs and all("==" in r for r in reqs)
    constraints = [line for line in CONSTRAINTS.read_text().splitlines() if "==" in line]
    assert len(constraints) > 100  # every transitive dependency, not just the top level


def test_export_aws_writes_the_dag_and_requirements_for_mwaa(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.aws.export import export_all
    from services.aws_settings import VARIABLES

    for var in VARIABLES:
        monkeypatch.delenv(var.name, raising=False)
    s = _settings(
        pipeline_target="aws",
        pipeline_user_id="0a1b2c3d",
        kafka_rest_proxy_ec2_host="ec2-3-80-1-2.compute-1.amazonaws.com",
        rest_proxy_url="https://abc123defg.execute-api.us-east-1.amazonaws.com/dev",
        databricks_cluster_id="0123-abc",
    )
    out = export_all(s, tmp_path / "aws")
    names = {str(p.relative_to(out.folder)) for p in out.files}
    assert {"dags/0a1b2c3d_dag.py", "requirements.txt"} <= names
    assert (out.folder / "dags" / "0a1b2c3d_dag.py").read_text() == dag_for_mwaa(s)
    assert (out.folder / "requirements.txt").read_text() == mwaa_requirements()
    readme = (out.folder / "README.txt").read_text()
    assert "s3://<mwaa bucket>/dags/" in readme and "databricks_default" in readme
    assert not [n for n in out.notes if "DATABRICKS_CLUSTER_ID" in n]
