"""`ChildProcess`: start a command, wait until its probe passes, stop it and its children.

    with ChildProcess("rest-proxy", argv, env=..., log=path, probe=check) as proc:
        ...  # the probe has passed; leaving the block stops the whole process group

The child runs in its own session (so its group can be signalled without touching the
caller), its output goes to `log`, and `start()` either returns the probe's detail or stops
the child and raises `ChildStartError` with the end of its log: a start-up that times out
never leaves a process behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from types import TracebackType

from services.runner.wait import NotReady, WaitTimeout, wait_until
from services.settings import PROJECT_ROOT

Probe = Callable[[], str]


class ChildStartError(RuntimeError):
    """The child exited or its probe did not pass in time; the message ends with its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log yet)"


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended while we looked
        # After the command name in parentheses: state, ppid, pgrp, ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


class ChildProcess:
    """One command run as a child process behind one readiness probe."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path = PROJECT_ROOT,
        probe: Probe | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        # The caller's environment plus the overrides: PATH, HOME and the venv stay usable.
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.probe = probe
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> str:
        """Start the child and wait for its probe; on any failure stop it, then raise."""
        if self.alive():
            raise ChildStartError(f"{self.name} is already running (pid {self.pid})")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            return self._wait_ready()
        except BaseException:
            self.stop()  # whatever went wrong (timeout, Ctrl-C), nothing is left running
            raise

    def _wait_ready(self) -> str:
        probe = self.probe
        if probe is None:
            return "started"

        def check() -> str:
            if self.proc is not None and self.proc.poll() is not None:
                raise ChildStartError(
                    f"{self.name} exited with code {self.proc.returncode} during start-up; "
                    f"the end of {self.log}:\n{log_tail(self.log)}"
                )
            try:
                return probe()
            except NotReady:
                raise
            except Exception as exc:  # a probe's connection error means "not yet"
                raise NotReady(f"{type(exc).__name__}: {exc}") from exc

        try:
            return wait_until(check, timeout=self.start_timeout, what=self.name, interval=0.1)
        except WaitTimeout as exc:
            raise ChildStartError(
                f"{self.name} was not ready within {self.start_timeout:g} s (last probe: "
                f"{exc.last}); the end of {self.log}:\n{log_tail(self.log)}"
            ) from None

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self) -> int | None:
        """SIGTERM to the group, SIGKILL after `stop_timeout`; the child's exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(self.stop_timeout)
        # Grandchildren that ignored TERM (or outlived their parent) go with the group, and
        # stop() returns only once none of them runs: a caller may reuse the ports at once.
        self._signal_group(signal.SIGKILL)
        self._wait_group_gone()
        return self.proc.returncode

    def _wait_group_gone(self) -> None:
        assert self.proc is not None
        pgid = self.proc.pid

        def group_gone() -> str:
            left = group_members(pgid)
            if left:
                raise NotReady(f"processes {left} of group {pgid} still run")
            return "gone"

        with suppress(WaitTimeout):  # unkillable (D state) is the kernel's business
            wait_until(
                group_gone, timeout=self.stop_timeout, what=f"{self.name}'s group", interval=0.05
            )

    def kill(self) -> None:
        """SIGKILL the whole group: a crash, not a clean shutdown."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(self.stop_timeout)
        self._wait_group_gone()

    def restart(self) -> str:
        self.kill()
        return self.start()

    def __enter__(self) -> ChildProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
