"""The unit layer stays unit: no JVM, no Maven, no network (`make test-unit` runs in seconds
on a laptop with nothing started). A unit test that tries gets a clear error naming the fix.

Loopback stays allowed: some pure tests serve a small HTTP app on 127.0.0.1. Sockets opened
by C libraries (librdkafka) are out of Python's reach and not checked here.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.unit_isolation import UnitIsolationError

FORBIDDEN_PROGRAMS = {"java", "spark-submit", "spark-class", "mvn", "docker"}
MOVE = "a unit test must not {what}: make it pure, or move it to tests/integration"


def _is_loopback(host: object) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _check_address(family: int, address: Any) -> None:
    if family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise UnitIsolationError(MOVE.format(what=f"open a network connection to {address[0]}"))


def _program(args: Any) -> str:
    first = args if isinstance(args, str | bytes | os.PathLike) else next(iter(args), "")
    text = os.fsdecode(first)
    return os.path.basename(text.split()[0] if text else "")


@contextmanager
def isolated() -> Iterator[None]:
    """Patch the socket and subprocess entry points for the duration of the block."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    real_execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def connect(self: socket.socket, address: Any) -> None:
        _check_address(self.family, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check_address(self.family, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host if not isinstance(host, bytes) else host.decode()):
            raise UnitIsolationError(MOVE.format(what=f"look up the host name {host!r}"))
        return real_getaddrinfo(host, *args, **kwargs)

    # Every subprocess goes through Popen._execute_child, also for code that imported
    # `Popen` by name (pyspark's gateway launcher does).
    def execute_child(self: subprocess.Popen[Any], args: Any, *rest: Any, **kw: Any) -> Any:
        program = _program(args)
        if program in FORBIDDEN_PROGRAMS:
            raise UnitIsolationError(MOVE.format(what=f"start {program} (a JVM, Maven or Docker)"))
        return real_execute_child(self, args, *rest, **kw)

    patches: list[tuple[Any, str, Any, Any]] = [
        (socket.socket, "connect", connect, real_connect),
        (socket.socket, "connect_ex", connect_ex, real_connect_ex),
        (socket, "getaddrinfo", getaddrinfo, real_getaddrinfo),
        (subprocess.Popen, "_execute_child", execute_child, real_execute_child),
    ]
    for owner, name, fake, _real in patches:
        setattr(owner, name, fake)
    try:
        yield
    finally:
        for owner, name, _fake, real in patches:
            setattr(owner, name, real)


# Hooks, not a fixture: a session-scoped fixture (a SparkSession) is set up before any
# function-scoped one could patch anything. Hooks in this conftest run only for the items
# under tests/unit, so the integration layer in the same session is not affected.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with isolated():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with isolated():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    with isolated():
        return (yield)
