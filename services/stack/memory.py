"""Resident memory of the running stack: every supervised program and its children."""

from __future__ import annotations

from pathlib import Path

from services.settings import Settings
from services.stack.supervisor import Supervisor


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = task / "children"
        if children.exists():
            out += [int(c) for c in children.read_text().split()]
    return out


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _rss_bytes(p)
        todo += _children(p)
    return total


def stack_rss(settings: Settings) -> dict[str, int]:
    """RSS in bytes per supervised program (0 when not running), plus supervisord itself."""
    sup = Supervisor(settings)
    out: dict[str, int] = {}
    for info in sup.rpc.getAllProcessInfo():
        out[info["name"]] = tree_rss(int(info["pid"])) if info["pid"] else 0
    pid_file = settings.run_dir / "supervisord.pid"
    if pid_file.exists():
        out["supervisord"] = _rss_bytes(int(pid_file.read_text().strip()))
    return out
