"""`ChildProcess`: start a command, wait until its probe passes, stop it and its children.

    with ChildProcess("rest-proxy", argv, env=..., log=path, probe=check) as proc:
        ...  # the probe has passed; leaving the block stops the whole process group

The child runs in its own session (so its group can be signalled without touching the
caller), its output goes to `log`, and `start()` either returns the probe's detail or stops
the child and raises `ChildStartError` with the end of its log: a start-up that times out
never leaves a process behind.

`start_daemon` is the same start for a server meant to outlive the command that started it
(podman's API service); `stop_daemon` stops it later by pid, from any process.
`first_to_exit` blocks until one of several children exits (a foreground command that
holds a cluster until Ctrl-C).
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Literal

from services.runner.wait import NotReady, WaitTimeout, wait_until
from services.settings import PROJECT_ROOT

Probe = Callable[[], str]


class ChildStartError(RuntimeError):
    """The child exited or its probe did not pass in time; the message ends with its log.

    `exit_code` is the child's when it exited during start-up (None: it never became
    ready), `log` the file its output went to. A probe may raise it too, to end the wait at
    once (a process the child needs has died).
    """

    def __init__(self, message: str, *, exit_code: int | None = None, log: Path | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.log = log


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


def command_line(pid: int) -> list[str] | None:
    """The argv of process `pid` (None when it does not exist): to check that a pid read
    from a file still names the process written there, not a reused pid."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_group_gone(pgid: int, *, what: str, timeout: float) -> bool:
    """Wait until no live process of group `pgid` is left; False if some still run."""

    def group_gone() -> str:
        left = group_members(pgid)
        if left:
            raise NotReady(f"processes {left} of group {pgid} still run")
        return "gone"

    try:
        wait_until(group_gone, timeout=timeout, what=what, interval=0.05)
    except WaitTimeout:  # unkillable (D state) is the kernel's business
        return False
    return True


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
        term: Literal["group", "leader"] = "group",
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
        # "leader": stop() sends SIGTERM to the child alone, for a child that stops its own
        # children cleanly (the streaming job stops its queries, then its JVM, then gives its
        # lease back; a TERM to the whole group would let the JVM's hooks race that).
        self.term = term
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
                    f"the end of {self.log}:\n{log_tail(self.log)}",
                    exit_code=self.proc.returncode,
                    log=self.log,
                )
            try:
                return probe()
            except (NotReady, ChildStartError):
                raise
            except Exception as exc:  # a probe's connection error means "not yet"
                raise NotReady(f"{type(exc).__name__}: {exc}") from exc

        try:
            return wait_until(check, timeout=self.start_timeout, what=self.name, interval=0.1)
        except WaitTimeout as exc:
            raise ChildStartError(
                f"{self.name} was not ready within {self.start_timeout:g} s (last probe: "
                f"{exc.last}); the end of {self.log}:\n{log_tail(self.log)}",
                log=self.log,
            ) from None

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        # A reaped child whose group is empty may have its pid reused as another group's id
        # (pids wrap on a busy machine): signal it only while something of the group lives.
        if self.proc.returncode is not None and not group_members(self.proc.pid):
            return
        signal_group(self.proc.pid, sig)

    def stop(self) -> int | None:
        """SIGTERM to the group (or the child alone, `term="leader"`), SIGKILL to the group
        after `stop_timeout`; the child's exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if self.term == "leader":
                with suppress(ProcessLookupError):
                    self.proc.send_signal(signal.SIGTERM)
            else:
                self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                # Stuck in the kernel: the group wait below bounds it; the caller's own
                # error (a failed start, Ctrl-C) must not be replaced by a timeout here.
                with suppress(subprocess.TimeoutExpired):
                    self.proc.wait(self.stop_timeout)
        # Grandchildren that ignored TERM (or outlived their parent) go with the group, and
        # stop() returns only once none of them runs: a caller may reuse the ports at once.
        self._signal_group(signal.SIGKILL)
        self._wait_group_gone()
        return self.proc.returncode

    def _wait_group_gone(self) -> None:
        assert self.proc is not None
        wait_group_gone(self.proc.pid, what=f"{self.name}'s group", timeout=self.stop_timeout)

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the child exits and return its exit code; None if it still runs
        after `timeout` seconds (None: no limit). Ctrl-C interrupts the wait."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

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


def first_to_exit(
    children: Sequence[ChildProcess], timeout: float | None = None
) -> ChildProcess | None:
    """Block until one of `children` exits and return it; None after `timeout` seconds.

    One thread per child blocks in its `wait()` and reports to a queue the caller blocks
    on: nothing polls, and Ctrl-C still interrupts the caller.
    """
    for child in children:
        if not child.alive():
            return child
    exited: queue.Queue[ChildProcess] = queue.Queue()

    def watch(child: ChildProcess) -> None:
        child.wait()
        exited.put(child)

    for child in children:
        # Daemon threads: a caller that stops waiting (timeout, Ctrl-C) is not held at exit.
        threading.Thread(
            target=watch, args=(child,), name=f"wait-{child.name}", daemon=True
        ).start()
    try:
        return exited.get(timeout=timeout)
    except queue.Empty:
        return None


#: Daemons started by this process, by pid: `stop_daemon` here reaps them (no zombie left).
_DAEMONS: dict[int, ChildProcess] = {}


def start_daemon(
    name: str,
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path = PROJECT_ROOT,
    probe: Probe | None = None,
    start_timeout: float = 30.0,
) -> int:
    """Start a server that outlives this command (a daemon) and return its pid once its
    probe passes. A failed start-up stops it and raises `ChildStartError`, as
    `ChildProcess.start` does. It runs in its own session (pid = process group), reading
    nothing from the terminal; `stop_daemon(pid)` stops it later, from any process."""
    child = ChildProcess(
        name, argv, log=log, env=env, cwd=cwd, probe=probe, start_timeout=start_timeout
    )
    child.start()
    assert child.pid is not None
    _DAEMONS[child.pid] = child
    return child.pid


def stop_daemon(pid: int, *, name: str, timeout: float = 10.0) -> bool:
    """SIGTERM the daemon's process group, SIGKILL what is left after `timeout` seconds;
    return once none of it runs (False if something could not be killed)."""
    child = _DAEMONS.pop(pid, None)
    if child is not None:  # started here: stop() also reaps it
        child.stop_timeout = timeout
        child.stop()
        return not group_members(pid)
    signal_group(pid, signal.SIGTERM)
    if wait_group_gone(pid, what=name, timeout=timeout):
        return True
    signal_group(pid, signal.SIGKILL)
    return wait_group_gone(pid, what=name, timeout=timeout)
