"""The `airflow` section of `make bench`: what orchestration costs.

- the cold install of the Airflow virtualenv (a fresh venv in a temporary folder, with
  whatever pip's download cache holds: the first install on a machine also downloads);
- one `airflow dags test` of the DAG over a freshly replayed namespace, beside the time
  of `python -m spark.batch` (what `make batch` runs) over the same landed data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from services.airflow.install import ensure
from services.airflow.run import dags_test
from services.settings import PROJECT_ROOT, Settings


def cold_install_seconds(settings: Settings) -> float:
    folder = Path(tempfile.mkdtemp(prefix="airflow-venv-", dir=settings.airflow_dir))
    try:
        start = time.monotonic()
        ensure(settings, venv=folder / "venv", progress=lambda _m: None)
        return round(time.monotonic() - start, 1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _batch_seconds(settings: Settings) -> float:
    env = {**os.environ, "PIPELINE_USER_ID": settings.pipeline_user_id}
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "spark.batch"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"python -m spark.batch failed: {proc.stderr[-1500:]}")
    return round(time.monotonic() - start, 1)


def run(settings: Settings, *, install: bool = True) -> dict[str, Any]:
    from services.emulator import replay
    from services.landing.verify import wait_until_landed
    from services.stack import bootstrap, lifecycle

    figures: dict[str, Any] = {}
    if install:
        figures["cold_install_s"] = cold_install_seconds(settings)
        print(f"airflow: cold install {figures['cold_install_s']} s", file=sys.stderr)
    # The stack is shared: wait until every service answers (idempotent `make up`).
    lifecycle.up(settings)
    # The DAG's own retries stay on: a service restarted by someone else costs a retry
    # (and shows in the time), not the figure.
    ns = settings.model_copy(update={"pipeline_user_id": f"benchaf{uuid.uuid4().hex[:8]}"})
    lifecycle.ensure_namespace(ns)
    try:
        summary = replay.run(ns, progress=False)
        if not summary.ok:
            raise RuntimeError(f"replay failed: {summary.line()}")
        if not wait_until_landed(ns, 300).complete:
            raise RuntimeError(f"namespace {ns.pipeline_user_id} did not land within 300 s")
        result = dags_test(ns)
        if not result.succeeded:
            raise RuntimeError(f"airflow dags test failed: {result.failure} ({result.log})")
        figures["events"] = summary.events_read
        figures["dags_test_s"] = round(result.seconds, 1)
        figures["make_batch_s"] = _batch_seconds(ns)
        figures["orchestration_overhead_s"] = round(
            figures["dags_test_s"] - figures["make_batch_s"], 1
        )
    finally:
        bootstrap.drop_namespace(ns)
    return figures
