"""Airflow's own virtualenv under `.local/airflow/venv`, installed on first use.

Airflow pins hundreds of packages that would fight the project's (pydantic, SQLAlchemy,
protobuf...), so it never enters `.venv`: the DAG's tasks call back into `.venv`'s python.
The pins are `requirements.txt` plus every transitive version in `constraints.txt` (Airflow's
own constraints files live outside PyPI), so a fresh machine builds the same environment.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.settings import Settings

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
CONSTRAINTS = HERE / "constraints.txt"


class AirflowInstallError(RuntimeError):
    """pip could not build the Airflow virtualenv; the message names the log."""


@dataclass(frozen=True)
class AirflowEnv:
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def airflow(self) -> Path:
        return self.venv / "bin" / "airflow"


def venv_dir(settings: Settings) -> Path:
    return settings.airflow_dir / "venv"


def _stamp(venv: Path) -> Path:
    digest = hashlib.sha1(REQUIREMENTS.read_bytes() + CONSTRAINTS.read_bytes()).hexdigest()
    return venv / f".installed-{digest[:12]}"


def is_installed(venv: Path) -> bool:
    return _stamp(venv).exists() and (venv / "bin" / "airflow").exists()


def ensure(
    settings: Settings,
    venv: Path | None = None,
    progress: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> AirflowEnv:
    """The Airflow virtualenv, created or updated when the pins changed (idempotent)."""
    venv = venv or venv_dir(settings)
    env = AirflowEnv(venv)
    if is_installed(venv):
        return env
    log = settings.logs_dir / "airflow-pip.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    progress(
        f"installing Airflow into {venv} from {REQUIREMENTS.name} (first use, about a minute; "
        f"log: {log})"
    )
    start = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        steps = []
        if not env.python.exists():
            # `-m venv` from inside .venv builds on the base interpreter, not on .venv.
            steps.append([sys.executable, "-m", "venv", str(venv)])
        steps.append(
            [
                str(env.python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-r",
                str(REQUIREMENTS),
                "-c",
                str(CONSTRAINTS),
            ]
        )
        for cmd in steps:
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
            if code != 0:
                raise AirflowInstallError(
                    f"installing Airflow failed (exit {code}) at `{' '.join(cmd[:4])} ...`: "
                    f"see {log}. Delete {venv} to start over."
                )
    for old in venv.glob(".installed-*"):
        old.unlink()
    _stamp(venv).touch()
    progress(f"Airflow installed in {time.monotonic() - start:.0f} s")
    return env


def freeze(env: AirflowEnv) -> str:
    """Every package of an installed Airflow virtualenv, as the text of constraints.txt."""
    out = subprocess.run(
        [str(env.python), "-m", "pip", "freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = sorted(line for line in out.splitlines() if "==" in line)
    header = (
        "# Every package of the Airflow virtualenv, pinned: `python -m services.airflow freeze`."
    )
    return "\n".join([header, *pins]) + "\n"
