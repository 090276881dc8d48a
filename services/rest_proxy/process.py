"""Run the proxy as a child process with given settings; used by tests and the benchmark.

The supervised proxy of `make up` runs the same command line:
`python -m services.rest_proxy` (settings from the environment / `.env`).
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

import requests
from pydantic import SecretStr

from services.settings import PROJECT_ROOT, Settings


class ProxyStartError(RuntimeError):
    """The proxy did not become ready; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process load exactly these settings."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[name.upper()] = str(value)
    return env


def with_free_ports(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "rest_proxy_url": f"http://127.0.0.1:{free_port()}",
            "legacy_api_url": f"http://127.0.0.1:{free_port()}",
            "kinesis_url": f"http://127.0.0.1:{free_port()}",
        }
    )


class ProxyProcess:
    """`with ProxyProcess(settings) as proxy:` serves settings' two URLs until the block ends.

    `restart()` kills and starts it again on the same ports (same settings)."""

    def __init__(self, settings: Settings, log_path: Path | None = None) -> None:
        self.settings = settings
        self.log_path = log_path or settings.logs_dir / f"rest-proxy-{os.getpid()}-{id(self)}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **settings_env(self.settings)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.rest_proxy", "--log-level", "warning"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        urls = [
            f"{self.settings.rest_proxy_url}/health",
            f"{self.settings.legacy_api_url}/health",
            f"{self.settings.kinesis_url}/health",
        ]
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ProxyStartError(
                    f"the proxy exited with {self.proc.returncode}:\n{self._log_tail()}"
                )
            try:
                if all(requests.get(u, timeout=1).status_code == 200 for u in urls):
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise ProxyStartError(
                    f"the proxy was not answering {urls} after {timeout_s:g} s:\n{self._log_tail()}"
                )
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: a crash, not a clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def restart(self, timeout_s: float = 30.0) -> None:
        self.kill()
        self.start(timeout_s)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> ProxyProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
