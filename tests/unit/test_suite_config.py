"""The suite's own rules (tests/conftest.py), checked on a throwaway test run in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit

SAMPLE = """
import os
import threading


def test_a_thread_that_dies() -> None:
    worker = threading.Thread(target=lambda: 1 / 0)
    worker.start()
    worker.join()
    assert True  # the test itself would pass


def test_runtime_is_native() -> None:
    assert os.environ["RUNTIME"] == "native"
"""


def run_sample(tmp_path: Path, runtime: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_sample.py"),
        ],
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "RUNTIME": runtime},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_unhandled_thread_exception_fails_its_test_and_runtime_is_forced_native(
    tmp_path: Path,
) -> None:
    done = run_sample(tmp_path, runtime="auto")
    assert "FAILED" in done.stdout and "test_a_thread_that_dies" in done.stdout, done.stdout
    assert "ZeroDivisionError" in done.stdout
    assert "1 failed, 1 passed" in done.stdout, done.stdout
