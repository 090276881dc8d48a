"""Run the local Airflow: one `airflow dags test` of the DAG, or `airflow standalone`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.airflow.env import airflow_env, dag_id
from services.airflow.install import AirflowEnv, ensure
from services.settings import Settings

#: The DAG's StageFailed message: "stage <task id> failed (exit N): <why> — log: <path>".
_STAGE_FAILED = re.compile(r"stage (\w+) failed \(exit -?\d+\): .+?log: \S+")


class AirflowRunError(RuntimeError):
    """Airflow itself could not start (as opposed to a task failing)."""


@dataclass
class DagsTest:
    dag_id: str
    returncode: int
    seconds: float
    log: Path
    output: str

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0

    @property
    def failed_stage(self) -> str | None:
        """The first stage named in a StageFailed message, or None."""
        match = _STAGE_FAILED.search(self.output)
        return match.group(1) if match else None

    @property
    def failure(self) -> str | None:
        match = _STAGE_FAILED.search(self.output)
        return match.group(0) if match else None


def migrate(env: AirflowEnv, environ: dict[str, str], log: Path) -> None:
    """Create or upgrade the SQLite metadata database (idempotent, about 3 s)."""
    with log.open("a", encoding="utf-8") as out:
        code = subprocess.run(
            [str(env.airflow), "db", "migrate"], env=environ, stdout=out, stderr=out, check=False
        ).returncode
    if code != 0:
        raise AirflowRunError(f"`airflow db migrate` failed (exit {code}): see {log}")


def dags_test(
    settings: Settings,
    home: Path | None = None,
    logical_date: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> DagsTest:
    """One run of the DAG of `settings`' namespace with `airflow dags test`, in-process."""
    env = ensure(settings)
    home = home or settings.airflow_dir / "test-home"
    home.mkdir(parents=True, exist_ok=True)
    environ = {**airflow_env(settings, home), **(extra_env or {})}
    log_dir = settings.logs_dir / "dag"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{dag_id(settings)}-dags-test.log"
    with log.open("a", encoding="utf-8") as out:
        out.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} airflow dags test\n")
    migrate(env, environ, log)
    cmd = [str(env.airflow), "dags", "test", dag_id(settings)]
    if logical_date:
        cmd.append(logical_date)
    start = time.monotonic()
    proc = subprocess.run(cmd, env=environ, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    output = proc.stdout + proc.stderr
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(cmd)}\n{output}exit {proc.returncode}\n")
    return DagsTest(dag_id(settings), proc.returncode, seconds, log, output)


def standalone(settings: Settings) -> int:
    """`airflow standalone` on 127.0.0.1:<AIRFLOW_PORT> until Ctrl-C."""
    env = ensure(settings)
    home = settings.airflow_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    environ = airflow_env(settings, home)
    # standalone starts its scheduler, API server etc. as `airflow ...` from PATH.
    environ["PATH"] = f"{env.airflow.parent}{os.pathsep}{environ.get('PATH', '')}"
    passwords = home / "simple_auth_manager_passwords.json.generated"
    first = not passwords.exists()
    print(
        f"Airflow {dag_id(settings)} on http://127.0.0.1:{settings.airflow_port} "
        f"(home {home}, SQLite metadata, DAGs from {environ['AIRFLOW__CORE__DAGS_FOLDER']})",
        file=sys.stderr,
    )
    print(
        "user admin; its password is generated on first start and printed below "
        if first
        else f"user admin; password in {passwords}",
        file=sys.stderr,
    )
    os.execve(str(env.airflow), [str(env.airflow), "standalone"], environ)
    return 0  # not reached


def inspect(
    settings: Settings, path: Path, home: Path, extra_env: dict[str, str] | None = None
) -> dict[str, Any]:
    """What Airflow's parser sees in a DAG file or folder (see inspect_dag.py), as a dict."""
    env = ensure(settings)
    home.mkdir(parents=True, exist_ok=True)
    environ = {**airflow_env(settings, home), **(extra_env or {})}
    proc = subprocess.run(
        [str(env.python), str(Path(__file__).with_name("inspect_dag.py")), str(path)],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{"dags"')]
    if proc.returncode != 0 or not lines:
        raise AirflowRunError(f"inspecting {path} failed (exit {proc.returncode}): {proc.stderr}")
    found: dict[str, Any] = json.loads(lines[-1])
    return found
