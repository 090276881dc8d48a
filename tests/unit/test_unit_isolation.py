"""The unit layer's guard (tests/unit/conftest.py) refuses a JVM and the network."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.support.unit_isolation import UnitIsolationError

pytestmark = pytest.mark.unit


def test_a_non_loopback_connection_is_refused_with_the_fix() -> None:
    with socket.socket() as s, pytest.raises(UnitIsolationError, match="tests/integration"):
        s.connect(("192.0.2.1", 9092))  # TEST-NET-1: would never answer anyway


def test_a_host_name_lookup_is_refused() -> None:
    with pytest.raises(UnitIsolationError, match=r"look up the host name 'example\.com'"):
        socket.getaddrinfo("example.com", 443)


def test_loopback_stays_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            assert client.getpeername() == server.getsockname()


@pytest.mark.parametrize("argv", [["java", "-version"], ["/opt/spark/bin/spark-submit", "x"]])
def test_a_jvm_is_refused(argv: list[str]) -> None:
    with pytest.raises(UnitIsolationError, match="a JVM"):
        subprocess.run(argv, check=False)


def test_other_programs_still_run() -> None:
    assert subprocess.run(["true"], check=False).returncode == 0
