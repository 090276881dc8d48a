"""The environment of every Airflow process: its home, this project's DAG folder, SQLite
metadata, 127.0.0.1, and the pipeline's settings for the tasks' subprocesses."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from services.settings import PROJECT_ROOT, Settings

DAGS_FOLDER = PROJECT_ROOT / "dags"
DAG_FILE = DAGS_FOLDER / "pinterest_batch.py"


def dag_id(settings: Settings) -> str:
    """`<user_id>_dag`, the original MWAA DAG's name."""
    return f"{settings.pipeline_user_id}_dag"


def airflow_env(
    settings: Settings, home: Path, base: dict[str, str] | None = None
) -> dict[str, str]:
    """os.environ (or `base`) plus Airflow's configuration and the pipeline's settings.

    Secrets are not copied: the tasks' project python reads them from the same environment
    and `.env` as any other command of the project."""
    env = dict(os.environ if base is None else base)
    env.update(settings.to_env(secrets=False))
    api = f"http://127.0.0.1:{settings.airflow_port}"
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(settings.airflow_port),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            # Where the DAG's tasks find the project and its python (see dags/).
            "PIPELINE_PROJECT_ROOT": str(PROJECT_ROOT),
            "PIPELINE_PYTHON": sys.executable,
            "AIRFLOW_STAGE_LOG_DIR": str(settings.logs_dir / "dag"),
        }
    )
    return env
