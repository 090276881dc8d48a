"""A sink as a child process, for tests and benchmarks that must start, kill or restart one.

The stack runs the real sink under supervisord (`make up`, service "s3-sink"); this runs
the very same entry point with settings passed through the environment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
from pydantic import SecretStr

from services.settings import PROJECT_ROOT, Settings

# What the child needs to reach the same Kafka and S3 and rotate the same way.
_PASSED_SETTINGS = (
    "pipeline_target",
    "pipeline_user_id",
    "kafka_bootstrap_servers",
    "s3_endpoint",
    "s3_access_key",
    "s3_secret_key",
    "s3_region",
    "sink_flush_records",
    "sink_flush_seconds",
    "sink_health_port",
)


class SinkProcessError(RuntimeError):
    """The child sink did not start or become ready; the message carries its log tail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    env: dict[str, str] = {}
    for name in _PASSED_SETTINGS:
        value = getattr(settings, name)
        env[name.upper()] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return env


class SinkProcess:
    def __init__(
        self,
        settings: Settings,
        log_path: Path,
        *,
        user_id: str | None = None,
        group_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.args = [sys.executable, "-m", "services.s3_sink"]
        if user_id:
            self.args += ["--user-id", user_id]
        if group_id:
            self.args += ["--group-id", group_id]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.sink_health_port}/health"

    def start(self, *, ready_partitions: int = 1, timeout: float = 60.0) -> SinkProcess:
        """Start and wait until `ready_partitions` partitions are assigned."""
        env = {**os.environ, **settings_env(self.settings), "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = str(PROJECT_ROOT)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.wait_for(
            lambda h: h.get("status") != "starting"
            and h.get("assigned_partitions", 0) >= ready_partitions,
            timeout,
            f"{ready_partitions} partitions assigned",
        )
        return self

    def health(self) -> dict[str, Any] | None:
        try:
            response = requests.get(self.health_url, timeout=2)
        except requests.RequestException:
            return None
        body: dict[str, Any] = response.json()
        return body

    def wait_for(self, condition: Any, timeout: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise SinkProcessError(
                    f"sink exited with {self.proc.returncode} while waiting for {what}:\n"
                    + self.log_tail()
                )
            health = self.health()
            if health is not None and condition(health):
                return health
            if time.monotonic() >= deadline:
                raise SinkProcessError(
                    f"sink not {what} after {timeout:.0f} s (last health: {health}):\n"
                    + self.log_tail()
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (land what is buffered, commit, leave the group); SIGKILL if it hangs."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL: a crash, nothing flushed or committed on the way out."""
        return self._end(signal.SIGKILL, 10.0)

    def _end(self, sig: signal.Signals, timeout: float) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> SinkProcess:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()
