"""Parse host:port pairs out of settings, and check that a port is free before a start."""

from __future__ import annotations

import socket
from urllib.parse import urlparse


def url_port(url: str, default: int) -> int:
    return urlparse(url).port or default


def bootstrap_port(bootstrap: str) -> int:
    first = bootstrap.split(",")[0].strip()
    return int(first.rsplit(":", 1)[1])


def is_listening(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def listener_pid(port: int) -> str:
    """Best-effort description of who holds a port (for error messages)."""
    import subprocess

    try:
        out = subprocess.run(
            ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, timeout=3
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown process"
    return out.split("users:")[-1].strip() if "users:" in out else (out or "unknown process")
