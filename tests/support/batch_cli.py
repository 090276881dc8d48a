"""`python -m spark.batch --json --full` in a fresh process, as `make batch FULL=1` runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from services.settings import PROJECT_ROOT


def run_full_batch(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI with the caller's environment plus `env` (namespace, master, service port)."""
    return subprocess.run(
        [sys.executable, "-m", "spark.batch", "--json", "--full"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
