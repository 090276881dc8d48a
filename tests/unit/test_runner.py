"""`services.runner`: the one child-process runner and the one wait loop.

These start plain Python children (no JVM, no network): enough to prove that a start-up
that fails in any way leaves no process behind, and that the group is stopped, not only
the child the runner started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.runner.child import (
    ChildProcess,
    ChildStartError,
    first_to_exit,
    start_daemon,
    stop_daemon,
)
from services.runner.wait import NotReady, WaitTimeout, every, wait_until

#: A child that starts a grandchild, records both pids, then runs until signalled.
PARENT_WITH_GRANDCHILD = """
import os, subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(sys.argv[1], "w") as out:
    out.write(f"{os.getpid()} {grandchild.pid}")
print("child started", flush=True)
time.sleep(600)
"""


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for a reaper that is not ours."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "Z" in state.split()[1]


def pids_from(path: Path) -> list[int]:
    def written() -> list[int]:
        text = path.read_text() if path.exists() else ""
        if len(text.split()) < 2:
            raise NotReady("the child has not written its pids yet")
        return [int(p) for p in text.split()]

    return wait_until(written, timeout=20, what="pid file")


def test_a_probe_that_never_passes_leaves_no_process_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"

    def never() -> str:
        raise NotReady("still warming up")

    child = ChildProcess(
        "never-ready",
        [sys.executable, "-c", PARENT_WITH_GRANDCHILD, str(pid_file)],
        log=tmp_path / "never.log",
        probe=never,
        start_timeout=10,  # time for the child to write its pids on a loaded machine
        stop_timeout=5,
    )
    with pytest.raises(ChildStartError) as raised:
        child.start()
    message = str(raised.value)
    assert "never-ready was not ready within 10 s" in message
    assert "still warming up" in message
    assert "child started" in message  # the end of its log, for the user
    parent, grandchild = pids_from(pid_file)
    assert not child.alive()
    assert gone(parent), f"the child {parent} outlived a failed start"
    assert gone(grandchild), f"the grandchild {grandchild} outlived a failed start"


def pid_probe(pid_file: Path) -> str:
    if not pid_file.exists():
        raise NotReady("no pid file yet")
    return "pids written"


def test_a_child_that_exits_during_start_up_is_reported_with_its_log(tmp_path: Path) -> None:
    child = ChildProcess(
        "crasher",
        [sys.executable, "-c", "import sys; print('bad config: PORT'); sys.exit(3)"],
        log=tmp_path / "crasher.log",
        probe=lambda: pid_probe(tmp_path / "never-written"),
        start_timeout=60,
    )
    started = time.monotonic()
    with pytest.raises(ChildStartError) as raised:
        child.start()
    assert "crasher exited with code 3 during start-up" in str(raised.value)
    assert "bad config: PORT" in str(raised.value)
    # It noticed the exit instead of waiting out the 60 s deadline.
    assert time.monotonic() - started < 30
    assert not child.alive()


def test_ready_child_runs_until_the_block_ends_and_stop_reaps_its_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    child = ChildProcess(
        "sleeper",
        [sys.executable, "-c", PARENT_WITH_GRANDCHILD, str(pid_file)],
        log=tmp_path / "sleeper.log",
        probe=lambda: pid_probe(pid_file),
        start_timeout=20,
    )
    with child:
        assert child.alive()
        parent, grandchild = pids_from(pid_file)
        assert not gone(parent) and not gone(grandchild)
    assert not child.alive()
    assert gone(parent) and gone(grandchild)
    assert child.stop() is not None  # stopping again is harmless and reports the exit code


def test_kill_then_start_again(tmp_path: Path) -> None:
    child = ChildProcess(
        "restartable",
        [sys.executable, "-c", "import time; time.sleep(600)"],
        log=tmp_path / "r.log",
    )
    with child:
        first = child.pid
        child.kill()
        assert not child.alive()
        assert child.start() == "started"
        assert child.alive() and child.pid != first
    assert not child.alive()


def test_wait_until_reports_the_last_reason_on_timeout() -> None:
    calls: list[int] = []

    def check() -> str:
        calls.append(1)
        raise NotReady(f"attempt {len(calls)}")

    with pytest.raises(WaitTimeout) as raised:
        wait_until(check, timeout=0.5, what="the thing", interval=0.05)
    assert len(calls) >= 2
    assert raised.value.last == f"attempt {len(calls)}"
    assert "the thing: not ready within 0.5 s" in str(raised.value)


def test_wait_until_stops_at_once_on_an_unexpected_error() -> None:
    calls: list[int] = []

    def check() -> str:
        calls.append(1)
        raise KeyError("broken")

    with pytest.raises(KeyError):
        wait_until(check, timeout=30, interval=0.05)
    assert calls == [1]


def test_wait_until_returns_the_first_answer() -> None:
    answers = iter(["", "", "yes"])

    def check() -> str:
        answer = next(answers)
        if not answer:
            raise NotReady("no")
        return answer

    assert wait_until(check, timeout=10, interval=0.01) == "yes"


def test_first_to_exit_returns_the_child_that_exited_and_wait_reports_its_code(
    tmp_path: Path,
) -> None:
    sleeper = ChildProcess(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(600)"], log=tmp_path / "s.log"
    )
    quitter = ChildProcess(
        "quitter",
        [sys.executable, "-c", "import time, sys; time.sleep(1); sys.exit(4)"],
        log=tmp_path / "q.log",
    )
    with sleeper, quitter:
        assert first_to_exit([sleeper, quitter], timeout=0.3) is None  # both still run
        started = time.monotonic()
        assert first_to_exit([sleeper, quitter], timeout=60) is quitter
        assert time.monotonic() - started < 30  # woken by the exit, not by the timeout
        assert quitter.wait() == 4
        assert sleeper.alive()
        assert sleeper.wait(timeout=0.1) is None
    # The watcher thread blocked in the sleeper's wait() does not keep stop() from reaping it.
    assert not sleeper.alive()
    assert sleeper.wait(timeout=0) is not None


#: Starts a daemon with a probe on its ready file, prints its pid, and exits at once.
START_DAEMON = """
import sys
from pathlib import Path
from services.runner.child import start_daemon
from services.runner.wait import NotReady

ready = Path(sys.argv[1])
def probe() -> str:
    if not ready.exists():
        raise NotReady("no ready file yet")
    return "ready"

child = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); time.sleep(600)"
pid = start_daemon(
    "tiny-daemon", [sys.executable, "-c", child, str(ready)], log=Path(sys.argv[2]), probe=probe
)
print(pid)
"""


def test_a_daemon_outlives_the_command_that_started_it_and_stops_by_pid(tmp_path: Path) -> None:
    started = subprocess.run(
        [sys.executable, "-c", START_DAEMON, str(tmp_path / "ready"), str(tmp_path / "d.log")],
        cwd=Path(__file__).resolve().parents[2],  # the project root, where services/ is
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr
    pid = int(started.stdout.strip())
    try:
        assert (tmp_path / "ready").exists()  # start_daemon returned after its probe passed
        assert not gone(pid), "the daemon ended with the command that started it"
        assert os.getsid(pid) == pid  # its own session: the starter's terminal cannot reach it
    finally:
        stopped = stop_daemon(pid, name="tiny-daemon", timeout=10)
    assert stopped
    assert gone(pid)


def test_a_daemon_whose_probe_never_passes_is_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"

    def never() -> str:
        raise NotReady("socket not answering")

    with pytest.raises(ChildStartError) as raised:
        start_daemon(
            "stuck-daemon",
            [sys.executable, "-c", PARENT_WITH_GRANDCHILD, str(pid_file)],
            log=tmp_path / "stuck.log",
            probe=never,
            start_timeout=3,
        )
    assert raised.value.exit_code is None
    assert raised.value.log == tmp_path / "stuck.log"
    assert "socket not answering" in str(raised.value)
    parent, grandchild = pids_from(pid_file)
    assert gone(parent) and gone(grandchild)


def test_a_daemon_started_here_is_stopped_and_reaped_here(tmp_path: Path) -> None:
    pid = start_daemon(
        "local-daemon",
        [sys.executable, "-c", "import time; time.sleep(600)"],
        log=tmp_path / "local.log",
    )
    assert not gone(pid)
    assert stop_daemon(pid, name="local-daemon", timeout=10)
    # Reaped, not a zombie: /proc no longer has it at all.
    assert not Path(f"/proc/{pid}").exists()


def test_a_probe_can_end_the_start_up_at_once(tmp_path: Path) -> None:
    def fatal() -> str:
        raise ChildStartError("the master it needs exited with code 1", exit_code=1)

    child = ChildProcess(
        "dependent",
        [sys.executable, "-c", "import time; time.sleep(600)"],
        log=tmp_path / "dep.log",
        probe=fatal,
        start_timeout=60,
    )
    started = time.monotonic()
    with pytest.raises(ChildStartError, match="the master it needs exited") as raised:
        child.start()
    assert raised.value.exit_code == 1
    assert time.monotonic() - started < 30
    assert not child.alive()


def test_every_looks_at_a_steady_pace_until_the_moment() -> None:
    start = time.monotonic()
    looks = list(every(0.1, until=start + 0.55))
    finished = time.monotonic()
    assert finished >= start + 0.55  # it returns only once the moment has come
    assert finished - start < 5
    assert 2 <= len(looks) <= 6  # one look per 0.1 s at most (fewer on a busy machine)
    assert all(looks[i + 1] - looks[i] >= 0.099 for i in range(len(looks) - 1))
    assert list(every(0.1, until=time.monotonic() - 1)) == []  # a moment past: no look


#: A child that, on SIGTERM, notes it and exits 0; its grandchild notes a TERM it gets too.
NOTES_ITS_TERM = """
import signal, subprocess, sys, time
GRANDCHILD = '''
import signal, sys, time
def noted(*_):
    open(sys.argv[1], "a").write("grandchild TERM\\\\n"); sys.exit(0)
signal.signal(signal.SIGTERM, noted)
open(sys.argv[1], "a").write("grandchild up\\\\n")
time.sleep(600)
'''
grandchild = subprocess.Popen([sys.executable, "-c", GRANDCHILD, sys.argv[1]])
def noted(*_):
    open(sys.argv[1], "a").write("child TERM\\n"); sys.exit(0)
signal.signal(signal.SIGTERM, noted)
time.sleep(600)
"""


def test_term_leader_sends_term_to_the_child_alone_then_kills_the_group(tmp_path: Path) -> None:
    notes = tmp_path / "notes"

    def grandchild_up() -> str:
        if "grandchild up" not in (notes.read_text() if notes.exists() else ""):
            raise NotReady("the grandchild has not started")
        return "up"

    child = ChildProcess(
        "leader-term",
        [sys.executable, "-c", NOTES_ITS_TERM, str(notes)],
        log=tmp_path / "leader.log",
        probe=grandchild_up,
        start_timeout=20,
        term="leader",
    )
    child.start()
    assert child.pid is not None
    assert child.stop() == 0
    lines = notes.read_text().splitlines()
    assert "child TERM" in lines
    # The group's SIGKILL took the grandchild: it never saw a TERM of its own.
    assert "grandchild TERM" not in lines


def test_a_reaped_child_with_an_empty_group_is_never_signalled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.runner import child as runner_child

    proc = ChildProcess("quick", [sys.executable, "-c", "pass"], log=tmp_path / "quick.log")
    proc.start()
    assert proc.wait(20) == 0
    sent: list[int] = []
    monkeypatch.setattr(runner_child, "signal_group", lambda pgid, sig: sent.append(pgid))
    # Its pid may belong to another process group by now: stop and kill must not touch it.
    assert proc.stop() == 0
    proc.kill()
    assert sent == []
